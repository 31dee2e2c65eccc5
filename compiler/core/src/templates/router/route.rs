//! `route` (README "route"): an atomic buy or sell across up to three slabs — probe each slab
//! with a hold, allocate the quantity by price, fund and commit every kept hold through an
//! escrow and a capability, all or nothing. And its two phases (README "Two-phase routes"):
//! `route_reserve` (the holds and their funding, recorded as the user's pending route),
//! `route_commit` (the commits through the recorded caps) and `route_sweep` (an expired pending
//! route's escrows back to the vault).

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Ty, Var};
use curvevm::isa::Segment;

use super::{
    LEGS_MAX, Mutation, RETURNS, arg, code, header, load_param, margin, param, portfolio_table,
    registry,
};
use crate::abi;
use crate::templates::debit::is_negative;
use crate::templates::probe;

/// The arguments of `route`.
#[derive(Clone, Copy)]
struct Order {
    user: Var,
    route_id: Var,
    instrument: Var,
    side: Var,
    qty: Var,
    limit_px: Var,
}

/// One leg as the probe left it.
#[derive(Clone, Copy)]
struct Probed {
    slab: Var,
    hold: Var,
    filled: Var,
    vwap: Var,
}

/// A hold kept for the commit, by price rank, and what its commit filled.
#[derive(Clone, Copy)]
struct Kept {
    slab: Var,
    hold: Var,
    max_charge: Var,
    filled: Var,
}

/// What the allocation left: the kept holds by rank, the quantity still needed, and whether
/// an exposure cap held a leg below what it could fill.
struct Allocation {
    kept: Vec<Kept>,
    need: Var,
    capped: Var,
}

fn returned(b: &mut FunctionBuilder, name: &str, word: u32) -> Var {
    b.load(name, Addr::Fixed(Segment::Scratch, RETURNS + word))
}

fn returned_wide(b: &mut FunctionBuilder, name: &str, word: u32) -> Var {
    b.let_(
        name,
        Ty::U128,
        Rvalue::Load(Addr::Fixed(Segment::Scratch, RETURNS + word)),
    )
}

/// Invokes the slab interface's `entry` on `slab` with `words` built at scratch [`ARGS`];
/// returns the status (0: the slab returned, its words at [`RETURNS`]).
fn invoke_slab(b: &mut FunctionBuilder, slab: Var, entry: &str, words: &[Var]) -> Var {
    super::invoke_with_args(b, (&abi::SLAB, entry), slab, words, "slab_0").0
}

/// `reserve(route_id, user, instrument, side, qty, limit_px, CAP_TTL, 0)` on `slab`: the status.
fn reserve(b: &mut FunctionBuilder, slab: Var, order: Order, qty: Var) -> Var {
    let ttl = load_param(b, "cap_ttl_ms");
    let zero = b.constant("commitment", 0);
    invoke_slab(
        b,
        slab,
        "reserve",
        &[
            order.route_id,
            order.user,
            order.instrument,
            order.side,
            qty,
            order.limit_px,
            ttl,
            zero,
            zero,
            zero,
            zero,
        ],
    )
}

/// `route(user, route_id, instrument, side, qty, limit_px, slab_a, slab_b, slab_c) ->
/// (filled_qty, notional: u128, total_debit: u128, legs)`.
pub fn route(mutation: Mutation) -> Function {
    let mut b = FunctionBuilder::new("route", 9, 6);
    let (order, slabs) = order_args(&mut b);
    b.step("router.route/admit", None, |b| admit(b, order, &slabs));
    let kept = hold_all(&mut b, ROUTE_HOLD_STEPS, order, &slabs);
    commit(&mut b, order, &kept, mutation);
    b.finish()
}

