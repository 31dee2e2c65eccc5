//! Reservations (percolator §4.2, §4.5; R1–R3, R8, S8, M2, M4, M5, F2): `reserve` walks the
//! contra book and holds quantity as slices, `cancel` gives it back. Each step is named after
//! README.md's step of the same entrypoint.

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Subroutine, Ty, Var};
use curve_ir::keyed;
use curvevm::hostcall::MAX_CAP_TTL_MS;
use curvevm::isa::Segment;

use super::book::{
    self, SlabTables, arg, check_instrument, header, link, now, remove_order, slot_of,
};
use super::{Mutation, RESERVE_VISITS_MAX, SLICES_PER_HOLD_MAX, code, params};

/// The name of the walk subroutine.
pub const WALK: &str = "reserve_walk";

/// `reserve_walk(book, side, limit, qty, taker) -> (left, notional, worst, head, slices)`:
/// step 7 of `reserve`. Walks `book` (the contra side; `side` is the taker's) from its best
/// level while levels cross `limit`, taking from each available LIVE order of another account
/// than `taker` (a link) into new slices linked from `head`, until `qty` is held, the visit or
/// slice bound is reached or a level does not cross. `left` is what it could not hold,
/// `notional` Σ take × price (`u128`), `worst` the last slice's price.
pub fn walk_subroutine(t: &SlabTables) -> Subroutine {
    let mut b = FunctionBuilder::new(WALK, 0, 0);
    let book_index = b.var("book", Ty::U64);
    let side = b.var("side", Ty::U64);
    let limit = b.var("limit", Ty::U64);
    let left = b.var("left", Ty::U64);
    let taker = b.var("taker", Ty::U64);
    let notional = b.var("notional", Ty::U128);
    let worst = b.var("worst", Ty::U64);
    let head = b.var("head", Ty::U64);
    let count = b.var("slices", Ty::U64);
    b.step("slab.reserve/walk", None, |b| {
        b.assign(notional, Rvalue::Const(0));
        b.assign(worst, Rvalue::Const(0));
        b.assign(head, Rvalue::Const(0));
        b.assign(count, Rvalue::Const(0));
        let tail = b.constant("tail", 0);
        let level = b.load("level", Addr::Field(t.books, book_index, "best"));
        let order = b.constant("order", 0);
        // Enters `level` if it exists and crosses the limit (buying: price ≤ limit; selling:
        // price ≥ limit), else returns.
        let enter = |b: &mut FunctionBuilder| {
            b.if_(Cond::Zero(level), |b| b.ret());
            let at = slot_of(b, level);
            let price = b.load("level_price", Addr::Field(t.levels, at, "price"));
            let crosses = b.var("crosses", Ty::U64);
            b.if_else(
                Cond::Zero(side),
                |b| b.assign(crosses, Rvalue::Test(Cond::Le(price, limit))),
                |b| b.assign(crosses, Rvalue::Test(Cond::Le(limit, price))),
            );
            b.if_(Cond::Zero(crosses), |b| b.ret());
            b.assign(order, Rvalue::Load(Addr::Field(t.levels, at, "head")));
        };
        enter(b);
        let visits = b.constant("visits", u64::from(RESERVE_VISITS_MAX));
        b.for_each(visits, RESERVE_VISITS_MAX, code::TABLE, |b, _| {
            let o = slot_of(b, order);
            let live = b.load("live", Addr::Field(t.orders, o, "live"));
            let owner = b.load("owner", Addr::Field(t.orders, o, "account"));
            let qty = b.load("qty", Addr::Field(t.orders, o, "qty"));
            let reserved = b.load("reserved_qty", Addr::Field(t.orders, o, "reserved_qty"));
            let available = match t.mutation {
                Mutation::NoReservedBound => qty,
                _ => b.sub("available", qty, reserved),
            };
            // PENDING orders never match (S7, M2); the taker's own orders are skipped
            // (self-trade prevention); a closing order has nothing available.
            let takes = b.let_("takes", Ty::U64, Rvalue::Test(Cond::NonZero(live)));
            if t.mutation == Mutation::MatchesPending {
                b.assign(takes, Rvalue::Const(1));
            }
            b.if_(Cond::Eq(owner, taker), |b| {
                b.assign(takes, Rvalue::Const(0))
            });
            b.if_(Cond::Zero(available), |b| b.assign(takes, Rvalue::Const(0)));
            b.if_(Cond::NonZero(takes), |b| {
                let take = b.let_("take", Ty::U64, Rvalue::Copy(available));
                b.if_(Cond::Lt(left, available), |b| {
                    b.assign(take, Rvalue::Copy(left));
                });
                let price = b.load("price", Addr::Field(t.orders, o, "price"));
                let order_id = b.load("order_id", Addr::Field(t.orders, o, "order_id"));
                let slice = book::alloc(b, "slices", t.slices, code::SLICES_FULL);
                b.store(Addr::Field(t.slices, slice, "order_id"), order_id);
                b.store(Addr::Field(t.slices, slice, "qty"), take);
                b.store(Addr::Field(t.slices, slice, "price"), price);
                let zero = b.constant("zero", 0);
                b.store(Addr::Field(t.slices, slice, "next"), zero);
                let this = link(b, slice);
                b.if_else(
                    Cond::Zero(tail),
                    |b| b.assign(head, Rvalue::Copy(this)),
                    |b| {
                        let previous = slot_of(b, tail);
                        b.store(Addr::Field(t.slices, previous, "next"), this);
                    },
                );
                b.assign(tail, Rvalue::Copy(this));
                let reserved = b.add("reserved_qty", reserved, take);
                b.store(Addr::Field(t.orders, o, "reserved_qty"), reserved);
                let cost = b.let_("cost", Ty::U128, Rvalue::WideMul(take, price));
                b.assign(notional, Rvalue::Add(notional, cost));
                b.assign(worst, Rvalue::Copy(price));
                b.assign(left, Rvalue::Sub(left, take));
                let one = b.constant("one", 1);
                b.assign(count, Rvalue::Add(count, one));
                b.if_(Cond::Zero(left), |b| b.ret());
                let most = b.constant("slices_max", u64::from(SLICES_PER_HOLD_MAX));
                b.if_(Cond::Eq(count, most), |b| b.ret());
            });
            b.assign(order, Rvalue::Load(Addr::Field(t.orders, o, "next")));
            b.if_(Cond::Zero(order), |b| {
                let at = slot_of(b, level);
                b.assign(level, Rvalue::Load(Addr::Field(t.levels, at, "next")));
                enter(b);
            });
        });
    });
    Subroutine::new(
        b,
        &[book_index, side, limit, left, taker],
        &[left, notional, worst, head, count],
    )
}

