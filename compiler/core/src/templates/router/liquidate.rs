//! Liquidation (README "Liquidation"; percolator §4.17; L1–L3, R10, E2E3, E2E4, RM3): a
//! keeper's `liquidate(user)` measures the account's health from the portfolio views, saves it
//! with the user's free collateral when it can (L1), waits out the grace window, and only then
//! has each slab close what the netted deficit needs, each leg funded through its own cap
//! (L2). Each step is named after README.md's step.

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Ty, Var};
use curvevm::hostcall::id;
use curvevm::isa::Segment;

use super::margin::{self, LOCK_SLAB, Viewed, absolute};
use super::{Mutation, RETURNS, code, load_param, registry};
use crate::abi;
use crate::templates::debit::{is_negative as negative, le_u128, min_u128 as min};
use crate::templates::probe;

/// `status` of a liquidation that restored the buffer from the user's free collateral.
pub const SAVED: u64 = 0;
/// `status` of a liquidation waiting out the grace window.
pub const IN_GRACE: u64 = 1;
/// `status` of a liquidation that had slabs close positions.
pub const LIQUIDATED: u64 = 2;

/// The step names of a liquidation leg.
const LEG_STEPS: probe::FundedSteps = [
    "router.liquidate/pledge",
    "router.liquidate/cap",
    "router.liquidate/release",
];

/// The user's vault balance of the collateral (the host's `vault_read`).
fn free_collateral(b: &mut FunctionBuilder, user: Var) -> Var {
    let asset = b.constant("asset", 0);
    let balance = [b.var("free_lo", Ty::U64), b.var("free_hi", Ty::U64)];
    b.host(id::VAULT_READ, &[user, asset], &balance, 0);
    b.let_("free", Ty::U128, Rvalue::Join(balance[0], balance[1]))
}

/// `vault_pledge` (or `vault_release`, by `call`) of `amount` between the vault and the
/// escrow `(user, slab, collateral)`.
fn move_collateral(b: &mut FunctionBuilder, call: u16, user: Var, slab: Var, amount: Var) {
    let asset = b.constant("asset", 0);
    let lo = b.let_("amount_lo", Ty::U64, Rvalue::Low(amount));
    let hi = b.let_("amount_hi", Ty::U64, Rvalue::High(amount));
    let escrow = [b.var("escrow_lo", Ty::U64), b.var("escrow_hi", Ty::U64)];
    b.host(call, &[user, slab, asset, lo, hi], &escrow, 0);
}

/// `status` of a keeper's call on an account that is not short.
pub const HEALTHY: u64 = 3;

/// What the account is short by (README "Liquidation"): `min(preliq_buffer − H, IM − T)`
/// when `H < preliq_buffer` and `T < IM`, else 0 — `T` the equity at the router, `H = T −
/// MM` (both `i128`).
fn short_by(b: &mut FunctionBuilder, total: Var, health: Var, im: Var, buffer: Var) -> Var {
    let to_buffer = b.let_("to_buffer", Ty::U128, Rvalue::SubSigned(buffer, health));
    let to_im = b.let_("to_im", Ty::U128, Rvalue::SubSigned(im, total));
    let short = min_signed(b, to_buffer, to_im);
    let none = negative(b, short);
    b.if_(Cond::NonZero(none), |b| b.assign(short, Rvalue::Const(0)));
    // Exactly 0 is not short either: `H = buffer` or `T = IM`.
    short
}

/// `min(a, c)` of two `i128`s.
fn min_signed(b: &mut FunctionBuilder, a: Var, c: Var) -> Var {
    let least = b.let_("least", Ty::U128, Rvalue::Copy(a));
    let gap = b.let_("gap", Ty::U128, Rvalue::SubSigned(c, a));
    let below = negative(b, gap);
    b.if_(Cond::NonZero(below), |b| b.assign(least, Rvalue::Copy(c)));
    least
}

