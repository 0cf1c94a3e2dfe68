//! Raw SDP lines as received: text, line ending and line number, so an
//! unmodified SDP prints back byte for byte. Lines that carry secrets are
//! redacted in `Debug` and zeroized on drop. Also the helpers that edit a
//! list of lines (replace in place, add an attribute) and classify them.

use std::borrow::Cow;

use zeroize::Zeroize;

use super::model::{Connection, Direction};
use super::parse::parse_c;
use super::{DTLS_ATTRIBUTES, ICE_ATTRIBUTES};

/// A line ending as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Eol {
    CrLf,
    Lf,
    /// The last line of an input that did not end with a newline; only
    /// while parsing (see `Sdp::no_final_eol`).
    None,
}

impl Eol {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Eol::CrLf => "\r\n",
            Eol::Lf => "\n",
            Eol::None => "",
        }
    }
}

/// One `<type>=<value>` line. `text` is always at least two bytes, an ASCII
/// letter and `=`.
#[derive(Clone)]
pub(super) struct Line {
    pub(super) text: String,
    pub(super) eol: Eol,
    /// 1-based line number in the input; 0 for lines Rampart wrote.
    pub(super) number: usize,
}

impl Line {
    pub(super) fn new(text: String, eol: Eol) -> Line {
        Line {
            text,
            eol,
            number: 0,
        }
    }

    pub(super) fn kind(&self) -> u8 {
        self.text.as_bytes().first().copied().unwrap_or(0)
    }

    pub(super) fn value(&self) -> &str {
        self.text.get(2..).unwrap_or("")
    }

    /// `(name, value)` of an `a=` line.
    pub(super) fn attr(&self) -> Option<(&str, Option<&str>)> {
        if self.kind() != b'a' {
            return None;
        }
        Some(match self.value().split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (self.value().trim_end(), None),
        })
    }

    pub(super) fn attr_is(&self, name: &str) -> bool {
        self.attr()
            .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    pub(super) fn is_sensitive(&self) -> bool {
        let t = self.text.as_bytes();
        t.starts_with(b"k=") || starts_with_ci(t, b"a=crypto:") || starts_with_ci(t, b"a=ice-pwd:")
    }

    pub(super) fn set_text(&mut self, text: String) {
        if self.is_sensitive() {
            self.text.zeroize();
        }
        self.text = text;
    }
}

pub(super) fn starts_with_ci(t: &[u8], prefix: &[u8]) -> bool {
    t.len() >= prefix.len() && t[..prefix.len()].eq_ignore_ascii_case(prefix)
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.is_sensitive() {
            self.text.zeroize();
        }
    }
}

impl PartialEq for Line {
    /// Same text and line ending; where the line came from does not matter.
    fn eq(&self, other: &Line) -> bool {
        self.text == other.text && self.eol == other.eol
    }
}

impl Eq for Line {}

impl core::fmt::Debug for Line {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&redact(&self.text), f)
    }
}

/// The line with key material replaced by `<redacted>`.
pub(super) fn redact(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    if b.starts_with(b"k=") {
        return Cow::Borrowed("k=<redacted>");
    }
    if starts_with_ci(b, b"a=ice-pwd:") {
        return Cow::Borrowed("a=ice-pwd:<redacted>");
    }
    if !starts_with_ci(b, b"a=crypto:") {
        return Cow::Borrowed(text);
    }
    // Replace each inline key's base64 (up to '|', ';' or white space).
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(i) = lower[pos..].find("inline:") {
        let start = pos + i + "inline:".len();
        out.push_str(&text[pos..start]);
        out.push_str("<redacted>");
        let end = text[start..]
            .find(|c: char| c == '|' || c == ';' || c.is_ascii_whitespace())
            .map_or(text.len(), |e| start + e);
        pos = end;
    }
    out.push_str(&text[pos..]);
    Cow::Owned(out)
}

/// Removes white space and control characters from a token Rampart writes,
/// so that a caller's value can never split or break a line.
pub(super) fn clean_token(s: &str) -> Cow<'_, str> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Cow::Owned(
            s.chars()
                .filter(|c| !c.is_whitespace() && !c.is_control())
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}

/// Removes control characters (CR, LF, NUL, ...) from a value Rampart writes.
pub(super) fn clean_value(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_control) {
        Cow::Owned(s.chars().filter(|c| !c.is_control()).collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// Replaces every line matching `pred` with `new`, placed where the first
/// match was, or at `default_pos(lines)` when none matched. Returns how many
/// lines were removed.
pub(super) fn replace_where(
    lines: &mut Vec<Line>,
    pred: impl Fn(&Line) -> bool,
    new: Vec<Line>,
    default_pos: impl FnOnce(&[Line]) -> usize,
) -> usize {
    let first = lines.iter().position(&pred);
    let before = lines.len();
    lines.retain(|l| !pred(l));
    let removed = before - lines.len();
    let pos = match first {
        Some(p) => p,
        None => default_pos(lines),
    }
    .min(lines.len());
    lines.splice(pos..pos, new);
    removed
}

/// Removes every attribute line named `name` (ASCII case insensitive);
/// returns how many were removed.
pub(super) fn remove_attributes(lines: &mut Vec<Line>, name: &str) -> usize {
    replace_where(lines, |l| l.attr_is(name), Vec::new(), |l| l.len())
}

/// The connection of the first `c=` line in `lines`, if its network type
/// is `IN`.
pub(super) fn connection_of(lines: &[Line]) -> Option<Connection> {
    let l = lines.iter().find(|l| l.kind() == b'c')?;
    parse_c(l.value()).ok().flatten()
}

/// Replaces the `c=` lines with one for `c` (or removes them with `None`),
/// placed where the first was, else at `default_pos(lines)`.
pub(super) fn replace_connection(
    lines: &mut Vec<Line>,
    c: Option<&Connection>,
    eol: Eol,
    default_pos: impl FnOnce(&[Line]) -> usize,
) {
    let new = c
        .map(|c| Line::new(format!("c={c}"), eol))
        .into_iter()
        .collect();
    replace_where(lines, |l| l.kind() == b'c', new, default_pos);
}

pub(super) fn attr_line(name: &str, value: Option<&str>, eol: Eol) -> Line {
    let mut text = format!("a={}", clean_token(name));
    if let Some(v) = value {
        text.push(':');
        text.push_str(&clean_value(v));
    }
    Line::new(text, eol)
}

pub(super) fn attributes(lines: &[Line]) -> impl Iterator<Item = (&str, Option<&str>)> {
    lines.iter().filter_map(Line::attr)
}

pub(super) fn direction_of(lines: &[Line]) -> Option<Direction> {
    attributes(lines).find_map(|(n, v)| match v {
        None => Direction::from_name(n),
        Some(_) => None,
    })
}

pub(super) fn is_direction(l: &Line) -> bool {
    matches!(l.attr(), Some((n, None)) if Direction::from_name(n).is_some())
}

pub(super) fn is_ice(l: &Line) -> bool {
    l.attr()
        .is_some_and(|(n, _)| ICE_ATTRIBUTES.iter().any(|a| n.eq_ignore_ascii_case(a)))
}

pub(super) fn is_dtls(l: &Line) -> bool {
    l.attr().is_some_and(|(n, _)| {
        DTLS_ATTRIBUTES.iter().any(|a| n.eq_ignore_ascii_case(a))
            || starts_with_ci(n.as_bytes(), b"dtls-")
    })
}
