//! The maker side of the slab: `place_order`, `cancel_order`, `set_maker_class`, `batch_open`
//! and the `account` view. Each step is named after README.md's step of the same entrypoint.

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Ty};
use curve_ir::keyed;
use curvevm::isa::Segment;

use super::book::{
    self, SlabTables, arg, bump_seqno, check_instrument, header, link, now, remove_order, slot_of,
};
use super::{DLP_MAX, HOLDS_RELEASED_MAX, Mutation, PENDING_MAX, code, commit, guard, params};
use crate::templates::debit::le_u128;

/// `place_order(user, instrument, side, price, qty) -> (order_id)`.
pub fn place_order(t: &SlabTables) -> Function {
    let mut b = FunctionBuilder::new("place_order", 5, 1);
    let user = arg(&mut b, "user", 0);
    let instrument = arg(&mut b, "instrument", 1);
    let side = arg(&mut b, "side", 2);
    let price = arg(&mut b, "price", 3);
    let qty = arg(&mut b, "qty", 4);

    b.step("slab.place_order/instrument", Some("INSTRUMENT"), |b| {
        check_instrument(b, instrument);
    });
    b.step("slab.place_order/side", None, |b| {
        let one = b.constant("one", 1);
        b.guard(Cond::Le(side, one), code::BAD_SIDE, "side ≤ 1");
    });
    b.step("slab.place_order/tick", Some("INSTRUMENT"), |b| {
        book::check_tick(b, t, instrument, price);
    });
    b.step("slab.place_order/lot", Some("INSTRUMENT"), |b| {
        book::check_lot(b, t, instrument, qty);
    });
    let account = b.step("slab.place_order/account", None, |b| {
        let account = book::account(b, t, user, true);
        slot_of(b, account)
    });
    let quoted = b.step("slab.place_order/allowance", Some("MAKER_CLASS"), |b| {
        let class = b.load("class", Addr::Field(t.accounts, account, "class"));
        let allowance = params::load_allowance(b, class);
        let contract_size = params::load_instrument(b, instrument, "contract_size");
        let notional = book::notional(b, qty, contract_size, price);
        let quoted = b.let_(
            "quoted",
            Ty::U128,
            Rvalue::Load(Addr::Field(t.accounts, account, "quoted")),
        );
        let quoted = b.add("quoted", quoted, notional);
        let within = le_u128(b, quoted, allowance);
        b.guard(
            Cond::NonZero(within),
            code::ALLOWANCE,
            "quoted + notional ≤ allowance",
        );
        quoted
    });
    let book_index = b.step("slab.place_order/post-only", None, |b| {
        let one = b.constant("one", 1);
        let other_side = b.let_("other_side", Ty::U64, Rvalue::Sub(one, side));
        let other = book::book_of(b, instrument, other_side);
        let best = b.load("best", Addr::Field(t.books, other, "best"));
        b.if_(Cond::NonZero(best), |b| {
            let best = slot_of(b, best);
            let best_price = b.load("best_price", Addr::Field(t.levels, best, "price"));
            let ok = b.var("ok", Ty::U64);
            // A bid stays below the best ask; an ask above the best bid.
            b.if_else(
                Cond::Zero(side),
                |b| b.assign(ok, Rvalue::Test(Cond::Lt(price, best_price))),
                |b| b.assign(ok, Rvalue::Test(Cond::Lt(best_price, price))),
            );
            b.guard(
                Cond::NonZero(ok),
                code::CROSSES,
                "a maker order does not cross the book",
            );
        });
        book::book_of(b, instrument, side)
    });
    b.step("slab.place_order/freeze", Some("ANTI_TOXICITY"), |b| {
        guard::freeze(b, t, instrument, book_index, side, price);
    });
    let class = b.step("slab.place_order/pending-limit", None, |b| {
        let class = b.load("class", Addr::Field(t.accounts, account, "class"));
        b.if_(Cond::Zero(class), |b| {
            let pending = b.load(
                "pending_count",
                Addr::Field(t.instruments, instrument, "pending_count"),
            );
            let limit = b.constant("pending_max", u64::from(PENDING_MAX));
            b.guard(
                Cond::Lt(pending, limit),
                code::PENDING_FULL,
                "pending orders < PENDING_MAX",
            );
        });
        class
    });
    let (order, order_id) = b.step("slab.place_order/order-slot", Some("POOLS"), |b| {
        let order = book::alloc(b, "orders", t.orders, code::ORDERS_FULL);
        let issued = b.load("orders_issued", header("orders_issued"));
        let one = b.constant("one", 1);
        let order_id = b.add("order_id", issued, one);
        b.store(header("orders_issued"), order_id);
        book::index_order(b, t, order_id, order);
        (order, order_id)
    });
    let level = b.step("slab.place_order/depth", None, |b| {
        let level = b.var("level", Ty::U64);
        let before = b.var("before", Ty::U64);
        b.call(
            book::FIND_LEVEL,
            &[book_index, side, price],
            &[level, before],
        );
        let slot = b.var("level_slot", Ty::U64);
        b.if_else(
            Cond::Zero(level),
            |b| {
                let new = book::insert_level(b, t, book_index, price, before);
                b.assign(slot, Rvalue::Copy(new));
            },
            |b| {
                let one = b.constant("one", 1);
                b.assign(slot, Rvalue::Sub(level, one));
            },
        );
        slot
    });
    b.step("slab.place_order/rest", None, |b| {
        let now = now(b);
        let zero = b.constant("zero", 0);
        b.store(Addr::Field(t.orders, order, "order_id"), order_id);
        let account_link = link(b, account);
        b.store(Addr::Field(t.orders, order, "account"), account_link);
        // DLP (class 1) orders are live at once; REG (0) wait for the next batch_open.
        b.store(Addr::Field(t.orders, order, "live"), class);
        b.store(Addr::Field(t.orders, order, "created_ms"), now);
        b.store(Addr::Field(t.orders, order, "price"), price);
        b.store(Addr::Field(t.orders, order, "qty"), qty);
        b.store(Addr::Field(t.orders, order, "reserved_qty"), zero);
        b.store(Addr::Field(t.orders, order, "qty_orig"), qty);
        b.store(Addr::Field(t.orders, order, "pending_next"), zero);
        b.store(Addr::Field(t.orders, order, "pending_prev"), zero);
        b.store(Addr::Field(t.orders, order, "closing"), zero);
        book::append_order(b, t, level, order);
        b.if_(Cond::Zero(class), |b| {
            book::enqueue_pending(b, t, instrument, order);
        });
        b.store(Addr::Field(t.accounts, account, "quoted"), quoted);
        let orders = b.load("orders", Addr::Field(t.accounts, account, "orders"));
        let one = b.constant("one", 1);
        let orders = b.add("orders", orders, one);
        b.store(Addr::Field(t.accounts, account, "orders"), orders);
        bump_seqno(b);
        b.store(Addr::Fixed(Segment::Ret, 0), order_id);
    });
    b.finish()
}

