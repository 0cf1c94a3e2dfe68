//! Bencode for the ng protocol: a strict, bounded front line over the
//! `bt_bencode` crate.
//!
//! Why a scanner before the crate: ng requests come from the network, and
//! the crate decodes any nesting depth (recursion), silently keeps the last
//! of duplicate dictionary keys and cannot say where a value ends in a TCP
//! byte stream. [`scan`] walks the bytes once without recursion and without
//! allocating, enforces the limits ([`Limits`]: depth, item count, size),
//! the canonical integer form and unique dictionary keys, and finds the end
//! of the value; only then does `bt_bencode` build the [`Value`]. Dictionary
//! key order is not enforced: the rtpengine modules of Kamailio and OpenSIPS
//! send keys in insertion order, and rtpengine accepts that.

use std::collections::BTreeMap;

pub use bt_bencode::{ByteString, Value};

/// Bounds on a decoded value.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Nesting of lists and dictionaries at most (the top value is depth 1).
    pub max_depth: usize,
    /// Values (strings, integers, lists, dictionaries) at most.
    pub max_items: usize,
    /// Bytes at most.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 8,
            max_items: 4096,
            max_bytes: 1 << 20,
        }
    }
}

/// Why bytes are not an acceptable bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BencodeError {
    /// Byte offset where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for BencodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bencode error at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for BencodeError {}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, BencodeError> {
    Err(BencodeError {
        offset,
        message: message.into(),
    })
}

/// Outcome of [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// One whole value occupies `buf[..end]`.
    Complete(usize),
    /// The bytes so far are a valid beginning; more are needed.
    Incomplete,
}

enum Frame {
    List,
    /// A dictionary; `expect_key` when the next item must be a key, and the
    /// keys seen so far (as byte ranges) for the duplicate check.
    Dict {
        expect_key: bool,
        keys: Vec<(usize, usize)>,
    },
}

/// Walks one bencoded value at the start of `buf` and checks it against
/// `limits`, the canonical integer form (`i0e`, no leading zeros, no `-0`)
/// and unique dictionary keys. Never recurses, never reads past `buf`.
pub fn scan(buf: &[u8], limits: &Limits) -> Result<Scan, BencodeError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut pos = 0usize;
    let mut items = 0usize;
    loop {
        if pos > limits.max_bytes {
            return err(pos, format!("value larger than {} bytes", limits.max_bytes));
        }
        let Some(&b) = buf.get(pos) else {
            return Ok(Scan::Incomplete);
        };
        // End of a container.
        if b == b'e' {
            match stack.pop() {
                Some(Frame::Dict {
                    expect_key: false, ..
                }) => return err(pos, "dictionary key without a value"),
                Some(_) => {}
                None => return err(pos, "unexpected 'e'"),
            }
            pos += 1;
            if stack.is_empty() {
                return Ok(Scan::Complete(pos));
            }
            after_value(&mut stack);
            continue;
        }
        items += 1;
        if items > limits.max_items {
            return err(pos, format!("more than {} values", limits.max_items));
        }
        let key_expected = matches!(
            stack.last(),
            Some(Frame::Dict {
                expect_key: true,
                ..
            })
        );
        match b {
            b'd' | b'l' => {
                if key_expected {
                    return err(pos, "dictionary key is not a byte string");
                }
                if stack.len() >= limits.max_depth {
                    return err(pos, format!("nested deeper than {}", limits.max_depth));
                }
                stack.push(if b == b'd' {
                    Frame::Dict {
                        expect_key: true,
                        keys: Vec::new(),
                    }
                } else {
                    Frame::List
                });
                pos += 1;
                continue;
            }
            b'i' => {
                if key_expected {
                    return err(pos, "dictionary key is not a byte string");
                }
                let start = pos + 1;
                let Some(len) = buf[start..].iter().position(|&c| c == b'e') else {
                    if buf.len() - start > 21 {
                        return err(pos, "integer too long");
                    }
                    return Ok(Scan::Incomplete);
                };
                let digits = &buf[start..start + len];
                check_int(digits).map_err(|m| BencodeError {
                    offset: pos,
                    message: m.into(),
                })?;
                pos = start + len + 1;
            }
            b'0'..=b'9' => {
                let start = pos;
                let Some(colon) = buf[start..].iter().position(|&c| c == b':') else {
                    if buf.len() - start > 10 {
                        return err(pos, "string length too long");
                    }
                    if !buf[start..].iter().all(u8::is_ascii_digit) {
                        return err(pos, "bad string length");
                    }
                    return Ok(Scan::Incomplete);
                };
                let digits = &buf[start..start + colon];
                if digits.len() > 10
                    || !digits.iter().all(u8::is_ascii_digit)
                    || (digits.len() > 1 && digits[0] == b'0')
                {
                    return err(pos, "bad string length");
                }
                let n: usize = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .ok_or(BencodeError {
                        offset: pos,
                        message: "bad string length".into(),
                    })?;
                let body = start + colon + 1;
                if n > limits.max_bytes || body + n > limits.max_bytes {
                    return err(pos, format!("value larger than {} bytes", limits.max_bytes));
                }
                if body + n > buf.len() {
                    return Ok(Scan::Incomplete);
                }
                if let Some(Frame::Dict {
                    expect_key: true,
                    keys,
                }) = stack.last_mut()
                {
                    let key = &buf[body..body + n];
                    if keys.iter().any(|&(s, e)| &buf[s..e] == key) {
                        return err(
                            pos,
                            format!("duplicate key {:?}", String::from_utf8_lossy(key)),
                        );
                    }
                    keys.push((body, body + n));
                }
                pos = body + n;
            }
            _ => return err(pos, format!("unexpected byte 0x{b:02x}")),
        }
        if stack.is_empty() {
            return Ok(Scan::Complete(pos));
        }
        after_value(&mut stack);
    }
}

