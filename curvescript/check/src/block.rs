//! Per-block checks: ids, statements and arguments against the schema, defaults.

use crate::model::{CheckedBlock, CheckedStatement};
use crate::schema::{
    BlockSchema, DefaultValue, Occurrence, Presence, SCHEMA, StatementSchema, Structures,
    ValueType, block_schema,
};
use crate::value::{Typed, TypedValue, type_value};
use curvescript_syntax::ast::{Block, BlockKind, BodyItem, Statement, ValueKind};
use curvescript_syntax::diagnostic::did_you_mean;
use curvescript_syntax::{Code, Diagnostic, Span};
use std::collections::BTreeMap;

/// Checks one block's own contents. Cross-block rules (references, batch windows, governance)
/// come later in [`crate::xref`].
pub fn check_block(block: &Block, diagnostics: &mut Vec<Diagnostic>) -> CheckedBlock {
    let schema = block_schema(block.kind.value);
    let header_span = match &block.id {
        Some(id) => block.kind.span.cover(id.span),
        None => block.kind.span,
    };
    check_id(block, schema, header_span, diagnostics);
    let structure = market_structure(block);

    let mut statements: Vec<CheckedStatement> = Vec::new();
    let mut first_seen: BTreeMap<&'static str, (Span, usize)> = BTreeMap::new();
    for statement in block.statements() {
        let Some(statement_schema) = lookup_statement(schema, statement, diagnostics) else {
            continue;
        };
        if !statement_schema.applies_to.contains(structure) {
            diagnostics.push(
                Diagnostic::error(
                    Code::InapplicableStatement,
                    statement.keyword.span,
                    format!(
                        "`{}` does not apply to this market's structure",
                        statement_schema.keyword
                    ),
                )
                .with_help(format!(
                    "`{}` applies to markets of structure: {}",
                    statement_schema.keyword,
                    statement_schema.applies_to.describe()
                )),
            );
            continue;
        }
        let seen = first_seen
            .entry(statement_schema.keyword)
            .or_insert((statement.keyword.span, 0));
        seen.1 += 1;
        let limit = match statement_schema.occurrence {
            Occurrence::Repeated { max } => max,
            _ => 1,
        };
        if seen.1 > limit {
            let message = if limit == 1 {
                format!("`{}` may appear once per block", statement_schema.keyword)
            } else {
                format!(
                    "`{}` may appear at most {limit} times per block",
                    statement_schema.keyword
                )
            };
            diagnostics.push(
                Diagnostic::error(Code::DuplicateStatement, statement.keyword.span, message)
                    .with_label("one too many")
                    .with_secondary(seen.0, "first written here"),
            );
            continue;
        }
        if let Some(args) = check_args(statement_schema, statement, diagnostics) {
            statements.push(CheckedStatement {
                schema: statement_schema,
                args,
                span: Some(statement.span),
            });
        }
    }

    let has_unreadable_lines = block
        .items
        .iter()
        .any(|item| matches!(item, BodyItem::Error(_)));
    for statement_schema in schema.statements {
        if first_seen.contains_key(statement_schema.keyword)
            || !statement_schema.applies_to.contains(structure)
        {
            continue;
        }
        match statement_schema.occurrence {
            // A line the parser could not read may be the missing statement: say nothing more.
            Occurrence::Required if has_unreadable_lines => {}
            Occurrence::Required => diagnostics.push(
                Diagnostic::error(
                    Code::MissingStatement,
                    header_span,
                    format!(
                        "{} is missing its `{}` statement",
                        block.display_name(),
                        statement_schema.keyword
                    ),
                )
                .with_label(format!("needs `{}`", statement_schema.keyword))
                .with_help(format!("add: {}", example_statement(statement_schema))),
            ),
            Occurrence::Implicit => {
                let args = statement_schema
                    .args
                    .iter()
                    .filter_map(|arg| {
                        default_value(arg.ty, arg.presence)
                            .map(|value| (arg.name, TypedValue { value, span: None }))
                    })
                    .collect();
                statements.push(CheckedStatement {
                    schema: statement_schema,
                    args,
                    span: None,
                });
            }
            Occurrence::Optional | Occurrence::Repeated { .. } => {}
        }
    }

    CheckedBlock {
        kind: block.kind.value,
        id: block.id.as_ref().map(|id| id.value.clone()),
        span: block.span,
        header_span,
        statements,
        invariants: Vec::new(),
    }
}

