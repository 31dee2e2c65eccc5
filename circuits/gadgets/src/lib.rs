//! R1CS gadgets over BN254 Fr for the invariant certificate, each with a native twin in
//! [`native`] that the tests hold it to (same verdict on random inputs; every tampered witness
//! leaves the system unsatisfied).
//!
//! Field arithmetic wraps modulo r (~2^254), so every comparison here is phrased as a **slack**:
//! an expression that is a small non-negative integer exactly when the condition holds, and a
//! field element at least r − 2^129 (far above 2^128) when it fails. [`enforce_slack`]
//! range-checks a slack to [`SLACK_BITS`] bits. This is sound only while no intermediate wraps,
//! which the types guarantee: operands are [`U64Var`]s (range-checked to 64 bits), so sums stay
//! below 2^65 and products below 2^128, and widths are [`WidthVar`]s (at most 128).
//!
//! * [`range_check`]: `value < 2^bits`, by bit decomposition (`bits + 1` constraints).
//! * [`le_slack`], [`range_slack`], [`add_slack`], [`mul_slack`]: `LE`, `RANGE`, checked add,
//!   checked multiply without field wrap-around (operand-width bounds).
//! * [`Table`]: selects a table entry by an in-circuit index (Lagrange interpolation evaluated
//!   by Horner's rule: `P − 1` constraints per lookup, `P` once per table).
//! * [`poseidon_hash`]: the shared Poseidon parameters, domain separated exactly like
//!   [`curve_formats::poseidon::hash_fields`].

use ark_bn254::Fr;
use ark_crypto_primitives::sponge::constraints::CryptographicSpongeVar;
use ark_crypto_primitives::sponge::poseidon::PoseidonConfig;
use ark_crypto_primitives::sponge::poseidon::constraints::PoseidonSpongeVar;
use ark_ff::{BigInteger, Field, PrimeField};
use ark_r1cs_std::GR1CSVar;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::boolean::Boolean;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::FieldVar;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use curve_formats::poseidon::Domain;

pub mod native;
pub mod tamper;

/// A constraint system over BN254 Fr.
pub type Cs = ConstraintSystemRef<Fr>;
/// A field-element variable.
pub type Fp = FpVar<Fr>;

/// Bits of every slack: all slacks of conditions that hold are below 2^128.
pub const SLACK_BITS: u32 = 128;
/// Bits of a [`WidthVar`]'s decomposition.
pub const WIDTH_DECOMPOSITION_BITS: u32 = 8;

fn bit_of(value: Fr, k: u32) -> bool {
    value.into_bigint().get_bit(k as usize)
}

/// Enforces `value < 2^bits` and returns its little-endian bits (`bits` booleanity constraints
/// and one linear one). `bits` must stay below the field's 254 so the bits cannot wrap.
pub fn range_check(value: &Fp, bits: u32) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    assert!(
        bits < Fr::MODULUS_BIT_SIZE,
        "a {bits}-bit decomposition can wrap"
    );
    let cs = value.cs();
    let decomposition = (0..bits)
        .map(|k| Boolean::new_witness(cs.clone(), || value.value().map(|v| bit_of(v, k))))
        .collect::<Result<Vec<_>, _>>()?;
    Boolean::le_bits_to_fp(&decomposition)?.enforce_equal(value)?;
    Ok(decomposition)
}

/// Enforces that `slack` is a non-negative integer below 2^[`SLACK_BITS`]: the condition it
/// measures holds.
pub fn enforce_slack(slack: &Fp) -> Result<(), SynthesisError> {
    range_check(slack, SLACK_BITS).map(drop)
}

/// A value range-checked to 64 bits.
#[derive(Clone, Debug)]
pub struct U64Var(Fp);

impl U64Var {
    /// A witness `value`, range-checked (65 constraints).
    pub fn new_witness(
        cs: Cs,
        value: impl FnOnce() -> Result<u64, SynthesisError>,
    ) -> Result<Self, SynthesisError> {
        let var = FpVar::new_witness(cs, || value().map(Fr::from))?;
        U64Var::checked(var)
    }

