//! Portfolio margin (README "Portfolio margin"; percolator §4.15, P8, P9, RM4, RM5): the
//! user's portfolio of (slab, instrument) legs, each slab's `exposure` view, the sums over
//! distinct slabs, the netting per feed, and the margin lock — the escrow (user, 0,
//! collateral) — brought to what initial margin requires.

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Ty, Var};
use curve_ir::keyed;
use curvevm::hostcall::id;
use curvevm::isa::Segment;

use super::{LEGS_PER_PORTFOLIO, Mutation, PORTFOLIO_PROBES, RETURNS, code, registry};
use crate::abi;
use crate::templates::debit::min_u128;

/// The escrow "slab" of the margin lock: no program has id 0, so no slab can debit it.
pub const LOCK_SLAB: u64 = 0;

/// A portfolio leg slot's slab field.
pub const LEG_SLAB: [&str; LEGS_PER_PORTFOLIO] = ["slab_0", "slab_1", "slab_2", "slab_3"];
/// A portfolio leg slot's instrument field.
pub const LEG_INSTRUMENT: [&str; LEGS_PER_PORTFOLIO] = [
    "instrument_0",
    "instrument_1",
    "instrument_2",
    "instrument_3",
];

/// A portfolio leg slot's routed quantity (`i128`, README "Exposure cap").
pub const LEG_QTY: [&str; LEGS_PER_PORTFOLIO] = ["qty_0", "qty_1", "qty_2", "qty_3"];

/// What one leg's `exposure` view returned (zeros for an empty slot).
#[derive(Clone, Copy)]
pub struct Viewed {
    /// The leg's slab (0: an empty slot).
    pub slab: Var,
    /// Its instrument.
    pub instrument: Var,
    equity: Var,
    im: Var,
    mm: Var,
    im_pos: Var,
    /// The position's own signed MM (`i128`).
    pub mm_pos: Var,
    /// Its feed's key.
    pub key: Var,
    /// 1 when the position is open.
    pub open: Var,
}

/// The router's margin of a portfolio (README steps 3–4).
#[derive(Clone, Copy)]
pub struct Margin {
    /// `E`: Σ equity over the distinct slabs (`i128`).
    pub equity: Var,
    /// Initial margin of the model (`u128`).
    pub im: Var,
    /// Maintenance margin of the model (`u128`).
    pub mm: Var,
}

/// The user's portfolio record: its slot + 1, or 0 when it has none (without `claim`). With
/// `claim`, a missing record is made (`PORTFOLIOS_FULL` when no vacancy within the probes).
pub fn portfolio(b: &mut FunctionBuilder, user: Var, claim: bool) -> Var {
    let table = super::portfolio_table();
    let found = keyed::find_slot(b, table, "user", user, PORTFOLIO_PROBES, claim);
    if claim {
        b.guard(
            Cond::NonZero(found),
            code::PORTFOLIOS_FULL,
            "a vacancy in the portfolios",
        );
        let slot = slot_of(b, found);
        b.store(Addr::Field(table, slot, "user"), user);
        return found;
    }
    let record = b.constant("portfolio", 0);
    b.if_(Cond::NonZero(found), |b| {
        let slot = slot_of(b, found);
        let stored = b.load("stored", Addr::Field(table, slot, "user"));
        b.if_(Cond::Eq(stored, user), |b| {
            b.assign(record, Rvalue::Copy(found))
        });
    });
    record
}

/// The portfolio slot a found record (its slot + 1) names.
pub fn slot_of(b: &mut FunctionBuilder, found: Var) -> Var {
    let one = b.constant("one", 1);
    b.let_("slot", Ty::U64, Rvalue::Sub(found, one))
}

/// Step 1: `(slab, instrument)` is a leg of the portfolio at `slot` — found, or written into
/// the lowest free leg slot (`PORTFOLIO_FULL` when none is).
pub fn add_leg(b: &mut FunctionBuilder, slot: Var, slab: Var, instrument: Var) {
    let table = super::portfolio_table();
    let present = b.constant("present", 0);
    for k in 0..LEGS_PER_PORTFOLIO {
        let (held, of, _) = leg_at(b, slot, k);
        b.if_(Cond::Eq(held, slab), |b| {
            b.if_(Cond::Eq(of, instrument), |b| {
                b.assign(present, Rvalue::Const(1))
            });
        });
    }
    for k in 0..LEGS_PER_PORTFOLIO {
        b.if_(Cond::Zero(present), |b| {
            let held = b.load("leg_slab", Addr::Field(table, slot, LEG_SLAB[k]));
            b.if_(Cond::Zero(held), |b| {
                b.store(Addr::Field(table, slot, LEG_SLAB[k]), slab);
                b.store(Addr::Field(table, slot, LEG_INSTRUMENT[k]), instrument);
                b.assign(present, Rvalue::Const(1));
            });
        });
    }
    b.guard(
        Cond::NonZero(present),
        code::PORTFOLIO_FULL,
        "a free leg slot",
    );
}

