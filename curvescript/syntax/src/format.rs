//! The canonical formatter: prints a tree as CurveScript text.
//!
//! Four-space indentation, one statement per line, `name=value` without spaces, one space
//! between arguments, `// ` comments (both comment markers are read), blank lines as the tree
//! holds them (the parser already collapsed runs to one). Literals keep their written form
//! (`50_000_000` stays), strings are re-escaped. Printing is the inverse of parsing:
//! `parse(format(t)) == t` up to spans, and `format` is idempotent.

use crate::ast::{
    Annotation, Block, BodyItem, Expr, ExprKind, File, Item, Statement, Value, ValueKind,
};

const INDENT: &str = "    ";

/// Formats a whole file. Callers format only files that parsed without errors.
pub fn format_file(file: &File) -> String {
    let mut out = String::new();
    for item in &file.items {
        match item {
            Item::Block(block) => format_block(block, &mut out),
            Item::Annotation(annotation) => {
                format_annotation(annotation, &mut out);
                out.push('\n');
            }
            Item::Comment(text) => push_comment_line(text, "", &mut out),
            Item::Blank => out.push('\n'),
            // Unreadable lines are not formatted; they were reported by the parser.
            Item::Error(_) => {}
        }
    }
    out
}

fn format_block(block: &Block, out: &mut String) {
    out.push_str(block.kind.value.keyword());
    if let Some(id) = &block.id {
        out.push(' ');
        push_string(&id.value, out);
    }
    out.push_str(" {");
    push_trailing_comment(block.open_comment.as_deref(), out);
    out.push('\n');
    for item in &block.items {
        match item {
            BodyItem::Statement(statement) => {
                out.push_str(INDENT);
                format_statement(statement, out);
                out.push('\n');
            }
            BodyItem::Annotation(annotation) => {
                out.push_str(INDENT);
                format_annotation(annotation, out);
                out.push('\n');
            }
            BodyItem::Comment(text) => push_comment_line(text, INDENT, out),
            BodyItem::Blank => out.push('\n'),
            BodyItem::Error(_) => {}
        }
    }
    out.push('}');
    push_trailing_comment(block.close_comment.as_deref(), out);
    out.push('\n');
}

fn format_statement(statement: &Statement, out: &mut String) {
    out.push_str(&statement.keyword.value);
    for arg in &statement.args {
        out.push(' ');
        if let Some(name) = &arg.name {
            out.push_str(&name.value);
            out.push('=');
        }
        format_value(&arg.value, out);
    }
    push_trailing_comment(statement.comment.as_deref(), out);
}

fn format_annotation(annotation: &Annotation, out: &mut String) {
    out.push('@');
    out.push_str(&annotation.name.value);
    if let Some(expr) = &annotation.expr {
        out.push(' ');
        format_expr(expr, out);
    }
    push_trailing_comment(annotation.comment.as_deref(), out);
}

/// Formats one value as it would be written in a statement.
pub fn format_value(value: &Value, out: &mut String) {
    match &value.kind {
        ValueKind::Int { text, .. } => out.push_str(text),
        ValueKind::Str(text) => push_string(text, out),
        ValueKind::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        ValueKind::Ident(name) => out.push_str(name),
        ValueKind::Call { name, args } => {
            out.push_str(&name.value);
            out.push('(');
            push_separated(args, out);
            out.push(')');
        }
        ValueKind::List(items) => {
            out.push('[');
            push_separated(items, out);
            out.push(']');
        }
        ValueKind::BlockRef { kind, id } => {
            out.push('&');
            out.push_str(kind.keyword());
            if let Some(id) = id {
                out.push(' ');
                push_string(id, out);
            }
        }
    }
}

fn push_separated(values: &[Value], out: &mut String) {
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        format_value(value, out);
    }
}

/// Formats an annotation expression.
pub fn format_expr(expr: &Expr, out: &mut String) {
    match &expr.kind {
        ExprKind::Int { text, .. } => out.push_str(text),
        ExprKind::Name(path) => out.push_str(&path.join(".")),
        ExprKind::Binary { op, lhs, rhs } => {
            format_expr(lhs, out);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            format_expr(rhs, out);
        }
        ExprKind::Paren(inner) => {
            out.push('(');
            format_expr(inner, out);
            out.push(')');
        }
    }
}

fn push_string(text: &str, out: &mut String) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            other => out.push(other),
        }
    }
    out.push('"');
}

fn push_comment_line(text: &str, indent: &str, out: &mut String) {
    out.push_str(indent);
    push_comment(text, out);
    out.push('\n');
}

fn push_trailing_comment(comment: Option<&str>, out: &mut String) {
    if let Some(text) = comment {
        out.push(' ');
        push_comment(text, out);
    }
}

fn push_comment(text: &str, out: &mut String) {
    out.push_str("//");
    if !text.is_empty() {
        out.push(' ');
        out.push_str(text);
    }
}
