//! Bencode for the ng protocol: a strict, bounded front line over the
//! `bt_bencode` crate.
//!
//! Why a scanner before the crate: ng requests come from the network, and
//! the crate decodes any nesting depth (recursion), silently keeps the last
//! of duplicate dictionary keys and cannot say where a value ends in a TCP
//! byte stream. [`scan`] walks the bytes once without recursion, enforces
//! the limits ([`Limits`]: depth, item count, size), the canonical integer
//! form and unique dictionary keys (one hash lookup per key), and finds the
//! end of the value; only then does `bt_bencode` build the [`Value`].
//! [`Scanner`] is the same walk, resumable: TCP framing goes on where the
//! last read stopped instead of rescanning the buffer. Dictionary key order
//! is not enforced: the rtpengine modules of Kamailio and OpenSIPS send keys
//! in insertion order, and rtpengine accepts that.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};

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
    /// keys seen so far (byte ranges, by a keyed hash of their bytes) for
    /// the duplicate check: one hash lookup per key, not a scan of all keys.
    Dict {
        expect_key: bool,
        keys: HashMap<u64, Vec<(usize, usize)>>,
    },
}

/// A resumable [`scan`]: TCP framing feeds it a growing buffer and it goes
/// on where the previous call stopped, so a message that arrives in many
/// small pieces is walked once, not once per piece.
///
/// Every call to [`Scanner::resume`] must pass the same bytes as before with
/// more appended (the buffer may only grow). After `Complete` or an error,
/// start a new `Scanner` for the next value.
pub struct Scanner {
    stack: Vec<Frame>,
    /// Where the next token starts.
    pos: usize,
    /// Values committed so far.
    items: usize,
    /// Bytes examined so far, over all calls (a measure of work, for tests).
    work: usize,
    hasher: RandomState,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

/// Longest integer token body: `-9223372036854775808` or `18446744073709551615`.
const INT_DIGITS: usize = 21;
/// Longest string length prefix (up to 10 digits).
const LEN_DIGITS: usize = 10;

impl Scanner {
    /// A scanner at the start of a value.
    pub fn new() -> Scanner {
        Scanner {
            stack: Vec::new(),
            pos: 0,
            items: 0,
            work: 0,
            hasher: RandomState::new(),
        }
    }

    /// Bytes examined so far, over all calls to [`Scanner::resume`]: the
    /// length of the value plus at most a few bytes per call (a partial
    /// token is looked at again), never the whole buffer again.
    pub fn work(&self) -> usize {
        self.work
    }

    /// Goes on scanning `buf` (the bytes of the previous call and more)
    /// from where the previous call stopped; see [`scan`].
    pub fn resume(&mut self, buf: &[u8], limits: &Limits) -> Result<Scan, BencodeError> {
        loop {
            let pos = self.pos;
            if pos > limits.max_bytes {
                return err(pos, format!("value larger than {} bytes", limits.max_bytes));
            }
            let Some(&b) = buf.get(pos) else {
                return Ok(Scan::Incomplete);
            };
            self.work += 1;
            if b == b'e' {
                self.close_container(pos)?;
                match self.value_ended() {
                    Some(done) => return Ok(done),
                    None => continue,
                }
            }
            if self.items >= limits.max_items {
                return err(pos, format!("more than {} values", limits.max_items));
            }
            let key_expected = matches!(
                self.stack.last(),
                Some(Frame::Dict {
                    expect_key: true,
                    ..
                })
            );
            if key_expected && matches!(b, b'd' | b'l' | b'i') {
                return err(pos, "dictionary key is not a byte string");
            }
            let token = match b {
                b'd' | b'l' => {
                    self.open_container(b == b'd', pos, limits)?;
                    continue;
                }
                b'i' => self.integer(buf, pos)?,
                b'0'..=b'9' => self.string(buf, pos, limits)?,
                _ => return err(pos, format!("unexpected byte 0x{b:02x}")),
            };
            if token == Token::Partial {
                return Ok(Scan::Incomplete);
            }
            if let Some(done) = self.value_ended() {
                return Ok(done);
            }
        }
    }

    /// After a value ended at `self.pos`: the whole value if it was the top
    /// one, else `None` (a dictionary then expects a key or a value next).
    fn value_ended(&mut self) -> Option<Scan> {
        if self.stack.is_empty() {
            return Some(Scan::Complete(self.pos));
        }
        after_value(&mut self.stack);
        None
    }

    /// The `e` at `pos` ends the innermost list or dictionary.
    fn close_container(&mut self, pos: usize) -> Result<(), BencodeError> {
        match self.stack.pop() {
            Some(Frame::Dict {
                expect_key: false, ..
            }) => return err(pos, "dictionary key without a value"),
            Some(_) => {}
            None => return err(pos, "unexpected 'e'"),
        }
        self.pos = pos + 1;
        Ok(())
    }

    /// The `d` or `l` at `pos` opens a dictionary or list.
    fn open_container(
        &mut self,
        dict: bool,
        pos: usize,
        limits: &Limits,
    ) -> Result<(), BencodeError> {
        if self.stack.len() >= limits.max_depth {
            return err(pos, format!("nested deeper than {}", limits.max_depth));
        }
        self.stack.push(if dict {
            Frame::Dict {
                expect_key: true,
                keys: HashMap::new(),
            }
        } else {
            Frame::List
        });
        self.items += 1;
        self.pos = pos + 1;
        Ok(())
    }