/// `cancel_order(user, order_id) -> (cancelled_qty)`.
pub fn cancel_order(t: &SlabTables) -> Function {
    let mut b = FunctionBuilder::new("cancel_order", 2, 1);
    let user = arg(&mut b, "user", 0);
    let order_id = arg(&mut b, "order_id", 1);
    let (order, entry) = b.step("slab.cancel_order/find", None, |b| {
        book::find_order(b, t, order_id)
    });
    let account = b.step("slab.cancel_order/owner", None, |b| {
        let account = b.load("account", Addr::Field(t.orders, order, "account"));
        let account = slot_of(b, account);
        let owner = b.load("owner", Addr::Field(t.accounts, account, "user"));
        b.guard(
            Cond::Eq(owner, user),
            code::NOT_OWNER,
            "the order is the user's",
        );
        account
    });
    b.step("slab.cancel_order/unreserved", None, |b| {
        // What reservations release later leaves the book too (R8, ADV2).
        let one = b.constant("one", 1);
        b.store(Addr::Field(t.orders, order, "closing"), one);
        let qty = b.load("qty", Addr::Field(t.orders, order, "qty"));
        let reserved = b.load("reserved_qty", Addr::Field(t.orders, order, "reserved_qty"));
        let cancelled = b.sub("cancelled", qty, reserved);
        b.store(Addr::Fixed(Segment::Ret, 0), cancelled);
        b.if_(Cond::NonZero(cancelled), |b| {
            b.store(Addr::Field(t.orders, order, "qty"), reserved);
            let level = b.load("level", Addr::Field(t.orders, order, "level"));
            let level = slot_of(b, level);
            let book_index = b.load("book", Addr::Field(t.levels, level, "book"));
            let instrument = b.let_("instrument", Ty::U64, Rvalue::Shr(book_index, 1));
            let price = b.load("price", Addr::Field(t.orders, order, "price"));
            let contract_size = params::load_instrument(b, instrument, "contract_size");
            let released = book::notional(b, cancelled, contract_size, price);
            let quoted = b.let_(
                "quoted",
                Ty::U128,
                Rvalue::Load(Addr::Field(t.accounts, account, "quoted")),
            );
            let quoted = b.sub("quoted", quoted, released);
            b.store(Addr::Field(t.accounts, account, "quoted"), quoted);
            bump_seqno(b);
            b.if_(Cond::Zero(reserved), |b| {
                remove_order(b, t, order, entry, account, instrument);
            });
        });
    });
    b.finish()
}

