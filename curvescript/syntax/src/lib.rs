//! CurveScript syntax: text → tokens → syntax tree → canonical text.
//!
//! This crate is the language's surface and nothing more: it knows the grammar of `ROUTER`,
//! `SLAB`, `ORACLE` and `MARKET` blocks, statements, values and `@invariant` expressions, but
//! not which keywords exist or what they mean (that is `curvescript-check`'s schema), and it
//! does no IO.
//!
//! Main entry points:
//! - [`lexer::lex`]: total; bad bytes become error tokens.
//! - [`parse`]: total; returns a [`ast::File`] and every [`Diagnostic`] found, recovering at line
//!   boundaries so one file reports all its syntax errors.
//! - [`format::format_file`]: the canonical printer (`curve fmt`).
//! - [`print::print_ast`]: the golden dump of a tree.
//!
//! **Invariant:** nothing here panics on any input, and `parse(format_file(t))` equals `t` up to
//! spans.

pub mod ast;
pub mod diagnostic;
pub mod format;
pub mod lexer;
pub mod parser;
pub mod print;
pub mod span;

#[allow(clippy::all, missing_docs, unused_parens)]
mod grammar {
    include!(concat!(env!("OUT_DIR"), "/grammar.rs"));
}

pub use diagnostic::{Code, Diagnostic, Severity};
pub use parser::{Parsed, parse};
pub use span::{LineIndex, Span, Spanned};

/// Parses and, when the file has no syntax errors, formats it. The fuzz target's body.
pub fn parse_and_format(text: &str) -> Option<String> {
    let parsed = parse(text);
    (!parsed.has_errors()).then(|| format::format_file(&parsed.file))
}
