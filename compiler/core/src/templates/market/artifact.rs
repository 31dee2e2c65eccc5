//! A MARKET block's artifact: its shape (structure and world count), its parameter table (with
//! the prior's weights, the naive-Bayes ones computed here from the driver probabilities), and
//! the shape a manifest states, read back by verifiers.

use curvescript_check::CheckedBlock;
use curvescript_check::value::TypedValue;
use curvescript_syntax::{Code, Diagnostic, Span};

use super::prior::lifts;
use super::{MarketLayout, Structure, params, template};
use crate::{Artifact, ParamSlot};

/// Parts per million.
const PPM: u128 = 1_000_000;

/// The layout of a checked MARKET block; a gaming market is a later issue's.
pub fn layout(block: &CheckedBlock) -> Result<MarketLayout, Diagnostic> {
    let kind = block
        .value("STRUCTURE", "kind")
        .and_then(TypedValue::as_choice)
        .unwrap_or("binary");
    let structure = Structure::from_name(kind).ok_or_else(|| {
        Diagnostic::warning(
            Code::NotCompiled,
            block.statement_span("STRUCTURE"),
            format!("`{kind}` markets are checked but not compiled yet"),
        )
        .with_help("binary, multi and joint markets compile; gaming markets need the tick book")
    })?;
    let events = match structure {
        Structure::Binary => 1,
        Structure::Multi => block.statements_named("OUTCOME").count() as u32,
        Structure::Joint => block.statements_named("EVENT").count() as u32,
    };
    let layout = MarketLayout::new(structure, events);
    let kind = block
        .value("PRIOR", "kind")
        .and_then(TypedValue::as_choice)
        .unwrap_or("uniform");
    if kind == "uniform" {
        return Ok(layout.uniform());
    }
    // The lifts live in the certified parameter table, which holds 256 slots at most.
    let slots = params::PARAMS.len() + params::lift_words(&layout);
    let most = curve_formats::certificate::SizeClass::C256.params();
    if slots > most {
        return Err(Diagnostic::error(
            Code::InconsistentValues,
            block.statement_span("PRIOR"),
            format!(
                "a `{kind}` prior over {} worlds needs {slots} parameter slots; a certificate covers {most}",
                layout.worlds
            ),
        )
        .with_help("use a uniform prior, or at most 6 events (64 worlds) with a table or naive-Bayes prior"));
    }
    Ok(layout)
}

/// The prior's weights, one per world (README "Prior"): all 1, the table's, or the naive-Bayes
/// mixture `P(E)·Π_k P(x_k | E) + P(¬E)·Π_k P(x_k | ¬E)` as a Q0.64 fraction, each factor
/// rounded down (a world of probability 1 saturates at `u64::MAX`).
pub fn weights(block: &CheckedBlock, layout: &MarketLayout) -> Vec<u64> {
    let prior = block.statement("PRIOR");
    let kind = prior
        .and_then(|p| p.value("kind"))
        .and_then(TypedValue::as_choice)
        .unwrap_or("uniform");
    let list = |arg: &str| -> Vec<u128> {
        prior
            .and_then(|p| p.value(arg))
            .and_then(TypedValue::as_list)
            .map(|items| items.iter().filter_map(TypedValue::as_u128).collect())
            .unwrap_or_default()
    };
    let n = layout.worlds as usize;
    match kind {
        "table" => list("weights")
            .into_iter()
            .map(|w| u64::try_from(w).unwrap_or(u64::MAX))
            .chain(std::iter::repeat(1))
            .take(n)
            .collect(),
        "naive_bayes" => {
            let driver = prior
                .and_then(|p| p.value("driver_ppm"))
                .and_then(TypedValue::as_u128)
                .unwrap_or(0)
                .min(PPM);
            let if_driver = list("yes_if_driver_ppm");
            let if_not = list("yes_if_not_driver_ppm");
            (0..n)
                .map(|world| {
                    let branch = |p_branch: u128, yes: &[u128]| -> u128 {
                        let mut term = (p_branch << 64) / PPM;
                        for (event, &p) in yes.iter().enumerate() {
                            let p = p.min(PPM);
                            let factor = if world >> event & 1 == 1 { p } else { PPM - p };
                            term = term * factor / PPM;
                        }
                        term
                    };
                    let total = branch(driver, &if_driver) + branch(PPM - driver, &if_not);
                    u64::try_from(total).unwrap_or(u64::MAX)
                })
                .collect()
        }
        _ => vec![1; n],
    }
}

