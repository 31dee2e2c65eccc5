//! The potential (README "The potential"): `Φ(r) = m + ⌈b·ln(Σ_w e_w) / 2^64⌉` with
//! `e_w = exp_neg(⌊(m − r_w)·2^64 / b⌋)` (0 from `m − r_w ≥ 45·b`), and the caches that make a
//! trade cost O(k) exponentials for k touched worlds unless the maximum moves.
//!
//! Every cached `e_w` is a pure function of `(m − r_w, b)` and `s` their exact sum, so a
//! repriced state holds the same words whichever trades led to it: Φ telescopes bit for bit.

use curve_ir::ir::{Cond, FunctionBuilder, Rvalue, Ty, Var};

use super::basket::{self, Basket};
use super::{MarketLayout, Mutation, code, params};
use crate::templates::debit::le_u128;

/// `b` as the code needs it, loaded once per call.
#[derive(Clone, Copy, Debug)]
pub struct Liquidity {
    /// `b` (`u64`).
    pub b: Var,
    /// `b` widened (`u128`).
    pub wide: Var,
    /// `45·b` (`u128`): from here on a world's exponential is 0.
    pub cutoff: Var,
}

/// Loads `b` from the parameter table.
pub fn liquidity(b: &mut FunctionBuilder) -> Liquidity {
    let liquidity = params::load(b, "b");
    let wide = b.let_("b_wide", Ty::U128, Rvalue::Widen(liquidity));
    let cutoff_factor = b.let_(
        "cutoff_factor",
        Ty::U128,
        Rvalue::Const(curvevm::fixed::EXP_NEG_LIMIT >> 64),
    );
    let cutoff = b.let_("cutoff", Ty::U128, Rvalue::Mul(wide, cutoff_factor));
    Liquidity {
        b: liquidity,
        wide,
        cutoff,
    }
}

/// `e = exp_neg(⌊d·2^64 / b⌋)`, or 0 when `d ≥ 45·b` (`d` a `u128`). The quotient is formed as
/// `⌊d/b⌋·2^64 + ⌊(d mod b)·2^64 / b⌋`, exact since `d mod b < b ≤ 2^62`.
pub fn exp_term(b: &mut FunctionBuilder, liquidity: Liquidity, d: Var) -> Var {
    let e = b.let_("e", Ty::U128, Rvalue::Const(0));
    let beyond = le_u128(b, liquidity.cutoff, d);
    b.if_(Cond::Zero(beyond), |b| {
        let whole = b.let_("whole", Ty::U128, Rvalue::Div(d, liquidity.wide));
        let taken = b.let_("taken", Ty::U128, Rvalue::Mul(whole, liquidity.wide));
        let rest = b.let_("rest", Ty::U128, Rvalue::Sub(d, taken));
        let rest_lo = b.let_("rest_lo", Ty::U64, Rvalue::Low(rest));
        let zero = b.constant("zero", 0);
        let shifted = b.let_("shifted", Ty::U128, Rvalue::Join(zero, rest_lo));
        let fraction = b.let_("fraction", Ty::U128, Rvalue::Div(shifted, liquidity.wide));
        let fraction_lo = b.let_("fraction_lo", Ty::U64, Rvalue::Low(fraction));
        let whole_lo = b.let_("whole_lo", Ty::U64, Rvalue::Low(whole));
        let z = b.let_("z", Ty::U128, Rvalue::Join(fraction_lo, whole_lo));
        b.assign(e, Rvalue::ExpNeg(z));
    });
    e
}

