//! Security tokens: the signing keys of the trust list.
//!
//! Why a type of its own: CallManager signs its CTL with a Site
//! Administrator Security Token, and requires at least two registered
//! tokens so that losing one does not lock the cluster out. Here a token is
//! an Ed25519 or ECDSA P-256 key pair (ring) kept as a PKCS#8 document in a
//! zeroizing buffer; its public half, with an id, is what the trust list
//! registers.
//!
//! ring's own key-pair objects (built only for the moment of a signature)
//! are not zeroized by ring; the long-lived copy, the PKCS#8 document, is.

use std::path::{Path, PathBuf};

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1,
    ECDSA_P256_SHA256_ASN1_SIGNING, ED25519,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::secret::{pem_decode, pem_encode, read_secret, sha256, write_public, write_secret};
use super::TrustError;

/// A token's signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenAlg {
    /// Ed25519 (RFC 8032).
    Ed25519,
    /// ECDSA over P-256 with SHA-256, ASN.1 DER signatures.
    EcdsaP256,
}

impl TokenAlg {
    /// The file-format name (`ed25519`, `ecdsa-p256`).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenAlg::Ed25519 => "ed25519",
            TokenAlg::EcdsaP256 => "ecdsa-p256",
        }
    }

    /// Parses a file-format name.
    pub fn parse(s: &str) -> Option<TokenAlg> {
        match s {
            "ed25519" => Some(TokenAlg::Ed25519),
            "ecdsa-p256" => Some(TokenAlg::EcdsaP256),
            _ => None,
        }
    }

    fn public_key_len(self) -> usize {
        match self {
            TokenAlg::Ed25519 => 32,
            TokenAlg::EcdsaP256 => 65,
        }
    }
}

impl std::fmt::Display for TokenAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered token as the trust list carries it: id, algorithm and the
/// raw public key (base64: 32 bytes for Ed25519, 65-byte uncompressed point
/// for P-256).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenInfo {
    /// Token id (1-64 of `A-Z a-z 0-9 . _ -`).
    pub id: String,
    /// Signature algorithm.
    pub algorithm: TokenAlg,
    /// Raw public key, base64.
    pub public_key: String,
}

impl TokenInfo {
    /// Checks the id and decodes the public key.
    pub fn decode(&self) -> Result<Vec<u8>, TrustError> {
        check_id(&self.id)?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(self.public_key.trim())
            .map_err(|e| {
                TrustError::BadToken(format!(
                    "token {:?}: public key is not base64: {e}",
                    self.id
                ))
            })?;
        if key.len() != self.algorithm.public_key_len() {
            return Err(TrustError::BadToken(format!(
                "token {:?}: a {} public key is {} bytes, got {}",
                self.id,
                self.algorithm,
                self.algorithm.public_key_len(),
                key.len()
            )));
        }
        if self.algorithm == TokenAlg::EcdsaP256 && !p256_point_is_valid(&key) {
            return Err(TrustError::BadToken(format!(
                "token {:?}: the ecdsa-p256 public key is not a point on the P-256 curve",
                self.id
            )));
        }
        Ok(key)
    }

    /// SHA-256 of the raw public key (how the state file pins tokens).
    pub fn key_sha256(&self) -> Result<[u8; 32], TrustError> {
        Ok(sha256(&self.decode()?))
    }

    /// Whether `signature` over `message` verifies with this token's key
    /// (false for a malformed key too).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(key) = self.decode() else {
            return false;
        };
        let alg: &dyn ring::signature::VerificationAlgorithm = match self.algorithm {
            TokenAlg::Ed25519 => &ED25519,
            TokenAlg::EcdsaP256 => &ECDSA_P256_SHA256_ASN1,
        };
        UnparsedPublicKey::new(alg, key)
            .verify(message, signature)
            .is_ok()
    }

    /// The `.pub` file text: a `[[tokens]]` TOML table ready to append to a
    /// trust-list payload source.
    pub fn to_pub_file(&self) -> String {
        format!(
            "[[tokens]]\nid = \"{}\"\nalgorithm = \"{}\"\npublic_key = \"{}\"\n",
            self.id, self.algorithm, self.public_key
        )
    }
}

/// Whether `key` (65 bytes, `04 || x || y`) is a valid P-256 public key:
/// uncompressed form, both coordinates below the field prime, the point on
/// the curve (and so not the point at infinity).
///
/// ring checks a peer's point fully when it computes an ECDH agreement
/// with it, and that is the only way an agreement with a fresh ephemeral
/// key can fail; `UnparsedPublicKey` for signatures checks nothing until a
/// signature is verified, which is why a trust list's token keys are
/// checked here, at load.
pub fn p256_point_is_valid(key: &[u8]) -> bool {
    use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P256};
    if key.len() != 65 || key[0] != 0x04 {
        return false;
    }
    let rng = SystemRandom::new();
    let Ok(ours) = EphemeralPrivateKey::generate(&ECDH_P256, &rng) else {
        return false;
    };
    agree_ephemeral(ours, &UnparsedPublicKey::new(&ECDH_P256, key), |_| ()).is_ok()
}

/// Checks a token id: 1-64 characters of `A-Z a-z 0-9 . _ -`, not starting
/// with a dot.
pub fn check_id(id: &str) -> Result<(), TrustError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(TrustError::BadToken(format!(
            "invalid token id {id:?}: use 1-64 characters of A-Z a-z 0-9 . _ -"
        )))
    }
}

