//! [`Sdp`]: the session-level lines and the media sections, the
//! session-level accessors and rewrites, and printing.

use super::line::{
    attr_line, attributes, connection_of, direction_of, is_direction, is_dtls, is_ice,
    remove_attributes, replace_connection, replace_where, Eol, Line,
};
use super::model::{Connection, Direction};
use super::parse::{conn_fields, origin_fields};
use super::Media;

/// A parsed SDP: the session-level lines in order and one [`Media`] per
/// `m=` line. Printing it ([`core::fmt::Display`], `to_string()`) gives
/// back the input byte for byte unless it was modified; lines Rampart adds
/// use the input's line ending (CRLF, or LF if the first line ended in LF).
#[derive(Clone, Debug)]
pub struct Sdp {
    pub(super) session: Vec<Line>,
    pub(super) media: Vec<Media>,
    /// Empty lines after the last line, as received.
    pub(super) trailer: Vec<Eol>,
    /// The ending for lines Rampart adds.
    pub(super) eol: Eol,
    /// The input's last line had no line ending: print none after
    /// whichever line is last.
    pub(super) no_final_eol: bool,
}

impl Sdp {
    fn all_lines(&self) -> impl Iterator<Item = &Line> {
        self.session.iter().chain(
            self.media
                .iter()
                .flat_map(|m| core::iter::once(&m.m_line).chain(m.lines.iter())),
        )
    }

    fn origin_index(&self) -> Option<usize> {
        self.session.iter().position(|l| l.kind() == b'o')
    }

    /// The address of the `o=` line, if its network type is `IN`.
    pub fn origin_address(&self) -> Option<Connection> {
        let l = &self.session[self.origin_index()?];
        let f = origin_fields(l.value()).ok()?;
        conn_fields(f[3], f[4], f[5]).ok().flatten()
    }

    /// Rewrites the network type, address type and address of `o=`,
    /// keeping the username, session id and version.
    pub fn set_origin_address(&mut self, c: &Connection) {
        self.edit_origin(|f| vec![f[0].into(), f[1].into(), f[2].into(), c.to_string()]);
    }

    /// Increments the session version of `o=` (as a decimal number of any
    /// length), as a changed SDP in a new offer or answer needs.
    pub fn bump_origin_version(&mut self) {
        self.edit_origin(|f| {
            vec![
                f[0].into(),
                f[1].into(),
                increment_decimal(f[2]),
                f[3..].join(" "),
            ]
        });
    }

    fn edit_origin(&mut self, edit: impl FnOnce(&[&str]) -> Vec<String>) {
        let Some(i) = self.origin_index() else { return };
        let line = &mut self.session[i];
        let text = match origin_fields(line.value()) {
            Ok(f) => format!("o={}", edit(&f).join(" ")),
            Err(_) => return,
        };
        line.set_text(text);
    }

    /// The session-level `c=` connection, if any and if its network type is
    /// `IN`.
    pub fn connection(&self) -> Option<Connection> {
        connection_of(&self.session)
    }

    /// Replaces the session-level `c=` line (inserting it in RFC order if
    /// there is none), or removes it with `None`.
    pub fn set_connection(&mut self, c: Option<&Connection>) {
        replace_connection(&mut self.session, c, self.eol, |lines| {
            lines
                .iter()
                .position(|l| b"btrzka".contains(&l.kind()))
                .unwrap_or(lines.len())
        });
    }

    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.session)
    }

    /// Replaces the session-level direction attribute, or removes it with
    /// `None`.
    pub fn set_direction(&mut self, d: Option<Direction>) {
        let new = d
            .map(|d| attr_line(d.as_str(), None, self.eol))
            .into_iter()
            .collect();
        replace_where(&mut self.session, is_direction, new, |l| l.len());
    }

    /// The media sections, in order.
    pub fn media(&self) -> &[Media] {
        &self.media
    }

    /// The media sections, to rewrite.
    pub fn media_mut(&mut self) -> &mut [Media] {
        &mut self.media
    }

    /// Appends a rejected media section, `m=<kind> 0 <proto> <formats>`
    /// (RFC 3264 §6: an answer declines an offered stream with port 0).
    /// Fields that would not make a valid `m=` line are replaced by `-`
    /// (kind, proto) or `0` (no format).
    pub fn push_rejected_media(&mut self, kind: &str, proto: &str, formats: &[String]) {
        let token = |t: &str, dflt: &str| {
            if t.is_empty()
                || t.bytes()
                    .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            {
                dflt.to_string()
            } else {
                t.to_string()
            }
        };
        let mut text = format!("m={} 0 {}", token(kind, "-"), token(proto, "-"));
        if formats.is_empty() {
            text.push_str(" 0");
        }
        for f in formats {
            text.push(' ');
            text.push_str(&token(f, "0"));
        }
        let eol = self.eol;
        if let Ok(m) = Media::from_line(Line::new(text, eol), eol) {
            self.media.push(m);
        }
    }

    /// Session-level attributes in order: `(name, value)`, value `None` for
    /// a flag such as `a=ice-lite`.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        attributes(&self.session)
    }

    /// Removes every session-level attribute named `name` (ASCII case
    /// insensitive); returns how many were removed.
    pub fn remove_attribute(&mut self, name: &str) -> usize {
        remove_attributes(&mut self.session, name)
    }

    /// Appends a session-level attribute. Control characters in `name` and
    /// `value` (and white space in `name`) are dropped so the SDP stays well
    /// formed.
    pub fn add_attribute(&mut self, name: &str, value: Option<&str>) {
        self.session.push(attr_line(name, value, self.eol));
    }

    /// Removes the ICE attributes ([`ICE_ATTRIBUTES`](super::ICE_ATTRIBUTES))
    /// at session level and from every media section.
    pub fn remove_ice(&mut self) {
        self.session.retain(|l| !is_ice(l));
        for m in &mut self.media {
            m.lines.retain(|l| !is_ice(l));
        }
    }

    /// Removes the DTLS attributes ([`DTLS_ATTRIBUTES`](super::DTLS_ATTRIBUTES)
    /// and `dtls-*`) at session level and from every media section.
    pub fn remove_dtls(&mut self) {
        self.session.retain(|l| !is_dtls(l));
        for m in &mut self.media {
            m.lines.retain(|l| !is_dtls(l));
        }
    }
}

impl PartialEq for Sdp {
    /// Two SDPs are equal when they print the same text and would write
    /// added lines with the same line ending.
    fn eq(&self, other: &Sdp) -> bool {
        self.eol == other.eol && self.to_string() == other.to_string()
    }
}

impl Eq for Sdp {}

impl core::fmt::Display for Sdp {
    /// The SDP text. It carries whatever keys the SDP holds: write it only
    /// where the SDP must go, never into logs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut lines = self.all_lines().peekable();
        while let Some(l) = lines.next() {
            f.write_str(&l.text)?;
            let last = lines.peek().is_none() && self.trailer.is_empty();
            if !(last && self.no_final_eol) {
                f.write_str(l.eol.as_str())?;
            }
        }
        for e in &self.trailer {
            f.write_str(e.as_str())?;
        }
        Ok(())
    }
}

/// Adds one to a decimal number written as text, of any length.
pub(super) fn increment_decimal(s: &str) -> String {
    let mut d: Vec<u8> = s.bytes().collect();
    let mut i = d.len();
    loop {
        if i == 0 {
            d.insert(0, b'1');
            break;
        }
        i -= 1;
        if d[i] == b'9' {
            d[i] = b'0';
        } else {
            d[i] += 1;
            break;
        }
    }
    String::from_utf8(d).unwrap_or_default()
}
