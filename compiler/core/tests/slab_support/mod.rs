//! What tests of the SLAB program share: the reference model's parameters read from a compiled
//! slab's parameter table and layout (so a model and a program are configured by one script).

use curve_compiler::templates::slab::{SlabLayout, params};

use crate::slab_reference::reference::{InstrumentParams, Params};

/// The reference model's parameters of a slab compiled to `layout` with parameter words
/// `table`, run on chain `chain_id` (what a reveal hashes).
pub fn model_params(layout: &SlabLayout, table: &[u64], chain_id: u64) -> Params {
    let word = |name: &str| table[params::param(name) as usize];
    let count = table[params::param("instrument_count") as usize] as usize;
    let instruments = (0..count)
        .map(|row| {
            let field = |name| {
                table[params::instrument_param(name) as usize
                    + row * params::INSTRUMENT_FIELDS.len()]
            };
            InstrumentParams {
                tick: field("tick"),
                lot: field("lot"),
                price_max: field("price_max"),
                qty_max: field("qty_max"),
                contract_size: field("contract_size"),
                oracle_key: field("oracle_key"),
            }
        })
        .collect();
    let allowance = |class: &str| {
        let lo = table[params::param(&format!("{class}_allowance_lo")) as usize];
        let hi = table[params::param(&format!("{class}_allowance_hi")) as usize];
        let value = u128::from(lo) | u128::from(hi) << 64;
        (value != 0).then_some(value)
    };
    Params {
        instruments,
        dlp_allowance: allowance("dlp"),
        reg_allowance: allowance("reg"),
        batch_ms: table[params::param("batch_ms") as usize],
        accounts_capacity: layout.capacity("accounts"),
        orders_capacity: layout.capacity("orders"),
        reservations_capacity: layout.capacity("reservations"),
        slices_capacity: layout.capacity("slices"),
        taker_bps: table[params::param("taker_bps") as usize],
        maker_bps: table[params::param("maker_bps") as usize],
        imr_bps: table[params::param("imr_bps") as usize],
        mmr_bps: table[params::param("mmr_bps") as usize],
        positions_capacity: layout.capacity("positions") as usize,
        trades_capacity: layout.capacity("trades") as usize,
        rebate_bps: word("rebate_bps"),
        rebate_delay_ms: word("rebate_delay_ms"),
        kill_band_bps: word("kill_band_bps"),
        jit_penalty: word("jit_penalty") != 0,
        arg_tax_bps: word("arg_tax_bps"),
        freeze_levels: word("freeze_levels"),
        chain_id,
        aggressor_capacity: layout.capacity("aggressor") as usize,
        funding_interval_ms: word("funding_interval_ms"),
        funding_rate_cap_bps: word("funding_rate_cap_bps"),
        liquidation_full: word("liquidation_full") != 0,
        liquidation_band_bps: word("liquidation_band_bps"),
    }
}
