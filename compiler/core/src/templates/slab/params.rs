//! The slab's parameter table: the script's values, read by the bytecode from the parameter
//! segment (never immediates), and the conditions the certificate proves over them.
//!
//! The table is the [`PARAMS`] slots, then [`INSTRUMENT_FIELDS`] slots for each of the
//! [`INSTRUMENTS_MAX`] instrument rows (`instrument.3.tick`, …). Rows past the script's
//! instruments hold 1 in every field (0 in `oracle_view` and `oracle_key`), so the per-row conditions hold for
//! the whole table and `instrument_count` is what the code checks indices against.

use std::sync::LazyLock;

use curve_ir::ir::{Addr, FunctionBuilder, Record, Rvalue, Table, Ty, Var};
use curvescript_check::CheckedBlock;
use curvevm::isa::Segment;

use super::INSTRUMENTS_MAX;
use crate::{Condition, ParamSlot};

/// Parameter slots before the instrument rows: (name, statement keyword, argument). Slots
/// without a keyword are fixed by the template ([`CONSTANTS`]) or derived from several
/// statements (the allowances: 0 for a class without a `MAKER_CLASS` statement).
pub const PARAMS: [(&str, &str, &str); 22] = [
    ("one", "", ""),
    ("maker_bps", "FEE", "maker_bps"),
    ("taker_bps", "FEE", "taker_bps"),
    ("rebate_delay_ms", "FEE", "rebate_delay_ms"),
    ("rebate_bps", "FEE", "rebate_bps"),
    ("imr_bps", "RISK", "imr_bps"),
    ("mmr_bps", "RISK", "mmr_bps"),
    ("kill_band_bps", "ANTI_TOXICITY", "kill_band_bps"),
    ("jit_penalty", "ANTI_TOXICITY", "jit_penalty"),
    ("arg_tax_bps", "ANTI_TOXICITY", "arg_tax_bps"),
    ("freeze_levels", "ANTI_TOXICITY", "freeze_levels"),
    ("batch_ms", "BATCH_WINDOW", "ms"),
    ("dlp_allowance_lo", "MAKER_CLASS", "allowance"),
    ("dlp_allowance_hi", "MAKER_CLASS", "allowance"),
    ("reg_allowance_lo", "MAKER_CLASS", "allowance"),
    ("reg_allowance_hi", "MAKER_CLASS", "allowance"),
    ("funding_interval_ms", "FUNDING", "interval_ms"),
    ("funding_rate_cap_bps", "FUNDING", "rate_cap_bps"),
    ("liquidation_full", "LIQUIDATION", "policy"),
    ("liquidation_band_bps", "LIQUIDATION", "band_bps"),
    ("instrument_count", "INSTRUMENT", ""),
    ("instruments_limit", "", ""),
];

/// The constant region: every verifier checks these words before trusting a certificate.
pub const CONSTANTS: [(&str, u64); 2] = [("one", 1), ("instruments_limit", INSTRUMENTS_MAX as u64)];

/// The fields of one instrument row: (field, `INSTRUMENT` argument). `oracle_view` is the
/// view its oracle is mapped at: the oracle's rank among the distinct oracles the
/// instruments name, in order of first appearance ([`oracles`]); `oracle_key` names the feed
/// across slabs ([`oracle_key`]), so that a router nets positions marked by one feed.
pub const INSTRUMENT_FIELDS: [(&str, &str); 7] = [
    ("tick", "tick"),
    ("lot", "lot"),
    ("price_max", "price_max"),
    ("qty_max", "qty_max"),
    ("contract_size", "contract_size"),
    ("oracle_view", "oracle"),
    ("oracle_key", "oracle"),
];

/// Quantities stay below 2^62 (a proven condition on `qty_max`), so a signed position of
/// several fills is an `i64` and negating a fill never overflows.
pub const QTY_BITS: u32 = 62;

/// The distinct oracles `block`'s instruments name, in order of first appearance: view `k`
/// maps the `k`-th.
pub fn oracles(block: &CheckedBlock) -> Vec<Option<String>> {
    let mut oracles = Vec::new();
    for statement in block.statements_named("INSTRUMENT") {
        let id = oracle_id(statement.value("oracle"));
        if !oracles.contains(&id) {
            oracles.push(id);
        }
    }
    oracles
}

fn oracle_id(value: Option<&curvescript_check::value::TypedValue>) -> Option<String> {
    match value.map(|v| &v.value) {
        Some(curvescript_check::value::Typed::BlockRef { id, .. }) => id.clone(),
        _ => None,
    }
}

/// The feed an `oracle` value names: a block reference's id or a string's text.
fn oracle_name(value: Option<&curvescript_check::value::TypedValue>) -> Option<String> {
    match value.map(|v| &v.value) {
        Some(curvescript_check::value::Typed::BlockRef { id, .. }) => id.clone(),
        Some(curvescript_check::value::Typed::Str(text)) => Some(text.clone()),
        _ => None,
    }
}

