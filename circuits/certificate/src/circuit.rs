//! The certificate circuit, universal per size class: the same constraints for every program of
//! the class; only the witness (parameter table and condition rows) differs.
//!
//! Public inputs (in order): `VERSION`, `H_code`, `H_conditions`, `H_params`
//! ([`curve_formats::certificate`]). The circuit
//!
//! 1. range-checks the `P` parameter slots to 64 bits, packs them three to an element and
//!    enforces `Poseidon_Params([n, …]) = H_params`;
//! 2. decomposes each of the `V` rows into a one-hot kind (five booleans summing to one),
//!    operand slots `i`, `j` below `P`, and a width `bits ≤ 128`; packs the rows five to an
//!    element and enforces `Poseidon_Conditions([m, …]) = H_conditions`;
//! 3. for every row that is not `NOP`, enforces `i < n` (and `j < n` when the kind reads `j`),
//!    fetches `p[i]`, `p[j]` from the interpolated table, and range-checks the slack of the
//!    selected kind (`LE`, `RANGE`, `ADD_NO_OVF`, `MUL_NO_OVF`) to 128 bits.
//!
//! `H_code` is bound only as a public input: the circuit never sees the code, and the verifier
//! recomputes it from the bytes it will load.

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field};
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::FieldVar;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, OptimizationGoal, SynthesisError,
    SynthesisMode,
};
use curve_formats::certificate::{
    PARAMS_PER_ELEMENT, ROW_BITS, ROWS_PER_ELEMENT, Row, RowKind, SizeClass, VERSION,
};
use curve_formats::poseidon::{self, Domain};
use curve_gadgets::{
    Cs, Fp, IndexVar, Table, U64Var, WidthVar, add_slack, enforce_slack, le_slack, mul_slack, pack,
    poseidon_hash, range_check, range_slack,
};

/// One row's witness, as field elements so that tests can hand the circuit values no honest
/// prover would (a non-boolean selector, an index past the class).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowWitness {
    /// One selector per [`RowKind`], in code order.
    pub selectors: [Fr; 5],
    /// First operand slot.
    pub i: Fr,
    /// Second operand slot.
    pub j: Fr,
    /// Width.
    pub bits: Fr,
}

impl RowWitness {
    /// The honest witness of `row`.
    pub fn of(row: Row) -> RowWitness {
        let mut selectors = [Fr::ZERO; 5];
        selectors[row.kind as usize] = Fr::ONE;
        RowWitness {
            selectors,
            i: Fr::from(row.i),
            j: Fr::from(row.j),
            bits: Fr::from(row.bits),
        }
    }
}

/// The whole witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    /// The table's length `n`.
    pub n: Fr,
    /// `P` slots.
    pub params: Vec<Fr>,
    /// The number of rows `m`.
    pub m: Fr,
    /// `V` rows.
    pub rows: Vec<RowWitness>,
}

impl Witness {
    /// The honest witness of `params` and `rows`, padded to `class`. Panics if they do not fit
    /// (callers build the [`curve_formats::certificate::Statement`] first, which checks).
    pub fn honest(class: SizeClass, params: &[u64], rows: &[Row]) -> Witness {
        assert!(params.len() <= class.params() && rows.len() <= class.rows());
        let mut slots: Vec<Fr> = params.iter().map(|p| Fr::from(*p)).collect();
        slots.resize(class.params(), Fr::ZERO);
        let mut row_witnesses: Vec<RowWitness> = rows.iter().map(|r| RowWitness::of(*r)).collect();
        row_witnesses.resize(class.rows(), RowWitness::of(Row::NOP));
        Witness {
            n: Fr::from(params.len() as u64),
            params: slots,
            m: Fr::from(rows.len() as u64),
            rows: row_witnesses,
        }
    }
}

/// The circuit of one size class; `witness` is `None` for key generation.
#[derive(Clone, Debug)]
pub struct CertificateCircuit {
    /// The size class.
    pub class: SizeClass,
    /// Public inputs after the constant one: `[VERSION, H_code, H_conditions, H_params]`.
    pub public_inputs: Option<[Fr; 4]>,
    /// The witness.
    pub witness: Option<Witness>,
}

impl CertificateCircuit {
    /// The shape only, for setup.
    pub fn blank(class: SizeClass) -> Self {
        CertificateCircuit {
            class,
            public_inputs: None,
            witness: None,
        }
    }
}

fn missing<T>() -> Result<T, SynthesisError> {
    Err(SynthesisError::AssignmentMissing)
}

