//! Witness tampering, for tests: a witness that can change without breaking a constraint is a
//! value the prover chooses freely, which in a certificate is a soundness bug.
//!
//! [`Tamper`] takes the finished system's R1CS matrices once and, for each witness, re-checks
//! only the constraints that witness appears in, so every witness of a full certificate can be
//! tampered in well under a second.

use ark_bn254::Fr;
use ark_ff::{Field, Zero};
use ark_relations::gr1cs::R1CS_PREDICATE_LABEL;

use crate::Cs;

/// A satisfied system's matrices and assignment.
pub struct Tamper {
    /// `[a, b, c]`, each a list of rows of `(coefficient, variable)`.
    matrices: Vec<Vec<Vec<(Fr, usize)>>>,
    /// Instance variables, then witnesses.
    assignment: Vec<Fr>,
    instances: usize,
    /// For each variable, the constraints it appears in.
    uses: Vec<Vec<usize>>,
}

impl Tamper {
    /// Finalises `cs` (a satisfied, fully synthesised proving-mode system) and takes its
    /// matrices. Panics if the system is unsatisfied or has a predicate other than R1CS.
    pub fn new(cs: &Cs) -> Tamper {
        assert!(
            cs.is_satisfied().expect("a proving-mode system"),
            "the untampered system must be satisfied: {:?}",
            cs.which_is_unsatisfied()
        );
        cs.finalize();
        let inner = cs.borrow().expect("a live system");
        let mut all = inner.to_matrices().expect("matrices");
        assert_eq!(all.len(), 1, "only the R1CS predicate");
        let matrices = all.remove(R1CS_PREDICATE_LABEL).expect("R1CS");
        let instances = inner.num_instance_variables();
        let assignment: Vec<Fr> = inner
            .assignments
            .instance_assignment
            .iter()
            .chain(&inner.assignments.witness_assignment)
            .copied()
            .collect();
        let mut uses = vec![Vec::new(); assignment.len()];
        for matrix in &matrices {
            for (row_index, row) in matrix.iter().enumerate() {
                for &(_, var) in row {
                    if uses[var].last() != Some(&row_index) {
                        uses[var].push(row_index);
                    }
                }
            }
        }
        for list in &mut uses {
            list.sort_unstable();
            list.dedup();
        }
        let tamper = Tamper {
            matrices,
            assignment,
            instances,
            uses,
        };
        let rows = tamper.matrices[0].len();
        assert!(
            (0..rows).all(|r| tamper.holds(r)),
            "matrix evaluation disagrees with the system"
        );
        tamper
    }

    /// The number of witness variables.
    pub fn witness_count(&self) -> usize {
        self.assignment.len() - self.instances
    }

    fn holds(&self, row: usize) -> bool {
        let eval = |m: usize| -> Fr {
            self.matrices[m][row]
                .iter()
                .map(|(coefficient, var)| *coefficient * self.assignment[*var])
                .sum()
        };
        eval(0) * eval(1) == eval(2)
    }

    /// Whether adding `delta` to witness `index` leaves every constraint satisfied.
    pub fn survives(&mut self, index: usize, delta: Fr) -> bool {
        assert!(!delta.is_zero(), "a tamper changes the value");
        let var = self.instances + index;
        self.assignment[var] += delta;
        let survives = self.uses[var].iter().all(|&row| self.holds(row));
        self.assignment[var] -= delta;
        survives
    }

    /// The witnesses whose tampering (by +1 and by −1) leaves the system satisfied: empty for a
    /// sound circuit.
    pub fn surviving(&mut self) -> Vec<usize> {
        (0..self.witness_count())
            .filter(|&i| self.survives(i, Fr::ONE) || self.survives(i, -Fr::ONE))
            .collect()
    }

    /// The number of public inputs (instance variables after the constant one).
    pub fn input_count(&self) -> usize {
        self.instances - 1
    }

    /// Whether adding `delta` to public input `index` (0-based, after the constant one) leaves
    /// every constraint satisfied.
    pub fn input_survives(&mut self, index: usize, delta: Fr) -> bool {
        assert!(!delta.is_zero(), "a tamper changes the value");
        let var = 1 + index;
        assert!(var < self.instances, "public input {index} does not exist");
        self.assignment[var] += delta;
        let survives = self.uses[var].iter().all(|&row| self.holds(row));
        self.assignment[var] -= delta;
        survives
    }

    /// The public inputs whose tampering (by +1 and by −1) leaves every constraint satisfied.
    /// An input no constraint reads survives here; only the proof system's verification
    /// equation binds it.
    pub fn surviving_inputs(&mut self) -> Vec<usize> {
        (0..self.input_count())
            .filter(|&i| self.input_survives(i, Fr::ONE) || self.input_survives(i, -Fr::ONE))
            .collect()
    }
}