/// `reserve(route_id, user, instrument, side, qty, limit_px, ttl_ms, commitment)`.
pub fn reserve(t: &SlabTables) -> Function {
    let entry = crate::abi::SLAB.entry("reserve").expect("in the interface");
    let mut b = FunctionBuilder::new("reserve", entry.arg_words(), entry.return_words());
    let route_id = arg(&mut b, "route_id", 0);
    let user = arg(&mut b, "user", 1);
    let instrument = arg(&mut b, "instrument", 2);
    let side = arg(&mut b, "side", 3);
    let qty = arg(&mut b, "qty", 4);
    let limit = arg(&mut b, "limit_px", 5);
    let ttl = arg(&mut b, "ttl_ms", 6);

    b.step("slab.reserve/instrument", Some("INSTRUMENT"), |b| {
        check_instrument(b, instrument);
        let one = b.constant("one", 1);
        b.guard(Cond::Le(side, one), code::BAD_SIDE, "side ≤ 1");
    });
    b.step("slab.reserve/ttl", None, |b| {
        b.guard(Cond::NonZero(ttl), code::BAD_TTL, "ttl_ms ≥ 1");
        let longest = b.constant("ttl_max", MAX_CAP_TTL_MS);
        b.if_(Cond::Lt(longest, ttl), |b| {
            b.assign(ttl, Rvalue::Copy(longest))
        });
    });
    b.step("slab.reserve/lot", Some("INSTRUMENT"), |b| {
        book::check_lot(b, t, instrument, qty);
    });
    b.step("slab.reserve/tick", Some("INSTRUMENT"), |b| {
        book::check_tick(b, t, instrument, limit);
    });
    b.step("slab.reserve/fresh", Some("INSTRUMENT"), |b| {
        let now = now(b);
        super::guard::check_fresh(b, t, instrument, now);
    });
    let taker = b.step("slab.reserve/account", None, |b| {
        book::account(b, t, user, true)
    });
    let hold = b.step("slab.reserve/hold-slot", Some("POOLS"), |b| {
        book::alloc(b, "reservations", t.reservations, code::RESERVATIONS_FULL)
    });
    let (left, notional, worst, head, slices) = b.step("slab.reserve/walk", None, |b| {
        let one = b.constant("one", 1);
        let contra = b.let_("contra", Ty::U64, Rvalue::Sub(one, side));
        let contra = book::book_of(b, instrument, contra);
        let left = b.var("left", Ty::U64);
        let notional = b.var("notional", Ty::U128);
        let worst = b.var("worst", Ty::U64);
        let head = b.var("head", Ty::U64);
        let slices = b.var("slices", Ty::U64);
        b.call(
            WALK,
            &[contra, side, limit, qty, taker],
            &[left, notional, worst, head, slices],
        );
        (left, notional, worst, head, slices)
    });
    let filled = b.step("slab.reserve/filled", None, |b| {
        let filled = b.sub("filled", qty, left);
        b.guard(
            Cond::NonZero(filled),
            code::NO_LIQUIDITY,
            "the walk held something",
        );
        filled
    });
    let hold_id = b.step("slab.reserve/index", None, |b| {
        let issued = b.load("holds_issued", header("holds_issued"));
        let one = b.constant("one", 1);
        let hold_id = b.add("hold_id", issued, one);
        b.store(header("holds_issued"), hold_id);
        let probes = SlabTables::probes(t.hold_index);
        let entry = keyed::insert_fresh(b, t.hold_index, "key", hold_id, probes);
        b.guard(
            Cond::NonZero(entry),
            code::INDEX_FULL,
            "a vacancy in the hold index",
        );
        let entry = slot_of(b, entry);
        b.store(Addr::Field(t.hold_index, entry, "key"), hold_id);
        b.store(Addr::Field(t.hold_index, entry, "slot"), hold);
        hold_id
    });
    b.step("slab.reserve/price", Some("FEE"), |b| {
        let wide_filled = b.let_("filled", Ty::U128, Rvalue::Widen(filled));
        // ⌊Σ take × price / filled⌋ lies between the best and the worst price: it fits a word.
        let quotient = b.let_("vwap", Ty::U128, Rvalue::Div(notional, wide_filled));
        let vwap = b.let_("vwap_px", Ty::U64, Rvalue::Low(quotient));
        let contract_size = params::load_instrument(b, instrument, "contract_size");
        let at_worst = book::notional(b, filled, contract_size, worst);
        let taker_bps = params::load(b, "taker_bps");
        let fee = bps_of(b, at_worst, taker_bps);
        let max_charge = b.add("max_charge", at_worst, fee);
        let now = now(b);
        let expiry = b.add("expiry_ms", now, ttl);
        let epoch = b.load("epoch", Addr::Field(t.instruments, instrument, "epoch"));
        let seqno = b.load("book_seqno", header("book_seqno"));
        let store = |b: &mut FunctionBuilder, field: &'static str, var: Var| {
            b.store(Addr::Field(t.reservations, hold, field), var);
        };
        store(b, "hold_id", hold_id);
        store(b, "route_id", route_id);
        store(b, "account", taker);
        store(b, "instrument", instrument);
        store(b, "side", side);
        store(b, "qty", filled);
        store(b, "vwap_px", vwap);
        store(b, "worst_px", worst);
        store(b, "max_charge", max_charge);
        let commitment = [
            "commitment_0",
            "commitment_1",
            "commitment_2",
            "commitment_3",
        ];
        for (word, field) in commitment.into_iter().enumerate() {
            let value = b.load("commitment", Addr::Fixed(Segment::Args, 7 + word as u32));
            store(b, field, value);
        }
        store(b, "book_seqno", seqno);
        store(b, "expiry_ms", expiry);
        store(b, "slice_head", head);
        store(b, "slices", slices);
        store(b, "epoch", epoch);
        // What a reveal hashes (README "Commit-reveal") and the kill band's reference mark.
        store(b, "qty_asked", qty);
        store(b, "limit_px", limit);
        let mark = super::guard::mark_or_zero(b, t, instrument);
        store(b, "mark_px", mark);
        let (low, high) = super::guard::band_edges(b, mark);
        store(b, "band_low", low);
        store(b, "band_high", high);
        book::enqueue_hold(b, t, instrument, hold);
        for (word, var) in [hold_id, filled, vwap, worst].into_iter().enumerate() {
            b.store(Addr::Fixed(Segment::Ret, word as u32), var);
        }
        b.store(Addr::Fixed(Segment::Ret, 4), max_charge);
        b.store(Addr::Fixed(Segment::Ret, 6), expiry);
        b.store(Addr::Fixed(Segment::Ret, 7), seqno);
    });
    b.finish()
}