fn check_id(
    block: &Block,
    schema: &BlockSchema,
    header_span: Span,
    diagnostics: &mut Vec<Diagnostic>,
) {
    match (&block.id, schema.has_id) {
        (None, true) => diagnostics.push(
            Diagnostic::error(
                Code::BlockId,
                header_span,
                format!("a {} block needs an id", schema.kind),
            )
            .with_label("no id")
            .with_help(format!("write {} \"<id>\" {{ … }}", schema.kind)),
        ),
        (Some(id), false) => diagnostics.push(
            Diagnostic::error(
                Code::BlockId,
                id.span,
                format!("a {} block takes no id", schema.kind),
            )
            .with_label("remove this id")
            .with_help(format!("there is one {} per script", schema.kind)),
        ),
        (Some(id), true) if id.value.is_empty() || id.value.chars().any(char::is_whitespace) => {
            diagnostics.push(
                Diagnostic::error(
                    Code::BlockId,
                    id.span,
                    "block ids are non-empty and contain no white space",
                )
                .with_help("e.g. \"perp:SOL-PERP\" or \"pyth:SOLUSD\""),
            )
        }
        _ => {}
    }
}

/// The market structure named by `STRUCTURE kind=…`, or `ALL` when unknown or not a market
/// (so that no statement is called inapplicable because of an earlier error).
fn market_structure(block: &Block) -> Structures {
    if block.kind.value != BlockKind::Market {
        return Structures::ALL;
    }
    block
        .statements()
        .find(|s| s.keyword.value == "STRUCTURE")
        .and_then(|s| {
            s.args
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.value == "kind"))
        })
        .and_then(|arg| match &arg.value.kind {
            ValueKind::Ident(name) | ValueKind::Str(name) => Structures::from_name(name),
            _ => None,
        })
        .unwrap_or(Structures::ALL)
}

fn lookup_statement(
    schema: &'static BlockSchema,
    statement: &Statement,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<&'static StatementSchema> {
    let keyword = statement.keyword.value.as_str();
    if let Some(found) = schema.statement(keyword) {
        return Some(found);
    }
    let mut diagnostic = Diagnostic::error(
        Code::UnknownKeyword,
        statement.keyword.span,
        format!("unknown keyword `{keyword}` in a {} block", schema.kind),
    )
    .with_label("not a statement of this block");
    if let Some(suggestion) = did_you_mean(keyword, schema.statements.iter().map(|s| s.keyword)) {
        diagnostic = diagnostic.with_help(format!("did you mean `{suggestion}`?"));
    } else if let Some(other) = SCHEMA
        .iter()
        .find(|other| other.statement(keyword).is_some())
    {
        diagnostic = diagnostic.with_help(format!("`{keyword}` belongs in {} blocks", other.kind));
    } else if let Some((other, suggestion)) = SCHEMA.iter().find_map(|other| {
        did_you_mean(keyword, other.statements.iter().map(|s| s.keyword)).map(|s| (other, s))
    }) {
        diagnostic = diagnostic.with_help(format!(
            "did you mean `{suggestion}`? It belongs in {} blocks",
            other.kind
        ));
    } else {
        let known: Vec<&str> = schema.statements.iter().map(|s| s.keyword).collect();
        diagnostic =
            diagnostic.with_help(format!("{} blocks take: {}", schema.kind, known.join(", ")));
    }
    diagnostics.push(diagnostic);
    None
}

