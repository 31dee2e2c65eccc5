//! Typed values: what a statement's arguments mean once checked against the schema.

use crate::ids;
use crate::schema::{PPM_ONE, ValueType, show_number};
use curvescript_syntax::ast::{BlockKind, Value, ValueKind};
use curvescript_syntax::diagnostic::did_you_mean;
use curvescript_syntax::lexer::Unit;
use curvescript_syntax::{Code, Diagnostic, Span};

/// A checked value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Typed {
    /// A dimensionless integer.
    Int(u128),
    /// Collateral base units.
    Amount(u128),
    /// Milliseconds (seconds were converted).
    Ms(u128),
    /// Basis points.
    Bps(u128),
    /// Parts per million.
    Ppm(u128),
    /// Unix milliseconds.
    Timestamp(u128),
    /// A boolean.
    Bool(bool),
    /// Free text.
    Str(String),
    /// An asset symbol.
    Asset(String),
    /// One of a schema's choices.
    Choice(&'static str),
    /// A block reference; `id` is `None` for the router. Resolution is a cross-reference check.
    BlockRef {
        /// Referenced kind.
        kind: BlockKind,
        /// Referenced id.
        id: Option<String>,
    },
    /// A derived route id and the slab ids it was derived from.
    RouteId {
        /// The id.
        id: u64,
        /// The slabs named in `route_id(…)`, to be resolved.
        slabs: Vec<(String, Span)>,
    },
    /// A list.
    List(Vec<TypedValue>),
}

/// A checked value and where it was written (`None` for a default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypedValue {
    /// The value.
    pub value: Typed,
    /// Where it was written; `None` when the schema's default applied.
    pub span: Option<Span>,
}

impl TypedValue {
    /// The integer inside any numeric value.
    pub fn as_u128(&self) -> Option<u128> {
        match self.value {
            Typed::Int(n)
            | Typed::Amount(n)
            | Typed::Ms(n)
            | Typed::Bps(n)
            | Typed::Ppm(n)
            | Typed::Timestamp(n) => Some(n),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Typed::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The choice, if this is one.
    pub fn as_choice(&self) -> Option<&'static str> {
        match self.value {
            Typed::Choice(c) => Some(c),
            _ => None,
        }
    }

    /// The list items, if this is a list.
    pub fn as_list(&self) -> Option<&[TypedValue]> {
        match &self.value {
            Typed::List(items) => Some(items),
            _ => None,
        }
    }
}

fn found(value: &Value) -> &'static str {
    match &value.kind {
        ValueKind::Int {
            unit: Some(Unit::Ms | Unit::S),
            ..
        } => "a duration",
        ValueKind::Int {
            unit: Some(Unit::Bps),
            ..
        } => "basis points",
        ValueKind::Int { .. } => "an integer",
        ValueKind::Str(_) => "a string",
        ValueKind::Bool(_) => "a boolean",
        ValueKind::Ident(_) => "a name",
        ValueKind::Call { .. } => "a helper call",
        ValueKind::List(_) => "a list",
        ValueKind::BlockRef { .. } => "a block reference",
    }
}

fn mistyped(ty: &ValueType, value: &Value) -> Diagnostic {
    Diagnostic::error(
        Code::MistypedValue,
        value.span,
        format!("expected {}, found {}", ty.describe(), found(value)),
    )
    .with_label(format!("expected {}", ty.describe()))
}