/// `route_reserve(user, route_id, instrument, side, qty, limit_px, slab_a, slab_b, slab_c) ->
/// (filled_qty, legs, expiry_ms)` (README "Two-phase routes").
pub fn route_reserve() -> Function {
    let mut b = FunctionBuilder::new("route_reserve", 9, 3);
    let (order, slabs) = order_args(&mut b);
    b.step("router.route_reserve/admit", None, |b| {
        admit(b, order, &slabs)
    });
    let slot = b.step("router.route_reserve/pending", None, |b| {
        let found = margin::portfolio(b, order.user, true);
        let slot = margin::slot_of(b, found);
        let expiry = b.load(
            "pending_expiry_ms",
            Addr::Field(portfolio_table(), slot, "pending_expiry_ms"),
        );
        b.guard(Cond::Zero(expiry), code::ROUTE_PENDING, "no pending route");
        slot
    });
    let kept = hold_all(&mut b, RESERVE_HOLD_STEPS, order, &slabs);
    let legs = b.constant("legs", 0);
    for (k, leg) in kept.iter().enumerate() {
        b.if_(Cond::NonZero(leg.hold), |b| {
            let charge = charge_words(b, leg.max_charge);
            let ttl = probe::CapTtl::Param(param("cap_ttl_ms"));
            let cap = probe::fund(b, RESERVE_FUND_STEPS, (leg.slab, order.user), charge, ttl);
            b.at("router.route_reserve/record", None);
            let pending = Pending { slot, k };
            pending.store(b, "slab", leg.slab);
            pending.store(b, "hold", leg.hold);
            pending.store(b, "cap", cap);
            pending.store(b, "filled", leg.filled);
            pending.store(b, "charge", leg.max_charge);
            let one = b.constant("one", 1);
            b.assign(legs, Rvalue::Add(legs, one));
        });
    }
    b.at("router.route_reserve/record", Some("CAP_TTL"));
    let now = crate::templates::now(&mut b);
    let ttl = load_param(&mut b, "cap_ttl_ms");
    let expiry = b.add("expiry_ms", now, ttl);
    let table = portfolio_table();
    for (field, value) in [
        ("pending_route_id", order.route_id),
        ("pending_instrument", order.instrument),
        ("pending_side", order.side),
        ("pending_qty", order.qty),
        ("pending_expiry_ms", expiry),
    ] {
        b.store(Addr::Field(table, slot, field), value);
    }
    b.store(Addr::Fixed(Segment::Ret, 0), order.qty);
    b.store(Addr::Fixed(Segment::Ret, 1), legs);
    b.store(Addr::Fixed(Segment::Ret, 2), expiry);
    b.finish()
}

/// `route_commit(user, route_id) -> (filled_qty, notional: u128, total_debit: u128, legs)`
/// (README "Two-phase routes").
pub fn route_commit(mutation: Mutation) -> Function {
    let mut b = FunctionBuilder::new("route_commit", 2, 6);
    let user = arg(&mut b, "user", 0);
    let route_id = arg(&mut b, "route_id", 1);
    let (found, slot, expiry) = b.step("router.route_commit/pending", None, |b| {
        pending_route(b, user, route_id)
    });
    b.step("router.route_commit/expiry", Some("CAP_TTL"), |b| {
        let now = crate::templates::now(b);
        b.guard(Cond::Le(now, expiry), code::EXPIRED, "now ≤ expiry_ms");
    });
    let table = portfolio_table();
    let field = |b: &mut FunctionBuilder, name: &str, field: &'static str| {
        b.load(name, Addr::Field(table, slot, field))
    };
    let instrument = field(&mut b, "instrument", "pending_instrument");
    let side = field(&mut b, "side", "pending_side");
    let qty = field(&mut b, "qty", "pending_qty");
    let order = Order {
        user,
        route_id,
        instrument,
        side,
        qty,
        limit_px: qty, // not read after the holds were taken
    };
    let sums = Sums::new(&mut b);
    let mut kept = Vec::new();
    for k in 0..LEGS_MAX {
        let pending = Pending { slot, k };
        let leg = Kept {
            slab: pending.load(&mut b, "slab"),
            hold: pending.load(&mut b, "hold"),
            max_charge: pending.load(&mut b, "charge"),
            filled: pending.load(&mut b, "filled"),
        };
        let cap = pending.load(&mut b, "cap");
        b.if_(Cond::NonZero(leg.hold), |b| {
            b.at("router.route_commit/listed", None);
            let entry = registry::find(b, leg.slab, true);
            b.guard(
                Cond::NonZero(entry),
                code::UNLISTED,
                "a listed, active slab",
            );
            b.at("router.route_commit/room", None);
            let room = exposure_room(b, order, found, leg.slab);
            b.guard(
                Cond::Le(leg.filled, room),
                code::EXPOSURE_CAP,
                "room under the slab's exposure cap",
            );
            let status = commit_hold(b, "router.route_commit/commit", leg, cap, mutation);
            b.at("router.route_commit/release", None);
            // commit returns total_debit at words 4 and 5: what the leg took.
            probe::release_untaken(b, (leg.slab, user), leg.max_charge, (status, 4), cap);
            sums.tally(b, leg, status);
        });
        kept.push(leg);
    }
    b.at("router.route_commit/clear", None);
    clear_pending(&mut b, slot);
    settle(&mut b, order, &kept, &sums, mutation);
    b.finish()
}

