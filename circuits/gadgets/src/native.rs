//! The native twins of the gadgets: what each one decides, over integers.

use ark_bn254::Fr;
use ark_ff::{BigInteger, Field, PrimeField, Zero};

/// `value < 2^bits` for a field element read as an integer in `[0, r)`.
pub fn fits(value: Fr, bits: u32) -> bool {
    value.into_bigint().num_bits() <= bits
}

/// `a ≤ b`.
pub fn le(a: u64, b: u64) -> bool {
    a <= b
}

/// `a < 2^bits`, `bits ≤ 128`.
pub fn range(a: u64, bits: u8) -> bool {
    below(Some(u128::from(a)), bits)
}

/// `a + b < 2^bits`, `bits ≤ 128`.
pub fn add_no_overflow(a: u64, b: u64, bits: u8) -> bool {
    below(u128::from(a).checked_add(u128::from(b)), bits)
}

/// `a · b < 2^bits`, `bits ≤ 128`, over integers of any width up to 128 bits.
pub fn mul_no_overflow(a: u128, b: u128, bits: u8) -> bool {
    below(a.checked_mul(b), bits)
}

fn below(value: Option<u128>, bits: u8) -> bool {
    assert!(bits <= 128, "widths are at most 128");
    match value {
        None => false,
        Some(value) => bits == 128 || value < (1u128 << bits),
    }
}

/// `2^bits` as a field element.
pub fn pow2(bits: u8) -> Fr {
    Fr::from(2u8).pow([u64::from(bits)])
}

/// The matrix `L` with `L[k][j]` the coefficient of `X^k` in the Lagrange basis polynomial
/// `L_j` over the nodes `0..size`: `c = L · values` are the monomial coefficients of the
/// polynomial of degree below `size` through `(k, values[k])`.
pub fn interpolation_matrix(size: usize) -> Vec<Vec<Fr>> {
    // master(X) = Π_m (X − m), coefficients low to high.
    let mut master = vec![Fr::ONE];
    for m in 0..size {
        let node = Fr::from(m as u64);
        let mut next = vec![Fr::zero(); master.len() + 1];
        for (k, c) in master.iter().enumerate() {
            next[k + 1] += c;
            next[k] -= *c * node;
        }
        master = next;
    }
    let columns: Vec<Vec<Fr>> = (0..size)
        .map(|j| {
            let node = Fr::from(j as u64);
            // quotient(X) = master(X) / (X − j), by synthetic division from the top.
            let mut quotient = vec![Fr::zero(); size];
            let mut carry = Fr::zero();
            for k in (1..=size).rev() {
                carry = master[k] + carry * node;
                quotient[k - 1] = carry;
            }
            // L_j = quotient / quotient(j).
            let at_node = quotient
                .iter()
                .rev()
                .fold(Fr::zero(), |acc, c| acc * node + c);
            let scale = at_node.inverse().expect("distinct nodes");
            quotient.iter().map(|c| *c * scale).collect()
        })
        .collect();
    (0..size)
        .map(|k| columns.iter().map(|column| column[k]).collect())
        .collect()
}

/// `Σ parts[k] · 2^(k·shift)`.
pub fn pack(parts: &[Fr], shift: u32) -> Fr {
    let base = Fr::from(2u8).pow([u64::from(shift)]);
    parts
        .iter()
        .rev()
        .fold(Fr::zero(), |acc, part| acc * base + part)
}