/// Checks `value` against `ty`; reports into `diagnostics` and returns `None` on failure.
pub fn type_value(
    ty: &ValueType,
    value: &Value,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Typed> {
    match ty {
        ValueType::Int { min, max } => plain_integer(ty, value, diagnostics)
            .and_then(|n| bounded(n, *min, *max, "", value.span, diagnostics))
            .map(Typed::Int),
        ValueType::Amount { min, max } => plain_integer(ty, value, diagnostics)
            .and_then(|n| bounded(n, *min, *max, "", value.span, diagnostics))
            .map(Typed::Amount),
        ValueType::Ppm => plain_integer(ty, value, diagnostics)
            .and_then(|n| bounded(n, 0, PPM_ONE, "", value.span, diagnostics))
            .map(Typed::Ppm),
        ValueType::Timestamp => plain_integer(ty, value, diagnostics)
            .and_then(|n| bounded(n, 0, u128::from(u64::MAX), "", value.span, diagnostics))
            .map(Typed::Timestamp),
        ValueType::Ms { min, max } => {
            let (n, unit) = integer(ty, value, diagnostics)?;
            let n = match unit {
                None | Some(Unit::Ms) => n,
                Some(Unit::S) => match n.checked_mul(1_000) {
                    Some(ms) => ms,
                    None => {
                        diagnostics.push(Diagnostic::error(
                            Code::OutOfBounds,
                            value.span,
                            "duration overflows when converted to ms",
                        ));
                        return None;
                    }
                },
                Some(other) => {
                    return wrong_unit(
                        ty,
                        other,
                        value,
                        "a duration is written `500`, `500ms` or `2s`",
                        diagnostics,
                    );
                }
            };
            bounded(n, *min, *max, " ms", value.span, diagnostics).map(Typed::Ms)
        }
        ValueType::Bps { min, max } => {
            let (n, unit) = integer(ty, value, diagnostics)?;
            if let Some(other @ (Unit::Ms | Unit::S)) = unit {
                return wrong_unit(
                    ty,
                    other,
                    value,
                    "basis points are written `75` or `75bps`",
                    diagnostics,
                );
            }
            bounded(n, *min, *max, " bps", value.span, diagnostics).map(Typed::Bps)
        }
        ValueType::Bool => match value.kind {
            ValueKind::Bool(flag) => Some(Typed::Bool(flag)),
            _ => {
                diagnostics.push(mistyped(ty, value).with_help("write `true` or `false`"));
                None
            }
        },
        ValueType::Str => match &value.kind {
            ValueKind::Str(text) => Some(Typed::Str(text.clone())),
            ValueKind::Ident(name) => {
                diagnostics.push(mistyped(ty, value).with_help(format!("quote it: \"{name}\"")));
                None
            }
            _ => {
                diagnostics.push(mistyped(ty, value));
                None
            }
        },
        ValueType::Asset => match &value.kind {
            ValueKind::Ident(name) => Some(Typed::Asset(name.clone())),
            ValueKind::Str(text) => {
                diagnostics.push(
                    mistyped(ty, value)
                        .with_help(format!("write the symbol without quotes: {text}")),
                );
                None
            }
            _ => {
                diagnostics.push(mistyped(ty, value));
                None
            }
        },
        ValueType::Choice(options) => {
            let word = match &value.kind {
                ValueKind::Ident(word) | ValueKind::Str(word) => word.as_str(),
                _ => {
                    diagnostics.push(mistyped(ty, value));
                    return None;
                }
            };
            if let Some(choice) = options.iter().find(|option| **option == word) {
                return Some(Typed::Choice(choice));
            }
            let mut diagnostic = Diagnostic::error(
                Code::OutOfBounds,
                value.span,
                format!("`{word}` is not {}", ty.describe()),
            )
            .with_label("not an allowed value");
            if let Some(suggestion) = did_you_mean(word, options.iter().copied()) {
                diagnostic = diagnostic.with_help(format!("did you mean `{suggestion}`?"));
            }
            diagnostics.push(diagnostic);
            None
        }
        ValueType::BlockRef(kind) => match &value.kind {
            ValueKind::BlockRef { kind: written, id } if written == kind => Some(Typed::BlockRef {
                kind: *kind,
                id: id.clone(),
            }),
            ValueKind::Str(text) if *kind == BlockKind::Router => {
                if text == "ROUTER" {
                    Some(Typed::BlockRef {
                        kind: *kind,
                        id: None,
                    })
                } else {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::DanglingReference,
                            value.span,
                            format!("\"{text}\" does not name the router"),
                        )
                        .with_help("the router is referred to as \"ROUTER\" or `&ROUTER`"),
                    );
                    None
                }
            }
            ValueKind::Str(text) => Some(Typed::BlockRef {
                kind: *kind,
                id: Some(text.clone()),
            }),
            _ => {
                let example = match kind {
                    BlockKind::Router => "`&ROUTER`".to_string(),
                    other => format!("`&{other} \"id\"` or the id as a string"),
                };
                diagnostics.push(mistyped(ty, value).with_help(format!("write {example}")));
                None
            }
        },
        ValueType::RouteId => route_id(value, diagnostics),
        ValueType::List {
            element,
            min_len,
            max_len,
        } => {
            let ValueKind::List(items) = &value.kind else {
                diagnostics.push(mistyped(ty, value).with_help("write a list as `[a, b, c]`"));
                return None;
            };
            if items.len() < *min_len || items.len() > *max_len {
                diagnostics.push(
                    Diagnostic::error(
                        Code::ListLength,
                        value.span,
                        format!(
                            "expected {min_len} to {max_len} items, found {}",
                            items.len()
                        ),
                    )
                    .with_label("wrong number of items"),
                );
                return None;
            }
            let mut typed = Vec::with_capacity(items.len());
            for item in items {
                typed.push(TypedValue {
                    value: type_value(element, item, diagnostics)?,
                    span: Some(item.span),
                });
            }
            Some(Typed::List(typed))
        }
    }
}

