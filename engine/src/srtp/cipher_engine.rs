//! Which AES implementation new session keys use.
//!
//! Why a choice: `rampart-simd`'s VAES counter mode and VAES/VPCLMULQDQ
//! AES-GCM are the fast path where the CPU has them, and the portable path
//! (RustCrypto's `aes` for counter mode, ring for GCM) is what every other
//! CPU runs. Both must be tested on the machines that have both, and the
//! benchmark compares them in one run, so the choice can be forced: with the
//! environment variable [`CIPHER_ENGINE_ENV`] for a process, or with
//! [`CipherEngine::set_default`] for the keys made after the call. A key
//! keeps the implementation it was made with.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// The environment variable that forces the cipher engine: `auto` (the
/// default), `vector` or `portable`.
pub const CIPHER_ENGINE_ENV: &str = "RAMPART_SRTP_CIPHER_ENGINE";

/// An AES implementation for SRTP's ciphers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CipherEngine {
    /// VAES counter mode (AES-NI, VAES, AVX-512 F/BW) and, with
    /// VPCLMULQDQ too, AES-GCM (`rampart-simd`). A GCM key falls back to
    /// ring where VPCLMULQDQ is missing.
    Vector,
    /// RustCrypto's `aes` (AES-NI or constant-time software) for counter
    /// mode and ring for GCM, on every CPU.
    Portable,
}

/// 0: not set (environment, then detection); 1 + the engine's index.
static FORCED: AtomicU8 = AtomicU8::new(0);

impl CipherEngine {
    /// Its name in [`CIPHER_ENGINE_ENV`] and in benchmark tables.
    pub const fn name(self) -> &'static str {
        match self {
            CipherEngine::Vector => "vector",
            CipherEngine::Portable => "portable",
        }
    }

    /// Whether this CPU runs it.
    pub fn available(self) -> bool {
        match self {
            CipherEngine::Vector => rampart_simd::aes::AesCtrKey::available(),
            CipherEngine::Portable => true,
        }
    }

    /// The fastest engine this CPU runs.
    pub fn detect() -> CipherEngine {
        if CipherEngine::Vector.available() {
            CipherEngine::Vector
        } else {
            CipherEngine::Portable
        }
    }

    /// The engine that keys made now use: the one [`set_default`] forced,
    /// else the one [`CIPHER_ENGINE_ENV`] names (read once per process;
    /// an unknown or unavailable name warns and detects), else the
    /// detected one.
    ///
    /// [`set_default`]: CipherEngine::set_default
    pub fn current() -> CipherEngine {
        match FORCED.load(Ordering::Relaxed) {
            1 => return CipherEngine::Vector,
            2 => return CipherEngine::Portable,
            _ => {}
        }
        static FROM_ENV: OnceLock<CipherEngine> = OnceLock::new();
        *FROM_ENV.get_or_init(|| {
            let Ok(name) = std::env::var(CIPHER_ENGINE_ENV) else {
                return CipherEngine::detect();
            };
            match name.trim() {
                "auto" => CipherEngine::detect(),
                "portable" => CipherEngine::Portable,
                "vector" if CipherEngine::Vector.available() => CipherEngine::Vector,
                other => {
                    tracing::warn!(
                        "{CIPHER_ENGINE_ENV}={other:?} is not auto, vector (on a CPU with \
                         VAES and AVX-512) or portable; detecting"
                    );
                    CipherEngine::detect()
                }
            }
        })
    }

    /// Forces the engine of the keys made from now on, process-wide
    /// (`None`: back to the environment or detection). For benchmarks and
    /// tests that compare the engines; an unavailable engine is refused.
    pub fn set_default(engine: Option<CipherEngine>) -> Result<(), crate::Error> {
        let v = match engine {
            None => 0,
            Some(e) if !e.available() => {
                return Err(crate::Error::InvalidConfig(
                    "this CPU lacks the vector cipher engine (VAES, AVX-512)",
                ))
            }
            Some(CipherEngine::Vector) => 1,
            Some(CipherEngine::Portable) => 2,
        };
        FORCED.store(v, Ordering::Relaxed);
        Ok(())
    }
}
