//! CurveScript checks: from a syntax tree to a checked, typed script.
//!
//! The [`schema`] table is the single source of truth for every block's keywords, arguments,
//! types, bounds, defaults and required flags; `curvescript/SPEC.md`'s keyword tables are
//! generated from it by [`spec::keyword_tables`]. On top of it run the per-block checks
//! ([`block`]), the `@invariant` type checker ([`invariant`]), and the cross-reference,
//! consistency and governance checks ([`xref`]). Governance limits come from a versioned
//! `governance.toml` ([`governance`]). [`ids`] derives `route_id` and `hold_id`.
//!
//! Like the syntax crate, this one does no IO and never stops at the first problem: [`check`]
//! returns the script it could check and every diagnostic.

pub mod block;
#[doc(hidden)]
pub mod fuzz;
pub mod governance;
pub mod ids;
pub mod invariant;
pub mod model;
pub mod schema;
pub mod spec;
pub mod value;
pub mod xref;

pub use governance::Governance;
pub use model::{CheckedBlock, CheckedStatement, Script};

use curvescript_syntax::ast::{File, Item};
use curvescript_syntax::{Code, Diagnostic, Parsed};

/// A checked script and the diagnostics of every phase, sorted by position.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The script as far as it checked.
    pub script: Script,
    /// Lexer, parser and checker diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and checks `text`.
pub fn check_source(text: &str, governance: Option<&Governance>) -> Checked {
    let parsed: Parsed = curvescript_syntax::parse(text);
    let mut checked = check(&parsed.file, governance);
    checked.diagnostics.extend(parsed.diagnostics);
    checked.diagnostics.sort_by_key(|d| (d.span.start, d.code));
    checked
}

/// Checks a parsed file. Lines the parser could not read are skipped (they were reported).
pub fn check(file: &File, governance: Option<&Governance>) -> Checked {
    let mut diagnostics = Vec::new();
    let mut script = Script::default();
    let mut pending_annotations = Vec::new();
    for item in &file.items {
        match item {
            Item::Annotation(annotation) => pending_annotations.push(annotation),
            Item::Block(block) => {
                let mut checked = block::check_block(block, &mut diagnostics);
                let schema = schema::block_schema(block.kind.value);
                for annotation in pending_annotations.drain(..).chain(block.annotations()) {
                    if let Some(expr) =
                        invariant::check_annotation(annotation, schema, &mut diagnostics)
                    {
                        checked.invariants.push(expr);
                    }
                }
                script.blocks.push(checked);
            }
            Item::Comment(_) | Item::Blank | Item::Error(_) => {}
        }
    }
    for annotation in pending_annotations {
        diagnostics.push(
            Diagnostic::error(
                Code::DanglingAnnotation,
                annotation.span,
                "this annotation is not followed by a block",
            )
            .with_help("move it into the block it is about, or before that block"),
        );
    }
    xref::check_script(&mut script, governance, &mut diagnostics);
    diagnostics.sort_by_key(|d| (d.span.start, d.code));
    Checked {
        script,
        diagnostics,
    }
}
