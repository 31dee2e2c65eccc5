//! The certificate circuit against its native twin, the negative cases the issue names, every
//! witness tampered, proofs and keys end to end, and the Solana byte layout.

use std::path::PathBuf;
use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field, PrimeField};
use curve_certificate::circuit::{self, CertificateCircuit, Witness, constraint_count};
use curve_certificate::keys::{self, KeyError, KeyStore, Mode, ProvingKey};
use curve_certificate::proof::{self, VerifyError};
use curve_certificate::{ProveError, prepare_verifying_key, prove, prove_cached, solana, verify};
use curve_formats::certificate::{
    PARAMS_PER_ELEMENT, Row, RowError, RowKind, SizeClass, Statement, check_rows, params_hash,
};
use curve_formats::poseidon::{self, Domain};
use curve_formats::program::ProgramIdentity;
use curve_gadgets::native;
use curve_gadgets::tamper::Tamper;
use proptest::prelude::*;

const CLASS: SizeClass = SizeClass::C16;
const CODE: &ProgramIdentity = &ProgramIdentity {
    code_hash: [0x01; 32],
    descriptor_hash: [0x02; 32],
    layout_hash: [0x03; 32],
};

fn row(kind: RowKind, i: u16, j: u16, bits: u8) -> Row {
    Row { kind, i, j, bits }
}

/// A table and rows like an oracle's: every row holds.
fn sample() -> (Vec<u64>, Vec<Row>) {
    let params = vec![1_000, 5_000, 3, 7, 8, 100, 2_000_000, u64::MAX / 3];
    let rows = vec![
        row(RowKind::Le, 0, 1, 0),
        row(RowKind::Le, 2, 3, 0),
        row(RowKind::Range, 3, 0, 5),
        row(RowKind::AddNoOverflow, 5, 6, 64),
        row(RowKind::MulNoOverflow, 6, 7, 128),
        row(RowKind::MulNoOverflow, 5, 6, 28),
    ];
    (params, rows)
}

fn circuit_with(statement: &Statement, witness: Witness) -> CertificateCircuit {
    CertificateCircuit {
        class: statement.class,
        public_inputs: Some(statement.public_inputs()),
        witness: Some(witness),
    }
}

fn honest(params: &[u64], rows: &[Row]) -> (Statement, CertificateCircuit) {
    let statement = Statement::in_class(CLASS, CODE, params, rows).expect("fits");
    let witness = Witness::honest(CLASS, params, rows);
    (statement, circuit_with(&statement, witness))
}

fn satisfied(circuit: CertificateCircuit) -> bool {
    circuit::is_satisfied(circuit).expect("synthesis")
}

