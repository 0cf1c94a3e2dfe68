//! Process-wide calls: the SIGINT/SIGTERM stop flag and `sysconf`.

use std::mem::zeroed;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGINT/SIGTERM once [`install_stop_handler`] ran.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Installs SIGINT and SIGTERM handlers that set the stop flag (read with
/// [`stop_requested`]), so a long run can end cleanly on Ctrl-C.
pub fn install_stop_handler() {
    // SAFETY: `on_signal` is an `extern "C"` function that only stores to
    // an atomic, which is async-signal-safe; sigaction is given a zeroed,
    // then filled, struct.
    unsafe {
        let mut sa: libc::sigaction = zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
}

/// True once SIGINT/SIGTERM arrived (or [`request_stop`] was called).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Sets the stop flag as a signal would.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Clock ticks per second for /proc times (`sysconf(_SC_CLK_TCK)`; 100
/// when it cannot say).
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}