/// The `oracle_key` of a feed called `name` (README `exposure`): the first 8 bytes,
/// little-endian, of `SHA-256("curve/oracle-key/" ‖ name)` with the low bit set, so a key is
/// never 0 (0: no feed, nets with nothing).
pub fn oracle_key(name: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"curve/oracle-key/")
        .chain_update(name.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first) | 1
}

/// Prices stay below 2^57 (a proven condition), so a level key or a sum of notionals never
/// needs more than the words the code gives it.
pub const PRICE_BITS: u32 = 57;

/// Every slot name, in table order.
pub static PARAM_NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut names: Vec<&'static str> = PARAMS.iter().map(|(name, _, _)| *name).collect();
    for row in 0..INSTRUMENTS_MAX {
        for (field, _) in INSTRUMENT_FIELDS {
            names.push(Box::leak(
                format!("instrument.{row}.{field}").into_boxed_str(),
            ));
        }
    }
    names
});

/// The slot called `name` among [`PARAMS`].
///
/// # Panics
/// If there is none (a template bug).
pub fn param(name: &str) -> u32 {
    PARAMS
        .iter()
        .position(|(n, _, _)| *n == name)
        .unwrap_or_else(|| panic!("no slab parameter `{name}`")) as u32
}

/// The slot of `field` of instrument row 0; row `i` is `INSTRUMENT_FIELDS.len() × i` further.
pub fn instrument_param(field: &str) -> u32 {
    let offset = INSTRUMENT_FIELDS
        .iter()
        .position(|(f, _)| *f == field)
        .unwrap_or_else(|| panic!("no instrument field `{field}`"));
    (PARAMS.len() + offset) as u32
}

/// `name ← params[name]`.
pub fn load(b: &mut FunctionBuilder, name: &'static str) -> Var {
    b.let_(
        name,
        Ty::U64,
        Rvalue::Load(Addr::Fixed(Segment::Params, param(name))),
    )
}

/// The instrument rows as a record of the parameter segment, field for field
/// [`INSTRUMENT_FIELDS`]: a row's field is addressed by shifts and adds, with no multiply.
pub static INSTRUMENT_ROW: Record = Record {
    name: "instrument_params",
    fields: &[
        ("tick", 1),
        ("lot", 1),
        ("price_max", 1),
        ("qty_max", 1),
        ("contract_size", 1),
        ("oracle_view", 1),
        ("oracle_key", 1),
    ],
};

/// The instrument rows' table.
pub fn instrument_rows() -> Table {
    Table {
        segment: Segment::Params,
        base: PARAMS.len() as u32,
        capacity: INSTRUMENTS_MAX,
        record: &INSTRUMENT_ROW,
        code: super::code::TABLE,
    }
}

/// `field` of instrument `row` (a `u64` variable already checked `< instrument_count`).
pub fn load_instrument(b: &mut FunctionBuilder, row: Var, field: &'static str) -> Var {
    b.let_(
        field,
        Ty::U64,
        Rvalue::Load(Addr::Field(instrument_rows(), row, field)),
    )
}

/// The allowance of a maker class as a `u128` (`class` 1 = DLP, else REG).
pub fn load_allowance(b: &mut FunctionBuilder, class: Var) -> Var {
    let lo = load(b, "reg_allowance_lo");
    let hi = load(b, "reg_allowance_hi");
    b.if_(curve_ir::ir::Cond::NonZero(class), |b| {
        b.assign(
            lo,
            Rvalue::Load(Addr::Fixed(Segment::Params, param("dlp_allowance_lo"))),
        );
        b.assign(
            hi,
            Rvalue::Load(Addr::Fixed(Segment::Params, param("dlp_allowance_hi"))),
        );
    });
    b.let_("allowance", Ty::U128, Rvalue::Join(lo, hi))
}

/// What the certificate proves: every bound the code relies on. Per instrument row: tick, lot
/// and contract size at least 1 (a zero tick would make every price "aligned"), prices below
/// 2^[`PRICE_BITS`], quantities below 2^[`QTY_BITS`], `qty_max × contract_size` within a word,
/// the oracle view below 8 (a price or quantity bound of 0 only makes every order invalid, so
/// it needs no row: 7 rows per instrument keep the 32 rows and the scalars within the 256 rows
/// of the largest certificate class); and
/// `mmr ≤ imr`, a rebate no larger than the taker fee that pays it, a positive batch window, allowances below 2^96, at most [`INSTRUMENTS_MAX`]
/// instruments, flags that are bits.
pub fn conditions() -> Vec<Condition> {
    let names = &*PARAM_NAMES;
    let mut conditions = vec![
        Condition::Le("mmr_bps", "imr_bps"),
        Condition::Le("rebate_bps", "taker_bps"),
        Condition::Le("one", "batch_ms"),
        Condition::Range("dlp_allowance_hi", 32),
        Condition::Range("reg_allowance_hi", 32),
        Condition::Range("jit_penalty", 1),
        Condition::Range("liquidation_full", 1),
        Condition::Le("instrument_count", "instruments_limit"),
    ];
    let rows = names[PARAMS.len()..].chunks(INSTRUMENT_FIELDS.len());
    for row in rows {
        let [
            tick,
            lot,
            price_max,
            qty_max,
            contract_size,
            oracle_view,
            _oracle_key,
        ] = row
        else {
            unreachable!("rows have seven fields")
        };
        conditions.extend([
            Condition::Le("one", tick),
            Condition::Le("one", lot),
            Condition::Le("one", contract_size),
            Condition::Range(price_max, PRICE_BITS),
            Condition::MulNoOverflow(qty_max, contract_size, 64),
            Condition::Range(qty_max, QTY_BITS),
            Condition::Range(oracle_view, 3),
        ]);
    }
    conditions
}

