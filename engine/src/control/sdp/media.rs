//! [`Media`]: one media section (its `m=` line and the lines up to the
//! next one), with its accessors and rewrites.

use zeroize::Zeroize;

use super::line::{
    attr_line, attributes, clean_token, clean_value, connection_of, direction_of, is_direction,
    remove_attributes, replace_connection, replace_where, Eol, Line,
};
use super::model::{Connection, Direction};
use super::parse::parse_rtcp;
use super::{Sdp, SdpError};
use crate::control::sdes::{CryptoAttr, SdesError};

/// One media section: its `m=` line and the lines after it up to the next
/// `m=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    pub(super) m_line: Line,
    pub(super) kind: String,
    pub(super) port: u16,
    pub(super) port_count: Option<u16>,
    pub(super) proto: String,
    pub(super) formats: Vec<String>,
    pub(super) lines: Vec<Line>,
    pub(super) eol: Eol,
}

impl Media {
    fn rewrite_m_line(&mut self) {
        let mut t = format!("m={} {}", self.kind, self.port);
        if let Some(c) = self.port_count {
            t.push_str(&format!("/{c}"));
        }
        t.push(' ');
        t.push_str(&self.proto);
        for f in &self.formats {
            t.push(' ');
            t.push_str(f);
        }
        self.m_line.set_text(t);
    }

    /// The media type: `audio`, `video`, `application`, ...
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The transport port of the `m=` line; 0 for a rejected stream.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sets the port of the `m=` line.
    pub fn set_port(&mut self, p: u16) {
        self.port = p;
        self.rewrite_m_line();
    }

    /// The `/<count>` of `m=<media> <port>/<count>`, if written.
    pub fn port_count(&self) -> Option<u16> {
        self.port_count
    }

    /// The transport protocol: `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`...
    pub fn proto(&self) -> &str {
        &self.proto
    }

    /// Sets the transport protocol. White space and control characters
    /// are dropped so the `m=` line keeps its shape.
    pub fn set_proto(&mut self, p: &str) {
        self.proto = clean_token(p).into_owned();
        self.rewrite_m_line();
    }

    /// The formats (payload types for RTP) of the `m=` line.
    pub fn formats(&self) -> &[String] {
        &self.formats
    }

    /// Whether the stream is rejected or disabled (port 0).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// Whether the protocol is a secure RTP profile (contains `SAVP`).
    pub fn is_srtp(&self) -> bool {
        self.proto.to_ascii_uppercase().contains("SAVP")
    }

    /// The media-level `c=` connection, if any and `IN`.
    pub fn connection(&self) -> Option<Connection> {
        connection_of(&self.lines)
    }

    /// Replaces the media-level `c=` line(s) with one (inserted after any
    /// `i=` line if there was none), or removes them with `None`.
    pub fn set_connection(&mut self, c: Option<&Connection>) {
        replace_connection(&mut self.lines, c, self.eol, |lines| {
            lines
                .iter()
                .position(|l| l.kind() != b'i')
                .unwrap_or(lines.len())
        });
    }

