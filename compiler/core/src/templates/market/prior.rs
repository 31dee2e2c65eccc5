//! `open(cap, funder) -> subsidy` (README "Prior" and `open`): the prior's shifted shares
//! `r0_w = D − lift_w` from the lifts in the parameter table (`D` their maximum, so min r0 = 0),
//! the potential's caches, and the subsidy `Φ(r0)` — the market's worst-case loss, computed here
//! with the `exp_neg` and `ln` microcode — debited from the funder. The compiler computes the
//! lifts from the prior's weights ([`lifts`]) with `curvevm::fixed::ln`, the function the `ln`
//! microcode expands, so a 1,024-world market opens for ~40 M gas instead of ~170 M.

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Ty};
use curvevm::isa::Segment;

use super::potential::{self, lt_u128};
use super::{MarketLayout, Mutation, code, params};
use crate::templates::debit::{self, Debit};
use crate::templates::slab::commit::COLLATERAL_ASSET;

/// The prior's floor is `total / (FLOOR_PARTS · n)`: no world starts below a sixteenth of the
/// uniform probability, which caps the subsidy near `b·ln(16n)`.
pub const FLOOR_PARTS: u128 = 16;

/// README "Prior" steps 1–3: each world's lift `⌈b·ln(⌊wmax·2^64 / weight_w⌋) / 2^64⌉` after the
/// floor, or an error when the weights sum to zero.
pub fn lifts(b: u64, weights: &[u64]) -> Result<Vec<u128>, String> {
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if total == 0 {
        return Err("the prior's weights sum to zero".into());
    }
    let n = weights.len() as u128;
    let floor = u64::try_from(total.div_ceil(FLOOR_PARTS * n)).unwrap_or(u64::MAX);
    let floored: Vec<u64> = weights.iter().map(|&w| w.max(floor)).collect();
    let heaviest = floored.iter().copied().max().unwrap_or(1);
    Ok(floored
        .iter()
        .map(|&w| {
            let ratio = (u128::from(heaviest) << 64) / u128::from(w);
            let ln = curvevm::fixed::ln(ratio).expect("a ratio to the heaviest is at least 1");
            let (whole, part) = (
                u128::from(b) * (ln >> 64),
                u128::from(b) * (ln & u128::from(u64::MAX)),
            );
            whole + (part >> 64) + u128::from(part as u64 != 0)
        })
        .collect())
}

/// The `open` entrypoint.
pub fn open(layout: &MarketLayout, mutation: Mutation) -> Function {
    let mut b = FunctionBuilder::new("open", 2, 2);
    let cap = b.load("cap", Addr::Fixed(Segment::Args, 0));
    let funder = b.load("funder", Addr::Fixed(Segment::Args, 1));
    let worlds = layout.worlds_table();
    let n = b.constant("n", u64::from(layout.worlds));

    b.step("market.open/once", None, |b| {
        let open = b.load("open", layout.header("open"));
        b.guard(Cond::Zero(open), code::ALREADY_OPEN, "open runs once");
        b.guard(Cond::NonZero(funder), code::BAD_USER, "funder ≠ 0");
    });
    // A uniform prior: every r0_w is 0, the zeroed state already.
    b.step("market.open/shares", Some("PRIOR"), |b| {
        if !layout.lifts {
            return;
        }
        // lift_w is the u128 at parameter words lifts_base + 2w.
        let lift_of = |b: &mut FunctionBuilder, w| {
            let at = b.let_("at", Ty::U64, Rvalue::Add(w, w));
            b.let_(
                "lift",
                Ty::U128,
                Rvalue::Load(Addr::Indexed(Segment::Params, at, params::lifts_base())),
            )
        };
        let most = b.let_("most", Ty::U128, Rvalue::Const(0));
        b.for_each(n, layout.worlds, code::TABLE, |b, w| {
            let lift = lift_of(b, w);
            let above = lt_u128(b, most, lift);
            b.if_(Cond::NonZero(above), |b| b.assign(most, Rvalue::Copy(lift)));
        });
        b.for_each(n, layout.worlds, code::TABLE, |b, w| {
            let lift = lift_of(b, w);
            let r0 = b.let_("r0", Ty::U128, Rvalue::Sub(most, lift));
            b.store(Addr::Field(worlds, w, "initial"), r0);
            b.store(Addr::Field(worlds, w, "shares"), r0);
        });
    });
    let subsidy = b.step("market.open/caches", Some("LIQUIDITY"), |b| {
        // min r0 = 0, so the subsidy Φ(r0) − min r0 is Φ(r0).
        let subsidy = potential::rebuild(b, layout, mutation);
        b.store(layout.header("subsidy"), subsidy);
        b.store(layout.header("escrow"), subsidy);
        let one = b.constant("one", 1);
        b.store(layout.header("open"), one);
        subsidy
    });
    b.step("market.open/debit", None, |b| {
        let asset = b.constant("asset", COLLATERAL_ASSET);
        debit::safe_debit(
            b,
            Debit {
                cap,
                user: funder,
                asset,
                amount: subsidy,
                bound: subsidy,
                ledger: layout.header("collected"),
                over_bound: code::SLIPPAGE,
            },
        );
        b.store(Addr::Fixed(Segment::Ret, 0), subsidy);
    });
    b.finish()
}
