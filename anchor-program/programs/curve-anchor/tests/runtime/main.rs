//! The program run by the Solana runtime (solana-program-test's bank: real System program, SPL
//! Token, ed25519 precompile, rent, PDAs, sysvars). Plain `cargo test` runs it natively;
//! `cargo test-sbf` runs these same tests against the compiled `.so`.
//!
//! Every test asserts account state or an error code (events are not visible natively), and
//! every refusal is checked to leave the accounts it could touch byte-for-byte unchanged.

mod batch;
mod harness;
mod registry;
mod replay;
mod setup;
mod vault;

/// Keeps "every error code has a runtime test" true as codes are added: each code must appear
/// as an expected refusal in one of the files above.
#[test]
fn every_error_code_is_expected_by_a_test() {
    let codes = include_str!("../../src/error.rs").matches("#[msg(").count();
    let tests = [
        include_str!("batch.rs"),
        include_str!("registry.rs"),
        include_str!("setup.rs"),
        include_str!("vault.rs"),
    ]
    .concat()
    .split_whitespace()
    .collect::<String>();
    let missing: Vec<usize> = (6000..6000 + codes)
        .filter(|code| {
            !tests.contains(&format!("({code}")) && !tests.contains(&format!(",{code},"))
        })
        .collect();
    assert_eq!(codes, 36, "update this count with error.rs");
    assert!(
        missing.is_empty(),
        "error codes without a test: {missing:?}"
    );
}
