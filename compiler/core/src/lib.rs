//! The proofed compiler: checked CurveScript blocks → canonical IR templates → CurveVM modules.
//!
//! Each compiled block becomes an [`Artifact`]: the template's IR program (the same for every
//! parameter set, since templates read script values only from the parameter segment), its
//! lowered module with gas bounds, guards and source map, the block's parameter table, the
//! **parameter conditions** the invariant certificate proves about that table, and the layout of
//! the block's state. [`manifest`] turns an artifact into `manifest.json`; [`listing`] into an
//! annotated disassembly.
//!
//! A block whose values break a parameter condition, whose entrypoints exceed their gas budget or
//! whose state does not fit gets a diagnostic at the script line responsible and no artifact.

pub mod abi;
pub mod bindings;
pub mod listing;
pub mod manifest;
pub mod templates;

use curve_formats::certificate::{Row, RowKind};
use curve_ir::{Lowered, Program};
use curvescript_check::{CheckedBlock, Script};
use curvescript_syntax::ast::BlockKind;
use curvescript_syntax::{Code, Diagnostic, Span};

/// One slot of a parameter table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSlot {
    /// Template name of the slot.
    pub name: &'static str,
    /// The script statement keyword it comes from (empty for derived slots).
    pub keyword: &'static str,
    /// The statement argument.
    pub arg: &'static str,
    /// The value.
    pub value: u64,
    /// Where the script wrote it (the statement's span when defaulted).
    pub span: Span,
}

/// A parameter condition, proved by the invariant certificate over the parameter table (never a
/// runtime guard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// `p[i] ≤ p[j]`.
    Le(&'static str, &'static str),
    /// `p[i] < 2^bits`.
    Range(&'static str, u32),
    /// `p[i] × p[j] < 2^bits`.
    MulNoOverflow(&'static str, &'static str, u32),
}

impl Condition {
    /// The condition as written in manifests, e.g. `LE(price_min, price_max)`.
    pub fn text(self) -> String {
        match self {
            Condition::Le(a, b) => format!("LE({a}, {b})"),
            Condition::Range(a, bits) => format!("RANGE({a}, {bits})"),
            Condition::MulNoOverflow(a, b, bits) => format!("MUL_NO_OVF({a}, {b}, {bits})"),
        }
    }

    /// The certificate row of the condition over the table `params` (operands as indices).
    pub fn row(self, params: &[ParamSlot]) -> Row {
        let names: Vec<&str> = params.iter().map(|slot| slot.name).collect();
        self.row_in(&names)
    }

    /// The certificate row of the condition over a table whose slots are called `names`.
    pub fn row_in(self, names: &[&str]) -> Row {
        let index = |name: &str| {
            names
                .iter()
                .position(|slot| *slot == name)
                .and_then(|i| u16::try_from(i).ok())
                .expect("conditions name existing slots")
        };
        let bits = |bits: u32| u8::try_from(bits).expect("condition widths are at most 128");
        match self {
            Condition::Le(a, b) => Row {
                kind: RowKind::Le,
                i: index(a),
                j: index(b),
                bits: 0,
            },
            Condition::Range(a, width) => Row {
                kind: RowKind::Range,
                i: index(a),
                j: 0,
                bits: bits(width),
            },
            Condition::MulNoOverflow(a, b, width) => Row {
                kind: RowKind::MulNoOverflow,
                i: index(a),
                j: index(b),
                bits: bits(width),
            },
        }
    }

    /// Whether it holds over `params` (the certificate row's semantics), and the slot to blame
    /// when it does not.
    pub fn holds(self, params: &[ParamSlot]) -> Result<(), &'static str> {
        let words: Vec<u64> = params.iter().map(|slot| slot.value).collect();
        // The script value to point at: the second operand, unless the template fixes it (a
        // constant such as `keys_limit`), which no script line wrote.
        let written = |name: &str| {
            params
                .iter()
                .any(|slot| slot.name == name && !slot.keyword.is_empty())
        };
        let blamed = match self {
            Condition::Le(a, b) | Condition::MulNoOverflow(a, b, _) if !written(b) => a,
            Condition::Le(_, b) | Condition::MulNoOverflow(_, b, _) => b,
            Condition::Range(a, _) => a,
        };
        self.row(params).holds(&words).map_err(|_| blamed)
    }
}

