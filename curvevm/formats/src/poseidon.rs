//! Poseidon over BN254 Fr (parameter set version 1), natively; the circuits use the same
//! [`config`] in-circuit.
//!
//! Parameters: width 5 (rate 4, capacity 1), S-box x^5, 8 full rounds, 60 partial rounds, round
//! constants and MDS matrix from ark-crypto-primitives' Grain LFSR (`find_poseidon_ark_and_mds`,
//! 254-bit prime, no skipped matrices). These are *not* the circom constants: do not mix them.
//!
//! Hashing is domain separated: the sponge first absorbs the domain's number and the input
//! length, then the input. Bytes are packed 31 to a field element (little-endian, always below
//! the modulus) and the byte length is absorbed too, so inputs that differ only by trailing zero
//! bytes hash differently.

use alloc::vec::Vec;
use ark_bn254::Fr;
use ark_crypto_primitives::sponge::CryptographicSponge;
pub use ark_crypto_primitives::sponge::poseidon::PoseidonConfig;
use ark_crypto_primitives::sponge::poseidon::{PoseidonSponge, find_poseidon_ark_and_mds};
use ark_ff::PrimeField;

/// The parameter-set version.
pub const PARAMETERS_VERSION: u32 = 1;
/// Field elements absorbed per permutation.
pub const RATE: usize = 4;
/// Capacity elements.
pub const CAPACITY: usize = 1;
/// Full rounds.
pub const FULL_ROUNDS: usize = 8;
/// Partial rounds.
pub const PARTIAL_ROUNDS: usize = 60;
/// S-box exponent.
pub const ALPHA: u64 = 5;
/// Bytes packed into one field element.
pub const BYTES_PER_ELEMENT: usize = 31;

/// What a Poseidon hash is of; the discriminant is absorbed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Domain {
    /// `H_code`: a program's bytecode.
    Code = 1,
    /// `H_params`: a program's parameter table.
    Params = 2,
    /// `H_vcs`: a manifest's condition rows.
    Conditions = 3,
    /// `H_art`: the artifact (code, params, conditions hashes).
    Artifact = 4,
    /// Anything hashed by a program through the VM's Poseidon host call.
    Program = 5,
}

/// The one parameter set.
pub fn config() -> PoseidonConfig<Fr> {
    let (ark, mds) = find_poseidon_ark_and_mds::<Fr>(
        u64::from(Fr::MODULUS_BIT_SIZE),
        RATE,
        FULL_ROUNDS as u64,
        PARTIAL_ROUNDS as u64,
        0,
    );
    PoseidonConfig::new(FULL_ROUNDS, PARTIAL_ROUNDS, ALPHA, mds, ark, RATE, CAPACITY)
}

/// Hashes field elements in `domain`.
pub fn hash_fields_with(config: &PoseidonConfig<Fr>, domain: Domain, elements: &[Fr]) -> Fr {
    let mut sponge = PoseidonSponge::new(config);
    let mut input = Vec::with_capacity(elements.len() + 2);
    input.push(Fr::from(domain as u32));
    input.push(Fr::from(elements.len() as u64));
    input.extend_from_slice(elements);
    sponge.absorb(&input);
    sponge.squeeze_field_elements::<Fr>(1)[0]
}

/// Hashes field elements in `domain` (builds the parameters; cache [`config`] for many hashes).
pub fn hash_fields(domain: Domain, elements: &[Fr]) -> Fr {
    hash_fields_with(&config(), domain, elements)
}

/// Packs bytes 31 to an element (little-endian), then appends the byte length.
pub fn pack_bytes(bytes: &[u8]) -> Vec<Fr> {
    let mut elements: Vec<Fr> = bytes
        .chunks(BYTES_PER_ELEMENT)
        .map(Fr::from_le_bytes_mod_order)
        .collect();
    elements.push(Fr::from(bytes.len() as u64));
    elements
}

/// Hashes bytes in `domain`: `hash_fields(domain, pack_bytes(bytes))`.
pub fn hash_bytes(domain: Domain, bytes: &[u8]) -> Fr {
    hash_fields(domain, &pack_bytes(bytes))
}

/// A field element as 32 little-endian bytes (how hashes appear in manifests and vectors).
pub fn to_bytes(element: &Fr) -> [u8; 32] {
    use ark_ff::BigInteger;
    let mut out = [0u8; 32];
    out.copy_from_slice(&element.into_bigint().to_bytes_le());
    out
}
