//! Every gadget against its native twin on random inputs, every witness of every gadget
//! tampered, and the field wrap-around a width-unbounded multiply would accept.

use ark_bn254::Fr;
use ark_ff::{BigInteger, Field, PrimeField, UniformRand, Zero};
use ark_r1cs_std::GR1CSVar;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::FieldVar;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::{ConstraintSystem, SynthesisError};
use curve_formats::poseidon::{self, Domain};
use curve_gadgets::tamper::Tamper;
use curve_gadgets::{
    Cs, Fp, IndexVar, Table, U64Var, WidthVar, add_slack, enforce_slack, le_slack, mul_slack,
    native, pack, poseidon_hash, range_check, range_slack,
};
use proptest::prelude::*;

fn fresh() -> Cs {
    ConstraintSystem::<Fr>::new_ref()
}

fn witness(cs: &Cs, value: Fr) -> Fp {
    FpVar::new_witness(cs.clone(), || Ok(value)).expect("witness")
}

/// Builds a system with `build`, reports whether it is satisfied.
fn satisfied(build: impl FnOnce(&Cs) -> Result<(), SynthesisError>) -> bool {
    let cs = fresh();
    build(&cs).expect("synthesis");
    cs.is_satisfied().expect("proving mode")
}

/// Builds a satisfied system with `build` and checks that tampering any witness breaks it.
fn assert_every_witness_bound(build: impl FnOnce(&Cs) -> Result<(), SynthesisError>) {
    let cs = fresh();
    build(&cs).expect("synthesis");
    let mut tamper = Tamper::new(&cs);
    assert!(tamper.witness_count() > 0);
    assert_eq!(tamper.surviving(), Vec::<usize>::new());
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Le,
    Range,
    Add,
    Mul,
}

fn slack_system(
    kind: Kind,
    a: u64,
    b: u64,
    bits: u8,
) -> impl FnOnce(&Cs) -> Result<(), SynthesisError> {
    move |cs| {
        let a = U64Var::new_witness(cs.clone(), || Ok(a))?;
        let b = U64Var::new_witness(cs.clone(), || Ok(b))?;
        let width = WidthVar::new_witness(cs.clone(), || Ok(bits))?;
        let slack = match kind {
            Kind::Le => le_slack(&a, &b),
            Kind::Range => range_slack(&a, &width),
            Kind::Add => add_slack(&a, &b, &width),
            Kind::Mul => mul_slack(&a, &b, &width)?,
        };
        enforce_slack(&slack)
    }
}

fn twin(kind: Kind, a: u64, b: u64, bits: u8) -> bool {
    match kind {
        Kind::Le => native::le(a, b),
        Kind::Range => native::range(a, bits),
        Kind::Add => native::add_no_overflow(a, b, bits),
        Kind::Mul => native::mul_no_overflow(u128::from(a), u128::from(b), bits),
    }
}

/// Values near the interesting edges: 0, powers of two and their neighbours, the maximum.
fn edgy_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0u32..64, -1i64..=1).prop_map(|(k, d)| (1u64 << k).wrapping_add_signed(d)),
        Just(0u64),
        Just(u64::MAX),
        0u64..1000,
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Le),
        Just(Kind::Range),
        Just(Kind::Add),
        Just(Kind::Mul)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn slack_gadgets_agree_with_their_twins(kind in kind(), a in edgy_u64(), b in edgy_u64(), bits in 0u8..=128) {
        prop_assert_eq!(satisfied(slack_system(kind, a, b, bits)), twin(kind, a, b, bits));
    }

    #[test]
    fn products_at_the_width_boundary(a in 1u64.., bits in 1u8..=128) {
        // b chosen so that a·b is just below, at, or just above 2^bits.
        let limit = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
        let b = (limit / u128::from(a)).min(u128::from(u64::MAX)) as u64;
        for b in [b.saturating_sub(1), b, b.saturating_add(1)] {
            prop_assert_eq!(satisfied(slack_system(Kind::Mul, a, b, bits)), twin(Kind::Mul, a, b, bits));
        }
    }

    #[test]
    fn range_checks_agree_with_fits(seed in any::<u64>(), bits in 0u32..=200, shift in 0u32..=254) {
        let mut rng = <rand_chacha_seeded::Rng as rand_chacha_seeded::Seeded>::from(seed);
        let full = Fr::rand(&mut rng);
        // Random elements are ~254 bits; shifting right by `shift` reaches every width.
        let value = Fr::from_bigint(full.into_bigint() >> shift).expect("smaller");
        prop_assert_eq!(
            satisfied(|cs| range_check(&witness(cs, value), bits).map(drop)),
            native::fits(value, bits)
        );
    }

    #[test]
    fn widths_above_128_are_refused_and_powers_match(bits in 0u32..=255) {
        let cs = fresh();
        let var = witness(&cs, Fr::from(bits));
        let width = WidthVar::checked(&var).expect("synthesis");
        prop_assert_eq!(cs.is_satisfied().expect("proving mode"), bits <= 128);
        if bits <= 128 {
            prop_assert_eq!(width.pow2().value().expect("value"), native::pow2(bits as u8));
        }
    }

}