/// The routed quantity (`i128`) of the leg `(slab, instrument)` in the portfolio record
/// `found` (its slot + 1; 0 for none): 0 when there is no such leg.
pub fn leg_qty(b: &mut FunctionBuilder, found: Var, slab: Var, instrument: Var) -> Var {
    let qty = b.let_("leg_qty", Ty::U128, Rvalue::Const(0));
    b.if_(Cond::NonZero(found), |b| {
        let slot = slot_of(b, found);
        for k in 0..LEGS_PER_PORTFOLIO {
            let (held, of, field) = leg_at(b, slot, k);
            b.if_(Cond::Eq(held, slab), |b| {
                b.if_(Cond::Eq(of, instrument), |b| {
                    b.assign(qty, Rvalue::Load(field))
                });
            });
        }
    });
    qty
}

/// The leg `(slab, instrument)` of the portfolio at `slot` (present: step 1 added it) moves
/// its routed quantity by `delta` (`i128`), and its slab's open interest with it.
pub fn move_leg(b: &mut FunctionBuilder, slot: Var, slab: Var, instrument: Var, delta: Var) {
    let before = b.let_("qty_before", Ty::U128, Rvalue::Const(0));
    let after = b.let_("qty_after", Ty::U128, Rvalue::Const(0));
    for k in 0..LEGS_PER_PORTFOLIO {
        let (held, of, field) = leg_at(b, slot, k);
        b.if_(Cond::Eq(held, slab), |b| {
            b.if_(Cond::Eq(of, instrument), |b| {
                b.assign(before, Rvalue::Load(field));
                b.assign(after, Rvalue::AddSigned(before, delta));
                b.store(field, after);
            });
        });
    }
    registry::move_open_qty(b, slab, before, after);
}

/// Leg slot `k`'s `(slab, instrument)` and the address of its routed quantity.
fn leg_at(b: &mut FunctionBuilder, slot: Var, k: usize) -> (Var, Var, Addr) {
    let table = super::portfolio_table();
    let held = b.load("leg_slab", Addr::Field(table, slot, LEG_SLAB[k]));
    let of = b.load(
        "leg_instrument",
        Addr::Field(table, slot, LEG_INSTRUMENT[k]),
    );
    (held, of, Addr::Field(table, slot, LEG_QTY[k]))
}

/// Steps 2–4 for the portfolio at `slot`: each leg's `exposure` (a refusal aborts
/// `MARGIN_VIEW`; with `prune`, a leg whose position is not open leaves the portfolio), then
/// the sums over distinct slabs and the netting of the router's model.
pub fn compute(
    b: &mut FunctionBuilder,
    user: Var,
    slot: Var,
    prune: bool,
    mutation: Mutation,
) -> Margin {
    compute_legs(b, user, slot, prune, mutation).0
}

/// [`compute`], with what each leg's view returned.
pub fn compute_legs(
    b: &mut FunctionBuilder,
    user: Var,
    slot: Var,
    prune: bool,
    mutation: Mutation,
) -> (Margin, Vec<Viewed>) {
    let viewed = b.step("router.margin/views", None, |b| views(b, user, slot, prune));
    let (equity, im, mm) = b.step("router.margin/sums", None, |b| sums(b, &viewed));
    b.step("router.margin/netting", Some("PORTFOLIO_MARGIN"), |b| {
        let cross = super::load_param(b, "cross");
        if mutation == Mutation::MarginPerSlab {
            return;
        }
        b.if_(Cond::NonZero(cross), |b| {
            let (im_offset, mm_offset, feeds) = offsets(b, &viewed);
            b.assign(im, Rvalue::Sub(im, im_offset));
            b.assign(mm, Rvalue::Sub(mm, mm_offset));
            b.step("router.margin/correlation", Some("CORRELATION"), |b| {
                let (im_offset, mm_offset) = pair_offsets(b, &viewed, &feeds);
                b.assign(im, Rvalue::Sub(im, im_offset));
                b.assign(mm, Rvalue::Sub(mm, mm_offset));
            });
        });
    });
    (Margin { equity, im, mm }, viewed)
}

