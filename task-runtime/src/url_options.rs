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

/// A duration written `250ms`, `5s` or `1m`, more than zero; the error names
/// the key and the value.
pub(crate) fn parse_duration(key: &str, value: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        format!("`{key}={value}`: {why}; write a duration such as `500ms`, `5s` or `1m`")
    };
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| bad("the unit is missing"))?;
    let (number, unit) = value.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad("no number"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(bad(&format!("unknown unit `{unit}`"))),
    };
    if d.is_zero() {
        return Err(bad("it must be more than zero"));
    }
    Ok(d)
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
        assert_eq!(
            parse_duration("timeout", "5").unwrap_err(),
            "`timeout=5`: the unit is missing; write a duration such as `500ms`, `5s` or `1m`"
        );
        assert_eq!(
            parse_duration("timeout", "5h").unwrap_err(),
            "`timeout=5h`: unknown unit `h`; write a duration such as `500ms`, `5s` or `1m`"
        );
        assert_eq!(
            parse_duration("timeout", "fast").unwrap_err(),
            "`timeout=fast`: no number; write a duration such as `500ms`, `5s` or `1m`"
        );
        assert_eq!(
            parse_duration("timeout", "0s").unwrap_err(),
            "`timeout=0s`: it must be more than zero; write a duration such as `500ms`, `5s` or `1m`"
        );
        assert_eq!(show_duration(Duration::from_secs(5)), "5s");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
    }
}