fn after_value(stack: &mut [Frame]) {
    if let Some(Frame::Dict { expect_key, .. }) = stack.last_mut() {
        *expect_key = !*expect_key;
    }
}

fn check_int(d: &[u8]) -> Result<(), &'static str> {
    let (neg, body) = match d.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, d),
    };
    if body.is_empty() || !body.iter().all(u8::is_ascii_digit) {
        return Err("bad integer");
    }
    if body.len() > 1 && body[0] == b'0' {
        return Err("integer with a leading zero");
    }
    if neg && body == b"0" {
        return Err("integer -0");
    }
    let text = std::str::from_utf8(d).map_err(|_| "bad integer")?;
    if neg {
        text.parse::<i64>().map_err(|_| "integer out of range")?;
    } else {
        text.parse::<u64>().map_err(|_| "integer out of range")?;
    }
    Ok(())
}

/// Decodes exactly one value filling `buf`, after [`scan`] accepted it.
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Value, BencodeError> {
    match scan(buf, limits)? {
        Scan::Incomplete => err(buf.len(), "value ends early"),
        Scan::Complete(end) if end != buf.len() => err(end, "trailing bytes after the value"),
        Scan::Complete(_) => {
            bt_bencode::from_slice::<Value>(buf).or_else(|e| err(0, e.to_string()))
        }
    }
}

/// Encodes a value (dictionary keys sorted, as bencode wants).
pub fn encode(v: &Value) -> Vec<u8> {
    // Encoding a Value cannot fail: every variant has a bencode form.
    bt_bencode::to_vec(v).unwrap_or_default()
}

/// A byte-string value.
pub fn string(s: impl Into<Vec<u8>>) -> Value {
    Value::ByteStr(ByteString::from(s.into()))
}

/// An integer value.
pub fn int(n: u64) -> Value {
    Value::Int(bt_bencode::value::Number::Unsigned(n))
}

/// A list of strings.
pub fn string_list<I: IntoIterator<Item = S>, S: Into<Vec<u8>>>(items: I) -> Value {
    Value::List(items.into_iter().map(string).collect())
}

/// A dictionary being built.
#[derive(Default)]
pub struct Dict(pub BTreeMap<ByteString, Value>);

impl Dict {
    /// An empty dictionary.
    pub fn new() -> Dict {
        Dict(BTreeMap::new())
    }

    /// Sets `key` to `v`.
    pub fn set(&mut self, key: &str, v: Value) -> &mut Dict {
        self.0.insert(ByteString::from(key), v);
        self
    }