/// `1` when the `u128` `value` is nonzero.
fn nonzero(b: &mut FunctionBuilder, value: Var) -> Var {
    let low = b.let_("low", Ty::U64, Rvalue::Low(value));
    let high = b.let_("high", Ty::U64, Rvalue::High(value));
    let some = b.let_("some", Ty::U64, Rvalue::Test(Cond::NonZero(low)));
    b.if_(Cond::NonZero(high), |b| b.assign(some, Rvalue::Const(1)));
    some
}

/// Stores `(status, health, residual)` into the return words.
fn answer(b: &mut FunctionBuilder, status: u64, health: Var, residual: Var) {
    let status = b.constant("status", status);
    b.store(Addr::Fixed(Segment::Ret, 0), status);
    b.store(Addr::Fixed(Segment::Ret, 1), health);
    b.store(Addr::Fixed(Segment::Ret, 3), residual);
}

/// `liquidate(user) -> (status, health: i128, residual: u128)`.
pub fn liquidate(mutation: Mutation) -> Function {
    let entry = abi::ROUTER.entry("liquidate").expect("in the interface");
    let mut b = FunctionBuilder::new("liquidate", entry.arg_words(), entry.return_words());
    let user = b.load("user", Addr::Fixed(Segment::Args, 0));
    let table = super::portfolio_table();
    let status = b.constant("status", HEALTHY);
    b.store(Addr::Fixed(Segment::Ret, 0), status);
    let slot = b.step("router.liquidate/portfolio", None, |b| {
        b.guard(Cond::NonZero(user), code::BAD_USER, "user ≠ 0");
        let found = margin::portfolio(b, user, false);
        b.if_(Cond::Zero(found), |b| b.ret());
        margin::slot_of(b, found)
    });
    // Step 2.
    let (view, legs) = margin::compute_legs(&mut b, user, slot, false, mutation);
    let locked = b.let_(
        "locked",
        Ty::U128,
        Rvalue::Load(Addr::Field(table, slot, "locked")),
    );
    let (total, health, buffer, short) =
        b.step("router.liquidate/short", Some("LIQUIDATION"), |b| {
            let total = b.let_("total", Ty::U128, Rvalue::AddSigned(view.equity, locked));
            let health = b.let_("health", Ty::U128, Rvalue::SubSigned(total, view.mm));
            let lo = load_param(b, "preliq_buffer_lo");
            let hi = load_param(b, "preliq_buffer_hi");
            let buffer = b.let_("buffer", Ty::U128, Rvalue::Join(lo, hi));
            let short = short_by(b, total, health, view.im, buffer);
            // Not short: nothing to do but forget an old grace window.
            let some = nonzero(b, short);
            b.if_(Cond::Zero(some), |b| {
                let zero = b.constant("zero", 0);
                b.store(Addr::Field(table, slot, "flagged_ms"), zero);
                answer(b, HEALTHY, health, short);
                b.ret();
            });
            (total, health, buffer, short)
        });
    b.step("router.liquidate/re-pledge", Some("LIQUIDATION"), |b| {
        let free = free_collateral(b, user);
        let pledge = min(b, free, short);
        let lock_slab = b.constant("lock_slab", LOCK_SLAB);
        move_collateral(b, id::VAULT_PLEDGE, user, lock_slab, pledge);
        let locked_now = b.let_("locked", Ty::U128, Rvalue::Add(locked, pledge));
        b.store(Addr::Field(table, slot, "locked"), locked_now);
        b.assign(total, Rvalue::AddSigned(total, pledge));
        b.assign(health, Rvalue::AddSigned(health, pledge));
        let left = short_by(b, total, health, view.im, buffer);
        b.assign(short, Rvalue::Copy(left));
        // Saved by the user's own collateral: no slab closes anything (L1).
        let some = nonzero(b, short);
        b.if_(Cond::Zero(some), |b| {
            let zero = b.constant("zero", 0);
            b.store(Addr::Field(table, slot, "flagged_ms"), zero);
            answer(b, SAVED, health, short);
            b.ret();
        });
    });
    b.step("router.liquidate/grace", Some("LIQUIDATION"), |b| {
        let now = crate::templates::now(b);
        let flagged = b.load("flagged_ms", Addr::Field(table, slot, "flagged_ms"));
        b.if_(Cond::Zero(flagged), |b| {
            b.assign(flagged, Rvalue::Copy(now));
            b.store(Addr::Field(table, slot, "flagged_ms"), now);
        });
        let grace = load_param(b, "grace_ms");
        let until = b.add("until", flagged, grace);
        b.if_(Cond::Lt(now, until), |b| {
            answer(b, IN_GRACE, health, short);
            b.ret();
        });
    });
    let deficit = b.step("router.liquidate/sweep", Some("LIQUIDATION"), |b| {
        sweep(b, user, slot, &legs, health, short)
    });
    b.step("router.liquidate/re-lock", Some("LIQUIDATION"), |b| {
        let after = margin::compute(b, user, slot, true, mutation);
        let gap = b.let_("gap", Ty::U128, Rvalue::SubSigned(after.im, after.equity));
        let required = b.let_("required", Ty::U128, Rvalue::Copy(gap));
        let below = negative(b, gap);
        b.if_(Cond::NonZero(below), |b| {
            b.assign(required, Rvalue::Const(0))
        });
        // A liquidated account may be unable to post initial margin: what it has.
        let free = free_collateral(b, user);
        let pledge = min(b, required, free);
        let lock_slab = b.constant("lock_slab", LOCK_SLAB);
        move_collateral(b, id::VAULT_PLEDGE, user, lock_slab, pledge);
        b.store(Addr::Field(table, slot, "locked"), pledge);
        let equity = b.let_("equity", Ty::U128, Rvalue::AddSigned(after.equity, pledge));
        let health = b.let_("health", Ty::U128, Rvalue::SubSigned(equity, after.mm));
        answer(b, LIQUIDATED, health, deficit);
    });
    b.finish()
}