/// A token's private key. No `Debug`, no `Clone`: the PKCS#8 document is
/// zeroized on drop.
pub struct TokenKey {
    id: String,
    alg: TokenAlg,
    pkcs8: Zeroizing<Vec<u8>>,
    public: Vec<u8>,
}

const PEM_LABEL: &str = "PRIVATE KEY";

impl TokenKey {
    /// Generates a key pair from the OS CSPRNG.
    pub fn generate(id: &str, alg: TokenAlg) -> Result<TokenKey, TrustError> {
        check_id(id)?;
        let rng = SystemRandom::new();
        let doc = match alg {
            TokenAlg::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng),
            TokenAlg::EcdsaP256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            }
        }
        .map_err(|_| TrustError::Key("key generation failed".into()))?;
        TokenKey::from_pkcs8(id, Zeroizing::new(doc.as_ref().to_vec()))
    }

    /// A key from a PKCS#8 document (Ed25519 or ECDSA P-256, detected).
    pub fn from_pkcs8(id: &str, pkcs8: Zeroizing<Vec<u8>>) -> Result<TokenKey, TrustError> {
        check_id(id)?;
        if let Ok(kp) = Ed25519KeyPair::from_pkcs8(&pkcs8) {
            let public = kp.public_key().as_ref().to_vec();
            return Ok(TokenKey {
                id: id.to_string(),
                alg: TokenAlg::Ed25519,
                pkcs8,
                public,
            });
        }
        let rng = SystemRandom::new();
        match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8, &rng) {
            Ok(kp) => {
                let public = kp.public_key().as_ref().to_vec();
                Ok(TokenKey {
                    id: id.to_string(),
                    alg: TokenAlg::EcdsaP256,
                    pkcs8,
                    public,
                })
            }
            Err(e) => Err(TrustError::Key(format!(
                "not an Ed25519 or ECDSA P-256 PKCS#8 private key: {e}"
            ))),
        }
    }

    /// Loads `DIR/NAME.key` (PEM PKCS#8); the token id is `NAME`.
    pub fn load(path: &Path) -> Result<TokenKey, TrustError> {
        let id = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| TrustError::Key(format!("{}: no token name", path.display())))?
            .to_string();
        let raw = read_secret(path)?;
        let text = std::str::from_utf8(&raw)
            .map_err(|_| TrustError::Key(format!("{}: not a PEM file", path.display())))?;
        let der = pem_decode(text, PEM_LABEL)
            .map_err(|e| TrustError::Key(format!("{}: {e}", path.display())))?;
        TokenKey::from_pkcs8(&id, der)
    }

    /// Writes `DIR/ID.key` (PEM PKCS#8, mode 0600) and `DIR/ID.pub` (the
    /// `[[tokens]]` table); refuses to overwrite either. Returns both paths.
    pub fn save(&self, dir: &Path) -> Result<(PathBuf, PathBuf), TrustError> {
        super::secret::ensure_dir(dir)?;
        let key_path = dir.join(format!("{}.key", self.id));
        let pub_path = dir.join(format!("{}.pub", self.id));
        if pub_path.exists() {
            return Err(TrustError::Exists(pub_path));
        }
        let pem = pem_encode(PEM_LABEL, &self.pkcs8);
        write_secret(&key_path, pem.as_bytes())?;
        write_public(&pub_path, self.info().to_pub_file().as_bytes(), false)?;
        Ok((key_path, pub_path))
    }

    /// The token id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The algorithm.
    pub fn alg(&self) -> TokenAlg {
        self.alg
    }

    /// The raw public key.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The public half as the trust list registers it.
    pub fn info(&self) -> TokenInfo {
        TokenInfo {
            id: self.id.clone(),
            algorithm: self.alg,
            public_key: base64::engine::general_purpose::STANDARD.encode(&self.public),
        }
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TrustError> {
        match self.alg {
            TokenAlg::Ed25519 => {
                let kp = Ed25519KeyPair::from_pkcs8(&self.pkcs8)
                    .map_err(|e| TrustError::Key(e.to_string()))?;
                Ok(kp.sign(message).as_ref().to_vec())
            }
            TokenAlg::EcdsaP256 => {
                let rng = SystemRandom::new();
                let kp =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.pkcs8, &rng)
                        .map_err(|e| TrustError::Key(e.to_string()))?;
                kp.sign(&rng, message)
                    .map(|s| s.as_ref().to_vec())
                    .map_err(|_| TrustError::Key("signing failed".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_token_sign_verify_both_algs() {
        for alg in [TokenAlg::Ed25519, TokenAlg::EcdsaP256] {
            let k = TokenKey::generate("t1", alg).unwrap();
            let sig = k.sign(b"hello").unwrap();
            let info = k.info();
            assert!(info.verify(b"hello", &sig));
            assert!(!info.verify(b"hellO", &sig));
        }
        assert!(TokenKey::generate("../x", TokenAlg::Ed25519).is_err());
    }

    #[test]
    fn p256_check_accepts_real_keys_and_refuses_off_curve_points() {
        let k = TokenKey::generate("t1", TokenAlg::EcdsaP256).unwrap();
        assert!(p256_point_is_valid(k.public_key()));
        let mut off = k.public_key().to_vec();
        off[64] ^= 1; // y changed: no longer on the curve
        assert!(!p256_point_is_valid(&off));
        let mut compressed = k.public_key().to_vec();
        compressed[0] = 0x02;
        assert!(!p256_point_is_valid(&compressed));
        assert!(!p256_point_is_valid(&[0x04; 65]));
        assert!(!p256_point_is_valid(&[0u8; 65]));
    }
}
