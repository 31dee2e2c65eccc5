//! The compiler's intermediate representation and its lowering to CurveVM bytecode.
//!
//! Templates are written against [`ir`]: entrypoint functions of typed variables (`u64` or
//! `u128`), assignments, segment-relative loads and stores, conditionals, loops with a static
//! bound, host calls, cross-program `invoke`, internal subroutines, signed (two's-complement)
//! operations, record fields by name ([`ir::Table`]), and **guards** (a condition the VM
//! checks, aborting with a code when it fails); [`keyed`] builds bounded-probe lookups from
//! them. [`print`] gives the IR a stable text form for golden tests. [`lower`] turns a
//! [`ir::Program`] into a verified-shape [`curvevm::Module`] and, in the same pass, the static
//! worst-case gas of each entrypoint, the pc of every guard and a pc → origin source map.
//!
//! Lowering is deliberately simple and predictable: every variable has a scratch slot, each
//! statement loads its operands into fixed temporaries, computes, and stores the result. Every
//! statement therefore lowers to a fixed instruction sequence whose gas is known exactly, which is
//! what makes the gas bound tight and the source map precise.

pub mod ir;
pub mod keyed;
pub mod lower;
pub mod print;

pub use ir::{Addr, Cond, Function, Origin, Program, Rvalue, Stmt, Ty, Var};
pub use lower::{Guard, LowerError, Lowered, SourceRange, lower};