proptest! {
    // Each case interpolates a table of up to 64 entries.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn table_lookups_return_the_entry(log in 0u32..=6, entries in proptest::collection::vec(any::<u64>(), 64), index in 0u64..80) {
        let size = 1usize << log;
        let cs = fresh();
        let vars = entries[..size]
            .iter()
            .map(|v| U64Var::new_witness(cs.clone(), || Ok(*v)))
            .collect::<Result<Vec<_>, _>>()
            .expect("entries");
        let table = Table::new(vars).expect("table");
        let index_var = IndexVar::checked(witness(&cs, Fr::from(index)), table.index_bits()).expect("index");
        let selected = table.select(&index_var).expect("select");
        let in_range = (index as usize) < size;
        prop_assert_eq!(cs.is_satisfied().expect("proving mode"), in_range);
        if in_range {
            prop_assert_eq!(selected.value().expect("value"), Fr::from(entries[index as usize]));
        }
    }
}

/// A tiny seeded RNG adapter so that proptest's seed drives arkworks' `UniformRand`.
mod rand_chacha_seeded {
    pub type Rng = rand_chacha::ChaCha20Rng;
    pub trait Seeded {
        fn from(seed: u64) -> Self;
    }
    impl Seeded for Rng {
        fn from(seed: u64) -> Self {
            <Rng as rand_core::SeedableRng>::seed_from_u64(seed)
        }
    }
}

#[test]
fn u64_vars_refuse_values_from_two_to_the_64() {
    for value in [
        Fr::from(u64::MAX),
        Fr::from(u128::from(u64::MAX) + 1),
        -Fr::ONE,
    ] {
        let ok = satisfied(|cs| U64Var::checked(witness(cs, value)).map(drop));
        assert_eq!(ok, native::fits(value, 64), "{value}");
    }
}

#[test]
fn poseidon_gadget_matches_the_native_hash() {
    let config = poseidon::config();
    for length in [0usize, 1, 3, 4, 5, 9, 17] {
        let elements: Vec<Fr> = (0..length as u64)
            .map(|i| Fr::from(i * 1_000_003 + 7))
            .collect();
        let cs = fresh();
        let vars: Vec<Fp> = elements.iter().map(|e| witness(&cs, *e)).collect();
        let hash = poseidon_hash(cs.clone(), &config, Domain::Params, &vars).expect("hash");
        assert!(cs.is_satisfied().expect("proving mode"));
        assert_eq!(
            hash.value().expect("value"),
            poseidon::hash_fields(Domain::Params, &elements),
            "length {length}"
        );
    }
}

#[test]
fn packing_matches_its_twin() {
    let parts = [Fr::from(u64::MAX), Fr::from(3u8), Fr::from(1u64 << 40)];
    let cs = fresh();
    let vars: Vec<Fp> = parts.iter().map(|p| witness(&cs, *p)).collect();
    assert_eq!(
        pack(&vars, 64).value().expect("value"),
        native::pack(&parts, 64)
    );
    let expected = Fr::from(u64::MAX)
        + Fr::from(3u8) * native::pow2(64)
        + Fr::from(1u64 << 40) * native::pow2(128);
    assert_eq!(native::pack(&parts, 64), expected);
}

