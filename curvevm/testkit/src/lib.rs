//! CurveVM conformance: the Cranelift-style file-test runner (`; run:`, `; gas:`, `; trap:`,
//! ledger set-up and expectations) that runs every case on every engine, and the fuzz entry
//! point shared by the cargo-fuzz targets and the corpus replay tests.

pub mod filetest;
pub mod fuzz;
