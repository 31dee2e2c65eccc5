//! Proofs, verifying keys and public inputs in the layout of Solana's `alt_bn128` syscalls (the
//! layout `groth16-solana` reads): field elements big-endian, G1 as `x ‖ y` (64 bytes), G2 as
//! `x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0` (128 bytes), the point at infinity as zeros, scalars big-endian
//! and below r. The proof's A is **not** negated: the on-chain verifier negates it, so that the
//! same bytes mean the same proof everywhere.
//!
//! The decoders exist for round trips and for anyone checking a file: they refuse coordinates
//! at or above the modulus and points off the curve or outside the prime-order subgroup.

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField, Zero};

use crate::keys::VerifyingKey;
use crate::proof::Proof;

/// Bytes of a G1 point.
pub const G1_BYTES: usize = 64;
/// Bytes of a G2 point.
pub const G2_BYTES: usize = 128;
/// Bytes of a proof: A ‖ B ‖ C.
pub const PROOF_BYTES: usize = G1_BYTES + G2_BYTES + G1_BYTES;

fn fq_be(x: &Fq) -> [u8; 32] {
    x.into_bigint()
        .to_bytes_be()
        .try_into()
        .expect("BN254 Fq is 32 bytes")
}

fn fq_from_be(bytes: &[u8]) -> Option<Fq> {
    let mut le: Vec<u8> = bytes.to_vec();
    le.reverse();
    let value = Fq::from_le_bytes_mod_order(&le);
    // Refuse non-canonical encodings (≥ the modulus) instead of reducing them.
    (fq_be(&value)[..] == *bytes).then_some(value)
}

/// A scalar, big-endian.
pub fn fr_be(x: &Fr) -> [u8; 32] {
    x.into_bigint()
        .to_bytes_be()
        .try_into()
        .expect("BN254 Fr is 32 bytes")
}

/// A G1 point.
pub fn g1_be(p: &G1Affine) -> [u8; G1_BYTES] {
    let mut out = [0u8; G1_BYTES];
    if let Some((x, y)) = p.xy() {
        out[..32].copy_from_slice(&fq_be(&x));
        out[32..].copy_from_slice(&fq_be(&y));
    }
    out
}

/// A G2 point.
pub fn g2_be(p: &G2Affine) -> [u8; G2_BYTES] {
    let mut out = [0u8; G2_BYTES];
    if let Some((x, y)) = p.xy() {
        for (k, coordinate) in [x.c1, x.c0, y.c1, y.c0].iter().enumerate() {
            out[32 * k..32 * k + 32].copy_from_slice(&fq_be(coordinate));
        }
    }
    out
}

/// Reads a G1 point.
pub fn g1_from_be(bytes: &[u8; G1_BYTES]) -> Option<G1Affine> {
    if bytes.iter().all(|b| *b == 0) {
        return Some(G1Affine::zero());
    }
    let point = G1Affine::new_unchecked(fq_from_be(&bytes[..32])?, fq_from_be(&bytes[32..])?);
    (point.is_on_curve() && point.is_in_correct_subgroup_assuming_on_curve()).then_some(point)
}

/// Reads a G2 point.
pub fn g2_from_be(bytes: &[u8; G2_BYTES]) -> Option<G2Affine> {
    if bytes.iter().all(|b| *b == 0) {
        return Some(G2Affine::zero());
    }
    let part = |k: usize| fq_from_be(&bytes[32 * k..32 * k + 32]);
    let x = Fq2::new(part(1)?, part(0)?);
    let y = Fq2::new(part(3)?, part(2)?);
    let point = G2Affine::new_unchecked(x, y);
    (point.is_on_curve() && point.is_in_correct_subgroup_assuming_on_curve()).then_some(point)
}

/// A proof: `A ‖ B ‖ C` (256 bytes).
pub fn proof_be(proof: &Proof) -> [u8; PROOF_BYTES] {
    let mut out = [0u8; PROOF_BYTES];
    out[..64].copy_from_slice(&g1_be(&proof.a));
    out[64..192].copy_from_slice(&g2_be(&proof.b));
    out[192..].copy_from_slice(&g1_be(&proof.c));
    out
}

/// Reads a proof.
pub fn proof_from_be(bytes: &[u8]) -> Option<Proof> {
    let bytes: &[u8; PROOF_BYTES] = bytes.try_into().ok()?;
    Some(Proof {
        a: g1_from_be(bytes[..64].try_into().expect("64"))?,
        b: g2_from_be(bytes[64..192].try_into().expect("128"))?,
        c: g1_from_be(bytes[192..].try_into().expect("64"))?,
    })
}

/// A verifying key: `α (G1) ‖ β ‖ γ ‖ δ (G2) ‖ IC[0..=inputs] (G1)`.
pub fn vk_be(vk: &VerifyingKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(G1_BYTES + 3 * G2_BYTES + vk.gamma_abc_g1.len() * G1_BYTES);
    out.extend_from_slice(&g1_be(&vk.alpha_g1));
    for point in [&vk.beta_g2, &vk.gamma_g2, &vk.delta_g2] {
        out.extend_from_slice(&g2_be(point));
    }
    for point in &vk.gamma_abc_g1 {
        out.extend_from_slice(&g1_be(point));
    }
    out
}

/// Reads a verifying key.
pub fn vk_from_be(bytes: &[u8]) -> Option<VerifyingKey> {
    let fixed = G1_BYTES + 3 * G2_BYTES;
    if bytes.len() < fixed || !(bytes.len() - fixed).is_multiple_of(G1_BYTES) {
        return None;
    }
    let g2 = |k: usize| {
        g2_from_be(
            bytes[G1_BYTES + k * G2_BYTES..][..G2_BYTES]
                .try_into()
                .expect("128"),
        )
    };
    Some(VerifyingKey {
        alpha_g1: g1_from_be(bytes[..G1_BYTES].try_into().expect("64"))?,
        beta_g2: g2(0)?,
        gamma_g2: g2(1)?,
        delta_g2: g2(2)?,
        gamma_abc_g1: bytes[fixed..]
            .chunks(G1_BYTES)
            .map(|c| g1_from_be(c.try_into().expect("64")))
            .collect::<Option<Vec<_>>>()?,
    })
}

/// Public inputs, 32 bytes each, big-endian.
pub fn public_inputs_be(inputs: &[Fr]) -> Vec<u8> {
    inputs.iter().flat_map(fr_be).collect()
}

/// Whether a big-endian scalar is canonical (below r), as the on-chain verifier requires.
pub fn is_canonical_scalar(bytes: &[u8; 32]) -> bool {
    let mut le = *bytes;
    le.reverse();
    let value = Fr::from_le_bytes_mod_order(&le);
    fr_be(&value) == *bytes && (!value.is_zero() || bytes.iter().all(|b| *b == 0))
}