#[test]
fn constraint_counts() {
    let counts = format!(
        "16x16 {}\n64x64 {}\n",
        constraint_count(SizeClass::C16),
        constraint_count(SizeClass::C64)
    );
    expect_test::expect![[r#"
        16x16 5885
        64x64 27541
    "#]]
    .assert_eq(&counts);
    assert!(constraint_count(SizeClass::C64) <= 30_000);
}

#[test]
fn the_honest_sample_is_satisfied_and_its_twin_agrees() {
    let (params, rows) = sample();
    assert_eq!(check_rows(CLASS, &params, &rows), Ok(()));
    assert!(satisfied(honest(&params, &rows).1));
}

fn arbitrary_row() -> impl Strategy<Value = Row> {
    (
        0u8..5,
        0u16..20,
        0u16..20,
        prop_oneof![0u8..=130, Just(64u8), Just(128u8)],
    )
        .prop_map(|(kind, i, j, bits)| Row {
            kind: RowKind::from_code(kind).expect("code below 5"),
            i,
            j,
            bits,
        })
}

proptest! {
    // Each case synthesises the 16×16 circuit (~6k constraints).
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_circuit_agrees_with_its_twin(
        params in proptest::collection::vec(prop_oneof![any::<u64>(), 0u64..100, Just(u64::MAX)], 1..=16),
        rows in proptest::collection::vec(arbitrary_row(), 0..=16),
        only_true in any::<bool>(),
    ) {
        // Random rows are mostly false; half the cases keep only the rows that hold, so that
        // both verdicts are exercised.
        let mut rows = rows;
        if only_true {
            rows.retain(|r| r.holds_in(CLASS, &params).is_ok());
        }
        let twin = check_rows(CLASS, &params, &rows);
        prop_assert_eq!(satisfied(honest(&params, &rows).1), twin.is_ok(), "twin: {:?}", twin);
    }
}

#[test]
fn one_altered_row_is_unsatisfiable() {
    let (params, rows) = sample();
    let (statement, _) = honest(&params, &rows);
    // The witness proves other rows than the statement hashes (LE(0,1) → LE(1,0), which is
    // false, and LE(0,2), which would hold).
    for altered in [row(RowKind::Le, 1, 0, 0), row(RowKind::Le, 0, 2, 0)] {
        let mut witness_rows = rows.clone();
        witness_rows[0] = altered;
        let circuit = circuit_with(&statement, Witness::honest(CLASS, &params, &witness_rows));
        assert!(!satisfied(circuit), "{altered}");
    }
    // And the altered false row in a statement of its own: the twin refuses too.
    let mut false_rows = rows.clone();
    false_rows[0] = row(RowKind::Le, 1, 0, 0);
    assert_eq!(
        check_rows(CLASS, &params, &false_rows),
        Err((0, RowError::Fails))
    );
    assert!(!satisfied(honest(&params, &false_rows).1));
}

#[test]
fn two_swapped_parameters_are_unsatisfiable() {
    let (params, rows) = sample();
    let (statement, _) = honest(&params, &rows);
    let mut swapped = params.clone();
    swapped.swap(0, 1);
    // Against the original statement: the table no longer hashes to H_params.
    let circuit = circuit_with(&statement, Witness::honest(CLASS, &swapped, &rows));
    assert!(!satisfied(circuit));
    // As a statement of its own: LE(p0, p1) fails, and the twin says so.
    assert_eq!(
        check_rows(CLASS, &swapped, &rows),
        Err((0, RowError::Fails))
    );
    assert!(!satisfied(honest(&swapped, &rows).1));
}

#[test]
fn a_non_boolean_kind_selector_is_unsatisfiable() {
    // MUL_NO_OVF(p0, p1, 64) with p0 ≤ p1 but p0·p1 ≥ 2^64: false. A cheating witness keeps the
    // packed kind (2·LE − NOP = 2·2 − 0 = 4 = MUL) and the selector sum (2 − 1 = 1) while
    // weighting the LE slack, which holds, instead of the MUL slack.
    let params = vec![1u64 << 40, 1u64 << 41];
    let rows = vec![row(RowKind::MulNoOverflow, 0, 1, 64)];
    assert_eq!(check_rows(CLASS, &params, &rows), Err((0, RowError::Fails)));
    let statement = Statement::in_class(CLASS, CODE, &params, &rows).expect("fits");
    let mut witness = Witness::honest(CLASS, &params, &rows);
    let selectors = &mut witness.rows[0].selectors;
    *selectors = [Fr::ZERO; 5];
    selectors[RowKind::Nop as usize] = -Fr::ONE;
    selectors[RowKind::Le as usize] = Fr::from(2u8);
    let kind_code: Fr = selectors
        .iter()
        .enumerate()
        .map(|(k, s)| *s * Fr::from(k as u8))
        .sum();
    assert_eq!(kind_code, Fr::from(RowKind::MulNoOverflow as u8));
    assert!(!satisfied(circuit_with(&statement, witness)));
}

#[test]
fn an_out_of_range_operand_index_is_unsatisfiable() {
    let (params, _) = sample();
    // Past the class (16), and past the table (8) but inside the class.
    for (index, twin) in [
        (
            16u16,
            RowError::OutsideClass {
                index: 16,
                class: CLASS,
            },
        ),
        (
            8,
            RowError::IndexOutOfRange {
                index: 8,
                params: 8,
            },
        ),
    ] {
        let rows = vec![row(RowKind::Le, index, 1, 0)];
        assert_eq!(check_rows(CLASS, &params, &rows), Err((0, twin)));
        assert!(!satisfied(honest(&params, &rows).1), "index {index}");
    }
    // The padding slot 8 is zero, so LE(p8, p1) would hold if it could be named.
    assert!(native::le(0, params[1]));
}

/// A row whose second operand names the zero padding past the table: `ADD_NO_OVF(p0, p8)` and
/// `MUL_NO_OVF(p0, p8)` would hold there (p0 + 0 and p0 × 0 fit), so only the `j < n` check
/// refuses them. (The first operand is covered above.)
#[test]
fn a_row_whose_second_operand_names_a_slot_past_the_table_is_unsatisfiable() {
    let (params, _) = sample();
    let n = params.len() as u16;
    let mut padded = params.clone();
    padded.resize(CLASS.params(), 0);
    for kind in [RowKind::AddNoOverflow, RowKind::MulNoOverflow] {
        let past = row(kind, 0, n, 128);
        assert_eq!(
            past.holds(&padded),
            Ok(()),
            "{kind:?} holds over the padding"
        );
        let rows = vec![past];
        assert_eq!(
            check_rows(CLASS, &params, &rows),
            Err((
                0,
                RowError::IndexOutOfRange {
                    index: n,
                    params: params.len()
                }
            ))
        );
        assert!(!satisfied(honest(&params, &rows).1), "{kind:?}");
    }
}

/// `H_params` of slots given as field elements (what a cheating prover would hash), packed as
/// the circuit packs them.
fn params_hash_of_fields(n: usize, slots: &[Fr]) -> Fr {
    let mut elements = vec![Fr::from(n as u64)];
    elements.extend(
        slots
            .chunks(PARAMS_PER_ELEMENT)
            .map(|chunk| native::pack(chunk, 64)),
    );
    poseidon::hash_fields(Domain::Params, &elements)
}

#[test]
fn mul_no_ovf_with_both_operands_two_to_the_127_is_unsatisfiable() {
    let (params, _) = sample();
    let mut slots: Vec<Fr> = params.iter().map(|p| Fr::from(*p)).collect();
    slots.resize(CLASS.params(), Fr::ZERO);
    // The packing twin agrees with the formats crate on honest tables.
    assert_eq!(
        params_hash_of_fields(params.len(), &slots),
        params_hash(CLASS, &params).expect("fits")
    );
    let two_127 = native::pow2(127);
    assert!(!native::mul_no_overflow(1 << 127, 1 << 127, 128));
    slots[0] = two_127;
    slots[1] = two_127;
    let rows = vec![row(RowKind::MulNoOverflow, 0, 1, 128)];
    let mut statement = Statement::in_class(CLASS, CODE, &params, &rows).expect("fits");
    statement.params = params_hash_of_fields(params.len(), &slots);
    let mut witness = Witness::honest(CLASS, &params, &rows);
    witness.params = slots;
    assert!(!satisfied(circuit_with(&statement, witness)));
}

/// The sharp wrap-around: `a = 2^127`, `b = ⌈r / 2^127⌉`. The integer product overflows 128 bits,
/// but modulo r it is `a·b − r < 2^127`, which a 128-bit slack check alone accepts. What refuses
/// it here is the 64-bit range check on every parameter slot (`U64Var::checked` in step 1 of the
/// circuit): weaken that check and this test fails. (Both operands at 2^127 give a product that
/// stays large modulo r, so it does not show the hazard.)
#[test]
fn the_sharp_wrap_of_mul_no_ovf_is_unsatisfiable_at_the_certificate_level() {
    let (params, _) = sample();
    let mut slots: Vec<Fr> = params.iter().map(|p| Fr::from(*p)).collect();
    slots.resize(CLASS.params(), Fr::ZERO);
    let a = native::pow2(127);
    let b = Fr::from_bigint(Fr::MODULUS >> 127).expect("below r") + Fr::ONE;
    // The hazard is real: the field product fits 128 bits.
    assert!(native::fits(a * b, 128));
    slots[0] = a;
    slots[1] = b;
    let rows = vec![row(RowKind::MulNoOverflow, 0, 1, 128)];
    let mut statement = Statement::in_class(CLASS, CODE, &params, &rows).expect("fits");
    statement.params = params_hash_of_fields(params.len(), &slots);
    let mut witness = Witness::honest(CLASS, &params, &rows);
    witness.params = slots;
    assert!(!satisfied(circuit_with(&statement, witness)));
}

/// Tables and rows of different shapes for the tamper check: the sample, an oracle's conditions
/// over an oracle-like table, every kind at its widest and narrowest, a full class of rows, no
/// rows at all.
fn tamper_samples() -> Vec<(Vec<u64>, Vec<Row>)> {
    let (params, rows) = sample();
    let oracle_params = vec![500, 2_000, 2, 4, 6, 1, 1_000_000_000, 1, 0, 0, 777, 1, 16];
    let oracle_rows = vec![
        row(RowKind::Le, 11, 2, 0),
        row(RowKind::Le, 2, 3, 0),
        row(RowKind::Le, 3, 12, 0),
        row(RowKind::Le, 11, 5, 0),
        row(RowKind::Le, 5, 6, 0),
        row(RowKind::Le, 11, 0, 0),
        row(RowKind::Le, 0, 1, 0),
        row(RowKind::Range, 4, 0, 5),
        row(RowKind::Range, 7, 0, 1),
        row(RowKind::Range, 8, 0, 1),
        row(RowKind::Range, 9, 0, 1),
    ];
    let extremes = vec![0, 1, u64::MAX, 1 << 32];
    let extreme_rows = vec![
        row(RowKind::Range, 0, 0, 0),
        row(RowKind::Range, 2, 0, 64),
        row(RowKind::AddNoOverflow, 2, 2, 65),
        row(RowKind::MulNoOverflow, 2, 2, 128),
        row(RowKind::MulNoOverflow, 3, 3, 65),
        row(RowKind::Le, 0, 1, 0),
    ];
    let full: Vec<u64> = (0..16).map(|k| 1_000 * k + 1).collect();
    let full_rows: Vec<Row> = (0..16u16)
        .map(|k| row(RowKind::Le, k, (k + 1).min(15), 0))
        .collect();
    vec![
        (params.clone(), rows),
        (oracle_params, oracle_rows),
        (extremes, extreme_rows),
        (full, full_rows),
        (params, Vec::new()),
    ]
}

/// Every witness of the circuit is bound, on several samples: tampering any one by ±1 breaks a
/// constraint. So is every public input but `H_code`, which no constraint reads (the circuit
/// never sees the code); the Groth16 verification equation binds it, which
/// `a_proof_verifies_for_its_statement_only` checks by changing each public input of a proof.
#[test]
fn every_witness_and_public_input_of_the_certificate_is_bound() {
    for (sample, (params, rows)) in tamper_samples().into_iter().enumerate() {
        assert!(check_rows(CLASS, &params, &rows).is_ok(), "sample {sample}");
        let cs = circuit::synthesize(honest(&params, &rows).1).expect("synthesis");
        let mut tamper = Tamper::new(&cs);
        assert!(tamper.witness_count() > 5_000);
        assert_eq!(tamper.surviving(), Vec::<usize>::new(), "sample {sample}");
        assert_eq!(tamper.input_count(), 4);
        // Public inputs: [VERSION, H_code, H_conditions, H_params]; only H_code is unread.
        assert_eq!(tamper.surviving_inputs(), vec![1], "sample {sample}");
    }
}

fn store() -> KeyStore {
    KeyStore::new(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("curve-keys"))
}

fn dev_keys() -> &'static ProvingKey {
    static KEYS: OnceLock<ProvingKey> = OnceLock::new();
    KEYS.get_or_init(|| store().dev_keys(CLASS, &mut |_| {}).expect("dev keys"))
}

#[test]
fn a_proof_verifies_for_its_statement_only() {
    let (params, rows) = sample();
    let pk = dev_keys();
    let (statement, proof) = prove(pk, CLASS, CODE, &params, &rows, [3; 32]).expect("proof");
    let vk = prepare_verifying_key(&pk.vk);
    verify(&vk, &statement, &proof).expect("verifies");
    assert_eq!(proof::proof_to_bytes(&proof).len(), 128);
    // Same seed, same bytes.
    let (_, again) = prove(pk, CLASS, CODE, &params, &rows, [3; 32]).expect("proof");
    assert_eq!(proof::proof_to_bytes(&proof), proof::proof_to_bytes(&again));
    // Each public input changed: refused (H_code too, though no constraint reads it).
    for k in 0..4 {
        let mut inputs = statement.public_inputs();
        inputs[k] += Fr::ONE;
        let ok = ark_groth16::Groth16::<ark_bn254::Bn254>::verify_proof(&vk, &proof, &inputs)
            .expect("well-formed");
        assert!(!ok, "public input {k} is not bound");
    }
    // Other code, another table: different statements, refused.
    let other_code = Statement::in_class(
        CLASS,
        &ProgramIdentity::of_module(b"other", [2; 32], [3; 32]),
        &params,
        &rows,
    )
    .expect("fits");
    assert!(matches!(
        verify(&vk, &other_code, &proof),
        Err(VerifyError::Invalid)
    ));
    let mut other_params = params.clone();
    other_params[7] -= 1;
    let other = Statement::in_class(CLASS, CODE, &other_params, &rows).expect("fits");
    assert!(matches!(
        verify(&vk, &other, &proof),
        Err(VerifyError::Invalid)
    ));
    // Every single-byte tamper of the compressed proof is refused one way or the other.
    let bytes = proof::proof_to_bytes(&proof);
    for k in 0..bytes.len() {
        let mut tampered = bytes;
        tampered[k] ^= 0x01;
        let refused = match proof::proof_from_bytes(&tampered) {
            Err(_) => true,
            Ok(p) => verify(&vk, &statement, &p).is_err(),
        };
        assert!(refused, "byte {k}");
    }
    assert!(proof::proof_from_bytes(&bytes[..127]).is_err());
}

#[test]
fn a_false_statement_is_not_proved() {
    let (params, mut rows) = sample();
    rows.push(row(RowKind::Range, 7, 0, 8));
    let error = prove(dev_keys(), CLASS, CODE, &params, &rows, [0; 32]).expect_err("false");
    assert!(
        matches!(error, ProveError::RowFails { index: 6, .. }),
        "{error}"
    );
}

#[test]
fn development_keys_match_the_list_and_are_refused_in_production() {
    let pk = dev_keys();
    assert_eq!(keys::listed_dev_hash(CLASS), Some(keys::vk_hash(&pk.vk)));
    assert_eq!(keys::dev_class_of(&pk.vk), Some(CLASS));
    let bytes = keys::vk_bytes(&pk.vk);
    keys::load_vk(&bytes, Mode::Development).expect("accepted in development");
    assert!(matches!(
        keys::load_vk(&bytes, Mode::Production),
        Err(KeyError::DevelopmentKey(SizeClass::C16))
    ));
    // The 64×64 development key regenerates to the listed hash too (the CI regression).
    let big = store()
        .dev_keys(SizeClass::C64, &mut |_| {})
        .expect("64x64 dev keys");
    assert_eq!(
        keys::listed_dev_hash(SizeClass::C64),
        Some(keys::vk_hash(&big.vk))
    );
    // The trapdoor recomputed from the seed gives these keys' elements (so verifiers can refuse
    // development elements in any disguise without running a setup).
    for (class, vk) in [(CLASS, &pk.vk), (SizeClass::C64, &big.vk)] {
        let (alpha, g2) = keys::dev_trapdoor(class).elements();
        assert_eq!(vk.alpha_g1, alpha, "{class}");
        assert_eq!([vk.beta_g2, vk.gamma_g2, vk.delta_g2], g2, "{class}");
    }
}

/// A development key in disguise: the 16×16 development key with γ and δ swapped. Its hash is on
/// no list, δ ≠ ±γ and no point is the identity, so a check by hash alone admits it — yet its
/// trapdoor follows from the public seed ([`keys::dev_trapdoor`]), and a proof of a false
/// statement verifies under it. Every verifier refuses it for sharing elements with a development
/// key. The same key and forged proof go to the Anchor program's tests as a fixture
/// (`UPDATE_ANCHOR_FIXTURE=1` rewrites it), where `register_vk` must refuse it too.
#[test]
fn a_permuted_development_key_forges_certificates_and_is_refused() {
    use ark_ec::{AffineRepr, CurveGroup};
    let dev = dev_keys().vk.clone();
    let mut disguised = dev.clone();
    std::mem::swap(&mut disguised.gamma_g2, &mut disguised.delta_g2);
    assert_eq!(
        keys::dev_class_of(&disguised),
        None,
        "not on the development list"
    );
    // A false statement: RANGE(p0, 0) says 5 < 1.
    let params = [5u64, 0, 0];
    let rows = [row(RowKind::Range, 0, 0, 0)];
    assert!(check_rows(CLASS, &params, &rows).is_err());
    let statement = Statement::in_class(CLASS, CODE, &params, &rows).expect("fits");
    let inputs = statement.public_inputs();
    // The forgery: e(A, B) = e(α, β) e(L, γ') e(C, δ') with A = a·g1, B = b·g2 and
    // C = ((ab − αβ)/δ')·g1 − (γ'/δ')·L, where the disguised γ', δ' are the setup's δ, γ.
    let t = keys::dev_trapdoor(CLASS);
    let (gamma, delta) = (t.delta, t.gamma);
    let (a, b) = (Fr::from(7u8), Fr::from(11u8));
    let mut l = disguised.gamma_abc_g1[0].into_group();
    for (input, point) in inputs.iter().zip(&disguised.gamma_abc_g1[1..]) {
        l += *point * input;
    }
    let delta_inverse = delta.inverse().expect("non-zero");
    let forged = ark_groth16::Proof::<ark_bn254::Bn254> {
        a: (t.g1 * a).into_affine(),
        b: (t.g2 * b).into_affine(),
        c: (t.g1 * ((a * b - t.alpha * t.beta) * delta_inverse) - l * (gamma * delta_inverse))
            .into_affine(),
    };
    let accepted = verify(&prepare_verifying_key(&disguised), &statement, &forged);
    assert!(accepted.is_ok(), "the forgery verifies: {accepted:?}");
    // Refused outside development mode, for its elements.
    let bytes = keys::vk_bytes(&disguised);
    assert!(
        matches!(
            keys::load_vk(&bytes, Mode::Production),
            Err(KeyError::DevelopmentElement { class: CLASS, .. })
        ),
        "{:?}",
        keys::load_vk(&bytes, Mode::Production).map(|_| ())
    );
    // Even with α and β replaced, γ and δ give it away.
    let other = keys::setup_from_seed(CLASS, [0xce; 32]).vk;
    let mut partly = disguised.clone();
    partly.alpha_g1 = other.alpha_g1;
    partly.beta_g2 = other.beta_g2;
    assert!(matches!(
        keys::load_vk(&keys::vk_bytes(&partly), Mode::Production),
        Err(KeyError::DevelopmentElement {
            element: "gamma",
            dev_element: "delta",
            class: CLASS
        })
    ));
    // δ = −γ is refused in every mode.
    let mut negated = dev.clone();
    negated.delta_g2 = -negated.gamma_g2;
    assert!(matches!(
        keys::load_vk(&keys::vk_bytes(&negated), Mode::Development),
        Err(KeyError::DeltaEqualsGamma)
    ));
    // The fixture for the Anchor program's registry tests.
    let hex = |bytes: &[u8]| hex::encode(bytes);
    let ceremony = keys::setup_from_seed(CLASS, [0xce; 32]).vk;
    let text = format!(
        "# A disguised development key (16x16 with gamma and delta swapped) and a proof it accepts of a\n\
         # false statement, and a key from an unrelated setup (written by curve-certificate's tests;\n\
         # UPDATE_ANCHOR_FIXTURE=1 rewrites it).\n\
         ceremony_vk_hash {}\nceremony_vk {}\n\
         vk_hash {}\nvk {}\nproof {}\ncode_hash {}\ndescriptor_hash {}\nlayout_hash {}\n\
         h_conditions {}\nh_params {}\n",
        hex(&keys::vk_hash(&ceremony)),
        hex(&solana::vk_be(&ceremony)),
        hex(&keys::vk_hash(&disguised)),
        hex(&solana::vk_be(&disguised)),
        hex(&solana::proof_be(&forged)),
        hex(&CODE.code_hash),
        hex(&CODE.descriptor_hash),
        hex(&CODE.layout_hash),
        hex(&solana::public_inputs_be(&[statement.conditions])),
        hex(&solana::public_inputs_be(&[statement.params])),
    );
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../anchor-program/programs/curve-anchor/tests/fixtures/forged_certificate.txt");
    if std::env::var_os("UPDATE_ANCHOR_FIXTURE").is_some() {
        std::fs::write(&fixture, &text).expect("write the fixture");
    }
    assert_eq!(
        std::fs::read_to_string(&fixture).unwrap_or_default(),
        text,
        "the Anchor fixture is stale: rerun with UPDATE_ANCHOR_FIXTURE=1"
    );
}

/// `dev-key-elements.txt` lists the x coordinates of every development key's α, β, γ, δ
/// (arkworks compressed encoding with the two flag bits cleared, so a negated element matches
/// too), recomputed from the public seed. The Anchor program embeds the file to refuse keys that
/// share an element with a development key. `UPDATE_EXPECT=1` rewrites it.
#[test]
fn the_development_element_list_is_the_seeds() {
    use ark_serialize::CanonicalSerialize;
    let mut text = String::from(
        "# x coordinates of the development keys' alpha, beta, gamma, delta: arkworks compressed\n\
         # encoding with the flag bits (top two of the last byte) cleared, so -P matches P.\n\
         # Written by curve-certificate's tests from the public seed (UPDATE_EXPECT=1).\n",
    );
    let x_of = |point: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = Vec::new();
        point(&mut bytes);
        let last = bytes.len() - 1;
        bytes[last] &= 0x3f;
        hex::encode(bytes)
    };
    for class in SizeClass::ALL {
        let (alpha, g2) = keys::dev_trapdoor(class).elements();
        text.push_str(&format!(
            "{class} alpha {}\n",
            x_of(&|out| alpha.serialize_compressed(out).expect("serialise"))
        ));
        for (name, point) in ["beta", "gamma", "delta"].iter().zip(g2) {
            text.push_str(&format!(
                "{class} {name} {}\n",
                x_of(&|out| point.serialize_compressed(out).expect("serialise"))
            ));
        }
    }
    expect_test::expect_file!["../dev-key-elements.txt"].assert_eq(&text);
}

