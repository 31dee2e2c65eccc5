//! CurveVM conformance: the Cranelift-style file-test runner (`; run:`, `; gas:`, `; trap:`,
//! ledger set-up and expectations) that runs every case on every engine, the random program
//! generator and the interpreter-vs-JIT differential harness with its gas sweep and coverage
//! histogram, the fuzz entry points shared by the cargo-fuzz targets and the corpus replay
//! tests, and [`engines::Engine`] for step-by-step comparisons of the two engines.

pub mod diff;
pub mod engines;
pub mod filetest;
pub mod fuzz;
pub mod programs;
