//! Invariant certificates on chain: the verifying key's name and the Groth16 check.
//!
//! Keys are named as the circuits name them — SHA-256 of the arkworks *compressed* encoding
//! (`circuits/certificate/dev-keys.txt`, the manifest's `vk_sha256`) — so the hash governance
//! sees here is the hash `curve prove` printed. The program receives the uncompressed
//! `alt_bn128` layout (what the pairing syscalls read) and compresses it itself: a compressed
//! point is its x coordinate little-endian with the sign of y in the top bits of the last byte.
//!
//! The public inputs are never sent: they are rebuilt from the registration's stored hashes as
//! `[VERSION, H_code, H_conditions, H_params]`, the statement of `curve_formats::certificate`
//! (version 2), where `H_code` is computed here from the code, descriptor and layout hashes
//! (`curve_formats::program`): a certificate filed under another program's hashes fails.
//!
//! A verifying key is refused when it is degenerate (δ = ±γ, or an identity point: either lets
//! anyone forge) and, outside development mode, when any of α, β, γ, δ is (up to sign) one of a
//! development key's, listed in `circuits/certificate/dev-key-elements.txt`: a key built from the
//! public development setup has a trapdoor anyone can compute, however its hash differs.

use crate::error::CurveError;
use crate::state::{PUBLIC_INPUTS, ProgramHashes, VerifyingKeyBytes};
use anchor_lang::prelude::*;
use groth16_solana::groth16::{Groth16Verifier, Groth16Verifyingkey, negate_g1_be};
use sha2::{Digest, Sha256};

/// The certificate statement version (public input 0).
pub const STATEMENT_VERSION: u64 = 2;

/// The published development keys (16×16, 64×64, 256×256), from
/// `circuits/certificate/dev-keys.txt` (a test keeps them equal). Their setup seed is public.
pub const DEV_VK_HASHES: [[u8; 32]; 3] = [
    hex32("409f1edfc37fc3908d9af25a65e81cb1d45121c720a63ed562eede4007050eb0"),
    hex32("8542e3b65f3a658f72b0a80e256d8833d269d222600f2ecffbd8f5ff98a099f4"),
    hex32("de16de23b6f78d1d9d1095c7493a5af9dd8edbc6d4b581154a2d26af61acda99"),
];

const fn hex32(text: &str) -> [u8; 32] {
    let bytes = text.as_bytes();
    assert!(bytes.len() == 64, "a 32-byte hash is 64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(bytes[2 * i]) << 4) | nibble(bytes[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("hex expected"),
    }
}

/// `-x mod p` for a canonical big-endian base-field element: groth16-solana's G1 negation
/// computes `p - y` (and keeps zero at zero), so the point `(0, x)` carries it.
fn fq_neg(x: &[u8; 32]) -> [u8; 32] {
    let mut point = [0u8; 64];
    point[32..].copy_from_slice(x);
    c(&negate_g1_be(&point), 1)
}

/// arkworks' sign flag: set when `y > -y` (as integers; for Fq2, `c1` first, then `c0`).
const Y_IS_NEGATIVE: u8 = 1 << 7;
/// arkworks' infinity flag.
const INFINITY: u8 = 1 << 6;

fn le(x: &[u8]) -> [u8; 32] {
    let mut out: [u8; 32] = x.try_into().expect("32 bytes");
    out.reverse();
    out
}

fn c(bytes: &[u8], k: usize) -> [u8; 32] {
    bytes[32 * k..32 * k + 32].try_into().expect("32 bytes")
}

/// A G1 point `x ‖ y` compressed as arkworks does.
fn compress_g1(p: &[u8; 64]) -> [u8; 32] {
    if *p == [0; 64] {
        let mut out = [0u8; 32];
        out[31] = INFINITY;
        return out;
    }
    let (x, y) = (c(p, 0), c(p, 1));
    let mut out = le(&x);
    if y > fq_neg(&y) {
        out[31] |= Y_IS_NEGATIVE;
    }
    out
}

/// A G2 point `x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0` compressed as arkworks does (`x.c0 ‖ x.c1` LE).
fn compress_g2(p: &[u8; 128]) -> [u8; 64] {
    let mut out = [0u8; 64];
    if *p == [0; 128] {
        out[63] = INFINITY;
        return out;
    }
    let (x1, x0, y1, y0) = (c(p, 0), c(p, 1), c(p, 2), c(p, 3));
    out[..32].copy_from_slice(&le(&x0));
    out[32..].copy_from_slice(&le(&x1));
    let negative = match y1.cmp(&fq_neg(&y1)) {
        core::cmp::Ordering::Equal => y0 > fq_neg(&y0),
        order => order == core::cmp::Ordering::Greater,
    };
    if negative {
        out[63] |= Y_IS_NEGATIVE;
    }
    out
}

/// SHA-256 of the key's arkworks compressed encoding: α, β, γ, δ, then IC as a
/// length-prefixed (u64 LE) sequence.
pub fn vk_hash(vk: &VerifyingKeyBytes) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(compress_g1(&vk.alpha));
    for g2 in [&vk.beta, &vk.gamma, &vk.delta] {
        hasher.update(compress_g2(g2));
    }
    hasher.update((vk.ic.len() as u64).to_le_bytes());
    for point in &vk.ic {
        hasher.update(compress_g1(point));
    }
    hasher.finalize().into()
}

/// Whether `hash` names a published development key.
pub fn is_dev_key(hash: &[u8; 32]) -> bool {
    DEV_VK_HASHES.contains(hash)
}