    /// `var`, range-checked (65 constraints).
    pub fn checked(var: Fp) -> Result<Self, SynthesisError> {
        range_check(&var, 64)?;
        Ok(U64Var(var))
    }

    /// The variable.
    pub fn var(&self) -> &Fp {
        &self.0
    }
}

/// A width `bits ≤ 128` with `2^bits`: eight booleans, one constraint for the bound, seven for
/// the power. Its fields are private: the only way to get one is [`WidthVar::checked`] (or
/// [`WidthVar::new_witness`]), so a slack can never be measured against an unchecked width.
#[derive(Clone, Debug)]
pub struct WidthVar {
    value: Fp,
    pow2: Fp,
}

impl WidthVar {
    /// A witness width.
    pub fn new_witness(
        cs: Cs,
        bits: impl FnOnce() -> Result<u8, SynthesisError>,
    ) -> Result<Self, SynthesisError> {
        let var = FpVar::new_witness(cs, || bits().map(Fr::from))?;
        WidthVar::checked(&var)
    }

    /// `var` decomposed to eight bits, with `var ≤ 128` enforced.
    pub fn checked(var: &Fp) -> Result<Self, SynthesisError> {
        let decomposition = range_check(var, WIDTH_DECOMPOSITION_BITS)?;
        // 128 is the only value with bit 7 set: bit7 × (bit0 + … + bit6) = 0.
        let low: Fp = decomposition[..7].iter().map(|b| Fp::from(b.clone())).sum();
        Fp::from(decomposition[7].clone()).mul_equals(&low, &Fp::zero())?;
        // 2^bits = Π (1 + bit_k (2^(2^k) − 1)).
        let mut pow2 = Fp::one();
        for (k, bit) in decomposition.iter().enumerate() {
            let factor = Fr::from(2u8).pow([1u64 << k]) - Fr::ONE;
            pow2 *= Fp::one() + Fp::from(bit.clone()) * factor;
        }
        Ok(WidthVar {
            value: var.clone(),
            pow2,
        })
    }

    /// `bits` as a field element.
    pub fn value(&self) -> &Fp {
        &self.value
    }

    /// `2^bits`.
    pub fn pow2(&self) -> &Fp {
        &self.pow2
    }
}

/// `b − a`: below 2^64 when `a ≤ b`, at least r − 2^64 otherwise.
pub fn le_slack(a: &U64Var, b: &U64Var) -> Fp {
    b.var() - a.var()
}

/// `2^bits − 1 − a`: below 2^128 when `a < 2^bits`.
pub fn range_slack(a: &U64Var, width: &WidthVar) -> Fp {
    width.pow2() - Fr::ONE - a.var()
}

/// `2^bits − 1 − (a + b)`: below 2^128 when `a + b < 2^bits` (the sum is below 2^65, exact).
pub fn add_slack(a: &U64Var, b: &U64Var, width: &WidthVar) -> Fp {
    width.pow2() - Fr::ONE - a.var() - b.var()
}

/// `2^bits − 1 − a·b` (one constraint): below 2^128 when `a·b < 2^bits`. Both operands are below
/// 2^64, so the field product is the integer product; operands that were not width-bounded
/// could wrap modulo r into a small value (see the tests).
pub fn mul_slack(a: &U64Var, b: &U64Var, width: &WidthVar) -> Result<Fp, SynthesisError> {
    let product = a.var() * b.var();
    Ok(width.pow2() - Fr::ONE - product)
}

/// An index range-checked to `log2(P)` bits for a table of `P` entries; it remembers the width
/// it was checked to, which [`Table::select`] compares with its own.
#[derive(Clone, Debug)]
pub struct IndexVar {
    var: Fp,
    bits: u32,
}

impl IndexVar {
    /// `var`, range-checked to `bits` bits.
    pub fn checked(var: Fp, bits: u32) -> Result<Self, SynthesisError> {
        range_check(&var, bits)?;
        Ok(IndexVar { var, bits })
    }

    /// The variable.
    pub fn var(&self) -> &Fp {
        &self.var
    }