/// `set_maker_class(user, class)`: governance's (a reserved entrypoint).
pub fn set_maker_class(t: &SlabTables) -> Function {
    let mut b = FunctionBuilder::new("set_maker_class", 2, 0);
    let user = arg(&mut b, "user", 0);
    let class = arg(&mut b, "class", 1);
    b.step("slab.set_maker_class/class", Some("MAKER_CLASS"), |b| {
        let one = b.constant("one", 1);
        b.guard(Cond::Le(class, one), code::BAD_CLASS, "class ≤ 1");
    });
    let account = b.step("slab.set_maker_class/account", None, |b| {
        let account = book::account(b, t, user, true);
        slot_of(b, account)
    });
    b.step("slab.set_maker_class/dlp-list", None, |b| {
        let old = b.load("old_class", Addr::Field(t.accounts, account, "class"));
        b.if_(Cond::Ne(old, class), |b| {
            let count = b.load("dlp_count", header("dlp_count"));
            let one = b.constant("one", 1);
            b.if_else(
                Cond::NonZero(class),
                |b| {
                    let max = b.constant("dlp_max", u64::from(DLP_MAX));
                    b.guard(Cond::Lt(count, max), code::DLP_FULL, "dlp_count < DLP_MAX");
                    b.assign(count, Rvalue::Add(count, one));
                },
                |b| b.assign(count, Rvalue::Sub(count, one)),
            );
            b.store(header("dlp_count"), count);
            b.store(Addr::Field(t.accounts, account, "class"), class);
        });
    });
    b.finish()
}

/// `batch_open(instrument) -> (epoch, promoted, released_holds)` (percolator §4.6, §4.19; S4,
/// R9, F1).
pub fn batch_open(t: &SlabTables) -> Function {
    let mut b = FunctionBuilder::new("batch_open", 1, 3);
    let instrument = arg(&mut b, "instrument", 0);
    b.step("slab.batch_open/instrument", Some("INSTRUMENT"), |b| {
        check_instrument(b, instrument);
    });
    let now = b.step("slab.batch_open/window", Some("BATCH_WINDOW"), |b| {
        let now = now(b);
        let opened = b.load(
            "batch_open_ms",
            Addr::Field(t.instruments, instrument, "batch_open_ms"),
        );
        let window = params::load(b, "batch_ms");
        let due = b.add("due", opened, window);
        b.guard(
            Cond::Le(due, now),
            code::BATCH_EARLY,
            "now ≥ batch_open_ms + batch_ms",
        );
        now
    });
    b.step("slab.batch_open/funding", Some("FUNDING"), |b| {
        super::funding::due(b, instrument);
    });
    let epoch = b.step("slab.batch_open/epoch", None, |b| {
        let epoch = b.load("epoch", Addr::Field(t.instruments, instrument, "epoch"));
        let one = b.constant("one", 1);
        let epoch = b.add("epoch", epoch, one);
        b.store(Addr::Field(t.instruments, instrument, "epoch"), epoch);
        b.store(Addr::Field(t.instruments, instrument, "batch_open_ms"), now);
        epoch
    });
    b.step("slab.batch_open/freeze", Some("ANTI_TOXICITY"), |b| {
        let window = params::load(b, "batch_ms");
        let until = b.add("freeze_until_ms", now, window);
        b.store(
            Addr::Field(t.instruments, instrument, "freeze_until_ms"),
            until,
        );
    });
    b.step("slab.batch_open/release-holds", None, |b| {
        // Every live hold of the instrument was reserved in an earlier epoch: none can commit
        // again (commit's EPOCH), so the oldest give their quantity back now (F1).
        let count = b.load(
            "holds_count",
            Addr::Field(t.instruments, instrument, "holds_count"),
        );
        let most = b.constant("most", u64::from(HOLDS_RELEASED_MAX));
        b.if_(Cond::Lt(most, count), |b| {
            b.assign(count, Rvalue::Copy(most))
        });
        if t.mutation == Mutation::HoldsOutliveTheirBatch {
            b.assign(count, Rvalue::Const(0));
        }
        b.for_each(count, HOLDS_RELEASED_MAX, code::TABLE, |b, _| {
            let head = b.load(
                "holds_head",
                Addr::Field(t.instruments, instrument, "holds_head"),
            );
            let hold = slot_of(b, head);
            let hold_id = b.load("hold_id", Addr::Field(t.reservations, hold, "hold_id"));
            let probes = SlabTables::probes(t.hold_index);
            let entry = keyed::find_slot(b, t.hold_index, "key", hold_id, probes, false);
            b.guard(
                Cond::NonZero(entry),
                code::TABLE,
                "a queued hold is indexed",
            );
            let entry = slot_of(b, entry);
            super::hold::drop_hold(b, t, hold, entry);
        });
        b.store(Addr::Fixed(Segment::Ret, 2), count);
    });
    b.step("slab.batch_open/promote", Some("MATCHING"), |b| {
        // Every pending order is promoted once, in placement order, keeping its id and its
        // place in its level: one pass over the queue, O(#pending).
        let count = b.load(
            "pending_count",
            Addr::Field(t.instruments, instrument, "pending_count"),
        );
        let cursor = b.load(
            "cursor",
            Addr::Field(t.instruments, instrument, "pending_head"),
        );
        let one = b.constant("one", 1);
        let zero = b.constant("zero", 0);
        b.for_each(count, PENDING_MAX, code::TABLE, |b, _| {
            let order = slot_of(b, cursor);
            b.store(Addr::Field(t.orders, order, "live"), one);
            let next = b.load("next", Addr::Field(t.orders, order, "pending_next"));
            b.store(Addr::Field(t.orders, order, "pending_next"), zero);
            b.store(Addr::Field(t.orders, order, "pending_prev"), zero);
            b.assign(cursor, Rvalue::Copy(next));
        });
        for field in ["pending_head", "pending_tail", "pending_count"] {
            b.store(Addr::Field(t.instruments, instrument, field), zero);
        }
        b.if_(Cond::NonZero(count), bump_seqno);
        b.store(Addr::Fixed(Segment::Ret, 0), epoch);
        b.store(Addr::Fixed(Segment::Ret, 1), count);
    });
    b.finish()
}

