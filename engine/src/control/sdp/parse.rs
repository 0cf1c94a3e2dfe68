//! Text to [`Sdp`]: splitting lines, the checks on the lines Rampart relies
//! on (each error names its line), and the field parsers the accessors share.

use super::line::{Eol, Line};
use super::model::{AddrType, Connection};
use super::{Media, Sdp, SdpError, MAX_LINE_LEN, MAX_MEDIA, MAX_SDP_LEN};

impl Sdp {
    /// Parses an SDP given as bytes; non-UTF-8 input is refused with the
    /// line it is on.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Sdp, SdpError> {
        if bytes.len() > MAX_SDP_LEN {
            return Err(too_large(bytes.len()));
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => Sdp::parse(s),
            Err(e) => {
                let ok = &bytes[..e.valid_up_to()];
                let line = ok.iter().filter(|&&b| b == b'\n').count() + 1;
                Err(SdpError::new(line, "not valid UTF-8"))
            }
        }
    }

    /// Parses an SDP. `v=0` must be the first line and `o=` and `s=` must be
    /// present once at session level; `o=`, `c=`, `m=` and media-level
    /// `a=rtcp` lines are checked; every other line is kept as received.
    pub fn parse(text: &str) -> Result<Sdp, SdpError> {
        if text.len() > MAX_SDP_LEN {
            return Err(too_large(text.len()));
        }
        let (mut lines, trailer) = split_lines(text)?;
        let eol = check_version(&lines)?;
        let mut no_final_eol = false;
        if let Some(last) = lines.last_mut() {
            if last.eol == Eol::None {
                last.eol = eol;
                no_final_eol = true;
            }
        }
        let (session, media) = sections(lines, eol)?;
        Ok(Sdp {
            session,
            media,
            trailer,
            eol,
            no_final_eol,
        })
    }
}

/// Splits the text into its non-empty lines, each checked by
/// [`check_syntax`], and the line endings of the empty lines that end it.
/// An empty line followed by another line is refused.
fn split_lines(text: &str) -> Result<(Vec<Line>, Vec<Eol>), SdpError> {
    let mut lines: Vec<Line> = Vec::new();
    let mut trailer: Vec<(usize, Eol)> = Vec::new();
    for (i, piece) in text.split_inclusive('\n').enumerate() {
        let number = i + 1;
        let (body, eol) = if let Some(b) = piece.strip_suffix("\r\n") {
            (b, Eol::CrLf)
        } else if let Some(b) = piece.strip_suffix('\n') {
            (b, Eol::Lf)
        } else {
            (piece, Eol::None)
        };
        if body.len() > MAX_LINE_LEN {
            return Err(SdpError::new(
                number,
                format!(
                    "line is {} bytes, longer than the {MAX_LINE_LEN} allowed",
                    body.len()
                ),
            ));
        }
        if body.is_empty() {
            trailer.push((number, eol));
            continue;
        }
        if let Some(&(n, _)) = trailer.first() {
            return Err(SdpError::new(n, "empty line"));
        }
        let line = Line {
            text: body.to_string(),
            eol,
            number,
        };
        check_syntax(&line)?;
        lines.push(line);
    }
    Ok((lines, trailer.into_iter().map(|t| t.1).collect()))
}

/// Checks that the first line is `v=0`; returns the ending for lines
/// Rampart adds (LF if the first line ended in LF, else CRLF).
fn check_version(lines: &[Line]) -> Result<Eol, SdpError> {
    let first = match lines.first() {
        Some(l) => l,
        None => return Err(SdpError::new(0, "empty SDP")),
    };
    if first.kind() != b'v' {
        return Err(SdpError::new(first.number, "the first line must be v=0"));
    }
    if first.value().trim() != "0" {
        return Err(SdpError::new(
            first.number,
            format!("unsupported SDP version {}", quote(first.value())),
        ));
    }
    Ok(if first.eol == Eol::Lf {
        Eol::Lf
    } else {
        Eol::CrLf
    })
}

/// Sorts the lines into the session part and one [`Media`] per `m=` line,
/// checking where each line may appear and the fields of those Rampart
/// relies on.
fn sections(lines: Vec<Line>, eol: Eol) -> Result<(Vec<Line>, Vec<Media>), SdpError> {
    let mut session: Vec<Line> = Vec::new();
    let mut media: Vec<Media> = Vec::new();
    let mut seen = SessionLinesSeen::default();
    for (i, line) in lines.into_iter().enumerate() {
        if i == 0 {
            session.push(line);
            continue;
        }
        if line.kind() == b'm' {
            if media.len() >= MAX_MEDIA {
                return Err(SdpError::new(
                    line.number,
                    format!("more than {MAX_MEDIA} media sections"),
                ));
            }
            media.push(Media::from_line(line, eol)?);
            continue;
        }
        seen.check(&line, media.is_empty())?;
        match media.last_mut() {
            Some(m) => m.lines.push(line),
            None => session.push(line),
        }
    }
    if !seen.o {
        return Err(SdpError::new(0, "missing o= line"));
    }
    if !seen.s {
        return Err(SdpError::new(0, "missing s= line"));
    }
    Ok((session, media))
}

/// The session-level lines that may appear once, and whether each was seen.
#[derive(Default)]
struct SessionLinesSeen {
    o: bool,
    s: bool,
    c: bool,
}

