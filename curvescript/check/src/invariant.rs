//! `@invariant` annotations: names resolve against the block's schema (parameters and the
//! runtime state its templates keep) and units must agree.
//!
//! Types: dimensionless integers, amounts, milliseconds, basis points and ppm. `+` and the
//! comparisons need equal types; `*` needs one dimensionless side. A bare literal adapts to the
//! other operand; a literal with a unit (`2s`, `75bps`) has that unit. The whole expression must
//! be a comparison.

use crate::schema::{BlockSchema, ValueType};
use curvescript_syntax::ast::{Annotation, BinaryOp, Expr, ExprKind};
use curvescript_syntax::diagnostic::did_you_mean;
use curvescript_syntax::lexer::Unit;
use curvescript_syntax::{Code, Diagnostic};

/// Annotation names the language defines.
pub const ANNOTATIONS: &[&str] = &["invariant"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dimension {
    Count,
    Amount,
    Ms,
    Bps,
    Ppm,
}

impl Dimension {
    fn name(self) -> &'static str {
        match self {
            Dimension::Count => "an integer",
            Dimension::Amount => "an amount",
            Dimension::Ms => "a duration",
            Dimension::Bps => "basis points",
            Dimension::Ppm => "ppm",
        }
    }

    fn of(ty: &ValueType) -> Option<Dimension> {
        match ty {
            ValueType::Int { .. } => Some(Dimension::Count),
            ValueType::Amount { .. } => Some(Dimension::Amount),
            ValueType::Ms { .. } | ValueType::Timestamp => Some(Dimension::Ms),
            ValueType::Bps { .. } => Some(Dimension::Bps),
            ValueType::Ppm => Some(Dimension::Ppm),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExprType {
    /// A literal without unit: takes the other operand's dimension.
    Literal,
    Numeric(Dimension),
    Bool,
}

/// Every name an invariant in a block of this schema may use, with its type: runtime state,
/// `keyword.arg` for each numeric parameter, and the bare `arg` where it is unambiguous.
pub fn names(schema: &BlockSchema) -> Vec<(String, ValueType)> {
    let mut names: Vec<(String, ValueType)> = schema
        .state_names
        .iter()
        .map(|(n, t)| ((*n).to_string(), *t))
        .collect();
    let numeric = || {
        schema
            .statements
            .iter()
            .flat_map(|s| s.args.iter().map(move |a| (s, a)))
            .filter(|(_, a)| Dimension::of(&a.ty).is_some())
    };
    for (statement, arg) in numeric() {
        names.push((
            format!("{}.{}", statement.keyword.to_ascii_lowercase(), arg.name),
            arg.ty,
        ));
        let unambiguous = numeric()
            .filter(|(_, other)| other.name == arg.name)
            .count()
            == 1;
        if unambiguous && !names.iter().any(|(n, _)| n == arg.name) {
            names.push((arg.name.to_string(), arg.ty));
        }
    }
    names
}

/// Checks one annotation in the context of `schema`; returns the expression when it is a
/// well-typed invariant.
pub fn check_annotation(
    annotation: &Annotation,
    schema: &BlockSchema,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Expr> {
    let name = annotation.name.value.as_str();
    if !ANNOTATIONS.contains(&name) {
        let mut diagnostic = Diagnostic::error(
            Code::UnknownAnnotation,
            annotation.name.span,
            format!("unknown annotation `@{name}`"),
        );
        if let Some(suggestion) = did_you_mean(name, ANNOTATIONS.iter().copied()) {
            diagnostic = diagnostic.with_help(format!("did you mean `@{suggestion}`?"));
        }
        diagnostics.push(diagnostic);
        return None;
    }
    let Some(expr) = &annotation.expr else {
        diagnostics.push(
            Diagnostic::error(
                Code::NotBoolean,
                annotation.span,
                "`@invariant` needs a comparison",
            )
            .with_help("e.g. @invariant reserved_qty <= qty"),
        );
        return None;
    };
    let scope = names(schema);
    let errors_before = diagnostics.len();
    let ty = type_of(expr, &scope, schema, diagnostics);
    if diagnostics.len() > errors_before {
        return None;
    }
    if ty != Some(ExprType::Bool) {
        diagnostics.push(
            Diagnostic::error(
                Code::NotBoolean,
                expr.span,
                "an invariant must be a comparison",
            )
            .with_label("this is a number, not a condition")
            .with_help("compare it: `<=`, `<`, `>=`, `>` or `==`"),
        );
        return None;
    }
    Some(expr.clone())
}

fn type_of(
    expr: &Expr,
    scope: &[(String, ValueType)],
    schema: &BlockSchema,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ExprType> {
    match &expr.kind {
        ExprKind::Int { value, unit, .. } => {
            value.as_ref()?;
            Some(match unit {
                None => ExprType::Literal,
                Some(Unit::Ms | Unit::S) => ExprType::Numeric(Dimension::Ms),
                Some(Unit::Bps) => ExprType::Numeric(Dimension::Bps),
            })
        }
        ExprKind::Name(path) => {
            let name = path.join(".");
            match scope.iter().find(|(n, _)| *n == name) {
                Some((_, ty)) => Dimension::of(ty).map(ExprType::Numeric),
                None => {
                    let mut diagnostic = Diagnostic::error(
                        Code::UnknownName,
                        expr.span,
                        format!("unknown name `{name}` in a {} invariant", schema.kind),
                    )
                    .with_label("not a parameter or state field of this block");
                    if let Some(suggestion) =
                        did_you_mean(&name, scope.iter().map(|(n, _)| n.as_str()))
                    {
                        diagnostic = diagnostic.with_help(format!("did you mean `{suggestion}`?"));
                    }
                    diagnostics.push(diagnostic);
                    None
                }
            }
        }
        ExprKind::Paren(inner) => type_of(inner, scope, schema, diagnostics),
        ExprKind::Binary { op, lhs, rhs } => {
            let left = type_of(lhs, scope, schema, diagnostics);
            let right = type_of(rhs, scope, schema, diagnostics);
            let (left, right) = (left?, right?);
            let mismatch = |diagnostics: &mut Vec<Diagnostic>, why: String| {
                diagnostics.push(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        expr.span,
                        format!(
                            "cannot apply `{}` to {} and {}",
                            op.symbol(),
                            describe(left),
                            describe(right)
                        ),
                    )
                    .with_secondary(lhs.span, describe(left))
                    .with_secondary(rhs.span, describe(right))
                    .with_help(why),
                );
                None
            };
            if left == ExprType::Bool || right == ExprType::Bool {
                return mismatch(
                    diagnostics,
                    "comparisons cannot be chained or combined".into(),
                );
            }
            let unified = match (left, right) {
                (ExprType::Literal, other) | (other, ExprType::Literal) => Some(other),
                (a, b) if a == b => Some(a),
                _ => None,
            };
            match op {
                BinaryOp::Mul => match (left, right) {
                    (ExprType::Literal | ExprType::Numeric(Dimension::Count), other)
                    | (other, ExprType::Literal | ExprType::Numeric(Dimension::Count)) => {
                        Some(other)
                    }
                    _ => mismatch(
                        diagnostics,
                        "multiply a quantity only by a dimensionless integer".into(),
                    ),
                },
                BinaryOp::Add => match unified {
                    Some(ty) => Some(ty),
                    None => mismatch(diagnostics, "add only values of the same unit".into()),
                },
                _ => match unified {
                    Some(_) => Some(ExprType::Bool),
                    None => mismatch(diagnostics, "compare only values of the same unit".into()),
                },
            }
        }
    }
}

fn describe(ty: ExprType) -> &'static str {
    match ty {
        ExprType::Literal => "an integer literal",
        ExprType::Numeric(d) => d.name(),
        ExprType::Bool => "a comparison",
    }
}