impl ConstraintSynthesizer<Fr> for CertificateCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let class = self.class;
        let inputs = self.public_inputs;
        let witness = self.witness.as_ref();
        let input = |k: usize| -> Result<Fp, SynthesisError> {
            FpVar::new_input(cs.clone(), || {
                inputs
                    .map(|v| v[k])
                    .ok_or(SynthesisError::AssignmentMissing)
            })
        };
        let version = input(0)?;
        let _code_hash = input(1)?;
        let conditions_hash = input(2)?;
        let params_hash = input(3)?;
        version.enforce_equal(&Fp::constant(Fr::from(VERSION)))?;

        let config = poseidon::config();
        let value = |f: &dyn Fn(&Witness) -> Fr| -> Result<Fr, SynthesisError> {
            witness.map(f).map_or_else(missing, Ok)
        };

        // 1. The parameter table.
        let n = FpVar::new_witness(cs.clone(), || value(&|w| w.n))?;
        let mut slots = Vec::with_capacity(class.params());
        for k in 0..class.params() {
            let var = FpVar::new_witness(cs.clone(), || value(&|w| w.params[k]))?;
            slots.push(U64Var::checked(var)?);
        }
        let mut elements = vec![n.clone()];
        elements.extend(slots.chunks(PARAMS_PER_ELEMENT).map(|chunk| {
            let parts: Vec<Fp> = chunk.iter().map(|s| s.var().clone()).collect();
            pack(&parts, 64)
        }));
        poseidon_hash(cs.clone(), &config, Domain::Params, &elements)?
            .enforce_equal(&params_hash)?;
        let table = Table::new(slots)?;

        // 2. The rows.
        let m = FpVar::new_witness(cs.clone(), || value(&|w| w.m))?;
        let mut packed_rows = Vec::with_capacity(class.rows());
        let n_minus_one = &n - Fr::ONE;
        for r in 0..class.rows() {
            let row = |f: fn(&RowWitness) -> Fr| value(&move |w: &Witness| f(&w.rows[r]));
            // Selectors are allocated as field elements with an explicit booleanity
            // constraint, so that a non-boolean value reaches the constraint (and fails it).
            let mut selectors = Vec::with_capacity(RowKind::ALL.len());
            for kind in RowKind::ALL {
                let s = FpVar::new_witness(cs.clone(), || {
                    value(&|w: &Witness| w.rows[r].selectors[kind as usize])
                })?;
                s.mul_equals(&(Fp::one() - &s), &Fp::zero())?;
                selectors.push(s);
            }
            let selector = |kind: RowKind| selectors[kind as usize].clone();
            let kind_sum: Fp = RowKind::ALL.into_iter().map(selector).sum();
            kind_sum.enforce_equal(&Fp::one())?;
            let kind_code: Fp = RowKind::ALL
                .into_iter()
                .map(|k| selector(k) * Fr::from(k as u8))
                .sum();
            let i = IndexVar::checked(
                FpVar::new_witness(cs.clone(), || row(|w| w.i))?,
                class.index_bits(),
            )?;
            let j = IndexVar::checked(
                FpVar::new_witness(cs.clone(), || row(|w| w.j))?,
                class.index_bits(),
            )?;
            let width = WidthVar::checked(&FpVar::new_witness(cs.clone(), || row(|w| w.bits))?)?;
            // kind | i << 8 | j << 24 | bits << 40, every part range-checked: unambiguous.
            packed_rows.push(
                kind_code
                    + i.var() * Fr::from(1u64 << 8)
                    + j.var() * Fr::from(1u64 << 24)
                    + width.value() * Fr::from(1u64 << 40),
            );

            // 3. The row's check. Operands must name slots of the table (i < n), except in NOP
            //    rows (padding), and j only where the kind reads it.
            let active = Fp::one() - selector(RowKind::Nop);
            let reads_j = selector(RowKind::Le)
                + selector(RowKind::AddNoOverflow)
                + selector(RowKind::MulNoOverflow);
            range_check(&(&active * (&n_minus_one - i.var())), class.index_bits())?;
            range_check(&(&reads_j * (&n_minus_one - j.var())), class.index_bits())?;
            let a = table.select(&i)?;
            let b = table.select(&j)?;
            let slack = selector(RowKind::Le) * le_slack(&a, &b)
                + selector(RowKind::Range) * range_slack(&a, &width)
                + selector(RowKind::AddNoOverflow) * add_slack(&a, &b, &width)
                + selector(RowKind::MulNoOverflow) * mul_slack(&a, &b, &width)?;
            enforce_slack(&slack)?;
        }
        let mut elements = vec![m];
        elements.extend(
            packed_rows
                .chunks(ROWS_PER_ELEMENT)
                .map(|chunk| pack(chunk, ROW_BITS)),
        );
        poseidon_hash(cs.clone(), &config, Domain::Conditions, &elements)?
            .enforce_equal(&conditions_hash)?;
        Ok(())
    }
}

/// Builds the system for `circuit` in proving mode, as the prover does (for satisfaction and
/// tamper checks).
pub fn synthesize(circuit: CertificateCircuit) -> Result<Cs, SynthesisError> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    circuit.generate_constraints(cs.clone())?;
    Ok(cs)
}

/// Synthesises `circuit` the way the prover does and reports whether it is satisfied.
pub fn is_satisfied(circuit: CertificateCircuit) -> Result<bool, SynthesisError> {
    synthesize(circuit)?.is_satisfied()
}

/// The finished shape of `class`'s circuit, as the key generator sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Constraints.
    pub constraints: usize,
    /// Instance variables (the constant one and the public inputs).
    pub instances: usize,
    /// Witness variables.
    pub witnesses: usize,
}

/// The shape of `class`'s circuit (synthesised in setup mode and finalised).
pub fn shape(class: SizeClass) -> Shape {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Setup);
    CertificateCircuit::blank(class)
        .generate_constraints(cs.clone())
        .expect("the blank circuit synthesises");
    cs.finalize();
    Shape {
        constraints: cs.num_constraints(),
        instances: cs.num_instance_variables(),
        witnesses: cs.num_witness_variables(),
    }
}

/// The number of constraints of `class`'s circuit.
pub fn constraint_count(class: SizeClass) -> usize {
    shape(class).constraints
}