    /// The width it was range-checked to.
    pub fn bits(&self) -> u32 {
        self.bits
    }
}

/// A table of `P` (a power of two) [`U64Var`]s, interpolated once so that any number of lookups
/// by in-circuit index cost `P − 1` constraints each.
///
/// The coefficients `c` of the polynomial `T` of degree below `P` with `T(k) = entries[k]` are
/// witnesses, each tied to the entries by one linear constraint (`c = L · entries`, `L` the
/// inverse Vandermonde matrix over `0..P`); a lookup evaluates `T(index)` by Horner's rule. For
/// an index range-checked below `P` this is exactly `entries[index]`.
pub struct Table {
    coefficients: Vec<Fp>,
    entries: Vec<U64Var>,
}

impl Table {
    /// Interpolates `entries` (`P` constraints).
    pub fn new(entries: Vec<U64Var>) -> Result<Self, SynthesisError> {
        assert!(
            entries.len().is_power_of_two(),
            "table size must be a power of two"
        );
        let cs = entries.cs();
        let matrix = native::interpolation_matrix(entries.len());
        let mut coefficients = Vec::with_capacity(entries.len());
        for row in &matrix {
            let combination: Fp = row
                .iter()
                .zip(&entries)
                .map(|(weight, entry)| entry.var() * *weight)
                .sum();
            let coefficient = FpVar::new_witness(cs.clone(), || combination.value())?;
            coefficient.enforce_equal(&combination)?;
            coefficients.push(coefficient);
        }
        Ok(Table {
            coefficients,
            entries,
        })
    }

    /// Index bits of this table.
    pub fn index_bits(&self) -> u32 {
        self.entries.len().trailing_zeros()
    }

    /// `entries[index]` (`P − 1` constraints). The index must have been checked to exactly
    /// this table's index width: a narrower check would leave entries unreachable, and a wider
    /// one would let the interpolation polynomial be evaluated past the table, where its value
    /// is no entry at all (a circuit-construction bug, so a panic, not a constraint).
    pub fn select(&self, index: &IndexVar) -> Result<U64Var, SynthesisError> {
        assert_eq!(
            index.bits(),
            self.index_bits(),
            "an index checked to {} bits selects from a table of {} entries",
            index.bits(),
            self.entries.len()
        );
        let (last, rest) = self
            .coefficients
            .split_last()
            .expect("tables are not empty");
        let mut acc = last.clone();
        for coefficient in rest.iter().rev() {
            acc = index.var() * &acc + coefficient;
        }
        Ok(U64Var(acc))
    }

    /// The entries.
    pub fn entries(&self) -> &[U64Var] {
        &self.entries
    }
}

impl GR1CSVar<Fr> for U64Var {
    type Value = Fr;

    fn cs(&self) -> Cs {
        self.0.cs()
    }

    fn value(&self) -> Result<Fr, SynthesisError> {
        self.0.value()
    }
}

/// Poseidon over `elements` in `domain`: absorbs `[domain, len, elements…]` and squeezes one
/// element, exactly as [`curve_formats::poseidon::hash_fields`].
pub fn poseidon_hash(
    cs: Cs,
    config: &PoseidonConfig<Fr>,
    domain: Domain,
    elements: &[Fp],
) -> Result<Fp, SynthesisError> {
    let mut sponge = PoseidonSpongeVar::new(cs, config);
    let mut input = Vec::with_capacity(elements.len() + 2);
    input.push(Fp::constant(Fr::from(domain as u32)));
    input.push(Fp::constant(Fr::from(elements.len() as u64)));
    input.extend_from_slice(elements);
    sponge.absorb(&input)?;
    Ok(sponge.squeeze_field_elements(1)?.remove(0))
}

/// `Σ parts[k] · 2^(k·shift)`: packs range-checked parts into one element.
pub fn pack(parts: &[Fp], shift: u32) -> Fp {
    let base = Fr::from(2u8).pow([u64::from(shift)]);
    let mut weight = Fr::ONE;
    let mut sum = Fp::zero();
    for part in parts {
        sum += part * weight;
        weight *= base;
    }
    sum
}
