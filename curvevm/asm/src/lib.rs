//! CurveVM assembly: the `.cvm` text form (assembler and disassembler that round-trip byte for
//! byte) and the Cranelift-style file-test runner (`; run:`, `; gas:`, `; trap:`) that runs every
//! case on every engine.

pub mod filetest;
pub mod fuzz;
pub mod text;

pub use text::{AsmError, assemble, disassemble};