/// `⌊amount × bps / 10,000⌋` of a `u128` amount below 2^121 and `bps ≤ 10,000` (so the
/// product fits).
pub fn bps_of(b: &mut FunctionBuilder, amount: Var, bps: Var) -> Var {
    let bps = b.let_("bps", Ty::U128, Rvalue::Widen(bps));
    let scaled = b.let_("scaled", Ty::U128, Rvalue::Mul(amount, bps));
    let ten_thousand = b.let_("ten_thousand", Ty::U128, Rvalue::Const(10_000));
    b.let_("fee", Ty::U128, Rvalue::Div(scaled, ten_thousand))
}

/// `cancel(hold_id) -> (released_qty)`: idempotent.
pub fn cancel(t: &SlabTables) -> Function {
    let mut b = FunctionBuilder::new("cancel", 1, 1);
    let hold_id = arg(&mut b, "hold_id", 0);
    let (hold, entry) = b.step("slab.cancel/find", None, |b| {
        // 0 and the tombstone never name a hold: nothing to cancel.
        b.if_(Cond::Zero(hold_id), |b| b.ret());
        let tombstone = b.constant("tombstone", keyed::TOMBSTONE);
        b.if_(Cond::Eq(hold_id, tombstone), |b| b.ret());
        let probes = SlabTables::probes(t.hold_index);
        let entry = keyed::find_slot(b, t.hold_index, "key", hold_id, probes, false);
        if t.mutation == Mutation::CancelNotIdempotent {
            b.guard(Cond::NonZero(entry), code::TABLE, "the hold is live");
        }
        b.if_(Cond::Zero(entry), |b| b.ret());
        let entry = slot_of(b, entry);
        let hold = b.load("hold", Addr::Field(t.hold_index, entry, "slot"));
        (hold, entry)
    });
    b.step("slab.cancel/release", None, |b| {
        let released = drop_hold(b, t, hold, entry);
        b.store(Addr::Fixed(Segment::Ret, 0), released);
    });
    b.finish()
}