#[test]
fn every_witness_of_every_gadget_is_bound() {
    for kind in [Kind::Le, Kind::Range, Kind::Add, Kind::Mul] {
        assert_every_witness_bound(slack_system(kind, 5, 1 << 20, 40));
    }
    assert_every_witness_bound(|cs| {
        let entries = (0..16u64)
            .map(|v| U64Var::new_witness(cs.clone(), || Ok(v * v + 11)))
            .collect::<Result<Vec<_>, _>>()?;
        let table = Table::new(entries)?;
        for index in [0u64, 9, 15] {
            let index = IndexVar::checked(witness(cs, Fr::from(index)), table.index_bits())?;
            // Tie the selection to something, as the certificate does through a slack.
            let selected = table.select(&index)?;
            enforce_slack(&(Fp::constant(Fr::from(u64::MAX)) - selected.var()))?;
        }
        Ok(())
    });
    assert_every_witness_bound(|cs| {
        let config = poseidon::config();
        let vars: Vec<Fp> = (0..6u64).map(|i| witness(cs, Fr::from(i))).collect();
        let hash = poseidon_hash(cs.clone(), &config, Domain::Conditions, &vars)?;
        // Bind the output as the certificate does: equal to a public input.
        let expected = poseidon::hash_fields(
            Domain::Conditions,
            &(0..6u64).map(Fr::from).collect::<Vec<_>>(),
        );
        let public = FpVar::new_input(cs.clone(), || Ok(expected))?;
        hash.enforce_equal(&public)
    });
}

/// `Table::select` takes only an index checked to the table's own width: one checked wider
/// could evaluate the interpolation past the table (no entry), one checked narrower leaves
/// entries unreachable. Both are construction bugs, refused before any constraint.
#[test]
fn a_table_refuses_an_index_checked_to_another_width() {
    for bits in [3u32, 5] {
        let refused = std::panic::catch_unwind(|| {
            let cs = fresh();
            let entries = (0..16u64)
                .map(|v| U64Var::new_witness(cs.clone(), || Ok(v)))
                .collect::<Result<Vec<_>, _>>()
                .expect("entries");
            let table = Table::new(entries).expect("table");
            let index = IndexVar::checked(witness(&cs, Fr::from(2u8)), bits).expect("index");
            table.select(&index).map(drop)
        });
        assert!(
            refused.is_err(),
            "an index of {bits} bits selected from 16 entries"
        );
    }
}

#[test]
fn the_tamper_check_finds_a_free_witness() {
    let cs = fresh();
    let bound = witness(&cs, Fr::from(7u8));
    range_check(&bound, 8).expect("synthesis");
    // A witness multiplied by zero is in a constraint yet free.
    let free = witness(&cs, Fr::from(9u8));
    (free * Fr::zero())
        .enforce_equal(&Fp::zero())
        .expect("synthesis");
    let mut tamper = Tamper::new(&cs);
    assert_eq!(tamper.surviving(), vec![tamper.witness_count() - 1]);
}

#[test]
fn a_width_unbounded_product_would_wrap_but_the_gadget_refuses() {
    // 2^127 · 2^127 = 2^254 ≥ r: the field product is 2^254 mod r.
    let two_127 = native::pow2(127);
    // A sharper case: b = ⌈r / 2^127⌉, so a·b = r + (a·b − r) with a·b − r < 2^127, and the
    // field product is a small number that a 128-bit range check alone would accept.
    let modulus = Fr::MODULUS;
    let b = Fr::from_bigint(modulus >> 127).expect("below r") + Fr::ONE;
    for (a, b) in [(two_127, two_127), (two_127, b)] {
        let a_int =
            u128::from_le_bytes(a.into_bigint().to_bytes_le()[..16].try_into().expect("16"));
        let b_int =
            u128::from_le_bytes(b.into_bigint().to_bytes_le()[..16].try_into().expect("16"));
        assert!(native::fits(a, 128) && native::fits(b, 128));
        assert!(
            !native::mul_no_overflow(a_int, b_int, 128),
            "the integer product overflows"
        );
        let ok = satisfied(|cs| {
            let a = U64Var::checked(witness(cs, a))?;
            let b = U64Var::checked(witness(cs, b))?;
            let width = WidthVar::new_witness(cs.clone(), || Ok(128))?;
            enforce_slack(&mul_slack(&a, &b, &width)?)
        });
        assert!(!ok, "the operands are wider than 64 bits");
    }
    // The hazard is real: the second pair's field product does fit in 128 bits.
    assert!(native::fits(two_127 * b, 128));
    let naive = satisfied(|cs| {
        let product = witness(cs, two_127) * witness(cs, b);
        range_check(&(Fp::constant(native::pow2(128) - Fr::ONE) - product), 128).map(drop)
    });
    assert!(naive, "without operand bounds the wrapped product passes");
}