/// Step 2: `exposure(user, instrument)` on every leg's slab, in slot order.
fn views(b: &mut FunctionBuilder, user: Var, slot: Var, prune: bool) -> Vec<Viewed> {
    let table = super::portfolio_table();
    (0..LEGS_PER_PORTFOLIO)
        .map(|k| {
            let (slab, instrument, qty_field) = leg_at(b, slot, k);
            let zero = || Rvalue::Const(0);
            let leg = Viewed {
                slab,
                instrument,
                open: b.let_("open", Ty::U64, zero()),
                equity: b.let_("equity", Ty::U128, zero()),
                im: b.let_("im", Ty::U128, zero()),
                mm: b.let_("mm", Ty::U128, zero()),
                im_pos: b.let_("im_pos", Ty::U128, zero()),
                mm_pos: b.let_("mm_pos", Ty::U128, zero()),
                key: b.let_("oracle_key", Ty::U64, zero()),
            };
            b.if_(Cond::NonZero(slab), |b| {
                let (status, _) = super::invoke_with_args(
                    b,
                    (&abi::SLAB, "exposure"),
                    slab,
                    &[user, instrument],
                    "slab_0",
                );
                b.guard(
                    Cond::Zero(status),
                    code::MARGIN_VIEW,
                    "the slab's exposure view",
                );
                for (var, word) in [
                    (leg.equity, 0),
                    (leg.im, 2),
                    (leg.mm, 4),
                    (leg.im_pos, 6),
                    (leg.mm_pos, 8),
                ] {
                    b.assign(
                        var,
                        Rvalue::Load(Addr::Fixed(Segment::Scratch, RETURNS + word)),
                    );
                }
                b.assign(
                    leg.key,
                    Rvalue::Load(Addr::Fixed(Segment::Scratch, RETURNS + 10)),
                );
                b.assign(
                    leg.open,
                    Rvalue::Load(Addr::Fixed(Segment::Scratch, RETURNS + 11)),
                );
                if prune {
                    let open = leg.open;
                    b.if_(Cond::Zero(open), |b| {
                        // The leg leaves the portfolio, and its routed quantity the slab's
                        // open interest.
                        let qty = b.let_("qty", Ty::U128, Rvalue::Load(qty_field));
                        let nothing = b.let_("nothing", Ty::U128, Rvalue::Const(0));
                        registry::move_open_qty(b, slab, qty, nothing);
                        b.store(qty_field, nothing);
                        let none = b.constant("none", 0);
                        b.store(Addr::Field(table, slot, LEG_SLAB[k]), none);
                        b.store(Addr::Field(table, slot, LEG_INSTRUMENT[k]), none);
                    });
                }
            });
            leg
        })
        .collect()
}

/// Step 3: `E`, `IM_iso`, `MM_iso` over the distinct slabs, each at its first leg.
fn sums(b: &mut FunctionBuilder, legs: &[Viewed]) -> (Var, Var, Var) {
    let equity = b.let_("equity_sum", Ty::U128, Rvalue::Const(0));
    let im = b.let_("im_sum", Ty::U128, Rvalue::Const(0));
    let mm = b.let_("mm_sum", Ty::U128, Rvalue::Const(0));
    for (k, leg) in legs.iter().enumerate() {
        let first = b.constant("first", 1);
        for earlier in &legs[..k] {
            b.if_(Cond::Eq(earlier.slab, leg.slab), |b| {
                b.assign(first, Rvalue::Const(0))
            });
        }
        b.if_(Cond::NonZero(leg.slab), |b| {
            b.if_(Cond::NonZero(first), |b| {
                b.assign(equity, Rvalue::AddSigned(equity, leg.equity));
                b.assign(im, Rvalue::Add(im, leg.im));
                b.assign(mm, Rvalue::Add(mm, leg.mm));
            });
        });
    }
    (equity, im, mm)
}

