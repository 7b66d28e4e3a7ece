//! Options taken from a server URL's query (`?timeout=5s&keepalive=10s`):
//! the keys taskwire reads are removed before the URL goes to its driver,
//! the others are left for the driver.
#![allow(dead_code)] // unused when no networked board or worker is compiled in

use std::time::Duration;

/// Splits the query pairs whose key is in `known` off `url`: the URL without
/// them (for the driver), and the pairs found, in order.
pub(crate) fn take_options<'a>(url: &'a str, known: &[&str]) -> (String, Vec<(String, String)>) {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let Some((head, query)) = base.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut kept: Vec<&'a str> = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if known.contains(&key) {
            taken.push((key.to_owned(), value.to_owned()));
        } else {
            kept.push(pair);
        }
    }
    let mut rest = head.to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        rest.push('#');
        rest.push_str(f);
    }
    (rest, taken)
}

/// A duration written `250ms`, `5s`, `1m` (or `1min`), or a bare whole
/// number of seconds; more than zero, at most 2^32 ms (what drivers take).
/// The one grammar of every URL's bounds; the error names the key and value.
pub(crate) fn parse_duration(key: &str, value: &str) -> Result<Duration, String> {
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &value[digits.len()..];
    let bad = || {
        format!("`{key}={value}` is not a duration: write a whole number with a unit, such as `500ms`, `5s` or `1m`, or of seconds")
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(format!(
            "`{key}={value}` must be more than zero (waits on a server are always bounded)"
        ));
    }
    Ok(d.min(Duration::from_millis(u64::from(u32::MAX))))
}

/// A duration as the URL would write it (`1500ms`, `5s`), for messages.
pub(crate) fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_are_taken_and_others_kept() {
        let (rest, taken) = take_options(
            "redis://:pw@h:1/0?timeout=5s&protocol=resp3&keepalive=1m",
            &["timeout", "keepalive"],
        );
        assert_eq!(rest, "redis://:pw@h:1/0?protocol=resp3");
        assert_eq!(
            taken,
            [
                ("timeout".to_owned(), "5s".to_owned()),
                ("keepalive".to_owned(), "1m".to_owned())
            ]
        );
        let (rest, taken) = take_options("redis://h/0?timeout=1s", &["timeout"]);
        assert_eq!((rest.as_str(), taken.len()), ("redis://h/0", 1));
        let (rest, taken) = take_options("redis://h/0", &["timeout"]);
        assert_eq!((rest.as_str(), taken.len()), ("redis://h/0", 0));
    }

    #[test]
    fn durations_have_units_and_bad_ones_are_named() {
        assert_eq!(parse_duration("t", "250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("t", "5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("t", "2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("t", "7"), Ok(Duration::from_secs(7)));
        let not = "is not a duration: write a whole number with a unit, such as `500ms`, `5s` or `1m`, or of seconds";
        assert_eq!(
            parse_duration("timeout", "5h").unwrap_err(),
            format!("`timeout=5h` {not}")
        );
        assert_eq!(
            parse_duration("timeout", "fast").unwrap_err(),
            format!("`timeout=fast` {not}")
        );
        assert_eq!(
            parse_duration("timeout", "1.5s").unwrap_err(),
            format!("`timeout=1.5s` {not}")
        );
        assert_eq!(
            parse_duration("timeout", "0s").unwrap_err(),
            "`timeout=0s` must be more than zero (waits on a server are always bounded)"
        );
        assert_eq!(show_duration(Duration::from_secs(5)), "5s");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
    }
}
