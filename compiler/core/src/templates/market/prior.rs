//! `open(cap, funder) -> subsidy` (README "Prior" and `open`): the prior's shifted shares
//! `r0_w = D − ⌈b·ln(wmax / weight_w)⌉` from the weights in the parameter table (with the
//! probability floor), the potential's caches, and the subsidy `Φ(r0)` debited from the funder.

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

/// The `open` entrypoint.
pub fn open(layout: &MarketLayout, mutation: Mutation) -> Function {
    let mut b = FunctionBuilder::new("open", 2, 2);
    let cap = b.load("cap", Addr::Fixed(Segment::Args, 0));
    let funder = b.load("funder", Addr::Fixed(Segment::Args, 1));
    let worlds = layout.worlds_table();
    let n = b.constant("n", u64::from(layout.worlds));
    let weight_at = |w| Addr::Indexed(Segment::Params, w, params::weights_base());

    b.step("market.open/once", None, |b| {
        let open = b.load("open", layout.header("open"));
        b.guard(Cond::Zero(open), code::ALREADY_OPEN, "open runs once");
        b.guard(Cond::NonZero(funder), code::BAD_USER, "funder ≠ 0");
    });
    let floor = b.step("market.open/floor", Some("PRIOR"), |b| {
        let total = b.let_("total", Ty::U128, Rvalue::Const(0));
        b.for_each(n, layout.worlds, code::TABLE, |b, w| {
            let weight = b.load("weight", weight_at(w));
            let weight = b.let_("weight_wide", Ty::U128, Rvalue::Widen(weight));
            b.assign(total, Rvalue::Add(total, weight));
        });
        let total_lo = b.let_("total_lo", Ty::U64, Rvalue::Low(total));
        let total_hi = b.let_("total_hi", Ty::U64, Rvalue::High(total));
        let zero = b.let_("zero", Ty::U64, Rvalue::Test(Cond::Zero(total_lo)));
        b.if_(Cond::NonZero(total_hi), |b| {
            b.assign(zero, Rvalue::Const(0))
        });
        b.guard(Cond::Zero(zero), code::PRIOR_ZERO, "Σ weights > 0");
        // ⌈total / 16n⌉: no world below a sixteenth of the uniform probability.
        let parts = b.let_(
            "parts",
            Ty::U128,
            Rvalue::Const(FLOOR_PARTS * u128::from(layout.worlds)),
        );
        let round = b.let_(
            "round",
            Ty::U128,
            Rvalue::Const(FLOOR_PARTS * u128::from(layout.worlds) - 1),
        );
        let padded = b.let_("padded", Ty::U128, Rvalue::Add(total, round));
        let floor = b.let_("floor", Ty::U128, Rvalue::Div(padded, parts));
        b.let_("floor_lo", Ty::U64, Rvalue::Low(floor))
    });
    let weighed = |b: &mut FunctionBuilder, w| {
        let weight = b.load("weight", weight_at(w));
        b.if_(Cond::Lt(weight, floor), |b| {
            b.assign(weight, Rvalue::Copy(floor))
        });
        weight
    };
    b.step("market.open/lift", Some("PRIOR"), |b| {
        let heaviest = b.constant("heaviest", 0);
        b.for_each(n, layout.worlds, code::TABLE, |b, w| {
            let weight = weighed(b, w);
            b.if_(Cond::Lt(heaviest, weight), |b| {
                b.assign(heaviest, Rvalue::Copy(weight))
            });
        });
        let liquidity = potential::liquidity(b);
        let zero = b.constant("zero", 0);
        let top = b.let_("top", Ty::U128, Rvalue::Join(zero, heaviest));
        let most = b.let_("most", Ty::U128, Rvalue::Const(0));
        // lift_w = ⌈b·ln(⌊wmax·2^64 / weight_w⌋) / 2^64⌉, kept in `initial` until D is known.
        b.for_each(n, layout.worlds, code::TABLE, |b, w| {
            let weight = weighed(b, w);
            let weight = b.let_("weight_wide", Ty::U128, Rvalue::Widen(weight));
            let ratio = b.let_("ratio", Ty::U128, Rvalue::Div(top, weight));
            let ln = b.let_("ln_ratio", Ty::U128, Rvalue::Ln(ratio));
            let lift = potential::scale_up(b, liquidity, ln, Mutation::None);
            b.store(Addr::Field(worlds, w, "initial"), lift);
            let above = lt_u128(b, most, lift);
            b.if_(Cond::NonZero(above), |b| b.assign(most, Rvalue::Copy(lift)));
        });
        b.for_each(n, layout.worlds, code::TABLE, |b, w| {
            let at = Addr::Field(worlds, w, "initial");
            let lift = b.let_("lift", Ty::U128, Rvalue::Load(at));
            let r0 = b.let_("r0", Ty::U128, Rvalue::Sub(most, lift));
            b.store(at, r0);
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