/// `route_sweep(user, route_id) -> (released: u128, legs)` (README "Two-phase routes"): the
/// escrow sweep of an expired pending route.
pub fn route_sweep() -> Function {
    let mut b = FunctionBuilder::new("route_sweep", 2, 3);
    let user = arg(&mut b, "user", 0);
    let route_id = arg(&mut b, "route_id", 1);
    let (_, slot, expiry) = b.step("router.route_sweep/pending", None, |b| {
        pending_route(b, user, route_id)
    });
    b.step("router.route_sweep/expiry", Some("CAP_TTL"), |b| {
        let now = crate::templates::now(b);
        b.guard(Cond::Lt(expiry, now), code::NOT_EXPIRED, "now > expiry_ms");
    });
    let released = b.let_("released", Ty::U128, Rvalue::Const(0));
    let legs = b.constant("legs", 0);
    for k in 0..LEGS_MAX {
        let pending = Pending { slot, k };
        let slab = pending.load(&mut b, "slab");
        let hold = pending.load(&mut b, "hold");
        let cap = pending.load(&mut b, "cap");
        let charge = pending.load(&mut b, "charge");
        b.if_(Cond::NonZero(hold), |b| {
            b.at("router.route_sweep/cancel", None);
            let status = invoke_slab(b, slab, "cancel", &[hold]);
            b.guard(Cond::Zero(status), code::LEG_FAILED, "the slab cancels");
            b.at("router.route_sweep/release", None);
            probe::unfund(b, (slab, user), charge, cap);
            b.assign(released, Rvalue::Add(released, charge));
            let one = b.constant("one", 1);
            b.assign(legs, Rvalue::Add(legs, one));
        });
    }
    b.at("router.route_sweep/clear", None);
    clear_pending(&mut b, slot);
    b.store(Addr::Fixed(Segment::Ret, 0), released);
    b.store(Addr::Fixed(Segment::Ret, 2), legs);
    b.finish()
}

/// The order's argument words, then the leg slabs.
fn order_args(b: &mut FunctionBuilder) -> (Order, Vec<Var>) {
    let order = Order {
        user: arg(b, "user", 0),
        route_id: arg(b, "route_id", 1),
        instrument: arg(b, "instrument", 2),
        side: arg(b, "side", 3),
        qty: arg(b, "qty", 4),
        limit_px: arg(b, "limit_px", 5),
    };
    let slabs = (0..LEGS_MAX as u32)
        .map(|leg| arg(b, "slab", 6 + leg))
        .collect();
    (order, slabs)
}