/// The parameter table of a checked MARKET block: the scalar slots, then each world's prior lift
/// ([`lifts`]); weights summing to zero are the PRIOR statement's error.
pub fn table(block: &CheckedBlock, layout: &MarketLayout) -> Result<Vec<ParamSlot>, Diagnostic> {
    let span_of = |keyword: &str, arg: &str| -> Span {
        if keyword.is_empty() {
            return block.header_span;
        }
        block
            .statement(keyword)
            .and_then(|s| s.arg_span(arg))
            .unwrap_or(block.header_span)
    };
    let number = |keyword: &str, arg: &str| -> u64 {
        block
            .value(keyword, arg)
            .and_then(TypedValue::as_u128)
            .map_or(0, |v| u64::try_from(v).unwrap_or(u64::MAX))
    };
    let mut slots: Vec<ParamSlot> = params::PARAMS
        .iter()
        .map(|&(name, keyword, arg)| {
            let constant = params::CONSTANTS.iter().find(|(c, _)| *c == name);
            let value = match constant {
                Some(&(_, value)) => value,
                None => number(keyword, arg),
            };
            ParamSlot {
                name,
                keyword,
                arg,
                value,
                span: span_of(keyword, arg),
            }
        })
        .collect();
    if let Some(funding) = block
        .value("LIQUIDITY", "funding")
        .and_then(TypedValue::as_u128)
    {
        let slot = &mut slots[params::param("b") as usize];
        slot.arg = "funding";
        slot.span = span_of("LIQUIDITY", "funding");
        // Too large for a u64 is above `b_max` too: the certificate's condition reports it.
        slot.value = params::b_from_funding(funding, layout.worlds).unwrap_or(u64::MAX);
    }
    let names = params::names(layout);
    let span = block.statement_span("PRIOR");
    if !layout.lifts {
        return Ok(slots);
    }
    let b = slots[params::param("b") as usize].value;
    let lifts = lifts(b.max(1), &weights(block, layout))
        .map_err(|e| Diagnostic::error(Code::InconsistentValues, span, e))?;
    let words = lifts.iter().flat_map(|&l| [l as u64, (l >> 64) as u64]);
    for (name, word) in names[params::PARAMS.len()..].iter().zip(words) {
        slots.push(ParamSlot {
            name,
            keyword: "PRIOR",
            arg: "kind",
            value: word,
            span,
        });
    }
    Ok(slots)
}

/// The deployable artifact of a checked MARKET block. Its gas budget is the script's `GAS
/// budget`, so an entrypoint whose bound exceeds it (a world table too large for it) is the
/// compiler's error.
pub fn artifact(block: &CheckedBlock) -> Result<Artifact, Diagnostic> {
    let layout = layout(block)?;
    let template = template(&layout);
    let budget = block
        .value("GAS", "budget")
        .and_then(TypedValue::as_u128)
        .map_or(template.gas_budget, |v| {
            u64::try_from(v).unwrap_or(u64::MAX)
        });
    Ok(Artifact {
        kind: block.kind,
        id: block.id.clone(),
        template: template.name,
        role: template.role,
        interface: template.interface,
        ir: super::program(&layout),
        lowered: template.lowered,
        params: table(block, &layout)?,
        conditions: template.conditions,
        constants: template.constants,
        layout: template.layout,
        shape: template.shape,
        gas_budget: budget,
        keyword_spans: crate::keyword_spans(
            block,
            &[
                "STRUCTURE",
                "LIQUIDITY",
                "PRIOR",
                "FEE",
                "RESOLUTION",
                "CLOSE",
                "GAS",
            ],
        ),
        block_span: block.span,
    })
}

impl MarketLayout {
    /// The layout a manifest's `layout.shape` states, if a script could declare it: a known
    /// structure, an event or outcome count in its range, and the world and account counts that
    /// follow from them.
    pub fn from_manifest(manifest: &serde_json::Value) -> Result<MarketLayout, String> {
        let shape = crate::templates::manifest_shape(manifest)?;
        let value = |name: &str| -> Result<u32, String> {
            let mut found = shape.iter().filter(|(n, _)| n == name);
            match (found.next(), found.next()) {
                (Some((_, value)), None) => Ok(*value),
                (None, _) => Err(format!("the market shape names no `{name}`")),
                (Some(_), Some(_)) => Err(format!("the market shape names `{name}` twice")),
            }
        };
        if let Some((extra, _)) = shape.iter().find(|(n, _)| {
            !["structure", "events", "worlds", "accounts", "prior"].contains(&n.as_str())
        }) {
            return Err(format!("the market shape has no dimension `{extra}`"));
        }
        let structure = match value("structure")? {
            0 => Structure::Binary,
            1 => Structure::Multi,
            2 => Structure::Joint,
            other => return Err(format!("market structure {other} is not 0, 1 or 2")),
        };
        let events = value("events")?;
        let range = match structure {
            Structure::Binary => 1..=1,
            Structure::Multi => 3..=10,
            Structure::Joint => 1..=super::EVENTS_MAX,
        };
        if !range.contains(&events) {
            return Err(format!(
                "a {} market has {range:?} events or outcomes, not {events}",
                structure.name()
            ));
        }
        let layout = match value("prior")? {
            0 => MarketLayout::new(structure, events).uniform(),
            1 => MarketLayout::new(structure, events),
            other => {
                return Err(format!(
                    "market prior {other} is not 0 (uniform) or 1 (lifts)"
                ));
            }
        };
        for (name, stated, derived) in [
            ("worlds", value("worlds")?, layout.worlds),
            ("accounts", value("accounts")?, layout.accounts),
        ] {
            if stated != derived {
                return Err(format!(
                    "the market shape states {stated} {name}; its structure has {derived}"
                ));
            }
        }
        Ok(layout)
    }
}