/// `⌈b·x / 2^64⌉` of a Q64.64 `x < 2^128` (`u128`), from two 64×64 products.
pub fn scale_up(b: &mut FunctionBuilder, liquidity: Liquidity, x: Var, mutation: Mutation) -> Var {
    let x_hi = b.let_("x_hi", Ty::U64, Rvalue::High(x));
    let x_lo = b.let_("x_lo", Ty::U64, Rvalue::Low(x));
    let whole = b.let_("whole", Ty::U128, Rvalue::WideMul(liquidity.b, x_hi));
    let part = b.let_("part", Ty::U128, Rvalue::WideMul(liquidity.b, x_lo));
    let part_hi = b.let_("part_hi", Ty::U64, Rvalue::High(part));
    let part_lo = b.let_("part_lo", Ty::U64, Rvalue::Low(part));
    if mutation != Mutation::ChargeRoundedDown {
        b.if_(Cond::NonZero(part_lo), |b| {
            let one = b.constant("one", 1);
            b.assign(part_hi, Rvalue::Add(part_hi, one));
        });
    }
    let up = b.let_("up", Ty::U128, Rvalue::Widen(part_hi));
    b.let_("scaled", Ty::U128, Rvalue::Add(whole, up))
}

/// `Φ = m + ⌈b·ln(s) / 2^64⌉`.
pub fn potential_of(
    b: &mut FunctionBuilder,
    liquidity: Liquidity,
    max: Var,
    sum: Var,
    mutation: Mutation,
) -> Var {
    let ln = b.let_("ln_sum", Ty::U128, Rvalue::Ln(sum));
    let lift = scale_up(b, liquidity, ln, mutation);
    b.let_("potential", Ty::U128, Rvalue::Add(max, lift))
}

/// `a < c` over `u128` variables, as a `u64` flag.
pub fn lt_u128(b: &mut FunctionBuilder, a: Var, c: Var) -> Var {
    let le = le_u128(b, c, a);
    b.let_("lt", Ty::U64, Rvalue::Test(Cond::Zero(le)))
}

/// `a = c` over `u128` variables, as a `u64` flag.
pub fn eq_u128(b: &mut FunctionBuilder, a: Var, c: Var) -> Var {
    let a_lo = b.let_("a_lo", Ty::U64, Rvalue::Low(a));
    let c_lo = b.let_("c_lo", Ty::U64, Rvalue::Low(c));
    let a_hi = b.let_("a_hi", Ty::U64, Rvalue::High(a));
    let c_hi = b.let_("c_hi", Ty::U64, Rvalue::High(c));
    let equal = b.let_("equal", Ty::U64, Rvalue::Test(Cond::Eq(a_lo, c_lo)));
    b.if_(Cond::Ne(a_hi, c_hi), |b| {
        b.assign(equal, Rvalue::Const(0));
    });
    equal
}

/// A trade's direction on the basket's worlds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `r_w += shares`.
    Buy,
    /// `r_w −= shares`.
    Sell,
}

/// Whether a repricing writes the state (a trade) or only computes (a quote).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Store the new shares and caches.
    Commit,
    /// Leave the state as it is.
    DryRun,
}

/// What a repricing gives.
#[derive(Clone, Copy, Debug)]
pub struct Repriced {
    /// Φ before (`u128`, the cache).
    pub before: Var,
    /// Φ after.
    pub after: Var,
    /// `max r'`.
    pub max: Var,
    /// `min r'`.
    pub min: Var,
    /// `max r − min r` before the trade.
    pub spread_before: Var,
}

/// World `w`'s shares before (`after = false`) or after the trade. The state holds the ones
/// before for a dry run and the ones after for a commit (which wrote them first); the other side
/// is the state's moved by `shares` when `w` is a member.
fn shares_at(
    b: &mut FunctionBuilder,
    layout: &MarketLayout,
    w: Var,
    (shares, direction, write): (Var, Direction, Write),
    after: bool,
) -> Var {
    let worlds = layout.worlds_table();
    let r = b.let_(
        "r",
        Ty::U128,
        Rvalue::Load(curve_ir::ir::Addr::Field(worlds, w, "shares")),
    );
    if (write == Write::Commit) != after {
        let member = b.load("member", basket::flag(layout, w));
        b.if_(Cond::NonZero(member), |b| {
            let moved = if (direction == Direction::Buy) == after {
                Rvalue::Add(r, shares)
            } else {
                Rvalue::Sub(r, shares)
            };
            b.assign(r, moved);
        });
    }
    r
}

