//! Query parameters, checked: every page says which parameter is wrong and
//! what it expects.

use std::time::Duration;

use taskwire_runtime::jobboard::JobState;
use taskwire_runtime::persistence::{Cursor, FlowOrder, FlowQuery, NameMatch, Uuid};
use taskwire_runtime::FlowState;

use crate::html::PageError;

/// The most flows a page lists.
pub(crate) const MAX_LIMIT: usize = 500;
/// The longest name filter.
const MAX_NAME: usize = 200;

/// Splits a raw query string into decoded pairs, refusing names not in
/// `known`, repeated names, and undecodable text.
pub(crate) fn pairs(raw: Option<&str>, known: &[&str]) -> Result<Vec<(String, String)>, PageError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = decode(k)?;
        let v = decode(v)?;
        if !known.contains(&k.as_str()) {
            return Err(PageError::bad_request(format!(
                "unknown query parameter `{k}`; expected one of: {}",
                known.join(", ")
            )));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(PageError::bad_request(format!(
                "query parameter `{k}` is given twice"
            )));
        }
        out.push((k, v));
    }
    Ok(out)
}

pub(crate) fn decode(text: &str) -> Result<String, PageError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        PageError::bad_request(format!(
                            "the query has a malformed percent escape in `{text}`"
                        ))
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| PageError::bad_request(format!("the query text `{text}` is not UTF-8")))
}

/// The flows list's filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FlowFilter {
    pub(crate) states: Vec<FlowState>,
    pub(crate) name: Option<String>,
    pub(crate) logbook: Option<Uuid>,
    /// Changed within this long.
    pub(crate) newer_than: Option<Duration>,
    /// Not changed for this long.
    pub(crate) older_than: Option<Duration>,
    pub(crate) limit: usize,
    pub(crate) after: Option<Cursor>,
}

pub(crate) const FLOW_PARAMS: &[&str] = &[
    "state",
    "name",
    "logbook",
    "newer_than",
    "older_than",
    "limit",
    "after",
];

impl FlowFilter {
    pub(crate) fn parse(raw: Option<&str>) -> Result<FlowFilter, PageError> {
        let mut filter = FlowFilter {
            limit: 50,
            ..FlowFilter::default()
        };
        for (k, v) in pairs(raw, FLOW_PARAMS)? {
            let v = v.trim();
            if v.is_empty() {
                continue; // an empty form field: no filter
            }
            match k.as_str() {
                "state" => {
                    for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        let state =
                            FlowState::from_name(&name.to_ascii_uppercase()).ok_or_else(|| {
                                PageError::bad_request(format!(
                                    "`state={name}` is not a flow state; expected one of: {}",
                                    FlowState::ALL.map(|s| s.as_str()).join(", ")
                                ))
                            })?;
                        if !filter.states.contains(&state) {
                            filter.states.push(state);
                        }
                    }
                }
                "name" => {
                    if v.chars().count() > MAX_NAME {
                        return Err(PageError::bad_request(format!(
                            "`name` is longer than {MAX_NAME} characters"
                        )));
                    }
                    filter.name = Some(v.to_owned());
                }
                "logbook" => {
                    filter.logbook = Some(Uuid::parse_str(v).map_err(|_| {
                        PageError::bad_request(format!(
                            "`logbook={v}` is not a logbook id (a UUID)"
                        ))
                    })?)
                }
                "newer_than" => filter.newer_than = Some(age("newer_than", v)?),
                "older_than" => filter.older_than = Some(age("older_than", v)?),
                "limit" => {
                    filter.limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            PageError::bad_request(format!(
                                "`limit={v}` is not a whole number from 1 to {MAX_LIMIT}"
                            ))
                        })?
                }
                "after" => {
                    let cursor: Cursor = v.parse().map_err(|e| {
                        PageError::bad_request(format!(
                            "`after={v}` is not a page cursor (as the \"Older\" link gives): {e}"
                        ))
                    })?;
                    if cursor.order != FlowOrder::Created {
                        return Err(PageError::bad_request(format!(
                            "`after={v}` is not a page cursor of this list, which is by creation time"
                        )));
                    }
                    filter.after = Some(cursor);
                }
                _ => unreachable!("pairs() refuses unknown names"),
            }
        }
        Ok(filter)
    }

    /// The logbook query of this filter at time `now` (unix ms): newest
    /// created first.
    pub(crate) fn to_query(&self, now: i64) -> FlowQuery {
        let ago =
            |d: Duration| now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        FlowQuery {
            states: self.states.clone(),
            name: self.name.clone().map(NameMatch::Contains),
            logbook: self.logbook,
            updated_after: self.newer_than.map(ago),
            updated_before: self.older_than.map(ago),
            order: FlowOrder::Created,
            limit: self.limit,
            after: self.after,
            ..FlowQuery::default()
        }
    }

    /// The query string of this filter, for links (without `after`).
    pub(crate) fn query(&self) -> String {
        let mut parts = Vec::new();
        if !self.states.is_empty() {
            let names: Vec<&str> = self.states.iter().map(|s| s.as_str()).collect();
            parts.push(format!("state={}", names.join(",")));
        }
        if let Some(name) = &self.name {
            parts.push(format!("name={}", crate::html::enc(name)));
        }
        if let Some(book) = self.logbook {
            parts.push(format!("logbook={book}"));
        }
        if let Some(d) = self.newer_than {
            parts.push(format!("newer_than={}s", d.as_secs()));
        }
        if let Some(d) = self.older_than {
            parts.push(format!("older_than={}s", d.as_secs()));
        }
        if self.limit != 50 {
            parts.push(format!("limit={}", self.limit));
        }
        parts.join("&")
    }
}