fn check_args(
    schema: &'static StatementSchema,
    statement: &Statement,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<(&'static str, TypedValue)>> {
    let errors_before = diagnostics.len();
    let mut written: BTreeMap<&'static str, (Span, Option<Typed>)> = BTreeMap::new();
    let mut positionals = schema.args.iter().filter(|a| a.positional);
    for arg in &statement.args {
        let arg_schema = match &arg.name {
            Some(name) => match schema.arg(&name.value) {
                Some(found) => found,
                None => {
                    let mut diagnostic = Diagnostic::error(
                        Code::UnknownArgument,
                        name.span,
                        format!("`{}` has no argument `{}`", schema.keyword, name.value),
                    )
                    .with_label("unknown argument");
                    diagnostic = match did_you_mean(&name.value, schema.args.iter().map(|a| a.name))
                    {
                        Some(suggestion) => {
                            diagnostic.with_help(format!("did you mean `{suggestion}`?"))
                        }
                        None => diagnostic.with_help(format!(
                            "`{}` takes: {}",
                            schema.keyword,
                            arg_names(schema)
                        )),
                    };
                    diagnostics.push(diagnostic);
                    continue;
                }
            },
            None => match positionals.next() {
                Some(found) => found,
                None => {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::ExtraPositional,
                            arg.span,
                            format!("`{}` takes no value in this position", schema.keyword),
                        )
                        .with_label("unexpected value")
                        .with_help(format!(
                            "name the argument, e.g. `name=value`; `{}` takes: {}",
                            schema.keyword,
                            arg_names(schema)
                        )),
                    );
                    continue;
                }
            },
        };
        if let Some((first_span, _)) = written.get(arg_schema.name) {
            diagnostics.push(
                Diagnostic::error(
                    Code::DuplicateArgument,
                    arg.span,
                    format!("argument `{}` given twice", arg_schema.name),
                )
                .with_label("second value")
                .with_secondary(*first_span, "first value"),
            );
            continue;
        }
        let typed = type_value(&arg_schema.ty, &arg.value, diagnostics);
        written.insert(arg_schema.name, (arg.value.span, typed));
    }

    let mut args = Vec::with_capacity(schema.args.len());
    for arg_schema in schema.args {
        match written.remove(arg_schema.name) {
            Some((span, Some(value))) => args.push((
                arg_schema.name,
                TypedValue {
                    value,
                    span: Some(span),
                },
            )),
            Some((_, None)) => {}
            None => match arg_schema.presence {
                Presence::Required => diagnostics.push(
                    Diagnostic::error(
                        Code::MissingArgument,
                        statement.keyword.span,
                        format!(
                            "`{}` is missing its `{}` argument",
                            schema.keyword, arg_schema.name
                        ),
                    )
                    .with_label(format!("needs `{}`", arg_schema.name))
                    .with_help(format!(
                        "add `{}`: {}",
                        example_arg(arg_schema.name, &arg_schema.ty, arg_schema.positional),
                        arg_schema.doc
                    )),
                ),
                Presence::Optional => {}
                Presence::Default(_) => {
                    if let Some(value) = default_value(arg_schema.ty, arg_schema.presence) {
                        args.push((arg_schema.name, TypedValue { value, span: None }));
                    }
                }
            },
        }
    }
    (diagnostics.len() == errors_before).then_some(args)
}

fn arg_names(schema: &StatementSchema) -> String {
    schema
        .args
        .iter()
        .map(|a| a.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A default as a typed value. Router-relative defaults get their fallback here and the
/// router's value in the cross-reference pass.
pub fn default_value(ty: ValueType, presence: Presence) -> Option<Typed> {
    let Presence::Default(default) = presence else {
        return None;
    };
    Some(match (default, ty) {
        (DefaultValue::Bool(b), _) => Typed::Bool(b),
        (DefaultValue::Choice(c), _) => Typed::Choice(c),
        (DefaultValue::Router { fallback, .. }, _) => Typed::Ms(fallback),
        (DefaultValue::Int(n), ValueType::Amount { .. }) => Typed::Amount(n),
        (DefaultValue::Int(n), ValueType::Ms { .. }) => Typed::Ms(n),
        (DefaultValue::Int(n), ValueType::Bps { .. }) => Typed::Bps(n),
        (DefaultValue::Int(n), ValueType::Ppm) => Typed::Ppm(n),
        (DefaultValue::Int(n), ValueType::Timestamp) => Typed::Timestamp(n),
        (DefaultValue::Int(n), _) => Typed::Int(n),
    })
}

fn example_arg(name: &str, ty: &ValueType, positional: bool) -> String {
    let value = match ty {
        ValueType::Int { min, .. }
        | ValueType::Amount { min, .. }
        | ValueType::Bps { min, .. }
        | ValueType::Ms { min, .. } => min.max(&1).to_string(),
        ValueType::Ppm => "500000".into(),
        ValueType::Timestamp => "1767225600000".into(),
        ValueType::Bool => "true".into(),
        ValueType::Str => "\"…\"".into(),
        ValueType::Asset => "USDC".into(),
        ValueType::Choice(options) => options.first().copied().unwrap_or("…").into(),
        ValueType::BlockRef(BlockKind::Router) => "&ROUTER".into(),
        ValueType::BlockRef(kind) => format!("&{kind} \"…\""),
        ValueType::RouteId => "route_id(\"…\")".into(),
        ValueType::List { .. } => "[…]".into(),
    };
    if positional {
        value
    } else {
        format!("{name}={value}")
    }
}

fn example_statement(schema: &StatementSchema) -> String {
    let mut text = schema.keyword.to_string();
    for arg in schema
        .args
        .iter()
        .filter(|a| a.presence == Presence::Required)
    {
        text.push(' ');
        text.push_str(&example_arg(arg.name, &arg.ty, arg.positional));
    }
    text
}
