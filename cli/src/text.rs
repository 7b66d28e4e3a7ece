//! Human output: aligned tables, times, durations, previews.

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A table: a header and rows, columns left-aligned, two spaces apart.
pub(crate) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub(crate) fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let width = |i: usize| {
            self.rows
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain([self.header[i].len()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.header.len()).map(width).collect();
        let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| {
            let mut text = String::new();
            for (i, cell) in cells.enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                let pad = widths[i].saturating_sub(cell.chars().count());
                text.extend(std::iter::repeat_n(' ', pad));
            }
            writeln!(out, "{}", text.trim_end())
        };
        line(out, &mut self.header.iter().copied())?;
        for row in &self.rows {
            line(out, &mut row.iter().map(String::as_str))?;
        }
        Ok(())
    }
}

/// A unix-ms time as `2026-12-05T16:22:26Z` (UTC), `-` for 0.
pub(crate) fn time(ms: i64) -> String {
    if ms <= 0 {
        return "-".to_owned();
    }
    let at = UNIX_EPOCH + Duration::from_millis(ms as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A unix-ms time's distance from now, `3m ago`.
pub(crate) fn ago(ms: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let secs = (now - ms).max(0) / 1000;
    let text = match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    };
    format!("{text} ago")
}

/// Milliseconds as `1.204s`, `35ms`, `2m03s`.
pub(crate) fn duration(ms: i64) -> String {
    match ms {
        ms if ms < 0 => "-".to_owned(),
        ms if ms < 1000 => format!("{ms}ms"),
        ms if ms < 60_000 => format!("{}.{:03}s", ms / 1000, ms % 1000),
        ms => format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// A JSON value on one line, cut to `max` characters with `…`.
pub(crate) fn preview(value: &serde_json::Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// One line: newlines and tabs of a message become spaces.
pub(crate) fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for part in text
        .split(['\n', '\r', '\t'])
        .filter(|p| !p.trim().is_empty())
    {
        if !line.is_empty() {
            line.push_str("; ");
        }
        line.push_str(part.trim());
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_texts_are_short() {
        let mut t = Table::new(&["ID", "NAME"]);
        t.row(vec!["1".into(), "long name".into()]);
        t.row(vec!["22".into(), "x".into()]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ID  NAME\n1   long name\n22  x\n"
        );
        assert_eq!(time(1_733_412_345_678), "2024-12-05T15:25:45Z");
        assert_eq!(time(0), "-");
        assert_eq!(duration(35), "35ms");
        assert_eq!(duration(1204), "1.204s");
        assert_eq!(duration(123_000), "2m03s");
        assert_eq!(
            preview(&serde_json::json!({"a": "bcdefgh"}), 8),
            "{\"a\":\"b…"
        );
        assert_eq!(one_line("a\n  b\n\nc"), "a; b; c");
    }
}