/// A feed's net at its first leg (the leader): `Σ im_pos` and `Σ mm_pos` over the legs of its
/// key; zeros at every other leg and for key 0.
#[derive(Clone, Copy)]
struct FeedNet {
    leader: Var,
    im: Var,
    mm: Var,
}

/// Step 4's offsets: for each feed key ≠ 0, at its first leg, `Σ |pos| − |Σ pos|` over the
/// legs of that key, for the IM and the MM of the positions; and each leg's [`FeedNet`].
fn offsets(b: &mut FunctionBuilder, legs: &[Viewed]) -> (Var, Var, Vec<FeedNet>) {
    let im_offset = b.let_("im_offset", Ty::U128, Rvalue::Const(0));
    let mm_offset = b.let_("mm_offset", Ty::U128, Rvalue::Const(0));
    let mut feeds = Vec::new();
    for (k, leg) in legs.iter().enumerate() {
        let leader = b.constant("leader", 1);
        for earlier in &legs[..k] {
            b.if_(Cond::Eq(earlier.key, leg.key), |b| {
                b.assign(leader, Rvalue::Const(0))
            });
        }
        b.if_(Cond::Zero(leg.key), |b| b.assign(leader, Rvalue::Const(0)));
        let feed = FeedNet {
            leader,
            im: b.let_("feed_im", Ty::U128, Rvalue::Const(0)),
            mm: b.let_("feed_mm", Ty::U128, Rvalue::Const(0)),
        };
        b.if_(Cond::NonZero(leader), |b| {
            for (offset, net, pos) in [
                (
                    im_offset,
                    feed.im,
                    (|l: &Viewed| l.im_pos) as fn(&Viewed) -> Var,
                ),
                (mm_offset, feed.mm, |l: &Viewed| l.mm_pos),
            ] {
                let gross = b.let_("gross", Ty::U128, Rvalue::Const(0));
                for other in &legs[k..] {
                    b.if_(Cond::Eq(other.key, leg.key), |b| {
                        b.assign(net, Rvalue::AddSigned(net, pos(other)));
                        let size = absolute(b, pos(other));
                        b.assign(gross, Rvalue::Add(gross, size));
                    });
                }
                let size = absolute(b, net);
                let saved = b.let_("saved", Ty::U128, Rvalue::Sub(gross, size));
                b.assign(offset, Rvalue::Add(offset, saved));
            }
        });
        feeds.push(feed);
    }
    (im_offset, mm_offset, feeds)
}

/// Step 4's correlation pairs (README "Correlation pairs"): for each pair `(a, b, α)` of the
/// parameter table (disjoint: the checker refuses a feed in two pairs), the feeds' nets `N_a`,
/// `N_b` (at their leaders; 0 for a key no leg has); when non-zero with opposite signs, the
/// offset `⌊α × min(|N_a|, |N_b|) / 10,000⌋`. For the IM and the MM nets alike.
fn pair_offsets(b: &mut FunctionBuilder, legs: &[Viewed], feeds: &[FeedNet]) -> (Var, Var) {
    let im_offset = b.let_("im_pair_offset", Ty::U128, Rvalue::Const(0));
    let mm_offset = b.let_("mm_pair_offset", Ty::U128, Rvalue::Const(0));
    for pair in &super::CORRELATION_PARAMS {
        let [key_a, key_b, alpha] = pair.map(|name| super::load_param(b, name));
        for (offset, net) in [
            (im_offset, (|f: &FeedNet| f.im) as fn(&FeedNet) -> Var),
            (mm_offset, |f: &FeedNet| f.mm),
        ] {
            let net_of = |b: &mut FunctionBuilder, key: Var| {
                let value = b.let_("pair_net", Ty::U128, Rvalue::Const(0));
                for (leg, feed) in legs.iter().zip(feeds) {
                    b.if_(Cond::Eq(leg.key, key), |b| {
                        b.if_(Cond::NonZero(feed.leader), |b| {
                            b.assign(value, Rvalue::Copy(net(feed)))
                        });
                    });
                }
                value
            };
            let (net_a, net_b) = (net_of(b, key_a), net_of(b, key_b));
            let (sign_a, sign_b) = (sign(b, net_a), sign(b, net_b));
            let signs = b.let_("signs", Ty::U64, Rvalue::Add(sign_a, sign_b));
            let opposite = b.constant("opposite", SIGN_POSITIVE + SIGN_NEGATIVE);
            b.if_(Cond::Eq(signs, opposite), |b| {
                let (size_a, size_b) = (absolute(b, net_a), absolute(b, net_b));
                let m = min_u128(b, size_a, size_b);
                let saved = bps_of(b, m, alpha);
                b.assign(offset, Rvalue::Add(offset, saved));
            });
        }
    }
    (im_offset, mm_offset)
}

