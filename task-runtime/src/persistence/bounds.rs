//! Bounded waits on database servers: the keys of a `postgres://` or
//! `mysql://` URL's query string that taskwire reads itself (and removes
//! before the driver parses the URL).
//!
//! | key                 | bounds                                                     | default |
//! |---------------------|------------------------------------------------------------|---------|
//! | `timeout`           | all of `connect_timeout`, `query_timeout`, `statement_timeout` | —   |
//! | `connect_timeout`   | opening a connection (TCP, handshake, login, session setup) | 10 s   |
//! | `query_timeout`     | each round trip: sending a request and the server's answer | 30 s    |
//! | `statement_timeout` | one statement's run on the server (the server cancels it)  | `query_timeout` |
//! | `keepalive`         | idle time before TCP keepalive probes (then every `keepalive`, 3 probes) | 10 s |
//!
//! A value is a whole number with a unit, `500ms`, `5s` or `2m`, or a bare
//! whole number of seconds (as libpq's `connect_timeout`); it must be more
//! than zero. A per-kind key wins over `timeout`, wherever it stands.

use std::time::Duration;

#[cfg(test)]
use super::error::show_duration as show;

/// The bounds of one backend's waits on its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// Opening a connection, whole.
    pub(crate) connect: Duration,
    /// Each round trip (client side).
    pub(crate) query: Duration,
    /// One statement (server side).
    pub(crate) statement: Duration,
    /// TCP keepalive idle time and probe interval.
    pub(crate) keepalive: Duration,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            connect: Duration::from_secs(10),
            query: Duration::from_secs(30),
            statement: Duration::from_secs(30),
            keepalive: Duration::from_secs(10),
        }
    }
}

impl Bounds {
    /// Splits taskwire's keys off `url`'s query string: the URL for the
    /// driver, the bounds, and the names of the keys left to the driver.
    /// `Err` is the reason a value is malformed, naming the key and value.
    pub(crate) fn split(url: &str) -> Result<(String, Bounds, Vec<String>), String> {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => return Ok((url.to_owned(), Bounds::default(), Vec::new())),
        };
        let (mut all, mut connect, mut query_t, mut statement, mut keepalive) =
            (None, None, None, None, None);
        let mut kept = Vec::new();
        let mut native = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match key {
                "timeout" => &mut all,
                "connect_timeout" => &mut connect,
                "query_timeout" => &mut query_t,
                "statement_timeout" => &mut statement,
                "keepalive" => &mut keepalive,
                _ => {
                    kept.push(pair);
                    native.push(key.to_owned());
                    continue;
                }
            };
            *slot = Some(crate::url_options::parse_duration(key, value)?);
        }
        let query = query_t.or(all).unwrap_or(Bounds::default().query);
        let bounds = Bounds {
            connect: connect.or(all).unwrap_or(Bounds::default().connect),
            query,
            statement: statement.or(all).unwrap_or(query),
            keepalive: keepalive.unwrap_or(Bounds::default().keepalive),
        };
        let url = match kept.is_empty() {
            true => base.to_owned(),
            false => format!("{base}?{}", kept.join("&")),
        };
        Ok((url, bounds, native))
    }
}

/// Milliseconds, saturated to 32 bits (what the drivers take).
pub(crate) fn millis_u32(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_a_query() {
        let (url, bounds, native) = Bounds::split("postgres://u@h/db").unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(bounds, Bounds::default());
        assert!(native.is_empty());
    }

    #[test]
    fn keys_are_read_and_removed() {
        let (url, b, native) = Bounds::split(
            "postgres://u@h/db?timeout=2s&application_name=x&keepalive=500ms&query_timeout=3",
        )
        .unwrap();
        assert_eq!(url, "postgres://u@h/db?application_name=x");
        assert_eq!(native, ["application_name"]);
        assert_eq!(b.connect, Duration::from_secs(2));
        assert_eq!(b.query, Duration::from_secs(3));
        assert_eq!(b.statement, Duration::from_secs(2));
        assert_eq!(b.keepalive, Duration::from_millis(500));
        let (_, b, _) = Bounds::split("mysql://h/db?query_timeout=1m").unwrap();
        assert_eq!((b.query, b.statement), (Duration::from_secs(60), b.query));
        let (url, b, _) =
            Bounds::split("mysql://h/db?connect_timeout=5&statement_timeout=100ms").unwrap();
        assert_eq!(url, "mysql://h/db");
        assert_eq!(b.connect, Duration::from_secs(5));
        assert_eq!(b.statement, Duration::from_millis(100));
    }

    #[test]
    fn malformed_values_name_key_and_value() {
        for (query, key) in [
            ("timeout=abc", "`timeout=abc`"),
            ("timeout=", "`timeout=`"),
            ("connect_timeout=5h", "`connect_timeout=5h`"),
            ("query_timeout=-1s", "`query_timeout=-1s`"),
            ("statement_timeout=1.5s", "`statement_timeout=1.5s`"),
            ("keepalive=0", "`keepalive=0`"),
        ] {
            let err = Bounds::split(&format!("postgres://h/db?{query}")).unwrap_err();
            assert!(err.starts_with(key), "{query}: {err}");
        }
    }

    #[test]
    fn durations_show_as_written() {
        assert_eq!(show(Duration::from_secs(2)), "2s");
        assert_eq!(show(Duration::from_millis(1500)), "1500ms");
    }
}