impl SessionLinesSeen {
    /// Checks one line other than the first and `m=`, at session level
    /// (`at_session`) or in a media section.
    fn check(&mut self, line: &Line, at_session: bool) -> Result<(), SdpError> {
        let at = |m: String| SdpError::new(line.number, m);
        let kind = line.kind();
        match (kind, at_session) {
            (b'v', _) => return Err(at("v= is allowed only as the first line".into())),
            (b'o' | b's', false) => {
                return Err(at(format!(
                    "{}= is allowed only at session level",
                    kind as char
                )))
            }
            (b'o', true) => {
                if self.o {
                    return Err(at("second o= line".into()));
                }
                self.o = true;
                origin_fields(line.value()).map_err(at)?;
            }
            (b's', true) => {
                if self.s {
                    return Err(at("second s= line".into()));
                }
                self.s = true;
            }
            (b'c', true) => {
                if self.c {
                    return Err(at("second session-level c= line".into()));
                }
                self.c = true;
                parse_c(line.value()).map_err(at)?;
            }
            (b'c', false) => {
                parse_c(line.value()).map_err(at)?;
            }
            (b'a', false) if line.attr_is("rtcp") => {
                parse_rtcp(line.attr().and_then(|a| a.1).unwrap_or("")).map_err(at)?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Media {
    pub(super) fn from_line(line: Line, eol: Eol) -> Result<Media, SdpError> {
        let n = line.number;
        let f: Vec<&str> = line.value().split_ascii_whitespace().collect();
        if f.len() < 3 {
            return Err(SdpError::new(
                n,
                "m= must be \"<media> <port>[/<count>] <proto> <fmt> ...\"",
            ));
        }
        let (p, c) = match f[1].split_once('/') {
            Some((p, c)) => (p, Some(c)),
            None => (f[1], None),
        };
        let port = parse_u16(p)
            .ok_or_else(|| SdpError::new(n, format!("invalid m= port {}", quote(p))))?;
        let port_count = match c {
            None => None,
            Some(c) => match parse_u16(c) {
                Some(v) if v > 0 => Some(v),
                _ => {
                    return Err(SdpError::new(
                        n,
                        format!("invalid m= port count {}", quote(c)),
                    ))
                }
            },
        };
        let kind = f[0].to_string();
        let proto = f[2].to_string();
        let formats = f[3..].iter().map(|s| s.to_string()).collect();
        Ok(Media {
            m_line: line,
            kind,
            port,
            port_count,
            proto,
            formats,
            lines: Vec::new(),
            eol,
        })
    }
}

pub(super) fn too_large(n: usize) -> SdpError {
    SdpError::new(
        0,
        format!("SDP is {n} bytes, more than the {MAX_SDP_LEN} allowed"),
    )
}

pub(super) fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn parse_u16(s: &str) -> Option<u16> {
    if digits(s) && s.len() <= 5 {
        s.parse().ok()
    } else {
        None
    }
}

/// Shortens text quoted in an error.
pub(super) fn quote(s: &str) -> String {
    let short = match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    };
    format!("{short:?}")
}

/// `nettype addrtype address`: `Ok(None)` for a network type other than
/// `IN` (kept as is, not understood).
pub(super) fn conn_fields(net: &str, at: &str, addr: &str) -> Result<Option<Connection>, String> {
    if !net.eq_ignore_ascii_case("IN") {
        return Ok(None);
    }
    let addr_type =
        AddrType::parse(at).ok_or_else(|| format!("unsupported address type {}", quote(at)))?;
    let address = addr.split('/').next().unwrap_or("");
    if address.is_empty() {
        return Err("empty connection address".into());
    }
    Ok(Some(Connection {
        addr_type,
        address: address.to_string(),
    }))
}

pub(super) fn parse_c(value: &str) -> Result<Option<Connection>, String> {
    let f: Vec<&str> = value.split_ascii_whitespace().collect();
    if f.len() != 3 {
        return Err("c= must be \"<nettype> <addrtype> <address>\"".into());
    }
    conn_fields(f[0], f[1], f[2])
}

/// The fields of `o=`: username, sess-id, sess-version, nettype, addrtype,
/// address.
pub(super) fn origin_fields(value: &str) -> Result<Vec<&str>, String> {
    let f: Vec<&str> = value.split_ascii_whitespace().collect();
    if f.len() != 6 {
        return Err(
            "o= must be \"<username> <sess-id> <sess-version> <nettype> <addrtype> <address>\""
                .into(),
        );
    }
    if !digits(f[2]) {
        return Err(format!(
            "o= session version {} is not a decimal number",
            quote(f[2])
        ));
    }
    conn_fields(f[3], f[4], f[5])?;
    Ok(f)
}

pub(super) fn parse_rtcp(value: &str) -> Result<(u16, Option<Connection>), String> {
    let f: Vec<&str> = value.split_ascii_whitespace().collect();
    let port = f
        .first()
        .and_then(|p| parse_u16(p))
        .ok_or_else(|| "a=rtcp must start with a port number (0 to 65535)".to_string())?;
    match f.len() {
        1 => Ok((port, None)),
        4 => Ok((port, conn_fields(f[1], f[2], f[3])?)),
        _ => Err("a=rtcp must be \"<port> [<nettype> <addrtype> <address>]\"".into()),
    }
}

/// Checks the `<type>=` shape and the characters of a line.
pub(super) fn check_syntax(line: &Line) -> Result<(), SdpError> {
    let b = line.text.as_bytes();
    if b.len() < 2 || !b[0].is_ascii_alphabetic() || b[1] != b'=' {
        return Err(SdpError::new(
            line.number,
            format!(
                "expected \"<type>=<value>\" with a one-letter type, found {}",
                quote(&line.text)
            ),
        ));
    }
    if b.contains(&b'\r') {
        return Err(SdpError::new(
            line.number,
            "carriage return inside a line (line endings must be CRLF or LF)",
        ));
    }
    if b.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f) {
        return Err(SdpError::new(line.number, "control character in line"));
    }
    Ok(())
}
