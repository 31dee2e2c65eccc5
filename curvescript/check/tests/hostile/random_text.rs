//! Deterministic random text for hostile-input tests and benchmarks (shared by `#[path]` with
//! the CLI's tests and its `check` bench, so every figure is over the same kind of text).

/// The seed the tests and benchmarks use (they print it).
pub const SEED: u64 = 0x5eed_0031;

/// `bytes` characters drawn from the ones CurveScript uses, and some it does not (xorshift64*:
/// enough spread for a fixed input).
pub fn random_text(bytes: usize, seed: u64) -> String {
    const ALPHABET: &[u8] =
        b"abcdefgh {}()[]\"=@&.<>+*,\n\t 0123456789_#/:-'ORACLESLABMARKETROUTER";
    let mut state = seed;
    (0..bytes)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let index = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize;
            char::from(ALPHABET[index % ALPHABET.len()])
        })
        .collect()
}