/// Releases the hold at slot `hold` (its hold-index entry at slot `entry`) and frees it: its
/// slices go back to their orders, it leaves its instrument's hold queue and the index.
/// Returns the quantity released.
pub fn drop_hold(b: &mut FunctionBuilder, t: &SlabTables, hold: Var, entry: Var) -> Var {
    let released = release(b, t, hold);
    book::dequeue_hold(b, t, hold);
    keyed::remove(b, t.hold_index, "key", entry);
    book::free(b, "reservations", t.reservations, hold);
    released
}

/// Gives every slice of the hold at slot `hold` back to its order and frees it; a closing
/// order loses the released quantity and leaves the book when it has none left. Returns the
/// quantity released.
fn release(b: &mut FunctionBuilder, t: &SlabTables, hold: Var) -> Var {
    let count = b.load("slices", Addr::Field(t.reservations, hold, "slices"));
    let cursor = b.load("cursor", Addr::Field(t.reservations, hold, "slice_head"));
    let instrument = b.load(
        "instrument",
        Addr::Field(t.reservations, hold, "instrument"),
    );
    let released = b.constant("released", 0);
    b.for_each(count, SLICES_PER_HOLD_MAX, code::TABLE, |b, _| {
        let slice = slot_of(b, cursor);
        let order_id = b.load("order_id", Addr::Field(t.slices, slice, "order_id"));
        let take = b.load("take", Addr::Field(t.slices, slice, "qty"));
        // An order with reserved quantity cannot leave the book, so the id still names it.
        let (order, order_entry) = book::find_order(b, t, order_id);
        let reserved = b.load("reserved_qty", Addr::Field(t.orders, order, "reserved_qty"));
        let reserved = b.sub("reserved_qty", reserved, take);
        b.store(Addr::Field(t.orders, order, "reserved_qty"), reserved);
        let closing = b.load("closing", Addr::Field(t.orders, order, "closing"));
        b.if_(Cond::NonZero(closing), |b| {
            let qty = b.load("qty", Addr::Field(t.orders, order, "qty"));
            let qty = b.sub("qty", qty, take);
            b.store(Addr::Field(t.orders, order, "qty"), qty);
            let account = b.load("account", Addr::Field(t.orders, order, "account"));
            let account = slot_of(b, account);
            let price = b.load("price", Addr::Field(t.orders, order, "price"));
            let contract_size = params::load_instrument(b, instrument, "contract_size");
            let gone = book::notional(b, take, contract_size, price);
            let quoted = b.let_(
                "quoted",
                Ty::U128,
                Rvalue::Load(Addr::Field(t.accounts, account, "quoted")),
            );
            let quoted = b.sub("quoted", quoted, gone);
            b.store(Addr::Field(t.accounts, account, "quoted"), quoted);
            book::bump_seqno(b);
            b.if_(Cond::Zero(qty), |b| {
                remove_order(b, t, order, order_entry, account, instrument);
            });
        });
        b.assign(released, Rvalue::Add(released, take));
        let next = b.load("next", Addr::Field(t.slices, slice, "next"));
        book::free(b, "slices", t.slices, slice);
        b.assign(cursor, Rvalue::Copy(next));
    });
    released
}
