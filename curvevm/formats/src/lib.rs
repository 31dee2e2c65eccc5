//! The single owner of every byte format that is hashed or signed across the stack.
//!
//! The VM's hash host calls, the compiler's manifests, the circuits, the rollup runtime, the
//! sequencer and the Solana program must hash and encode the same bytes the same way, or roots
//! and proofs stop matching across layers. Every such format is defined here once, versioned,
//! and pinned by golden vectors (`vectors/v1.txt`), which this crate's tests regenerate and
//! compare byte for byte:
//!
//! | format | module | version |
//! |---|---|---|
//! | canonical binary encoding (little-endian fixed width, `u32` length prefixes, strict `bool`/`Option` tags, no trailing bytes) | [`encoding`] | 1 |
//! | domain tag: `"CURV"`, kind, format version, chain id, in front of every signed or hashed payload | [`domain`] | 1 |
//! | SHA-256 Merkle tree: leaf `H(0x00‖bytes)`, node `H(0x01‖l‖r)`, padding `H(0x02)`, count committed beside the root, fixed-length proofs | [`merkle`] | 1 |
//! | payout leaf: withdrawal or market settlement, shared by runtime, settlement and the Anchor program | [`leaf`] | 1 |
//! | batch header and execution attestation | [`batch`] | 1 |
//! | transaction: tag ‖ sender, nonce, gas limit, fee per gas, action (typed call arguments, deploy images, system and governance actions) ‖ Ed25519 signature | [`tx`] | 1 |
//! | Solana deposit record, signed by the committee | [`deposit`] | 1 |
//! | reservation commitment: SHA-256 of tag ‖ side ‖ route id, instrument, quantity, limit price ‖ salt, 80 bytes, ten words as a slab builds it | [`commitment`] | 1 |
//! | oracle price update: tag ‖ feed tag, price, publish time; the feed tag hashed from the feed's name | [`oracle`] | 1 |
//! | program identity: code, descriptor and layout hashes, and `H_code` (their tagged SHA-256 as a field element) | [`program`] | 1 |
//! | Ed25519 verification of many signatures: one deterministic batch check, each alone when it fails; valid exactly when `verify_strict` accepts | `signatures` (feature) | — |
//! | Poseidon over BN254 Fr: width 5 (rate 4, capacity 1), α = 5, 8 full and 60 partial rounds, Grain-LFSR constants; bytes packed 31 per element plus the length | `poseidon` (feature) | 1 |
//! | invariant-certificate statement: condition rows `(kind, i, j, bits)` packed in 48 bits, size classes, `H_code` (the program identity)/`H_conditions`/`H_params`, public inputs | `certificate` (with `poseidon`) | 2 |
//!
//! The crate is `no_std` (with `alloc`); without the `poseidon` feature it depends only on
//! `sha2`, and Merkle verification allocates nothing, so the Anchor program runs this code
//! unchanged. It is deterministic by construction: no clock, no randomness, no hash maps, no
//! floats (`curvevm/clippy.toml` enforces that).
#![no_std]

extern crate alloc;

pub mod batch;
#[cfg(feature = "poseidon")]
pub mod certificate;
pub mod commitment;
pub mod deposit;
pub mod domain;
pub mod encoding;
#[doc(hidden)]
pub mod fuzz;
pub mod leaf;
pub mod merkle;
pub mod oracle;
#[cfg(feature = "poseidon")]
pub mod poseidon;
pub mod program;
#[cfg(feature = "signatures")]
pub mod signatures;
pub mod tx;
pub mod vectors;

pub use domain::{Kind, Tag};
pub use encoding::{Decode, DecodeError, Encode};