/// An age: a whole number with a unit `s`, `m`, `h` or `d`.
fn age(key: &str, text: &str) -> Result<Duration, PageError> {
    let bad = || {
        PageError::bad_request(format!(
            "`{key}={text}` is not an age; expected a whole number with a unit s, m, h or d (e.g. 30m, 7d)"
        ))
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .filter(|s| *s <= 100 * 365 * 86_400)
    .ok_or_else(bad)?;
    Ok(Duration::from_secs(secs))
}

/// The jobs page's filter.
pub(crate) fn job_state(raw: Option<&str>) -> Result<Option<JobState>, PageError> {
    let mut state = None;
    for (_, v) in pairs(raw, &["state"])? {
        if v.is_empty() {
            continue;
        }
        state = Some(JobState::from_name(&v.to_ascii_lowercase()).ok_or_else(|| {
            PageError::bad_request(format!(
                "`state={v}` is not a job state; expected one of: ready, claimed, done, dead"
            ))
        })?);
    }
    Ok(state)
}

/// An id in a path.
pub(crate) fn id(what: &str, text: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(text)
        .map_err(|_| PageError::bad_request(format!("`{text}` is not a {what} id (a UUID)")))
}

/// Refuses any query string at all (pages that take none).
pub(crate) fn none(raw: Option<&str>) -> Result<(), PageError> {
    pairs(raw, &[]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(raw: &str) -> String {
        FlowFilter::parse(Some(raw)).unwrap_err().message
    }

    #[test]
    fn a_full_filter_parses_and_round_trips() {
        let f = FlowFilter::parse(Some(
            "state=failure,RUNNING&name=vol+1&newer_than=2h&limit=10&after=c5.67e55044-10b1-426f-9247-bb680e5fe0c8",
        ))
        .unwrap();
        assert_eq!(f.states, [FlowState::Failure, FlowState::Running]);
        assert_eq!(f.name.as_deref(), Some("vol 1"));
        assert_eq!(f.newer_than, Some(Duration::from_secs(7200)));
        assert_eq!(f.limit, 10);
        assert_eq!(f.after.unwrap().at, 5);
        let q = f.to_query(10_000_000);
        assert_eq!(q.updated_after, Some(10_000_000 - 7_200_000));
        assert_eq!(q.name, Some(NameMatch::Contains("vol 1".into())));
        let again = FlowFilter::parse(Some(&f.query())).unwrap();
        assert_eq!(again, FlowFilter { after: None, ..f });
    }

    #[test]
    fn bad_parameters_are_named() {
        assert!(err("state=RUN").contains("`state=RUN` is not a flow state"));
        assert!(err("limit=0").contains("`limit=0` is not a whole number from 1 to 500"));
        assert!(err("limit=x").contains("`limit=x`"));
        assert!(err("newer_than=5y").contains("`newer_than=5y` is not an age"));
        assert!(err("older_than=99999999999999d").contains("not an age"));
        assert!(err("after=12").contains("`after=12` is not a page cursor"));
        assert!(err("after=u5.67e55044-10b1-426f-9247-bb680e5fe0c8")
            .contains("not a page cursor of this list"));
        assert!(err("logbook=nope").contains("`logbook=nope` is not a logbook id"));
        assert!(err("color=red").contains("unknown query parameter `color`"));
        assert!(err("limit=1&limit=2").contains("`limit` is given twice"));
        assert!(err("name=%zz").contains("malformed percent escape"));
        assert!(err("name=%ff").contains("not UTF-8"));
        assert!(err(&format!("name={}", "x".repeat(201))).contains("longer than 200"));
        assert_eq!(FlowFilter::parse(Some("state=&name=")).unwrap().states, []);
    }
}
