//! Writing keys and certificates to disk, and the small encodings (PEM,
//! hex, SHA-256 fingerprints) the trust files use.
//!
//! Why here and hand-rolled: a private key must never exist on disk with
//! permissions wider than 0600, not even for the moment between create and
//! chmod, so secrets are written to a temporary file created with mode 0600
//! in the target directory and renamed into place. The encodings are a few
//! lines each and keep the trust plane free of extra dependencies.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use zeroize::Zeroizing;

use super::TrustError;

/// File mode of private keys.
pub const SECRET_MODE: u32 = 0o600;
/// File mode of public files (certificates, public keys, trust lists).
pub const PUBLIC_MODE: u32 = 0o644;

fn write_with_mode(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    overwrite: bool,
) -> Result<(), TrustError> {
    if !overwrite && path.exists() {
        return Err(TrustError::Exists(path.to_path_buf()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let mut rnd = [0u8; 8];
    getrandom::fill(&mut rnd).map_err(|e| TrustError::Key(format!("OS random source: {e}")))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", hex(&rnd)));
    let result = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed the mode; make it exact.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if !overwrite && path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "appeared while writing",
            ));
        }
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            return Err(TrustError::Exists(path.to_path_buf()));
        }
        return Err(TrustError::io(path, e));
    }
    Ok(())
}

/// Writes a secret (a private key) with mode 0600, atomically; refuses to
/// overwrite an existing file.
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), TrustError> {
    write_with_mode(path, bytes, SECRET_MODE, false)
}

/// Writes a public file with mode 0644, atomically. `overwrite` allows
/// replacing an existing file.
pub fn write_public(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), TrustError> {
    write_with_mode(path, bytes, PUBLIC_MODE, overwrite)
}

/// Reads a file into a zeroizing buffer (for private keys).
pub fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, TrustError> {
    fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| TrustError::io(path, e))
}

/// Creates a directory (and its parents) if missing.
pub fn ensure_dir(dir: &Path) -> Result<(), TrustError> {
    fs::create_dir_all(dir).map_err(|e| TrustError::io(dir, e))
}

/// PEM-encodes `der` under `label` (64-column base64).
pub fn pem_encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = Zeroizing::new(String::with_capacity(b64.len() + b64.len() / 64 + 64));
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Decodes every PEM block labelled `label` in `text`, in order.
pub fn pem_decode_all(text: &str, label: &str) -> Result<Vec<Zeroizing<Vec<u8>>>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(b) = rest.find(&begin) {
        let after = &rest[b + begin.len()..];
        let e = after
            .find(&end)
            .ok_or_else(|| format!("unterminated PEM block {label}"))?;
        let body: Zeroizing<String> =
            Zeroizing::new(after[..e].chars().filter(|c| !c.is_whitespace()).collect());
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("bad base64 in PEM block {label}: {e}"))?;
        out.push(Zeroizing::new(der));
        rest = &after[e + end.len()..];
    }
    Ok(out)
}

/// Decodes the first PEM block labelled `label`.
pub fn pem_decode(text: &str, label: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    pem_decode_all(text, label)?
        .into_iter()
        .next()
        .ok_or_else(|| format!("no PEM block {label} found"))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Parses a SHA-256 fingerprint written as 64 hex digits, optionally with
/// `:` separators and in either case.
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let digits: Vec<u8> = s.bytes().filter(|&b| b != b':').collect();
    if digits.len() != 64 {
        return Err(format!(
            "sha256 fingerprint must be 64 hex digits, got {}",
            digits.len()
        ));
    }
    let val = |c: u8| -> Result<u8, String> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!(
                "sha256 fingerprint has a non-hex character {:?}",
                c as char
            )),
        }
    };
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        out[i] = (val(pair[0])? << 4) | val(pair[1])?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_pem_round_trip() {
        let der = (0u8..200).collect::<Vec<_>>();
        let pem = pem_encode("PRIVATE KEY", &der);
        assert_eq!(&*pem_decode(&pem, "PRIVATE KEY").unwrap(), &der);
        assert!(pem_decode(&pem, "CERTIFICATE").is_err());
    }

    #[test]
    fn trust_fingerprint_parses_with_colons() {
        let fp = sha256(b"x");
        let h = hex(&fp);
        assert_eq!(parse_fingerprint(&h).unwrap(), fp);
        let colons: Vec<String> = fp.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(parse_fingerprint(&colons.join(":")).unwrap(), fp);
        assert!(parse_fingerprint("abc").is_err());
    }
}