#[test]
fn ceremony_keys_are_checked() {
    let pk = dev_keys();
    let mut vk = pk.vk.clone();
    // A key from another setup is accepted in production mode; the development key with one
    // element changed is not (its other elements are still the development setup's).
    let foreign = keys::setup_from_seed(CLASS, [0xce; 32]).vk;
    keys::load_vk(&keys::vk_bytes(&foreign), Mode::Production).expect("not a dev key");
    let mut perturbed = vk.clone();
    perturbed.delta_g2 = (perturbed.delta_g2 + perturbed.gamma_g2).into();
    assert!(matches!(
        keys::load_vk(&keys::vk_bytes(&perturbed), Mode::Production),
        Err(KeyError::DevelopmentElement { .. })
    ));
    // δ = γ.
    vk.delta_g2 = vk.gamma_g2;
    assert!(matches!(
        keys::load_vk(&keys::vk_bytes(&vk), Mode::Production),
        Err(KeyError::DeltaEqualsGamma)
    ));
    // A missing public-input point.
    let mut short = pk.vk.clone();
    short.gamma_abc_g1.pop();
    assert!(matches!(
        keys::load_vk(&keys::vk_bytes(&short), Mode::Development),
        Err(KeyError::WrongInputCount {
            expected: 5,
            found: 4
        })
    ));
    // An identity public-input point (that input would be unbound).
    let mut free = pk.vk.clone();
    free.gamma_abc_g1[1] = ark_bn254::G1Affine::identity();
    assert!(matches!(
        keys::load_vk(&keys::vk_bytes(&free), Mode::Development),
        Err(KeyError::Identity(_))
    ));
    // Garbage.
    assert!(matches!(
        keys::load_vk(&[7u8; 100], Mode::Development),
        Err(KeyError::Malformed { .. })
    ));
    // A proving key checked against the wrong class.
    assert!(matches!(
        keys::check_pk(pk, SizeClass::C64, Mode::Development),
        Err(KeyError::WrongShape { .. })
    ));
    keys::check_pk(pk, CLASS, Mode::Development).expect("its own class");
}

