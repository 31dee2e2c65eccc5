//! Baskets (README "Worlds and baskets"): a `(yes_mask, no_mask)` pair decoded into the list of
//! its worlds (scratch words `0..count`) and their membership flags (scratch word `n + w` is 1
//! for a member), so a trade touches the members in O(k) and a full pass asks a flag per world.
//!
//! The ISA has no bitwise operations: masks are decoded bit by bit from the top (`p ≤ mask`
//! then `mask −= p`, unrolled over the shape's events), and a joint slice's worlds are built by
//! doubling the list once per free event (`world + 2^j` for each world so far), O(k) in all.

use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Ty, Var};
use curvevm::isa::Segment;

use super::{MarketLayout, Structure, code};

/// A decoded basket: its world count (`u64`, ≥ 1).
#[derive(Clone, Copy, Debug)]
pub struct Basket {
    /// Worlds in the basket (scratch words `0..count` list them).
    pub count: Var,
}

/// The scratch address of the basket's `i`-th world.
pub fn member(i: Var) -> Addr {
    Addr::Indexed(Segment::Scratch, i, 0)
}

/// The scratch address of world `w`'s membership flag.
pub fn flag(layout: &MarketLayout, w: Var) -> Addr {
    Addr::Indexed(Segment::Scratch, w, layout.worlds)
}

/// Emits the decoding of `(yes, no)` for `layout`'s structure, aborting `BAD_BASKET` on a mask
/// bit outside the events, `yes ∩ no ≠ ∅`, or (multi) an empty set or a `no_mask`.
pub fn decode(b: &mut FunctionBuilder, layout: &MarketLayout, yes: Var, no: Var) -> Basket {
    let count = match layout.structure {
        Structure::Binary | Structure::Joint => slice(b, layout, yes, no),
        Structure::Multi => outcomes(b, layout, yes, no),
    };
    // Flag every member for the passes over all worlds.
    let one = b.constant("one", 1);
    b.for_each(count, layout.worlds, code::TABLE, |b, i| {
        let w = b.let_("w", Ty::U64, Rvalue::Load(member(i)));
        b.store(flag(layout, w), one);
    });
    Basket { count }
}

/// A joint slice: every world with the `yes` bits set and the `no` bits clear.
fn slice(b: &mut FunctionBuilder, layout: &MarketLayout, yes: Var, no: Var) -> Var {
    let rest_yes = b.let_("rest_yes", Ty::U64, Rvalue::Copy(yes));
    let rest_no = b.let_("rest_no", Ty::U64, Rvalue::Copy(no));
    let base = b.constant("base", 0);
    let mut free = Vec::new();
    for j in (0..layout.events).rev() {
        let bit = b.constant("bit", 1 << j);
        let is_yes = b.let_("is_yes", Ty::U64, Rvalue::Test(Cond::Le(bit, rest_yes)));
        let is_no = b.let_("is_no", Ty::U64, Rvalue::Test(Cond::Le(bit, rest_no)));
        b.if_(Cond::NonZero(is_yes), |b| {
            b.assign(rest_yes, Rvalue::Sub(rest_yes, bit));
            b.assign(base, Rvalue::Add(base, bit));
        });
        b.if_(Cond::NonZero(is_no), |b| {
            b.assign(rest_no, Rvalue::Sub(rest_no, bit));
        });
        let both = b.let_("both", Ty::U64, Rvalue::Add(is_yes, is_no));
        let two = b.constant("two", 2);
        b.guard(Cond::Ne(both, two), code::BAD_BASKET, "yes ∩ no = ∅");
        free.push((j, both));
    }
    b.guard(
        Cond::Zero(rest_yes),
        code::BAD_BASKET,
        "yes_mask within the events",
    );
    b.guard(
        Cond::Zero(rest_no),
        code::BAD_BASKET,
        "no_mask within the events",
    );
    // The list starts as the one world with every fixed bit; each free event doubles it.
    let zero = b.constant("zero", 0);
    b.store(member(zero), base);
    let count = b.constant("count", 1);
    for (j, constrained) in free.into_iter().rev() {
        b.if_(Cond::Zero(constrained), |b| {
            let bit = b.constant("bit", 1 << j);
            b.for_each(count, layout.worlds / 2, code::TABLE, |b, i| {
                let w = b.let_("w", Ty::U64, Rvalue::Load(member(i)));
                let other = b.let_("other", Ty::U64, Rvalue::Add(w, bit));
                let at = b.let_("at", Ty::U64, Rvalue::Add(count, i));
                b.store(member(at), other);
            });
            b.assign(count, Rvalue::Add(count, count));
        });
    }
    count
}

/// A multi-outcome set: the outcomes whose bit is set in `yes`.
fn outcomes(b: &mut FunctionBuilder, layout: &MarketLayout, yes: Var, no: Var) -> Var {
    b.guard(Cond::Zero(no), code::BAD_BASKET, "no_mask = 0 (multi)");
    let rest = b.let_("rest", Ty::U64, Rvalue::Copy(yes));
    let count = b.constant("count", 0);
    let one = b.constant("one", 1);
    for j in (0..layout.events).rev() {
        let bit = b.constant("bit", 1 << j);
        b.if_(Cond::Le(bit, rest), |b| {
            b.assign(rest, Rvalue::Sub(rest, bit));
            let outcome = b.constant("outcome", u64::from(j));
            b.store(member(count), outcome);
            b.assign(count, Rvalue::Add(count, one));
        });
    }
    b.guard(
        Cond::Zero(rest),
        code::BAD_BASKET,
        "yes_mask within the outcomes",
    );
    b.guard(Cond::NonZero(count), code::BAD_BASKET, "a non-empty set");
    count
}
