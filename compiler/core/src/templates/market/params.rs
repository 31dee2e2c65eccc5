//! The market's parameter table: the script's values, read by the bytecode from the parameter
//! segment, and the conditions the certificate proves over them. The table is the [`PARAMS`]
//! slots, then each world's prior lift as a `u128` (`lift.0.lo`, `lift.0.hi`, …;
//! [`super::prior::lifts`]).

use std::sync::LazyLock;

use curve_ir::ir::{Addr, FunctionBuilder, Rvalue, Ty, Var};
use curvevm::isa::Segment;

use super::{MarketLayout, WORLDS_MAX};
use crate::Condition;

/// Slots before the weights: (name, statement keyword, argument); slots without a keyword are
/// fixed by the template ([`CONSTANTS`]).
pub const PARAMS: [(&str, &str, &str); 6] = [
    ("one", "", ""),
    ("b", "LIQUIDITY", "b"),
    ("b_max", "", ""),
    ("trade_bps", "FEE", "trade_bps"),
    ("trade_bps_max", "", ""),
    ("close_ms", "CLOSE", "at_ms"),
];

/// Largest `b`: 2^62 base units keeps `45·b` and the spread limit `40·b` far inside `u128` and a
/// world's `d·2^64 / b` split into a `u64` remainder.
pub const B_MAX: u64 = 1 << 62;

/// Largest trade fee (the schema's cap), in basis points.
pub const TRADE_BPS_MAX: u64 = 1_000;

/// The constant region: every verifier checks these words before trusting a certificate.
pub const CONSTANTS: [(&str, u64); 3] = [
    ("one", 1),
    ("b_max", B_MAX),
    ("trade_bps_max", TRADE_BPS_MAX),
];

static LIFT_NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    (0..WORLDS_MAX)
        .flat_map(|w| [format!("lift.{w}.lo"), format!("lift.{w}.hi")])
        .map(|name| &*Box::leak(name.into_boxed_str()))
        .collect()
});

/// Every slot name of a market of `layout`, in table order.
pub fn names(layout: &MarketLayout) -> Vec<&'static str> {
    PARAMS
        .iter()
        .map(|&(name, _, _)| name)
        .chain(LIFT_NAMES[..lift_words(layout)].iter().copied())
        .collect()
}

/// Parameter words the prior's lifts take: two a world, or none for a uniform prior.
pub fn lift_words(layout: &MarketLayout) -> usize {
    if layout.lifts {
        2 * layout.worlds as usize
    } else {
        0
    }
}

/// The slot of `name` among [`PARAMS`].
///
/// # Panics
/// If there is no such slot (a template bug).
pub fn param(name: &str) -> u32 {
    PARAMS
        .iter()
        .position(|&(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no market parameter `{name}`")) as u32
}

/// The slot of world `0`'s lift (low word; the high word follows).
pub fn lifts_base() -> u32 {
    PARAMS.len() as u32
}

/// `name ← params[name]`.
pub fn load(b: &mut FunctionBuilder, name: &str) -> Var {
    b.let_(
        name,
        Ty::U64,
        Rvalue::Load(Addr::Fixed(Segment::Params, param(name))),
    )
}

/// Gnosis's convention (lmsr.md §1.1, check T10): `b = ⌊funding / ln n⌋` for `n` worlds, so a
/// uniform market's worst-case loss `b·ln n` is at most `funding`. `ln n` is
/// `curvevm::fixed::ln` in Q64.64 and the division is exact (three steps of a long division,
/// since `funding·2^64` may not fit a `u128`); `None` when b would not fit a `u64`.
pub fn b_from_funding(funding: u128, worlds: u32) -> Option<u64> {
    let ln_n = curvevm::fixed::ln(u128::from(worlds) << 64).ok()?;
    if ln_n == 0 {
        return None;
    }
    // ⌊funding·2^64 / ln_n⌋ = whole·2^64 + ⌊rest·2^64 / ln_n⌋, the fraction 32 bits at a time
    // (rest < ln_n < 2^68, so rest·2^32 < 2^100).
    let whole = funding / ln_n;
    let mut rest = funding % ln_n;
    let mut fraction: u128 = 0;
    for _ in 0..2 {
        let shifted = rest << 32;
        fraction = (fraction << 32) | (shifted / ln_n);
        rest = shifted % ln_n;
    }
    let b = whole.checked_mul(1 << 64)?.checked_add(fraction)?;
    u64::try_from(b).ok()
}

/// What the certificate proves: `1 ≤ b ≤ 2^62` and the fee under its cap. The code relies on
/// both (the split of `d·2^64 / b`, `45·b` in a `u128`). The lifts need none: any lifts give a
/// solvent market, since the subsidy is computed from them on chain.
pub fn conditions() -> Vec<Condition> {
    vec![
        Condition::Le("one", "b"),
        Condition::Le("b", "b_max"),
        Condition::Le("trade_bps", "trade_bps_max"),
    ]
}
