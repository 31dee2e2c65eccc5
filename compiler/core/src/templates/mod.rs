//! Canonical templates, one module per block kind, each written in the IR.

pub mod debit;
pub mod oracle;
pub mod slab;

use curve_formats::certificate::Row;
use curve_formats::encoding::Encode;
use curve_ir::Lowered;
use curvescript_check::CheckedBlock;

use crate::{Artifact, Condition, ParamSlot, Region, feed_tag, keyword_spans};

/// A template as a deployer sees it, independent of any script: the one module every parameter
/// set of it runs, its interface, the names of its parameter slots, the conditions its
/// certificate proves over them, and its state layout. The rollup runtime admits a program only
/// if its bytecode is a template's and its certificate proves that template's conditions.
#[derive(Clone, Debug)]
pub struct Template {
    /// `oracle`, `slab`, `market`, `router`.
    pub name: &'static str,
    /// The host role its programs run as.
    pub role: &'static str,
    /// Its interface (the CPI descriptor).
    pub interface: &'static crate::abi::Interface,
    /// The lowered module with gas bounds, guards and source map.
    pub lowered: Lowered,
    /// Parameter slot names, in table order.
    pub param_names: Vec<&'static str>,
    /// What the certificate proves about the parameter table.
    pub conditions: Vec<Condition>,
    /// The state layout.
    pub layout: Vec<Region>,
    /// Gas budget per call.
    pub gas_budget: u64,
}

impl Template {
    /// The certificate rows of its conditions.
    pub fn rows(&self) -> Vec<Row> {
        self.conditions
            .iter()
            .map(|condition| condition.row_in(&self.param_names))
            .collect()
    }

    /// The module's canonical bytes.
    pub fn module_bytes(&self) -> Vec<u8> {
        self.lowered.module.to_bytes()
    }

    /// The layout hash (hex), as manifests carry it.
    pub fn layout_hash(&self) -> String {
        crate::manifest::layout_hash_of(self.name, self.lowered.module.layout.slab, &self.layout)
    }
}

/// Every template that compiles to a deployable program.
pub fn deployable() -> Vec<Template> {
    vec![oracle_template()]
}

/// The ORACLE template.
pub fn oracle_template() -> Template {
    let ir = oracle::program();
    Template {
        name: "oracle",
        role: "oracle",
        interface: &crate::abi::ORACLE,
        lowered: curve_ir::lower(&ir).expect("the ORACLE template lowers"),
        param_names: oracle::PARAMS.iter().map(|&(name, _, _)| name).collect(),
        conditions: vec![
            Condition::Le("price_min", "price_max"),
            Condition::Le("heartbeat_ms", "staleness_ms"),
            Condition::Le("quorum", "keys_max"),
            Condition::Range("keys_max", 5),
            Condition::Range("decimals", 5),
        ],
        layout: oracle::LAYOUT
            .iter()
            .map(|&(name, offset, words)| Region {
                name,
                offset,
                words,
            })
            .collect(),
        gas_budget: DEFAULT_GAS_BUDGET,
    }
}

/// Gas budget of calls into programs without a declared budget (slab calls' budget).
pub const DEFAULT_GAS_BUDGET: u64 = 300_000;

/// The ORACLE block's artifact.
pub fn oracle_artifact(block: &CheckedBlock) -> Artifact {
    let id = block.id.clone().unwrap_or_default();
    let params = oracle::PARAMS
        .iter()
        .map(|&(name, keyword, arg)| {
            let value = match name {
                "feed_tag" => feed_tag(&id),
                // Present or absent: the statement is optional.
                "kill_band_reference" => u64::from(block.statement(keyword).is_some()),
                _ => {
                    let value = block
                        .value(keyword, arg)
                        .expect("the checker fills every ORACLE default");
                    match value.as_bool() {
                        Some(flag) => u64::from(flag),
                        None => value
                            .as_u128()
                            .and_then(|n| u64::try_from(n).ok())
                            .expect("ORACLE values are bounded to u64 by the schema"),
                    }
                }
            };
            let span = if keyword.is_empty() {
                block.header_span
            } else {
                block
                    .statement(keyword)
                    .and_then(|s| s.arg_span(arg))
                    .unwrap_or(block.header_span)
            };
            ParamSlot {
                name,
                keyword,
                arg,
                value,
                span,
            }
        })
        .collect();
    let template = oracle_template();
    Artifact {
        kind: block.kind,
        id: block.id.clone(),
        template: template.name,
        role: template.role,
        interface: template.interface,
        ir: oracle::program(),
        lowered: template.lowered,
        params,
        conditions: template.conditions,
        layout: template.layout,
        gas_budget: DEFAULT_GAS_BUDGET,
        keyword_spans: keyword_spans(
            block,
            &[
                "HEARTBEAT",
                "STALENESS",
                "KILL_BAND_SYNC",
                "SIGNERS",
                "PRICE",
                "FEEDS",
            ],
        ),
        block_span: block.span,
    }
}