/// `account(user) -> (cash, im, mm)`: margins at the current marks; zeros for a user
/// without an account.
pub fn account(t: &SlabTables) -> Function {
    let mut b = FunctionBuilder::new("account", 1, 6);
    let user = arg(&mut b, "user", 0);
    b.step("slab.account/read", Some("RISK"), |b| {
        // User 0 has no account: zeros, like any user without one.
        b.if_(Cond::Zero(user), |b| b.ret());
        let account = book::account(b, t, user, false);
        b.if_(Cond::NonZero(account), |b| {
            let account = slot_of(b, account);
            let cash = b.let_(
                "cash",
                Ty::U128,
                Rvalue::Load(Addr::Field(t.accounts, account, "cash")),
            );
            let (_, exposure) = commit::risk(b, account);
            let im = commit::margin(b, exposure, "imr_bps");
            let mm = commit::margin(b, exposure, "mmr_bps");
            for (value, word) in [(cash, 0), (im, 2), (mm, 4)] {
                b.store(Addr::Fixed(Segment::Ret, word), value);
            }
        });
    });
    b.finish()
}

/// `exposure(user, instrument) -> (equity, im, mm, im_pos, mm_pos, oracle_key, open)`: the
/// account's margins with one position's own signed margins and its feed's key, for a router
/// that nets across slabs (README `exposure`).
pub fn exposure(t: &SlabTables) -> Function {
    let entry = crate::abi::SLAB
        .entry("exposure")
        .expect("in the interface");
    let mut b = FunctionBuilder::new("exposure", entry.arg_words(), entry.return_words());
    let user = arg(&mut b, "user", 0);
    let instrument = arg(&mut b, "instrument", 1);
    b.step("slab.exposure/read", Some("RISK"), |b| {
        book::check_instrument(b, instrument);
        let key = params::load_instrument(b, instrument, "oracle_key");
        b.store(Addr::Fixed(Segment::Ret, 10), key);
        b.if_(Cond::Zero(user), |b| b.ret());
        let account = book::account(b, t, user, false);
        b.if_(Cond::NonZero(account), |b| {
            let account = slot_of(b, account);
            let (equity, exposure) = commit::risk(b, account);
            let im = commit::margin(b, exposure, "imr_bps");
            let mm = commit::margin(b, exposure, "mmr_bps");
            let (im_pos, mm_pos, open) = commit::position_margin(b, t, account, instrument);
            for (value, word) in [(equity, 0), (im, 2), (mm, 4), (im_pos, 6), (mm_pos, 8)] {
                b.store(Addr::Fixed(Segment::Ret, word), value);
            }
            b.store(Addr::Fixed(Segment::Ret, 11), open);
        });
    });
    b.finish()
}
