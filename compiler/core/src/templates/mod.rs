//! Canonical templates, one module per block kind, each written in the IR.

pub mod debit;
pub mod oracle;
pub mod slab;

use curvescript_check::CheckedBlock;

use crate::{Artifact, Condition, ParamSlot, Region, feed_tag, keyword_spans};

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
    let ir = oracle::program();
    let lowered = curve_ir::lower(&ir).expect("the ORACLE template lowers");
    Artifact {
        kind: block.kind,
        id: block.id.clone(),
        template: "oracle",
        role: "oracle",
        interface: &crate::abi::ORACLE,
        ir,
        lowered,
        params,
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
