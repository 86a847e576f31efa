//! The small formatting rules every sentence of ctverify shares: escaping text from the bucket,
//! dates as the AWS CLI prints them, counts with their noun. Re-exported from
//! [`crate::messages`], whose sentences and the finding list ([`crate::report_findings`]) both
//! use them.

use chrono::{DateTime, Utc};

/// Text from the bucket (keys, reasons) with control characters escaped, so that a planted
/// key's name cannot inject lines or fields into a report or a log. The sentences of this
/// module quote such text as it is: escape them before writing them to a terminal or a
/// line-oriented log.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    // Control characters, and the bidirectional controls that reorder what a terminal shows.
    let hostile = |c: char| {
        c.is_control()
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hostile) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hostile(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `2026-01-01T00:00:00Z`: the format of the AWS CLI's report lines.
pub fn display_date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `1 chain`, `2 chains`: a count with its noun in the right number.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