    /// Sets `key` to a string.
    pub fn str(&mut self, key: &str, v: impl Into<Vec<u8>>) -> &mut Dict {
        self.set(key, string(v))
    }

    /// Sets `key` to an integer.
    pub fn int(&mut self, key: &str, v: u64) -> &mut Dict {
        self.set(key, int(v))
    }

    /// The finished value.
    pub fn into_value(self) -> Value {
        Value::Dict(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn l() -> Limits {
        Limits::default()
    }

    #[test]
    fn scans_and_decodes() {
        let b = b"d7:command4:ping5:flagsl5:a-b-ce3:inti-42ee";
        assert_eq!(scan(b, &l()).unwrap(), Scan::Complete(b.len()));
        let v = decode(b, &l()).unwrap();
        assert_eq!(v.get("command").and_then(Value::as_str), Some("ping"));
        assert_eq!(v.get("int").and_then(Value::as_i64), Some(-42));
        for i in 0..b.len() {
            assert_eq!(scan(&b[..i], &l()).unwrap(), Scan::Incomplete, "prefix {i}");
        }
    }

    #[test]
    fn unsorted_keys_are_accepted_duplicates_are_not() {
        assert!(decode(b"d1:bi1e1:ai2ee", &l()).is_ok());
        let e = decode(b"d1:ai1e1:ai2ee", &l()).unwrap_err();
        assert!(e.message.contains("duplicate"), "{e}");
    }

    #[test]
    fn strict_forms() {
        for bad in [
            &b"i03e"[..],
            b"i-0e",
            b"ie",
            b"i1.5e",
            b"01:a",
            b"di1ei2ee",
            b"d1:ae",
            b"x",
            b"e",
            b"4:abcde",
            b"i99999999999999999999999e",
        ] {
            assert!(
                decode(bad, &l()).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn bounds() {
        let deep = format!("{}{}", "l".repeat(9), "e".repeat(9));
        assert!(decode(deep.as_bytes(), &l())
            .unwrap_err()
            .message
            .contains("deeper"));
        let ok = format!("{}{}", "l".repeat(8), "e".repeat(8));
        assert!(decode(ok.as_bytes(), &l()).is_ok());
        // A deep prefix is refused without reading to the end (no recursion).
        let huge = "l".repeat(100_000);
        assert!(scan(huge.as_bytes(), &l()).is_err());
        let small = Limits {
            max_bytes: 10,
            ..l()
        };
        assert!(decode(b"20:aaaaaaaaaaaaaaaaaaaa", &small).is_err());
        let few = Limits {
            max_items: 3,
            ..l()
        };
        assert!(decode(b"li1ei2ei3ee", &few).is_err());
        assert!(decode(b"li1ei2ee", &few).is_ok());
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(|n| Value::Int(bt_bencode::value::Number::Signed(n))),
            proptest::collection::vec(any::<u8>(), 0..24).prop_map(string),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                proptest::collection::btree_map(
                    proptest::collection::vec(any::<u8>(), 0..12).prop_map(ByteString::from),
                    inner,
                    0..6
                )
                .prop_map(Value::Dict),
            ]
        })
    }

    fn normalize(v: &Value) -> Value {
        // Non-negative integers come back as Unsigned; compare by value.
        match v {
            Value::Int(n) => match n {
                bt_bencode::value::Number::Signed(i) if *i >= 0 => int(*i as u64),
                other => Value::Int(*other),
            },
            Value::List(items) => Value::List(items.iter().map(normalize).collect()),
            Value::Dict(m) => {
                Value::Dict(m.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
            }
            s => s.clone(),
        }
    }

    proptest! {
        #[test]
        fn round_trip(v in arb_value()) {
            let bytes = encode(&v);
            prop_assert_eq!(scan(&bytes, &l()).unwrap(), Scan::Complete(bytes.len()));
            let back = decode(&bytes, &l()).unwrap();
            prop_assert_eq!(normalize(&back), normalize(&v));
            prop_assert_eq!(encode(&back), bytes.clone());
            // Every proper prefix is incomplete, never an error or a value.
            for i in 0..bytes.len() {
                prop_assert_eq!(scan(&bytes[..i], &l()).unwrap(), Scan::Incomplete);
            }
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes, &l());
        }
    }
}