/// The parameter table of a checked SLAB block.
pub fn table(block: &CheckedBlock) -> Vec<ParamSlot> {
    let mut slots = Vec::new();
    let number = |keyword: &str, arg: &str| -> u128 {
        let value = block
            .value(keyword, arg)
            .expect("the checker fills every SLAB default");
        value
            .as_bool()
            .map(u128::from)
            .or_else(|| value.as_choice().map(|c| u128::from(c == "full")))
            .or_else(|| value.as_u128())
            .expect("SLAB values are numbers, flags or choices")
    };
    let class_allowance = |class: &str| -> (u128, curvescript_syntax::Span) {
        block
            .statements_named("MAKER_CLASS")
            .find(|s| s.value("class").and_then(|v| v.as_choice()) == Some(class))
            .map_or((0, block.header_span), |s| {
                let allowance = s
                    .value("allowance")
                    .and_then(|v| v.as_u128())
                    .expect("a MAKER_CLASS statement has an allowance");
                (
                    allowance,
                    s.arg_span("allowance").unwrap_or(block.header_span),
                )
            })
    };
    let instruments: Vec<_> = block.statements_named("INSTRUMENT").collect();
    for &(name, keyword, arg) in &PARAMS {
        let span = if keyword.is_empty() || arg.is_empty() {
            block.header_span
        } else {
            block
                .statement(keyword)
                .and_then(|s| s.arg_span(arg))
                .unwrap_or(block.header_span)
        };
        let (value, span): (u128, _) = match name {
            "one" => (1, span),
            "instruments_limit" => (u128::from(INSTRUMENTS_MAX), span),
            "instrument_count" => (instruments.len() as u128, span),
            "dlp_allowance_lo" => {
                let (a, s) = class_allowance("DLP");
                (a & u128::from(u64::MAX), s)
            }
            "dlp_allowance_hi" => {
                let (a, s) = class_allowance("DLP");
                (a >> 64, s)
            }
            "reg_allowance_lo" => {
                let (a, s) = class_allowance("REG");
                (a & u128::from(u64::MAX), s)
            }
            "reg_allowance_hi" => {
                let (a, s) = class_allowance("REG");
                (a >> 64, s)
            }
            _ => (number(keyword, arg), span),
        };
        slots.push(ParamSlot {
            name,
            keyword,
            arg,
            value: u64::try_from(value).expect("SLAB values fit a word"),
            span,
        });
    }
    let names = &*PARAM_NAMES;
    let oracles = oracles(block);
    for row in 0..INSTRUMENTS_MAX as usize {
        let statement = instruments.get(row);
        for (f, (field, arg)) in INSTRUMENT_FIELDS.iter().enumerate() {
            let (value, span) = match statement {
                Some(s) if *field == "oracle_key" => (
                    oracle_name(s.value(arg)).map_or(0, |name| oracle_key(&name)),
                    s.arg_span(arg).unwrap_or(block.header_span),
                ),
                None if *field == "oracle_key" => (0, block.header_span),
                Some(s) if *arg == "oracle" => {
                    let id = oracle_id(s.value(arg));
                    let view = oracles.iter().position(|o| *o == id).expect("listed");
                    (view as u64, s.arg_span(arg).unwrap_or(block.header_span))
                }
                None if *arg == "oracle" => (0, block.header_span),
                Some(s) => (
                    s.value(arg)
                        .and_then(|v| v.as_u128())
                        .and_then(|n| u64::try_from(n).ok())
                        .expect("INSTRUMENT values are bounded to u64 by the schema"),
                    s.arg_span(arg).unwrap_or(block.header_span),
                ),
                None => (1, block.header_span),
            };
            slots.push(ParamSlot {
                name: names[PARAMS.len() + row * INSTRUMENT_FIELDS.len() + f],
                keyword: "INSTRUMENT",
                arg,
                value,
                span,
            });
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_record_is_the_instrument_fields() {
        let fields: Vec<&str> = INSTRUMENT_ROW.fields.iter().map(|(f, _)| *f).collect();
        let named: Vec<&str> = INSTRUMENT_FIELDS.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, named);
        assert!(INSTRUMENT_ROW.fields.iter().all(|(_, words)| *words == 1));
    }
}