/// [`sign`] of a positive value.
const SIGN_POSITIVE: u64 = 1;
/// [`sign`] of a negative value.
const SIGN_NEGATIVE: u64 = 2;

/// The sign of a two's-complement `u128`: 0 for zero, [`SIGN_POSITIVE`], [`SIGN_NEGATIVE`].
fn sign(b: &mut FunctionBuilder, value: Var) -> Var {
    let sign = b.let_("sign", Ty::U64, Rvalue::Const(0));
    let low = b.let_("low", Ty::U64, Rvalue::Low(value));
    let high = b.let_("high", Ty::U64, Rvalue::High(value));
    b.if_(Cond::NonZero(low), |b| {
        b.assign(sign, Rvalue::Const(SIGN_POSITIVE.into()))
    });
    b.if_(Cond::NonZero(high), |b| {
        b.assign(sign, Rvalue::Const(SIGN_POSITIVE.into()))
    });
    let zero = b.constant("zero", 0);
    b.if_(Cond::LtSigned(high, zero), |b| {
        b.assign(sign, Rvalue::Const(SIGN_NEGATIVE.into()))
    });
    sign
}

/// `⌊alpha × m / 10,000⌋` without a product wider than `m`: with `m = 10,000 q + r`, it is
/// `q × alpha + ⌊r × alpha / 10,000⌋` (`alpha ≤ 10,000`, a proven condition, so `q × alpha ≤
/// m`; `r × alpha < 10^8` is one `u64` multiply-divide).
fn bps_of(b: &mut FunctionBuilder, m: Var, alpha: Var) -> Var {
    let one = b.let_("bps_one", Ty::U128, Rvalue::Const(10_000));
    let q = b.let_("whole", Ty::U128, Rvalue::Div(m, one));
    let whole = b.let_("whole_bps", Ty::U128, Rvalue::Mul(q, one));
    let r = b.let_("rest", Ty::U128, Rvalue::Sub(m, whole));
    let wide_alpha = b.let_("alpha", Ty::U128, Rvalue::Widen(alpha));
    let from_whole = b.let_("from_whole", Ty::U128, Rvalue::Mul(q, wide_alpha));
    let r = b.let_("rest_low", Ty::U64, Rvalue::Low(r));
    let one = b.constant("bps_one", 10_000);
    let from_rest = b.let_("from_rest", Ty::U64, Rvalue::MulDiv(r, alpha, one));
    let from_rest = b.let_("from_rest_wide", Ty::U128, Rvalue::Widen(from_rest));
    b.let_("saved", Ty::U128, Rvalue::Add(from_whole, from_rest))
}

/// `|value|` of a two's-complement `u128`.
pub fn absolute(b: &mut FunctionBuilder, value: Var) -> Var {
    let size = b.let_("size", Ty::U128, Rvalue::Copy(value));
    let high = b.let_("high", Ty::U64, Rvalue::High(value));
    let zero = b.constant("zero", 0);
    b.if_(Cond::LtSigned(high, zero), |b| {
        let nothing = b.let_("nothing", Ty::U128, Rvalue::Const(0));
        b.assign(size, Rvalue::SubSigned(nothing, value));
    });
    size
}