    /// The connection that applies to this section: its own `c=`, else the
    /// session's.
    pub fn effective_connection<'a>(&'a self, session: &'a Sdp) -> Option<Connection> {
        self.connection().or_else(|| session.connection())
    }

    /// `a=rtcp:<port> [IN <addrtype> <address>]`, if present.
    pub fn rtcp(&self) -> Option<(u16, Option<Connection>)> {
        let l = self.lines.iter().find(|l| l.attr_is("rtcp"))?;
        parse_rtcp(l.attr()?.1.unwrap_or("")).ok()
    }

    /// Replaces the `a=rtcp` line (appending it if there is none), or
    /// removes it with `None`.
    pub fn set_rtcp(&mut self, v: Option<(u16, Option<&Connection>)>) {
        let new = v
            .map(|(port, c)| {
                let value = match c {
                    Some(c) => format!("{port} {c}"),
                    None => port.to_string(),
                };
                attr_line("rtcp", Some(&value), self.eol)
            })
            .into_iter()
            .collect();
        replace_where(&mut self.lines, |l| l.attr_is("rtcp"), new, |l| l.len());
    }

    /// Whether `a=rtcp-mux` is present.
    pub fn rtcp_mux(&self) -> bool {
        self.lines.iter().any(|l| l.attr_is("rtcp-mux"))
    }

    /// Adds `a=rtcp-mux` (if missing) or removes it.
    pub fn set_rtcp_mux(&mut self, on: bool) {
        if !on {
            self.remove_attribute("rtcp-mux");
        } else if !self.rtcp_mux() {
            self.add_attribute("rtcp-mux", None);
        }
    }

    /// This section's direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.lines)
    }

    /// The direction in force: this section's, else the session's, else
    /// `sendrecv`.
    pub fn effective_direction(&self, session: &Sdp) -> Direction {
        self.direction()
            .or_else(|| session.direction())
            .unwrap_or(Direction::SendRecv)
    }

    /// Replaces this section's direction attribute(s) with `d` (appending
    /// it if there was none).
    pub fn set_direction(&mut self, d: Direction) {
        let new = vec![attr_line(d.as_str(), None, self.eol)];
        replace_where(&mut self.lines, is_direction, new, |l| l.len());
    }

    /// All `a=crypto` lines, parsed. The error names the first unusable
    /// line; see [`Media::crypto_lines`] to skip bad lines instead.
    pub fn crypto(&self) -> Result<Vec<CryptoAttr>, SdpError> {
        self.crypto_lines()
            .into_iter()
            .map(|(line, r)| r.map_err(|e| SdpError::new(line, format!("a=crypto: {e}"))))
            .collect()
    }

    /// Each `a=crypto` line with its 1-based line number (0 for lines
    /// Rampart wrote) and its parse result.
    pub fn crypto_lines(&self) -> Vec<(usize, Result<CryptoAttr, SdesError>)> {
        self.lines
            .iter()
            .filter(|l| l.attr_is("crypto"))
            .map(|l| {
                let v = l.attr().and_then(|a| a.1).unwrap_or("");
                (l.number, CryptoAttr::parse(v))
            })
            .collect()
    }

    /// Replaces all `a=crypto` lines with `attrs`, at the position of the
    /// first one, or at the end of the section if there was none. An empty
    /// slice removes them.
    pub fn set_crypto(&mut self, attrs: &[CryptoAttr]) {
        let new = attrs
            .iter()
            .map(|a| {
                let mut v = a.to_value();
                let mut text = String::with_capacity(9 + v.len());
                text.push_str("a=crypto:");
                text.push_str(&clean_value(&v));
                v.zeroize();
                Line::new(text, self.eol)
            })
            .collect();
        replace_where(&mut self.lines, |l| l.attr_is("crypto"), new, |l| l.len());
    }

    /// This section's attributes in order: `(name, value)`, value `None`
    /// for a flag such as `a=rtcp-mux`.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        attributes(&self.lines)
    }

    /// Removes every attribute named `name` (ASCII case insensitive);
    /// returns how many were removed.
    pub fn remove_attribute(&mut self, name: &str) -> usize {
        remove_attributes(&mut self.lines, name)
    }

    /// Appends an attribute at the end of the section. Control characters
    /// in `name` and `value` (and white space in `name`) are dropped so the
    /// SDP stays well formed.
    pub fn add_attribute(&mut self, name: &str, value: Option<&str>) {
        self.lines.push(attr_line(name, value, self.eol));
    }

    /// Rewrites, in place, the value of every attribute named `name` with
    /// a value: `f` returns the new value (control characters are dropped,
    /// as in [`Media::add_attribute`]).
    pub fn rewrite_attribute(&mut self, name: &str, mut f: impl FnMut(&str) -> String) {
        for l in self.lines.iter_mut().filter(|l| l.attr_is(name)) {
            let Some((n, Some(v))) = l.attr() else {
                continue;
            };
            let new = attr_line(n, Some(&f(v)), l.eol);
            l.set_text(new.text.clone());
        }
    }
}
