//! The checked script: blocks whose statements carry typed values, defaults filled in.

use crate::schema::StatementSchema;
use crate::value::TypedValue;
use curvescript_syntax::Span;
use curvescript_syntax::ast::{BlockKind, Expr};

/// A script that passed (or partly passed) the checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    /// Blocks in source order.
    pub blocks: Vec<CheckedBlock>,
}

impl Script {
    /// The router block, if any.
    pub fn router(&self) -> Option<&CheckedBlock> {
        self.blocks.iter().find(|b| b.kind == BlockKind::Router)
    }

    /// Blocks of `kind`, in order.
    pub fn blocks_of(&self, kind: BlockKind) -> impl Iterator<Item = &CheckedBlock> {
        self.blocks.iter().filter(move |b| b.kind == kind)
    }

    /// The block of `kind` named `id`.
    pub fn block(&self, kind: BlockKind, id: &str) -> Option<&CheckedBlock> {
        self.blocks_of(kind).find(|b| b.id.as_deref() == Some(id))
    }
}

/// One checked block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedBlock {
    /// Its kind.
    pub kind: BlockKind,
    /// Its id (none for the router).
    pub id: Option<String>,
    /// The block's span in the source (header through closing brace).
    pub span: Span,
    /// The span of the kind keyword and id, where block-level problems are reported.
    pub header_span: Span,
    /// Statements in source order, then implicit ones in schema order.
    pub statements: Vec<CheckedStatement>,
    /// `@invariant` expressions that type-checked, in source order.
    pub invariants: Vec<Expr>,
}

impl CheckedBlock {
    /// The first statement opened by `keyword`.
    pub fn statement(&self, keyword: &str) -> Option<&CheckedStatement> {
        self.statements.iter().find(|s| s.schema.keyword == keyword)
    }

    /// Every statement opened by `keyword`.
    pub fn statements_named<'a>(
        &'a self,
        keyword: &'a str,
    ) -> impl Iterator<Item = &'a CheckedStatement> + 'a {
        self.statements
            .iter()
            .filter(move |s| s.schema.keyword == keyword)
    }

    /// The value of `keyword`'s argument `arg` in the first such statement.
    pub fn value(&self, keyword: &str, arg: &str) -> Option<&TypedValue> {
        self.statement(keyword)?.value(arg)
    }

    /// `value(...)` as an integer.
    pub fn number(&self, keyword: &str, arg: &str) -> Option<u128> {
        self.value(keyword, arg)?.as_u128()
    }

    /// The span of the statement opened by `keyword`, or the block header when it is implicit.
    pub fn statement_span(&self, keyword: &str) -> Span {
        self.statement(keyword)
            .and_then(|s| s.span)
            .unwrap_or(self.header_span)
    }

    /// How messages name the block.
    pub fn display_name(&self) -> String {
        match &self.id {
            Some(id) => format!("{} {id:?}", self.kind),
            None => self.kind.to_string(),
        }
    }
}

/// One checked statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedStatement {
    /// Its schema entry.
    pub schema: &'static StatementSchema,
    /// Arguments in schema order; absent optional arguments are absent.
    pub args: Vec<(&'static str, TypedValue)>,
    /// Where it was written; `None` for an implicit statement made of defaults.
    pub span: Option<Span>,
}

impl CheckedStatement {
    /// The value of argument `name`.
    pub fn value(&self, name: &str) -> Option<&TypedValue> {
        self.args.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The span of argument `name`, or of the statement.
    pub fn arg_span(&self, name: &str) -> Option<Span> {
        self.value(name).and_then(|v| v.span).or(self.span)
    }
}
