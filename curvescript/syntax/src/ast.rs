//! The CurveScript syntax tree.
//!
//! The tree is lossless for everything the formatter must keep: comments (own-line and
//! trailing), single blank lines between items, annotations, and each literal's text. Spans
//! are byte ranges into the source; [`crate::print::print_ast`] prints the tree with or without
//! them.

use crate::lexer::Unit;
use crate::span::{Span, Spanned};

/// The four kinds of block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BlockKind {
    /// Portfolio, vaults, escrows, caps: one per script.
    Router,
    /// One perpetual-futures order book shard.
    Slab,
    /// One price feed.
    Oracle,
    /// One LMSR prediction market.
    Market,
}

impl BlockKind {
    /// Every kind, in declaration order.
    pub const ALL: [BlockKind; 4] = [
        BlockKind::Router,
        BlockKind::Slab,
        BlockKind::Oracle,
        BlockKind::Market,
    ];

    /// The keyword that opens the block.
    pub const fn keyword(self) -> &'static str {
        match self {
            BlockKind::Router => "ROUTER",
            BlockKind::Slab => "SLAB",
            BlockKind::Oracle => "ORACLE",
            BlockKind::Market => "MARKET",
        }
    }
}

impl std::fmt::Display for BlockKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.keyword())
    }
}

/// A whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Top-level items in order.
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A block.
    Block(Block),
    /// An annotation line (applies to the next block).
    Annotation(Annotation),
    /// A comment on its own line (text after `#` or `//`, leading spaces removed).
    Comment(String),
    /// One or more blank lines, kept as one.
    Blank,
    /// A line the parser could not read (already reported).
    Error(Span),
}

/// `KIND "id" { … }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Which kind.
    pub kind: Spanned<BlockKind>,
    /// The quoted id, if written.
    pub id: Option<Spanned<String>>,
    /// A comment after the opening brace.
    pub open_comment: Option<String>,
    /// Lines of the body in order.
    pub items: Vec<BodyItem>,
    /// A comment after the closing brace.
    pub close_comment: Option<String>,
    /// From the kind keyword through the closing brace.
    pub span: Span,
}

/// A line inside a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyItem {
    /// `KEYWORD args…`.
    Statement(Statement),
    /// `@name expr` (applies to the block).
    Annotation(Annotation),
    /// A comment on its own line.
    Comment(String),
    /// One or more blank lines, kept as one.
    Blank,
    /// A line the parser could not read (already reported).
    Error(Span),
}

/// `KEYWORD arg…`, ending at the line break.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The keyword, e.g. `FEE`.
    pub keyword: Spanned<String>,
    /// Arguments in order.
    pub args: Vec<Arg>,
    /// A trailing comment on the same line.
    pub comment: Option<String>,
    /// From the keyword to the last argument.
    pub span: Span,
}

/// `name=value` or a positional `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    /// The name, absent for positional values.
    pub name: Option<Spanned<String>>,
    /// The value.
    pub value: Value,
    /// The whole argument.
    pub span: Span,
}

/// A literal value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// What was written.
    pub kind: ValueKind,
    /// Where.
    pub span: Span,
}

/// The forms of literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// An integer with an optional unit suffix; `value` is `None` when it overflowed u128
    /// (already reported). `text` is kept so the formatter keeps `50_000_000` as written.
    Int {
        /// The value.
        value: Option<u128>,
        /// The unit suffix.
        unit: Option<Unit>,
        /// The literal as written.
        text: String,
    },
    /// A string, escapes decoded.
    Str(String),
    /// `true` or `false`.
    Bool(bool),
    /// A bare identifier such as `USDC` or `DLP`.
    Ident(String),
    /// A compile-time helper call such as `route_id("perp:SOL-PERP")`.
    Call {
        /// Helper name.
        name: Spanned<String>,
        /// Arguments.
        args: Vec<Value>,
    },
    /// `[a, b, …]`.
    List(Vec<Value>),
    /// `&ROUTER` or `&ORACLE "pyth:SOLUSD"`.
    BlockRef {
        /// The referenced kind.
        kind: BlockKind,
        /// The referenced id, absent for the router.
        id: Option<String>,
    },
}

/// `@name expr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    /// e.g. `invariant`.
    pub name: Spanned<String>,
    /// The expression, if any.
    pub expr: Option<Expr>,
    /// A trailing comment.
    pub comment: Option<String>,
    /// The whole annotation.
    pub span: Span,
}

/// Binary operators of annotation expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`.
    Add,
    /// `*`.
    Mul,
    /// `<=`.
    Le,
    /// `<`.
    Lt,
    /// `>=`.
    Ge,
    /// `>`.
    Gt,
    /// `==`.
    Eq,
}

impl BinaryOp {
    /// The operator as written.
    pub const fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Mul => "*",
            BinaryOp::Le => "<=",
            BinaryOp::Lt => "<",
            BinaryOp::Ge => ">=",
            BinaryOp::Gt => ">",
            BinaryOp::Eq => "==",
        }
    }

    /// Whether the result is a boolean.
    pub const fn is_comparison(self) -> bool {
        !matches!(self, BinaryOp::Add | BinaryOp::Mul)
    }
}

/// An annotation expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// The forms of annotation expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind {
    /// An integer, optionally with a unit.
    Int {
        /// The value, `None` on overflow.
        value: Option<u128>,
        /// The unit suffix, if any.
        unit: Option<Unit>,
        /// The literal as written.
        text: String,
    },
    /// A dotted name such as `cap.remaining` or `imr_bps`.
    Name(Vec<String>),
    /// `lhs op rhs`.
    Binary {
        /// Operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `( expr )`, kept so the formatter reprints it.
    Paren(Box<Expr>),
}

impl File {
    /// The blocks of the file, in order.
    pub fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.items.iter().filter_map(|item| match item {
            Item::Block(block) => Some(block),
            _ => None,
        })
    }
}

impl Block {
    /// The statements of the block, in order.
    pub fn statements(&self) -> impl Iterator<Item = &Statement> {
        self.items.iter().filter_map(|item| match item {
            BodyItem::Statement(statement) => Some(statement),
            _ => None,
        })
    }

    /// The annotations inside the block, in order.
    pub fn annotations(&self) -> impl Iterator<Item = &Annotation> {
        self.items.iter().filter_map(|item| match item {
            BodyItem::Annotation(annotation) => Some(annotation),
            _ => None,
        })
    }

    /// `SLAB "perp:SOL-PERP"` or `ROUTER`: how messages name the block.
    pub fn display_name(&self) -> String {
        match &self.id {
            Some(id) => format!("{} {:?}", self.kind.value, id.value),
            None => self.kind.value.keyword().to_string(),
        }
    }
}
