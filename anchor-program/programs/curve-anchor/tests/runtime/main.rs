//! The program run by the Solana runtime (solana-program-test's bank: real System program, SPL
//! Token, ed25519 precompile, rent, PDAs, sysvars). Plain `cargo test` runs it natively;
//! `cargo test-sbf` runs these same tests against the compiled `.so`.
//!
//! Every test asserts account state or an error code (events are not visible natively), and
//! every refusal is checked to leave the accounts it could touch byte-for-byte unchanged.

mod batch;
mod harness;
mod registry;
mod setup;
mod vault;