/// The development keys' α, β, γ, δ: x coordinates in the arkworks compressed encoding, flag
/// bits cleared (so a negated element matches too). Written and pinned by the circuits' tests.
const DEV_KEY_ELEMENTS: &str =
    include_str!("../../../../circuits/certificate/dev-key-elements.txt");

/// The x coordinate of a compressed point (flag bits cleared).
fn x_of(compressed: &[u8]) -> Vec<u8> {
    let mut x = compressed.to_vec();
    if let Some(last) = x.last_mut() {
        *last &= !(Y_IS_NEGATIVE | INFINITY);
    }
    x
}

/// Whether any of `vk`'s α, β, γ, δ is, up to sign, a development key's (in any position).
pub fn shares_dev_element(vk: &VerifyingKeyBytes) -> bool {
    let given = [
        x_of(&compress_g1(&vk.alpha)),
        x_of(&compress_g2(&vk.beta)),
        x_of(&compress_g2(&vk.gamma)),
        x_of(&compress_g2(&vk.delta)),
    ];
    DEV_KEY_ELEMENTS
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_whitespace().nth(2))
        .filter_map(decode_hex)
        .any(|dev| given.contains(&dev))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    Some(
        bytes
            .chunks(2)
            .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
            .collect(),
    )
}

/// The G2 point `−P` (`y` negated in both coordinates), in the `alt_bn128` layout.
fn neg_g2(p: &[u8; 128]) -> [u8; 128] {
    let mut out = *p;
    out[64..96].copy_from_slice(&fq_neg(&c(p, 2)));
    out[96..].copy_from_slice(&fq_neg(&c(p, 3)));
    out
}

/// Whether `vk` lets anyone forge whatever its origin: δ = ±γ (the C term cancels against the
/// inputs' term) or an identity point (a public input, or the whole proof, unbound).
pub fn is_degenerate(vk: &VerifyingKeyBytes) -> bool {
    let identity_g2 = [0u8; 128];
    vk.delta == vk.gamma
        || vk.delta == neg_g2(&vk.gamma)
        || vk.alpha == [0; 64]
        || [vk.beta, vk.gamma, vk.delta].contains(&identity_g2)
        || vk.ic.contains(&[0; 64])
}

/// The public inputs a registration states: the version, the program identity hash computed
/// from the registration's code, descriptor and layout hashes, and the two statement hashes.
pub fn public_inputs(hashes: &ProgramHashes) -> [[u8; 32]; PUBLIC_INPUTS] {
    let mut version = [0u8; 32];
    version[24..].copy_from_slice(&STATEMENT_VERSION.to_be_bytes());
    let identity = curve_formats::program::ProgramIdentity {
        code_hash: hashes.code_hash,
        descriptor_hash: hashes.descriptor_hash,
        layout_hash: hashes.layout_hash,
    };
    [
        version,
        identity.h_code_be(),
        hashes.h_conditions,
        hashes.h_params,
    ]
}

/// Verifies a certificate proof (`A ‖ B ‖ C`, un-negated, as `curve prove` writes
/// `proof.alt_bn128`) for `hashes` under `vk`.
pub fn verify(vk: &VerifyingKeyBytes, hashes: &ProgramHashes, proof: &[u8; 256]) -> Result<()> {
    let a: [u8; 64] = proof[..64].try_into().expect("64 bytes");
    let b: [u8; 128] = proof[64..192].try_into().expect("128 bytes");
    let c: [u8; 64] = proof[192..].try_into().expect("64 bytes");
    // The verifier folds e(A, B) onto the left of a product that must be one, so it takes −A.
    let neg_a = negate_g1_be(&a);
    let key = Groth16Verifyingkey {
        nr_pubinputs: PUBLIC_INPUTS,
        vk_alpha_g1: vk.alpha,
        vk_beta_g2: vk.beta,
        vk_gamma_g2: vk.gamma,
        vk_delta_g2: vk.delta,
        vk_ic: &vk.ic,
        vk_commitment: None,
    };
    let inputs = public_inputs(hashes);
    // `verify` also refuses public inputs at or above the scalar modulus.
    Groth16Verifier::new(&neg_a, &b, &c, &inputs, &key)
        .and_then(|mut verifier| verifier.verify())
        .map_err(|_| error!(CurveError::CertificateInvalid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_is_an_involution_below_the_modulus() {
        let one = hex32("0000000000000000000000000000000000000000000000000000000000000001");
        let minus_one = fq_neg(&one);
        assert_eq!(
            minus_one,
            hex32("30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd46")
        );
        assert_eq!(fq_neg(&minus_one), one);
        assert_eq!(fq_neg(&[0; 32]), [0; 32]);
    }

    #[test]
    fn the_development_element_list_parses_to_twelve_x_coordinates() {
        let elements: Vec<Vec<u8>> = DEV_KEY_ELEMENTS
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_whitespace().nth(2))
            .filter_map(decode_hex)
            .collect();
        assert_eq!(elements.len(), 12);
        assert_eq!(
            elements.iter().filter(|x| x.len() == 32).count(),
            3,
            "alphas"
        );
        assert_eq!(
            elements.iter().filter(|x| x.len() == 64).count(),
            9,
            "G2 elements"
        );
    }

    #[test]
    fn dev_key_hashes_are_the_circuits_list() {
        let listed = include_str!("../../../../circuits/certificate/dev-keys.txt");
        let hashes: Vec<[u8; 32]> = listed
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| hex32(l.split_whitespace().nth(1).expect("<class> <hash>")))
            .collect();
        assert_eq!(hashes, DEV_VK_HASHES);
    }
}