/// One named region of a block's state, for the layout hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Name.
    pub name: &'static str,
    /// First word.
    pub offset: u32,
    /// Words.
    pub words: u32,
}

/// A compiled block.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The block kind.
    pub kind: BlockKind,
    /// The block id (`None` for the router).
    pub id: Option<String>,
    /// The template.
    pub template: &'static str,
    /// The host role the program runs as.
    pub role: &'static str,
    /// The interface its module implements (the CPI descriptor).
    pub interface: &'static abi::Interface,
    /// The template's IR.
    pub ir: Program,
    /// The lowered module and its analyses.
    pub lowered: Lowered,
    /// The parameter table.
    pub params: Vec<ParamSlot>,
    /// What the certificate proves about the parameter table.
    pub conditions: Vec<Condition>,
    /// Parameter slots the template fixes (its constant region).
    pub constants: Vec<(&'static str, u64)>,
    /// The state layout.
    pub layout: Vec<Region>,
    /// The dimensions its module was generated for ([`templates::Template::shape`]).
    pub shape: Vec<(&'static str, u32)>,
    /// Gas budget per call.
    pub gas_budget: u64,
    /// Script statement spans by keyword, for the source map.
    pub keyword_spans: Vec<(&'static str, Span)>,
    /// The block's span.
    pub block_span: Span,
}

impl Artifact {
    /// The parameter table as words.
    pub fn param_words(&self) -> Vec<u64> {
        self.params.iter().map(|slot| slot.value).collect()
    }

    /// A file-name-safe name: `oracle-pyth-SOLUSD`.
    pub fn slug(&self) -> String {
        let id: String = self
            .id
            .as_deref()
            .unwrap_or("")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let kind = self.kind.to_string().to_ascii_lowercase();
        if id.is_empty() {
            kind
        } else {
            format!("{kind}-{id}")
        }
    }

    /// The script span of the statement behind `keyword`, or the block's.
    pub fn keyword_span(&self, keyword: Option<&str>) -> Span {
        keyword
            .and_then(|k| self.keyword_spans.iter().find(|(kw, _)| *kw == k))
            .map_or(self.block_span, |(_, span)| *span)
    }

    /// The template step and script span responsible for the instruction at `pc`.
    pub fn script_location(&self, pc: u32) -> Option<(String, Span)> {
        let range = self.lowered.origin_at(pc)?;
        let keyword = range.origin.and_then(|origin| origin.keyword);
        Some((range.step(), self.keyword_span(keyword)))
    }
}

/// What compiling a script produced.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    /// One artifact per compiled block, in source order.
    pub artifacts: Vec<Artifact>,
    /// Compiler diagnostics (the checker's are the caller's).
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    /// Whether any diagnostic is an error (then no artifact may be written).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The feed tag of a feed id, which its signed prices carry (`curve_formats::oracle`).
pub use curve_formats::oracle::feed_tag;

/// Compiles every block of a checked script that has a template.
pub fn compile(script: &Script) -> Compiled {
    let mut compiled = Compiled::default();
    for block in &script.blocks {
        match block.kind {
            BlockKind::Oracle => {
                let artifact = templates::oracle_artifact(block);
                add(artifact, block, &mut compiled);
            }
            // A script whose pools do not fit is rejected at its POOLS line.
            BlockKind::Slab => match templates::slab::artifact(block) {
                Err(diagnostic) => compiled.diagnostics.push(diagnostic),
                Ok(artifact) => add(artifact, block, &mut compiled),
            },
            // A gaming market (a later issue's) is a warning, not an artifact.
            BlockKind::Market => match templates::market::artifact(block) {
                Err(diagnostic) => compiled.diagnostics.push(diagnostic),
                Ok(artifact) => add(artifact, block, &mut compiled),
            },
            BlockKind::Router => match templates::router::artifact(block) {
                Err(diagnostic) => compiled.diagnostics.push(diagnostic),
                Ok(artifact) => add(artifact, block, &mut compiled),
            },
        }
    }
    compiled
}

/// Adds `block`'s artifact once it passes [`finish`], unless its output directory is taken.
fn add(artifact: Artifact, block: &CheckedBlock, compiled: &mut Compiled) {
    let Some(artifact) = finish(artifact, compiled) else {
        return;
    };
    // Output directories are named by slug; two ids with one slug (`pyth:SOLUSD`,
    // `pyth-SOLUSD`) would overwrite each other.
    let slug = artifact.slug();
    if let Some(first) = compiled.artifacts.iter().find(|a| a.slug() == slug) {
        compiled.diagnostics.push(
            Diagnostic::error(
                Code::OutputCollision,
                block.header_span,
                format!("this block would be written to `{slug}/` like another"),
            )
            .with_label("same output directory")
            .with_secondary(first.block_span, "also written to that directory")
            .with_help(
                "ids that differ only in characters other than letters and digits map to one \
                 directory; rename one",
            ),
        );
        return;
    }
    compiled.artifacts.push(artifact);
}

/// Runs the checks every artifact passes: parameter conditions, gas budgets, layout size.
fn finish(artifact: Artifact, compiled: &mut Compiled) -> Option<Artifact> {
    // A template that drifted from its interface is a compiler bug, never the script's fault.
    if let Err(drift) = artifact.interface.check_module(&artifact.lowered.module) {
        panic!("the `{}` template: {drift}", artifact.template);
    }
    let before = compiled.diagnostics.len();
    for condition in &artifact.conditions {
        if let Err(blamed) = condition.holds(&artifact.params) {
            let slot = artifact
                .params
                .iter()
                .find(|slot| slot.name == blamed)
                .expect("conditions name existing slots");
            compiled.diagnostics.push(
                Diagnostic::error(
                    Code::ConditionFails,
                    slot.span,
                    format!(
                        "`{}` = {} breaks the parameter condition {}",
                        slot.name,
                        slot.value,
                        condition.text()
                    ),
                )
                .with_help("the invariant certificate could not be proved for these values"),
            );
        }
    }
    let largest = templates::largest_gas_bound(&artifact.lowered);
    for (entry, bound) in &artifact.lowered.gas_bounds {
        if *bound > artifact.gas_budget {
            // A market's bounds follow from its world count; its budget is a script value.
            let (span, help) = if artifact.template == "market" {
                (
                    artifact.keyword_span(Some("GAS")),
                    format!(
                        "raise `GAS budget=` to at least {largest} (the largest entrypoint's \
                         bound), or price fewer worlds"
                    ),
                )
            } else {
                (
                    artifact.block_span,
                    "lower the bounds that size its loops".to_string(),
                )
            };
            compiled.diagnostics.push(
                Diagnostic::error(
                    Code::GasAboveBudget,
                    span,
                    format!(
                        "`{entry}` may use {bound} gas, above the {} budget",
                        artifact.gas_budget
                    ),
                )
                .with_help(help),
            );
        }
    }
    let state_words: u32 = artifact.layout.iter().map(|r| r.words).sum();
    if state_words > curvevm::module::MAX_SLAB_WORDS {
        compiled.diagnostics.push(Diagnostic::error(
            Code::LayoutTooLarge,
            artifact.block_span,
            format!(
                "the state needs {state_words} words; a slab holds {}",
                curvevm::module::MAX_SLAB_WORDS
            ),
        ));
    }
    (compiled.diagnostics.len() == before).then_some(artifact)
}

/// The spans of `block`'s statements by keyword (implicit statements: the block header).
pub(crate) fn keyword_spans(
    block: &CheckedBlock,
    keywords: &[&'static str],
) -> Vec<(&'static str, Span)> {
    keywords
        .iter()
        .map(|keyword| (*keyword, block.statement_span(keyword)))
        .collect()
}