/// The step names of steps 2–4 (probe, allocate, fill or nothing) in one entrypoint.
type HoldSteps = [&'static str; 3];
const ROUTE_HOLD_STEPS: HoldSteps = [
    "router.route/probe",
    "router.route/allocate",
    "router.route/fill_or_nothing",
];
const RESERVE_HOLD_STEPS: HoldSteps = [
    "router.route_reserve/probe",
    "router.route_reserve/allocate",
    "router.route_reserve/fill_or_nothing",
];
const RESERVE_FUND_STEPS: [&str; 2] = ["router.route_reserve/pledge", "router.route_reserve/cap"];

/// Steps 2–4: the probe holds, the allocation by price, and the refusal of a quantity the legs
/// cannot fill; the kept holds by rank.
fn hold_all(
    b: &mut FunctionBuilder,
    [probe_step, allocate_step, fill_step]: HoldSteps,
    order: Order,
    slabs: &[Var],
) -> Vec<Kept> {
    let probed = b.step(probe_step, None, |b| probe(b, order, slabs));
    let allocation = b.step(allocate_step, None, |b| allocate(b, order, &probed));
    b.step(fill_step, None, |b| {
        b.if_(Cond::NonZero(allocation.need), |b| {
            b.guard(
                Cond::Zero(allocation.capped),
                code::EXPOSURE_CAP,
                "room under the slabs' exposure caps",
            );
        });
        b.guard(
            Cond::Zero(allocation.need),
            code::UNFILLED,
            "the legs fill qty",
        );
    });
    allocation.kept
}

/// A `u128` as its two words.
fn charge_words(b: &mut FunctionBuilder, charge: Var) -> [Var; 2] {
    [
        b.let_("charge_lo", Ty::U64, Rvalue::Low(charge)),
        b.let_("charge_hi", Ty::U64, Rvalue::High(charge)),
    ]
}

/// Leg slot `k` of the pending route in the portfolio record at `slot`.
#[derive(Clone, Copy)]
struct Pending {
    slot: Var,
    k: usize,
}

/// The pending route's leg fields, by slot.
const PENDING_LEG: [[&str; 5]; LEGS_MAX] = [
    [
        "pending_slab_0",
        "pending_hold_0",
        "pending_cap_0",
        "pending_filled_0",
        "pending_charge_0",
    ],
    [
        "pending_slab_1",
        "pending_hold_1",
        "pending_cap_1",
        "pending_filled_1",
        "pending_charge_1",
    ],
    [
        "pending_slab_2",
        "pending_hold_2",
        "pending_cap_2",
        "pending_filled_2",
        "pending_charge_2",
    ],
];

impl Pending {
    fn field(self, name: &str) -> Addr {
        let at = ["slab", "hold", "cap", "filled", "charge"]
            .iter()
            .position(|&n| n == name)
            .expect("a pending leg field");
        Addr::Field(portfolio_table(), self.slot, PENDING_LEG[self.k][at])
    }

    fn store(self, b: &mut FunctionBuilder, name: &str, value: Var) {
        b.store(self.field(name), value);
    }

    /// The field's value (`charge` as a `u128`).
    fn load(self, b: &mut FunctionBuilder, name: &str) -> Var {
        let ty = if name == "charge" { Ty::U128 } else { Ty::U64 };
        b.let_(name, ty, Rvalue::Load(self.field(name)))
    }
}

/// README "Two-phase routes", `route_commit` and `route_sweep` step 1: the user's portfolio
/// record (found: slot + 1) holds a pending route with `route_id`; `(found, slot, expiry_ms)`.
fn pending_route(b: &mut FunctionBuilder, user: Var, route_id: Var) -> (Var, Var, Var) {
    b.guard(Cond::NonZero(user), code::BAD_USER, "user ≠ 0");
    let found = margin::portfolio(b, user, false);
    b.guard(Cond::NonZero(found), code::NO_PENDING, "a portfolio");
    let slot = margin::slot_of(b, found);
    let table = portfolio_table();
    let expiry = b.load(
        "pending_expiry_ms",
        Addr::Field(table, slot, "pending_expiry_ms"),
    );
    b.guard(Cond::NonZero(expiry), code::NO_PENDING, "a pending route");
    let id = b.load(
        "pending_route_id",
        Addr::Field(table, slot, "pending_route_id"),
    );
    b.guard(Cond::Eq(id, route_id), code::NO_PENDING, "this route");
    (found, slot, expiry)
}

/// Every field of the pending route at `slot` back to 0.
fn clear_pending(b: &mut FunctionBuilder, slot: Var) {
    let table = portfolio_table();
    let zero = b.constant("zero", 0);
    let wide_zero = b.let_("zero_wide", Ty::U128, Rvalue::Const(0));
    for field in [
        "pending_route_id",
        "pending_instrument",
        "pending_side",
        "pending_qty",
        "pending_expiry_ms",
    ] {
        b.store(Addr::Field(table, slot, field), zero);
    }
    for k in 0..LEGS_MAX {
        let pending = Pending { slot, k };
        for name in ["slab", "hold", "cap", "filled"] {
            pending.store(b, name, zero);
        }
        pending.store(b, "charge", wide_zero);
    }
}

/// Step 1: the order's fields, then every used leg listed, active and distinct.
fn admit(b: &mut FunctionBuilder, order: Order, slabs: &[Var]) {
    b.guard(Cond::NonZero(order.user), code::BAD_USER, "user ≠ 0");
    let one = b.constant("one", 1);
    b.guard(Cond::Le(order.side, one), code::BAD_SIDE, "side ≤ 1");
    b.guard(Cond::NonZero(order.qty), code::BAD_QTY, "qty ≥ 1");
    let used = b.constant("used", 0);
    for &slab in slabs {
        b.if_(Cond::NonZero(slab), |b| {
            b.assign(used, Rvalue::Add(used, one));
            let entry = registry::find(b, slab, true);
            b.guard(
                Cond::NonZero(entry),
                code::UNLISTED,
                "a listed, active slab",
            );
        });
    }
    b.guard(Cond::NonZero(used), code::NO_LEGS, "at least one leg");
    for (i, &a) in slabs.iter().enumerate() {
        for &c in &slabs[i + 1..] {
            b.if_(Cond::NonZero(a), |b| {
                b.guard(Cond::Ne(a, c), code::DUPLICATE_LEG, "distinct legs");
            });
        }
    }
}

/// Step 2: a hold of everything each used leg can fill within the limit; a refused reserve
/// leaves the leg empty.
fn probe(b: &mut FunctionBuilder, order: Order, slabs: &[Var]) -> Vec<Probed> {
    slabs
        .iter()
        .map(|&slab| {
            let leg = Probed {
                slab,
                hold: b.constant("hold", 0),
                filled: b.constant("filled", 0),
                vwap: b.constant("vwap", 0),
            };
            b.if_(Cond::NonZero(slab), |b| {
                let status = reserve(b, slab, order, order.qty);
                b.if_(Cond::Zero(status), |b| {
                    let hold = returned(b, "hold_id", 0);
                    let filled = returned(b, "filled_qty", 1);
                    let vwap = returned(b, "vwap_px", 2);
                    b.assign(leg.hold, Rvalue::Copy(hold));
                    b.assign(leg.filled, Rvalue::Copy(filled));
                    b.assign(leg.vwap, Rvalue::Copy(vwap));
                });
            });
            leg
        })
        .collect()
}

/// Step 3: the legs by price (a buy's lowest VWAP first, a sell's highest; empty legs last;
/// ties in leg order); in that order each probe hold is cancelled and, while quantity is
/// needed, a hold of just what is needed — within the slab's exposure room — taken again.
fn allocate(b: &mut FunctionBuilder, order: Order, legs: &[Probed]) -> Allocation {
    // key: lower is better. A buy ranks by vwap, a sell by u64::MAX − vwap; an empty leg is
    // u64::MAX.
    let keys: Vec<Var> = legs
        .iter()
        .map(|leg| {
            let key = b.let_("key", Ty::U64, Rvalue::Copy(leg.vwap));
            b.if_(Cond::NonZero(order.side), |b| {
                let top = b.constant("top", u64::MAX);
                b.assign(key, Rvalue::Sub(top, leg.vwap));
            });
            b.if_(Cond::Zero(leg.filled), |b| {
                b.assign(key, Rvalue::Const(u128::from(u64::MAX)))
            });
            key
        })
        .collect();
    let ranks: Vec<Var> = (0..legs.len())
        .map(|i| {
            let rank = b.constant("rank", 0);
            for j in 0..legs.len() {
                if j == i {
                    continue;
                }
                // Leg j comes first: a lower key, or the same key and an earlier leg.
                let before = if j < i {
                    Cond::Le(keys[j], keys[i])
                } else {
                    Cond::Lt(keys[j], keys[i])
                };
                b.if_(before, |b| {
                    let one = b.constant("one", 1);
                    b.assign(rank, Rvalue::Add(rank, one));
                });
            }
            rank
        })
        .collect();

    let need = b.let_("need", Ty::U64, Rvalue::Copy(order.qty));
    let capped = b.constant("capped", 0);
    let portfolio = margin::portfolio(b, order.user, false);
    let kept = (0..legs.len() as u64)
        .map(|position| {
            // The leg ranked `position`.
            let slab = b.constant("leg_slab", 0);
            let hold = b.constant("leg_hold", 0);
            let filled = b.constant("leg_filled", 0);
            let at = b.constant("position", position);
            for (leg, &rank) in legs.iter().zip(&ranks) {
                b.if_(Cond::Eq(rank, at), |b| {
                    b.assign(slab, Rvalue::Copy(leg.slab));
                    b.assign(hold, Rvalue::Copy(leg.hold));
                    b.assign(filled, Rvalue::Copy(leg.filled));
                });
            }
            let kept = Kept {
                slab,
                hold: b.constant("kept_hold", 0),
                max_charge: b.let_("max_charge", Ty::U128, Rvalue::Const(0)),
                filled: b.constant("leg_fill", 0),
            };
            b.if_(Cond::NonZero(filled), |b| {
                invoke_slab(b, slab, "cancel", &[hold]);
                b.if_(Cond::NonZero(need), |b| {
                    let take = b.let_("take", Ty::U64, Rvalue::Copy(need));
                    b.if_(Cond::Lt(filled, need), |b| {
                        b.assign(take, Rvalue::Copy(filled))
                    });
                    let room = exposure_room(b, order, portfolio, slab);
                    b.if_(Cond::Lt(room, take), |b| {
                        b.assign(take, Rvalue::Copy(room));
                        b.assign(capped, Rvalue::Const(1));
                    });
                    b.if_(Cond::NonZero(take), |b| {
                        let status = reserve(b, slab, order, take);
                        b.if_(Cond::Zero(status), |b| {
                            let again = returned(b, "hold_id", 0);
                            let got = returned(b, "filled_qty", 1);
                            let charge = returned_wide(b, "max_charge", 4);
                            b.assign(kept.hold, Rvalue::Copy(again));
                            b.assign(kept.max_charge, Rvalue::Copy(charge));
                            b.assign(kept.filled, Rvalue::Copy(got));
                            b.assign(need, Rvalue::Sub(need, got));
                        });
                    });
                });
            });
            kept
        })
        .collect();
    Allocation { kept, need, capped }
}

/// README "Exposure cap": what a leg on `slab` may take — `max(0, max_exposure − open_qty)`
/// plus what of the user's routed quantity there the order closes (a long for a sell, a short
/// for a buy); `u64::MAX` for a slab without a cap.
fn exposure_room(b: &mut FunctionBuilder, order: Order, portfolio: Var, slab: Var) -> Var {
    let room = b.constant("room", u64::MAX);
    let (_, max, open) = registry::exposure_of(b, slab);
    b.if_(Cond::NonZero(max), |b| {
        b.assign(room, Rvalue::Const(0));
        b.if_(Cond::Lt(open, max), |b| {
            b.assign(room, Rvalue::Sub(max, open))
        });
        let qty = margin::leg_qty(b, portfolio, slab, order.instrument);
        let short = is_negative(b, qty);
        let size = margin::absolute(b, qty);
        let size = b.let_("size_lo", Ty::U64, Rvalue::Low(size));
        // The order closes the leg when its side (1: a sell) equals the leg being long.
        let long = b.constant("long", 0);
        b.if_(Cond::NonZero(size), |b| {
            b.if_(Cond::Zero(short), |b| b.assign(long, Rvalue::Const(1)))
        });
        b.if_(Cond::Eq(long, order.side), |b| {
            b.assign(room, Rvalue::Add(room, size))
        });
    });
    room
}

/// Step 5 and 6: each kept hold a funded leg (pledge, cap, commit, release, burn: the same
/// leg as the development probe's); a failed commit aborts the route. Then the result words
/// and the route count.
fn commit(b: &mut FunctionBuilder, order: Order, kept: &[Kept], mutation: Mutation) {
    let sums = Sums::new(b);
    for &leg in kept {
        b.if_(Cond::NonZero(leg.hold), |b| {
            let charge = charge_words(b, leg.max_charge);
            // commit returns total_debit at words 4 and 5: what the leg took.
            let taken = (4, probe::CapTtl::Param(param("cap_ttl_ms")));
            let status = probe::funded(
                b,
                LEG_STEPS,
                (leg.slab, order.user),
                charge,
                taken,
                |b, cap| commit_hold(b, "router.route/commit", leg, cap, mutation),
            );
            sums.tally(b, leg, status);
        });
    }
    settle(b, order, kept, &sums, mutation);
}

/// The slab's `commit(hold, cap, salt 0, margin 1)` of a kept hold; a failed commit aborts
/// `LEG_FAILED`. The status.
fn commit_hold(
    b: &mut FunctionBuilder,
    step: &'static str,
    leg: Kept,
    cap: Var,
    mutation: Mutation,
) -> Var {
    b.at(step, Some("CAP_TTL"));
    let salt = b.constant("salt", 0);
    let router_margined = b.constant("margin", 1);
    let status = invoke_slab(
        b,
        leg.slab,
        "commit",
        &[leg.hold, cap, salt, salt, salt, salt, router_margined],
    );
    if mutation != Mutation::CommitDespiteFailedLeg {
        b.guard(Cond::Zero(status), code::LEG_FAILED, "every leg commits");
    }
    status
}

/// The route's result sums over its committed legs.
struct Sums {
    notional: Var,
    total_debit: Var,
    legs: Var,
}

impl Sums {
    fn new(b: &mut FunctionBuilder) -> Sums {
        Sums {
            notional: b.let_("notional", Ty::U128, Rvalue::Const(0)),
            total_debit: b.let_("total_debit", Ty::U128, Rvalue::Const(0)),
            legs: b.constant("legs", 0),
        }
    }

    /// A leg's commit (its returns at [`RETURNS`] when `status` is 0) into the sums; the
    /// leg's `filled` becomes what the commit filled.
    fn tally(&self, b: &mut FunctionBuilder, leg: Kept, status: Var) {
        b.if_(Cond::Zero(status), |b| {
            let filled = returned(b, "filled_qty", 0);
            let avg = returned(b, "avg_px", 1);
            let debit = returned_wide(b, "total_debit", 4);
            b.assign(leg.filled, Rvalue::Copy(filled));
            let leg_notional = b.let_("leg_notional", Ty::U128, Rvalue::WideMul(filled, avg));
            b.assign(self.notional, Rvalue::Add(self.notional, leg_notional));
            b.assign(self.total_debit, Rvalue::Add(self.total_debit, debit));
        });
        let one = b.constant("one", 1);
        b.assign(self.legs, Rvalue::Add(self.legs, one));
    }
}

/// Steps 6 and 7 after the legs' commits: every committed leg in the portfolio with its
/// routed quantity moved by its fill, portfolio margin and the lock, then the result words
/// and the route count.
fn settle(b: &mut FunctionBuilder, order: Order, kept: &[Kept], sums: &Sums, mutation: Mutation) {
    b.at("router.route/margin", Some("PORTFOLIO_MARGIN"));
    let one = b.constant("one", 1);
    let found = margin::portfolio(b, order.user, true);
    let slot = b.let_("portfolio", Ty::U64, Rvalue::Sub(found, one));
    for leg in kept {
        b.if_(Cond::NonZero(leg.hold), |b| {
            margin::add_leg(b, slot, leg.slab, order.instrument);
            // The routed quantity moves by the fill: + for a buy, − for a sell.
            let zero = b.constant("zero", 0);
            let delta = b.let_("delta", Ty::U128, Rvalue::Join(leg.filled, zero));
            b.if_(Cond::NonZero(order.side), |b| {
                let nothing = b.let_("nothing", Ty::U128, Rvalue::Const(0));
                b.assign(delta, Rvalue::SubSigned(nothing, delta));
            });
            margin::move_leg(b, slot, leg.slab, order.instrument, delta);
        });
    }
    let required = margin::compute(b, order.user, slot, true, mutation);
    margin::lock(b, order.user, slot, required);
    b.at("router.route/result", None);
    let routes = b.load("routes", header("routes"));
    let routes = b.let_("routes_after", Ty::U64, Rvalue::Add(routes, one));
    b.store(header("routes"), routes);
    b.store(Addr::Fixed(Segment::Ret, 0), order.qty);
    b.store(Addr::Fixed(Segment::Ret, 1), sums.notional);
    b.store(Addr::Fixed(Segment::Ret, 3), sums.total_debit);
    b.store(Addr::Fixed(Segment::Ret, 5), sums.legs);
}

/// The step names of a funded leg.
const LEG_STEPS: probe::FundedSteps = [
    "router.route/pledge",
    "router.route/cap",
    "router.route/release",
];