/// A reproducible proof is kept in the store and taken from there: the entry is the proof
/// proving gives; what the store holds is used once it verifies (shown with another valid
/// proof of the same statement put in its place); a corrupt entry, or a valid proof of another
/// statement, is proved again and replaced; another seed is another entry; a false statement
/// is still refused.
#[test]
fn a_cached_proof_is_verified_before_use_and_a_bad_entry_is_proved_again() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("curve-proofs");
    let _ = std::fs::remove_dir_all(&dir);
    let store = KeyStore::new(&dir);
    let pk = dev_keys();
    let (params, rows) = sample();
    let bytes_of = |proof: &curve_certificate::Proof| proof::proof_to_bytes(proof).to_vec();
    let proved = |seed: [u8; 32], params: &[u64]| {
        bytes_of(
            &prove(pk, CLASS, CODE, params, &rows, seed)
                .expect("proof")
                .1,
        )
    };
    let cached = |seed: [u8; 32]| {
        let (statement, proof) =
            prove_cached(&store, pk, CLASS, CODE, &params, &rows, seed).expect("proof");
        verify(&prepare_verifying_key(&pk.vk), &statement, &proof).expect("verifies");
        bytes_of(&proof)
    };
    let entries = || {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("proofs"))
            .expect("the store has proofs")
            .map(|entry| entry.expect("entry").path())
            .collect();
        files.sort();
        files
    };
    let fresh = proved([5; 32], &params);
    assert_eq!(cached([5; 32]), fresh);
    let [entry] = entries().try_into().expect("one entry");
    assert_eq!(std::fs::read(&entry).expect("read"), fresh);
    // Another valid proof of this statement in the entry's place is what comes back.
    let other_seed = proved([6; 32], &params);
    assert_ne!(other_seed, fresh);
    std::fs::write(&entry, &other_seed).expect("write");
    assert_eq!(cached([5; 32]), other_seed);
    // Garbage, or a valid proof of another statement: proved again, and the entry replaced.
    let mut other_params = params.clone();
    other_params[5] += 1;
    for bad in [b"not a proof".to_vec(), proved([5; 32], &other_params)] {
        std::fs::write(&entry, &bad).expect("write");
        assert_eq!(cached([5; 32]), fresh);
        assert_eq!(std::fs::read(&entry).expect("read"), fresh);
    }
    assert_eq!(cached([6; 32]), other_seed);
    assert_eq!(entries().len(), 2);
    let mut false_rows = rows.clone();
    false_rows.push(row(RowKind::Range, 7, 0, 8));
    let error =
        prove_cached(&store, pk, CLASS, CODE, &params, &false_rows, [5; 32]).expect_err("false");
    assert!(
        matches!(error, ProveError::RowFails { index: 6, .. }),
        "{error}"
    );
}