/// Step 6: the lock back to the vault, then each open leg's share of the deficit closed on its
/// slab through a funded liquidation leg. Returns the deficit left.
fn sweep(
    b: &mut FunctionBuilder,
    user: Var,
    slot: Var,
    legs: &[Viewed],
    health: Var,
    short: Var,
) -> Var {
    let table = super::portfolio_table();
    let deficit = b.let_("deficit", Ty::U128, Rvalue::Copy(short));
    // Below maintenance: the hard band; above it: the tighter pre-liquidation band.
    let band = load_param(b, "preliq_band_bps");
    let hard = negative(b, health);
    b.if_(Cond::NonZero(hard), |b| {
        b.assign(
            band,
            Rvalue::Load(Addr::Fixed(Segment::Params, super::param("band_bps"))),
        )
    });
    let locked = b.let_(
        "locked",
        Ty::U128,
        Rvalue::Load(Addr::Field(table, slot, "locked")),
    );
    let lock_slab = b.constant("lock_slab", LOCK_SLAB);
    move_collateral(b, id::VAULT_RELEASE, user, lock_slab, locked);
    let nothing = b.let_("nothing", Ty::U128, Rvalue::Const(0));
    b.store(Addr::Field(table, slot, "locked"), nothing);
    let cross = load_param(b, "cross");
    for (k, leg) in legs.iter().enumerate() {
        let share = shares(b, legs, k, cross);
        b.if_(Cond::NonZero(leg.open), |b| {
            let d = min(b, deficit, share);
            let some = nonzero(b, d);
            b.if_(Cond::NonZero(some), |b| {
                let amount = free_collateral(b, user);
                let words = [
                    b.let_("amount_lo", Ty::U64, Rvalue::Low(amount)),
                    b.let_("amount_hi", Ty::U64, Rvalue::High(amount)),
                ];
                // liquidation_call returns its debit at words 3 and 4: what the leg took.
                let taken = (
                    RETURNS + 3,
                    probe::CapTtl::Param(super::param("cap_ttl_ms")),
                );
                let status =
                    probe::funded(b, LEG_STEPS, (leg.slab, user), words, taken, |b, cap| {
                        b.at("router.liquidate/liquidation_call", Some("LIQUIDATION"));
                        let d_lo = b.let_("deficit_lo", Ty::U64, Rvalue::Low(d));
                        let d_hi = b.let_("deficit_hi", Ty::U64, Rvalue::High(d));
                        let (status, _) = super::invoke_with_args(
                            b,
                            (&abi::SLAB, "liquidation_call"),
                            leg.slab,
                            &[user, leg.instrument, d_lo, d_hi, band, cap],
                            "slab_0",
                        );
                        b.guard(Cond::Zero(status), code::LEG_FAILED, "the slab liquidates");
                        status
                    });
                let _ = status;
                let residual = b.let_(
                    "residual",
                    Ty::U128,
                    Rvalue::Load(Addr::Fixed(Segment::Scratch, RETURNS)),
                );
                // deficit_left −= d − residual.
                let covered = b.let_("covered", Ty::U128, Rvalue::Sub(d, residual));
                b.assign(deficit, Rvalue::Sub(deficit, covered));
                closed_towards_zero(b, slot, k, leg.slab);
            });
        });
    }
    deficit
}