/// Emits the trade of `shares` of `basket` in `direction` on the potential (README `buy` step 1
/// and 2, `sell` step 2): the members' shares, the new maximum and minimum (one pass over the
/// worlds, compares only), the exponentials — the members' only while the maximum stays, every
/// world's when it moves — the sum and Φ. A commit stores shares and caches.
pub fn reprice(
    b: &mut FunctionBuilder,
    layout: &MarketLayout,
    basket: Basket,
    shares: Var,
    direction: Direction,
    write: Write,
    mutation: Mutation,
) -> Repriced {
    let worlds = layout.worlds_table();
    let liquidity = liquidity(b);
    let before = b.let_(
        "potential_before",
        Ty::U128,
        Rvalue::Load(layout.header("potential")),
    );
    let max_before = b.let_("max_before", Ty::U128, Rvalue::Load(layout.header("max")));
    let sum_before = b.let_("sum_before", Ty::U128, Rvalue::Load(layout.header("sum")));

    b.at("market.reprice/shares", None);
    // The members' new shares (stored by a commit), the largest of them, and whether one of
    // them held the maximum: what decides whether the maximum can move.
    let member_max = b.let_("member_max", Ty::U128, Rvalue::Const(0));
    let held_max = b.constant("held_max", 0);
    b.for_each(basket.count, layout.worlds, code::TABLE, |b, i| {
        let w = b.let_("w", Ty::U64, Rvalue::Load(basket::member(i)));
        let at = curve_ir::ir::Addr::Field(worlds, w, "shares");
        let r = b.let_("r", Ty::U128, Rvalue::Load(at));
        let at_max = eq_u128(b, r, max_before);
        b.if_(Cond::NonZero(at_max), |b| {
            b.assign(held_max, Rvalue::Const(1))
        });
        let moved = match direction {
            Direction::Buy => Rvalue::Add(r, shares),
            Direction::Sell => Rvalue::Sub(r, shares),
        };
        b.assign(r, moved);
        if write == Write::Commit {
            b.store(at, r);
        }
        let above = lt_u128(b, member_max, r);
        b.if_(Cond::NonZero(above), |b| {
            b.assign(member_max, Rvalue::Copy(r))
        });
    });
    // A buy moves the maximum when a member passes it; a sell may when a member held it.
    let moves = match direction {
        Direction::Buy => lt_u128(b, max_before, member_max),
        Direction::Sell => b.let_("moves", Ty::U64, Rvalue::Copy(held_max)),
    };

    b.at("market.reprice/exponentials", None);
    let max = b.let_("max", Ty::U128, Rvalue::Copy(max_before));
    // While the maximum stays, a buy cannot widen the spread (it raises members below the
    // maximum) and the limits pass with these zeros; a moving maximum computes both.
    let min = b.let_("min", Ty::U128, Rvalue::Const(0));
    let min_before = b.let_("min_before", Ty::U128, Rvalue::Const(0));
    let sum = b.let_("sum", Ty::U128, Rvalue::Copy(sum_before));
    let n = b.constant("n", u64::from(layout.worlds));
    b.if_else(
        Cond::Zero(moves),
        |b| {
            // Only the members' distances to the maximum changed: O(k).
            b.for_each(basket.count, layout.worlds, code::TABLE, |b, i| {
                let w = b.let_("w", Ty::U64, Rvalue::Load(basket::member(i)));
                let at = curve_ir::ir::Addr::Field(worlds, w, "exp");
                let old = b.let_("e_old", Ty::U128, Rvalue::Load(at));
                let r = shares_at(b, layout, w, (shares, direction, write), true);
                let d = b.let_("d", Ty::U128, Rvalue::Sub(max, r));
                let e = exp_term(b, liquidity, d);
                b.assign(sum, Rvalue::Sub(sum, old));
                b.assign(sum, Rvalue::Add(sum, e));
                if write == Write::Commit {
                    b.store(at, e);
                }
            });
        },
        |b| {
            b.at("market.reprice/extremes", None);
            b.assign(max, Rvalue::Const(0));
            b.assign(min, Rvalue::Const(u128::MAX));
            b.assign(min_before, Rvalue::Const(u128::MAX));
            b.for_each(n, layout.worlds, code::TABLE, |b, w| {
                let r = shares_at(b, layout, w, (shares, direction, write), true);
                let above = lt_u128(b, max, r);
                b.if_(Cond::NonZero(above), |b| b.assign(max, Rvalue::Copy(r)));
                let below = lt_u128(b, r, min);
                b.if_(Cond::NonZero(below), |b| b.assign(min, Rvalue::Copy(r)));
                let old = shares_at(b, layout, w, (shares, direction, write), false);
                let below = lt_u128(b, old, min_before);
                b.if_(Cond::NonZero(below), |b| {
                    b.assign(min_before, Rvalue::Copy(old))
                });
            });
            // Every world's distance to the maximum changed: O(n).
            b.at("market.reprice/exponentials", None);
            b.assign(sum, Rvalue::Const(0));
            b.for_each(n, layout.worlds, code::TABLE, |b, w| {
                let r = shares_at(b, layout, w, (shares, direction, write), true);
                let d = b.let_("d", Ty::U128, Rvalue::Sub(max, r));
                let e = exp_term(b, liquidity, d);
                b.assign(sum, Rvalue::Add(sum, e));
                if write == Write::Commit {
                    b.store(curve_ir::ir::Addr::Field(worlds, w, "exp"), e);
                }
            });
        },
    );

    b.at("market.reprice/potential", None);
    let after = potential_of(b, liquidity, max, sum, mutation);
    if write == Write::Commit {
        b.store(layout.header("max"), max);
        b.store(layout.header("sum"), sum);
        b.store(layout.header("potential"), after);
    }
    Repriced {
        before,
        after,
        max,
        min,
        spread_before: b.let_(
            "spread_before",
            Ty::U128,
            Rvalue::Sub(max_before, min_before),
        ),
    }
}