#[test]
fn a_corrupt_cache_is_regenerated() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("curve-keys-corrupt");
    let store = KeyStore::new(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(store.dev_path(CLASS), b"not a key").expect("write");
    let mut generated = false;
    let pk = store
        .dev_keys(CLASS, &mut |p| {
            generated |= matches!(p, keys::Progress::Generating { .. })
        })
        .expect("regenerated");
    assert!(generated);
    assert_eq!(keys::vk_hash(&pk.vk), keys::vk_hash(&dev_keys().vk));
}

#[test]
fn solana_layout_round_trips_and_orders_g2_as_c1_c0() {
    let (params, rows) = sample();
    let pk = dev_keys();
    let (statement, proof) = prove(pk, CLASS, CODE, &params, &rows, [9; 32]).expect("proof");
    let proof_bytes = solana::proof_be(&proof);
    assert_eq!(solana::proof_from_be(&proof_bytes).as_ref(), Some(&proof));
    let vk_bytes = solana::vk_be(&pk.vk);
    assert_eq!(vk_bytes.len(), 64 + 3 * 128 + 5 * 64);
    assert_eq!(solana::vk_from_be(&vk_bytes).as_ref(), Some(&pk.vk));
    // G2: x.c1 first, big-endian.
    let b = proof.b;
    let big_endian = |x: ark_bn254::Fq| {
        let mut bytes = x.into_bigint().to_bytes_le();
        bytes.reverse();
        bytes
    };
    use ark_ff::BigInteger;
    assert_eq!(proof_bytes[64..96], big_endian(b.x.c1)[..]);
    assert_eq!(proof_bytes[96..128], big_endian(b.x.c0)[..]);
    assert_eq!(proof_bytes[0..32], big_endian(proof.a.x)[..]);
    // Public inputs: canonical, big-endian.
    let inputs = solana::public_inputs_be(&statement.public_inputs());
    assert_eq!(inputs.len(), 128);
    for chunk in inputs.chunks(32) {
        assert!(solana::is_canonical_scalar(chunk.try_into().expect("32")));
    }
    assert_eq!(
        u64::from(inputs[31]),
        curve_formats::certificate::VERSION,
        "the version, big-endian"
    );
    // Non-canonical and off-curve encodings are refused.
    let mut above_modulus = proof_bytes;
    above_modulus[..32].copy_from_slice(&[0xff; 32]);
    assert_eq!(solana::proof_from_be(&above_modulus), None);
    let mut off_curve = proof_bytes;
    off_curve[63] ^= 1;
    assert_eq!(solana::proof_from_be(&off_curve), None);
    assert!(!solana::is_canonical_scalar(&[0xff; 32]));
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
        let _ = solana::proof_from_be(&bytes);
        let _ = solana::vk_from_be(&bytes);
        let _ = proof::proof_from_bytes(&bytes);
        let _ = keys::load_vk(&bytes, Mode::Production);
    }
}

/// The proof, key and inputs of the sample in Solana's layout, for the Anchor program's tests
/// (re-bless with `UPDATE_EXPECT=1`; deterministic: development keys and a fixed seed).
#[test]
fn solana_fixture() {
    let (params, rows) = sample();
    let pk = dev_keys();
    let (statement, proof) = prove(pk, CLASS, CODE, &params, &rows, [42; 32]).expect("proof");
    let text = format!(
        "# certificate fixture: 16x16 dev keys, sample table and rows, blinding seed [42; 32]\n\
         proof {}\nvk {}\npublic_inputs {}\n",
        hex::encode(solana::proof_be(&proof)),
        hex::encode(solana::vk_be(&pk.vk)),
        hex::encode(solana::public_inputs_be(&statement.public_inputs())),
    );
    expect_test::expect_file!["../fixtures/alt_bn128.txt"].assert_eq(&text);
}