/// Step 5: the margin lock brought to `max(0, IM − E)` — pledged from the vault (the host
/// refuses what the vault cannot pay) or released to it. Returns the lock after.
pub fn lock(b: &mut FunctionBuilder, user: Var, slot: Var, margin: Margin) -> Var {
    b.at("router.margin/lock", Some("PORTFOLIO_MARGIN"));
    let table = super::portfolio_table();
    let gap = b.let_("gap", Ty::U128, Rvalue::SubSigned(margin.im, margin.equity));
    let high = b.let_("high", Ty::U64, Rvalue::High(gap));
    let zero = b.constant("zero", 0);
    let required = b.let_("required", Ty::U128, Rvalue::Copy(gap));
    b.if_(Cond::LtSigned(high, zero), |b| {
        b.assign(required, Rvalue::Const(0))
    });
    let locked = b.let_(
        "locked",
        Ty::U128,
        Rvalue::Load(Addr::Field(table, slot, "locked")),
    );
    let lock_slab = b.constant("lock_slab", LOCK_SLAB);
    let asset = b.constant("asset", 0);
    let escrow = [b.var("escrow_lo", Ty::U64), b.var("escrow_hi", Ty::U64)];
    let move_by = |b: &mut FunctionBuilder, call: u16, amount: Var| {
        let lo = b.let_("amount_lo", Ty::U64, Rvalue::Low(amount));
        let hi = b.let_("amount_hi", Ty::U64, Rvalue::High(amount));
        b.host(call, &[user, lock_slab, asset, lo, hi], &escrow, 0);
    };
    // Both are below 2^127, so their signed difference says which way the lock moves.
    let delta = b.let_("delta", Ty::U128, Rvalue::SubSigned(required, locked));
    let delta_high = b.let_("delta_high", Ty::U64, Rvalue::High(delta));
    let delta_low = b.let_("delta_low", Ty::U64, Rvalue::Low(delta));
    b.if_else(
        Cond::LtSigned(delta_high, zero),
        |b| {
            let nothing = b.let_("nothing", Ty::U128, Rvalue::Const(0));
            let less = b.let_("less", Ty::U128, Rvalue::SubSigned(nothing, delta));
            move_by(b, id::VAULT_RELEASE, less);
        },
        |b| {
            let more = b.constant("more", 0);
            b.if_(Cond::NonZero(delta_high), |b| {
                b.assign(more, Rvalue::Const(1))
            });
            b.if_(Cond::NonZero(delta_low), |b| {
                b.assign(more, Rvalue::Const(1))
            });
            b.if_(Cond::NonZero(more), |b| move_by(b, id::VAULT_PLEDGE, delta));
        },
    );
    b.store(Addr::Field(table, slot, "locked"), required);
    // At initial margin: out of any liquidation's grace window.
    let zero = b.constant("zero", 0);
    b.store(Addr::Field(table, slot, "flagged_ms"), zero);
    required
}

/// `sync_margin(user) -> (locked: u128)`: steps 2–5 without a trade; 0 and no change for a
/// user without a portfolio.
pub fn sync_margin(mutation: Mutation) -> Function {
    let entry = abi::ROUTER.entry("sync_margin").expect("in the interface");
    let mut b = FunctionBuilder::new("sync_margin", entry.arg_words(), entry.return_words());
    let user = b.load("user", Addr::Fixed(Segment::Args, 0));
    b.at("router.sync_margin/portfolio", None);
    b.if_(Cond::Zero(user), |b| b.ret());
    let found = portfolio(&mut b, user, false);
    b.if_(Cond::NonZero(found), |b| {
        let slot = slot_of(b, found);
        let margin = compute(b, user, slot, true, mutation);
        let locked = lock(b, user, slot, margin);
        b.store(Addr::Fixed(Segment::Ret, 0), locked);
    });
    b.finish()
}

/// `margin(user) -> (equity: i128, im: u128, mm: u128, locked: u128)`: steps 2–4 without a
/// change; zeros for a user without a portfolio.
pub fn margin_view(mutation: Mutation) -> Function {
    let entry = abi::ROUTER.entry("margin").expect("in the interface");
    let mut b = FunctionBuilder::new("margin", entry.arg_words(), entry.return_words());
    let user = b.load("user", Addr::Fixed(Segment::Args, 0));
    b.at("router.margin/portfolio", None);
    b.if_(Cond::Zero(user), |b| b.ret());
    let found = portfolio(&mut b, user, false);
    b.if_(Cond::NonZero(found), |b| {
        let slot = slot_of(b, found);
        let margin = compute(b, user, slot, false, mutation);
        let table = super::portfolio_table();
        let locked = b.let_(
            "locked",
            Ty::U128,
            Rvalue::Load(Addr::Field(table, slot, "locked")),
        );
        let equity = b.let_("equity", Ty::U128, Rvalue::AddSigned(margin.equity, locked));
        for (value, word) in [(equity, 0), (margin.im, 2), (margin.mm, 4), (locked, 6)] {
            b.store(Addr::Fixed(Segment::Ret, word), value);
        }
    });
    b.finish()
}
