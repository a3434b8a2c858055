//! Randomness from the operating system, for secrets, tokens and request ids.
//!
//! Owns the single place that asks the OS for random bytes. It must never
//! fall back to a weaker source: if the OS cannot give randomness the
//! process aborts rather than mint a guessable token.

/// Fills `buf` with OS randomness.
pub fn fill(buf: &mut [u8]) {
    // Failure here means the kernel's CSPRNG is unavailable; continuing would
    // create predictable secrets, so stopping is the only safe answer.
    getrandom::getrandom(buf).expect("the operating system's random source failed");
}

/// `n` random bytes as lowercase hex.
pub fn hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    fill(&mut b);
    hex::encode(b)
}

/// A random number in [0, 1), for jitter (not for secrets).
pub fn unit_f64() -> f64 {
    let mut b = [0u8; 8];
    fill(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}
