//! Groth16 invariant certificates over BN254: a proof that a program's parameter table
//! satisfies the condition rows its templates rely on, bound to the exact bytecode, rows and
//! table by three Poseidon hashes ([`curve_formats::certificate`]).
//!
//! * [`circuit`]: the universal circuit of a size class.
//! * [`keys`]: development keys from a fixed, labelled seed (cached on disk), and checked
//!   loading of keys from an external ceremony.
//! * [`proof`]: proving and verifying; the statement is always rebuilt from bytes by the caller.
//! * [`solana`]: proofs, keys and public inputs in Solana's `alt_bn128` layout.

pub mod circuit;
pub mod keys;
pub mod proof;
pub mod solana;

pub use ark_groth16::prepare_verifying_key;
pub use circuit::{CertificateCircuit, RowWitness, Witness};
pub use keys::{KeyError, KeyStore, Mode, ProvingKey, VerifyingKey};
pub use proof::{Proof, ProveError, VerifyError, prove, prove_cached, verify};