fn integer(
    ty: &ValueType,
    value: &Value,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(u128, Option<Unit>)> {
    match &value.kind {
        // An overflowing literal was reported by the lexer.
        ValueKind::Int {
            value: number,
            unit,
            ..
        } => number.map(|n| (n, *unit)),
        _ => {
            diagnostics.push(mistyped(ty, value));
            None
        }
    }
}

fn plain_integer(ty: &ValueType, value: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<u128> {
    let (n, unit) = integer(ty, value, diagnostics)?;
    match unit {
        None => Some(n),
        Some(unit) => wrong_unit(ty, unit, value, "write a plain integer", diagnostics),
    }
}

fn wrong_unit<T>(
    ty: &ValueType,
    unit: Unit,
    value: &Value,
    help: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<T> {
    diagnostics.push(
        Diagnostic::error(
            Code::WrongUnit,
            value.span,
            format!(
                "expected {}, found a value in `{}`",
                ty.describe(),
                unit.suffix()
            ),
        )
        .with_label(format!("`{}` does not fit here", unit.suffix()))
        .with_help(help.to_string()),
    );
    None
}

fn bounded(
    n: u128,
    min: u128,
    max: u128,
    unit: &str,
    span: Span,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<u128> {
    if (min..=max).contains(&n) {
        return Some(n);
    }
    diagnostics.push(
        Diagnostic::error(
            Code::OutOfBounds,
            span,
            format!("{}{unit} is out of bounds", show_number(n)),
        )
        .with_label(format!(
            "allowed: {}..={}{unit}",
            show_number(min),
            show_number(max)
        )),
    );
    None
}

fn route_id(value: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<Typed> {
    match &value.kind {
        ValueKind::Call { name, args } if name.value == "route_id" => {
            let mut slabs = Vec::with_capacity(args.len());
            for arg in args {
                match &arg.kind {
                    ValueKind::Str(slab) => slabs.push((slab.clone(), arg.span)),
                    _ => {
                        diagnostics.push(
                            Diagnostic::error(
                                Code::BadHelperCall,
                                arg.span,
                                "`route_id` takes slab ids as strings",
                            )
                            .with_help("e.g. route_id(\"perp:SOL-PERP\", \"perp:ETH-PERP\")"),
                        );
                        return None;
                    }
                }
            }
            if slabs.is_empty() {
                diagnostics.push(Diagnostic::error(
                    Code::BadHelperCall,
                    value.span,
                    "`route_id` needs at least one slab id",
                ));
                return None;
            }
            let names: Vec<&str> = slabs.iter().map(|(s, _)| s.as_str()).collect();
            Some(Typed::RouteId {
                id: ids::route_id(&names),
                slabs,
            })
        }
        ValueKind::Call { name, .. } => {
            let mut diagnostic = Diagnostic::error(
                Code::BadHelperCall,
                name.span,
                format!("unknown helper `{}`", name.value),
            );
            if let Some(suggestion) = did_you_mean(&name.value, ["route_id"]) {
                diagnostic = diagnostic.with_help(format!("did you mean `{suggestion}`?"));
            }
            diagnostics.push(diagnostic);
            None
        }
        ValueKind::Int { .. } => {
            diagnostics.push(
                Diagnostic::error(
                    Code::MistypedValue,
                    value.span,
                    "route ids are derived, not written",
                )
                .with_label("a hard-coded identifier")
                .with_help(
                    "write route_id(\"<slab id>\", …) so the id follows the slabs it routes to",
                ),
            );
            None
        }
        _ => {
            diagnostics.push(mistyped(&ValueType::RouteId, value));
            None
        }
    }
}