    /// The integer `i<digits>e` whose `i` is at `pos`.
    fn integer(&mut self, buf: &[u8], pos: usize) -> Result<Token, BencodeError> {
        let start = pos + 1;
        // Look no further than the longest integer and its 'e'.
        let window = &buf[start.min(buf.len())..buf.len().min(start + INT_DIGITS + 1)];
        let found = window.iter().position(|&c| c == b'e');
        self.work += found.map_or(window.len(), |n| n + 1);
        let Some(len) = found else {
            if window.len() > INT_DIGITS {
                return err(pos, "integer too long");
            }
            return Ok(Token::Partial);
        };
        let digits = &buf[start..start + len];
        check_int(digits).map_err(|m| BencodeError {
            offset: pos,
            message: m.into(),
        })?;
        self.items += 1;
        self.pos = start + len + 1;
        Ok(Token::Whole)
    }

    /// The byte string `<length>:<bytes>` starting at `pos`; as a
    /// dictionary key, also the duplicate check.
    fn string(&mut self, buf: &[u8], pos: usize, limits: &Limits) -> Result<Token, BencodeError> {
        let start = pos;
        let window = &buf[start..buf.len().min(start + LEN_DIGITS + 1)];
        let found = window.iter().position(|&c| c == b':');
        self.work += found.map_or(window.len(), |n| n + 1);
        let Some(colon) = found else {
            if window.len() > LEN_DIGITS {
                return err(pos, "string length too long");
            }
            if !window.iter().all(u8::is_ascii_digit) {
                return err(pos, "bad string length");
            }
            return Ok(Token::Partial);
        };
        let digits = &buf[start..start + colon];
        if !digits.iter().all(u8::is_ascii_digit) || (digits.len() > 1 && digits[0] == b'0') {
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
        let end = body
            .checked_add(n)
            .filter(|&e| n <= limits.max_bytes && e <= limits.max_bytes);
        let Some(end) = end else {
            return err(pos, format!("value larger than {} bytes", limits.max_bytes));
        };
        if end > buf.len() {
            return Ok(Token::Partial);
        }
        if let Some(Frame::Dict {
            expect_key: true,
            keys,
        }) = self.stack.last_mut()
        {
            let key = &buf[body..end];
            self.work += n;
            let same = keys.entry(self.hasher.hash_one(key)).or_default();
            if same.iter().any(|&(s, e)| &buf[s..e] == key) {
                // At most 64 bytes of the key are echoed back.
                let shown = String::from_utf8_lossy(&key[..key.len().min(64)]);
                let more = if key.len() > 64 { "..." } else { "" };
                return err(pos, format!("duplicate key {shown:?}{more}"));
            }
            same.push((body, end));
        }
        self.items += 1;
        self.pos = end;
        Ok(Token::Whole)
    }
}

/// Whether a token was whole in the buffer, or more bytes are needed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Whole,
    Partial,
}

/// Walks one bencoded value at the start of `buf` and checks it against
/// `limits`, the canonical integer form (`i0e`, no leading zeros, no `-0`)
/// and unique dictionary keys. Never recurses, never reads past `buf`.
pub fn scan(buf: &[u8], limits: &Limits) -> Result<Scan, BencodeError> {
    Scanner::new().resume(buf, limits)
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

    #[test]
    fn many_keys_fed_in_small_pieces_are_scanned_once() {
        // 2,000 keys in one dictionary (~64 KB), as an attacker would
        // trickle it into ng TCP 64 bytes at a time.
        let mut b = b"d".to_vec();
        for i in 0..2000 {
            let k = format!("a-fairly-long-key-{i:08}");
            b.extend_from_slice(format!("{}:{k}i{i}e", k.len()).as_bytes());
        }
        b.push(b'e');
        let limits = Limits::default();
        let mut sc = Scanner::new();
        let mut fed = 0;
        let mut done = None;
        while fed < b.len() {
            fed = (fed + 64).min(b.len());
            match sc.resume(&b[..fed], &limits).unwrap() {
                Scan::Incomplete => assert!(fed < b.len()),
                Scan::Complete(n) => done = Some(n),
            }
        }
        assert_eq!(done, Some(b.len()));
        // Linear: each byte once, plus at most a partial token again per
        // piece (a one-shot rescan per piece would be ~1000x the length).
        let pieces = b.len().div_ceil(64);
        assert!(
            sc.work() <= 2 * b.len() + pieces * (INT_DIGITS + 2),
            "work {} for {} bytes",
            sc.work(),
            b.len()
        );
        // A duplicate among them is still found.
        let mut dup = b[..b.len() - 1].to_vec();
        dup.extend_from_slice(b"26:a-fairly-long-key-00001234i0ee");
        assert!(decode(&dup, &limits)
            .unwrap_err()
            .message
            .contains("duplicate"));
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
        fn resumed_scan_matches_one_shot(v in arb_value(), cut in 1usize..32) {
            let bytes = encode(&v);
            let mut sc = Scanner::new();
            let mut end = 0;
            let mut got = Scan::Incomplete;
            while end < bytes.len() {
                end = (end + cut).min(bytes.len());
                got = sc.resume(&bytes[..end], &l()).unwrap();
                if end < bytes.len() {
                    prop_assert_eq!(got, Scan::Incomplete);
                }
            }
            prop_assert_eq!(got, Scan::Complete(bytes.len()));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes, &l());
        }
    }
}
