//! A readable dump of the syntax tree: the parser's golden format.
//!
//! One node per line, indented by depth. With `spans`, each node ends with `@start..end`;
//! without, the dump compares trees up to positions (used by the formatter's round-trip tests).

use crate::ast::{
    Annotation, Block, BodyItem, Expr, ExprKind, File, Item, Statement, Value, ValueKind,
};
use crate::lexer::Unit;
use crate::span::Span;
use std::fmt::Write;

/// Dumps `file`, with or without spans.
pub fn print_ast(file: &File, spans: bool) -> String {
    let mut printer = Printer {
        out: String::new(),
        spans,
    };
    printer.line(0, "File", None);
    for item in &file.items {
        match item {
            Item::Block(block) => printer.block(1, block),
            Item::Annotation(annotation) => printer.annotation(1, annotation),
            Item::Comment(text) => printer.line(1, &format!("Comment {text:?}"), None),
            Item::Blank => printer.line(1, "Blank", None),
            Item::Error(span) => printer.line(1, "Error", Some(*span)),
        }
    }
    printer.out
}

struct Printer {
    out: String,
    spans: bool,
}

impl Printer {
    fn line(&mut self, depth: usize, text: &str, span: Option<Span>) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        if let (true, Some(span)) = (self.spans, span) {
            let _ = write!(self.out, " @{span}");
        }
        self.out.push('\n');
    }

    fn block(&mut self, depth: usize, block: &Block) {
        let mut head = format!("Block {}", block.kind.value);
        if let Some(id) = &block.id {
            let _ = write!(head, " {:?}", id.value);
        }
        self.line(depth, &head, Some(block.span));
        if let Some(text) = &block.open_comment {
            self.line(depth + 1, &format!("OpenComment {text:?}"), None);
        }
        for item in &block.items {
            match item {
                BodyItem::Statement(statement) => self.statement(depth + 1, statement),
                BodyItem::Annotation(annotation) => self.annotation(depth + 1, annotation),
                BodyItem::Comment(text) => self.line(depth + 1, &format!("Comment {text:?}"), None),
                BodyItem::Blank => self.line(depth + 1, "Blank", None),
                BodyItem::Error(span) => self.line(depth + 1, "Error", Some(*span)),
            }
        }
        if let Some(text) = &block.close_comment {
            self.line(depth + 1, &format!("CloseComment {text:?}"), None);
        }
    }

    fn statement(&mut self, depth: usize, statement: &Statement) {
        self.line(
            depth,
            &format!("Statement {}", statement.keyword.value),
            Some(statement.span),
        );
        for arg in &statement.args {
            match &arg.name {
                Some(name) => self.line(depth + 1, &format!("Arg {}", name.value), Some(arg.span)),
                None => self.line(depth + 1, "Arg (positional)", Some(arg.span)),
            }
            self.value(depth + 2, &arg.value);
        }
        if let Some(text) = &statement.comment {
            self.line(depth + 1, &format!("Comment {text:?}"), None);
        }
    }

    fn value(&mut self, depth: usize, value: &Value) {
        let text = match &value.kind {
            ValueKind::Int {
                value: number,
                unit,
                text,
            } => int_line(*number, *unit, text),
            ValueKind::Str(text) => format!("Str {text:?}"),
            ValueKind::Bool(flag) => format!("Bool {flag}"),
            ValueKind::Ident(name) => format!("Ident {name}"),
            ValueKind::Call { name, args } => {
                self.line(depth, &format!("Call {}", name.value), Some(value.span));
                for arg in args {
                    self.value(depth + 1, arg);
                }
                return;
            }
            ValueKind::List(items) => {
                self.line(depth, "List", Some(value.span));
                for item in items {
                    self.value(depth + 1, item);
                }
                return;
            }
            ValueKind::BlockRef { kind, id } => match id {
                Some(id) => format!("BlockRef {kind} {id:?}"),
                None => format!("BlockRef {kind}"),
            },
        };
        self.line(depth, &text, Some(value.span));
    }

    fn annotation(&mut self, depth: usize, annotation: &Annotation) {
        self.line(
            depth,
            &format!("Annotation @{}", annotation.name.value),
            Some(annotation.span),
        );
        if let Some(expr) = &annotation.expr {
            self.expr(depth + 1, expr);
        }
        if let Some(text) = &annotation.comment {
            self.line(depth + 1, &format!("Comment {text:?}"), None);
        }
    }

    fn expr(&mut self, depth: usize, expr: &Expr) {
        match &expr.kind {
            ExprKind::Int { value, unit, text } => {
                self.line(depth, &int_line(*value, *unit, text), Some(expr.span));
            }
            ExprKind::Name(path) => {
                self.line(depth, &format!("Name {}", path.join(".")), Some(expr.span))
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.line(depth, &format!("Binary {}", op.symbol()), Some(expr.span));
                self.expr(depth + 1, lhs);
                self.expr(depth + 1, rhs);
            }
            ExprKind::Paren(inner) => {
                self.line(depth, "Paren", Some(expr.span));
                self.expr(depth + 1, inner);
            }
        }
    }
}

/// `Int 50 unit=ms text="50ms"`: one integer literal, in a value or an expression.
fn int_line(value: Option<u128>, unit: Option<Unit>, text: &str) -> String {
    let number = value.map_or("overflow".to_string(), |n| n.to_string());
    let unit = unit.map_or(String::new(), |u| format!(" unit={}", u.suffix()));
    format!("Int {number}{unit} text={text:?}")
}
