//! Bencode, as the ng control protocol (rtpengine's) carries it: integers,
//! byte strings, lists and dictionaries (keys sorted on output). Decoding is
//! bounded in depth and in input length.

use std::collections::BTreeMap;

/// A bencoded value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `i42e`
    Int(i64),
    /// `4:spam`
    Bytes(Vec<u8>),
    /// `l...e`
    List(Vec<Value>),
    /// `d...e`, keys sorted as bytes.
    Dict(BTreeMap<Vec<u8>, Value>),
}

/// Nesting deeper than this is refused.
pub const MAX_DEPTH: usize = 32;

impl Value {
    /// A byte string from text.
    pub fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// A list of byte strings.
    pub fn str_list(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::str(s)).collect())
    }

    /// A dictionary from (key, value) pairs.
    pub fn dict<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
        Value::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        )
    }

    /// The value under `key` of a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(d) => d.get(key.as_bytes()),
            _ => None,
        }
    }

    /// The text of a byte string (lossy UTF-8).
    pub fn as_str(&self) -> Option<String> {
        match self {
            Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => {
                out.extend_from_slice(b.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(b);
            }
            Value::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    out.extend_from_slice(k.len().to_string().as_bytes());
                    out.push(b':');
                    out.extend_from_slice(k);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }
}

/// Why decoding failed, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset.
    pub at: usize,
    /// What was wrong.
    pub what: &'static str,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bencode: {} at byte {}", self.what, self.at)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one value from the start of `input`; returns it and the bytes
/// consumed.
pub fn decode(input: &[u8]) -> Result<(Value, usize), DecodeError> {
    let mut pos = 0;
    let v = decode_at(input, &mut pos, 0)?;
    Ok((v, pos))
}

fn err(at: usize, what: &'static str) -> DecodeError {
    DecodeError { at, what }
}

fn decode_at(b: &[u8], pos: &mut usize, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(err(*pos, "nested too deeply"));
    }
    match b.get(*pos) {
        None => Err(err(*pos, "unexpected end")),
        Some(b'i') => {
            let start = *pos + 1;
            let end = b[start..]
                .iter()
                .position(|&c| c == b'e')
                .map(|p| start + p)
                .ok_or(err(start, "unterminated integer"))?;
            let s = std::str::from_utf8(&b[start..end]).map_err(|_| err(start, "bad integer"))?;
            let i = s.parse::<i64>().map_err(|_| err(start, "bad integer"))?;
            *pos = end + 1;
            Ok(Value::Int(i))
        }
        Some(b'l') => {
            *pos += 1;
            let mut l = Vec::new();
            loop {
                match b.get(*pos) {
                    None => return Err(err(*pos, "unterminated list")),
                    Some(b'e') => {
                        *pos += 1;
                        return Ok(Value::List(l));
                    }
                    Some(_) => l.push(decode_at(b, pos, depth + 1)?),
                }
            }
        }
        Some(b'd') => {
            *pos += 1;
            let mut d = BTreeMap::new();
            loop {
                match b.get(*pos) {
                    None => return Err(err(*pos, "unterminated dictionary")),
                    Some(b'e') => {
                        *pos += 1;
                        return Ok(Value::Dict(d));
                    }
                    Some(c) if c.is_ascii_digit() => {
                        let Value::Bytes(k) = decode_at(b, pos, depth + 1)? else {
                            return Err(err(*pos, "dictionary key is not a string"));
                        };
                        let v = decode_at(b, pos, depth + 1)?;
                        d.insert(k, v);
                    }
                    Some(_) => return Err(err(*pos, "dictionary key is not a string")),
                }
            }
        }
        Some(c) if c.is_ascii_digit() => {
            let start = *pos;
            let colon = b[start..]
                .iter()
                .take(20)
                .position(|&c| c == b':')
                .map(|p| start + p)
                .ok_or(err(start, "bad string length"))?;
            let len: usize = std::str::from_utf8(&b[start..colon])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(err(start, "bad string length"))?;
            let data_start = colon + 1;
            let end = data_start
                .checked_add(len)
                .filter(|&e| e <= b.len())
                .ok_or(err(start, "string runs past the end"))?;
            *pos = end;
            Ok(Value::Bytes(b[data_start..end].to_vec()))
        }
        Some(_) => Err(err(*pos, "unexpected byte")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let v = Value::dict([
            ("command", Value::str("offer")),
            ("flags", Value::str_list(&["a", "bc"])),
            ("n", Value::Int(-7)),
        ]);
        let e = v.encode();
        assert_eq!(e, b"d7:command5:offer5:flagsl1:a2:bce1:ni-7ee".to_vec());
        let (d, n) = decode(&e).unwrap();
        assert_eq!(n, e.len());
        assert_eq!(d, v);
    }

    #[test]
    fn refuses_bad_input() {
        for bad in [
            &b"d3:abc"[..],
            b"5:ab",
            b"i12",
            b"x",
            b"d1:a",
            b"99999999999999999999999:a",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = vec![b'l'; 100];
        assert!(decode(&deep).is_err());
    }
}