/// README step 6's last line: leg slot `k`'s routed quantity moves `min(closed_qty, |qty|)`
/// towards 0 (`closed_qty`: the liquidation call's word 2), and its slab's open interest
/// falls as much.
fn closed_towards_zero(b: &mut FunctionBuilder, slot: Var, k: usize, slab: Var) {
    let field = Addr::Field(super::portfolio_table(), slot, margin::LEG_QTY[k]);
    let closed = b.load("closed_qty", Addr::Fixed(Segment::Scratch, RETURNS + 2));
    let zero = b.constant("zero", 0);
    let closed = b.let_("closed", Ty::U128, Rvalue::Join(closed, zero));
    let before = b.let_("qty_before", Ty::U128, Rvalue::Load(field));
    let size = absolute(b, before);
    let step = min(b, closed, size);
    let after = b.let_("qty_after", Ty::U128, Rvalue::Sub(before, step));
    let short = negative(b, before);
    b.if_(Cond::NonZero(short), |b| {
        b.assign(after, Rvalue::AddSigned(before, step))
    });
    b.store(field, after);
    registry::move_open_qty(b, slab, before, after);
}

/// The share of the deficit leg `k` may close: `|mm_pos|` margined alone (`isolated`); with
/// `cross` (`cross_alpha`), only a leg on the side of its feed's net `N = Σ mm_pos`, at most
/// what of `|N|` the earlier legs of that feed left (E2E3).
fn shares(b: &mut FunctionBuilder, legs: &[Viewed], k: usize, cross: Var) -> Var {
    let leg = legs[k];
    let share = absolute(b, leg.mm_pos);
    b.if_(Cond::NonZero(cross), |b| {
        let net = b.let_("net", Ty::U128, Rvalue::Const(0));
        for other in legs {
            b.if_(Cond::Eq(other.key, leg.key), |b| {
                b.if_(Cond::NonZero(other.slab), |b| {
                    b.assign(net, Rvalue::AddSigned(net, other.mm_pos))
                });
            });
        }
        let net_short = negative(b, net);
        let own_short = negative(b, leg.mm_pos);
        let net_size = absolute(b, net);
        // Earlier legs of the feed on the net's side take their shares first.
        let taken = b.let_("taken", Ty::U128, Rvalue::Const(0));
        for earlier in &legs[..k] {
            b.if_(Cond::Eq(earlier.key, leg.key), |b| {
                b.if_(Cond::NonZero(earlier.slab), |b| {
                    let short = negative(b, earlier.mm_pos);
                    b.if_(Cond::Eq(short, net_short), |b| {
                        let size = absolute(b, earlier.mm_pos);
                        b.assign(taken, Rvalue::Add(taken, size));
                    });
                });
            });
        }
        let room = b.let_("room", Ty::U128, Rvalue::Const(0));
        let fits = le_u128(b, taken, net_size);
        b.if_(Cond::NonZero(fits), |b| {
            b.assign(room, Rvalue::Sub(net_size, taken))
        });
        let capped = min(b, share, room);
        b.assign(share, Rvalue::Copy(capped));
        // Against the net (or a fully netted feed): nothing.
        b.if_(Cond::Ne(own_short, net_short), |b| {
            b.assign(share, Rvalue::Const(0))
        });
    });
    share
}