/// Emits the caches of the state as it stands (`open`): every `e_w`, `s`, `m` and Φ, stored.
/// Returns Φ.
pub fn rebuild(b: &mut FunctionBuilder, layout: &MarketLayout, mutation: Mutation) -> Var {
    let worlds = layout.worlds_table();
    let liquidity = liquidity(b);
    let n = b.constant("n", u64::from(layout.worlds));
    let max = b.let_("max", Ty::U128, Rvalue::Const(0));
    b.for_each(n, layout.worlds, code::TABLE, |b, w| {
        let r = b.let_(
            "r",
            Ty::U128,
            Rvalue::Load(curve_ir::ir::Addr::Field(worlds, w, "shares")),
        );
        let above = lt_u128(b, max, r);
        b.if_(Cond::NonZero(above), |b| b.assign(max, Rvalue::Copy(r)));
    });
    let sum = b.let_("sum", Ty::U128, Rvalue::Const(0));
    b.for_each(n, layout.worlds, code::TABLE, |b, w| {
        let r = b.let_(
            "r",
            Ty::U128,
            Rvalue::Load(curve_ir::ir::Addr::Field(worlds, w, "shares")),
        );
        let d = b.let_("d", Ty::U128, Rvalue::Sub(max, r));
        let e = exp_term(b, liquidity, d);
        b.assign(sum, Rvalue::Add(sum, e));
        b.store(curve_ir::ir::Addr::Field(worlds, w, "exp"), e);
    });
    let potential = potential_of(b, liquidity, max, sum, mutation);
    b.store(layout.header("max"), max);
    b.store(layout.header("sum"), sum);
    b.store(layout.header("potential"), potential);
    potential
}
