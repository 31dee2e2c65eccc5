//! The book's building blocks, emitted into the entrypoints: pool allocation, the account and
//! order indexes, the sorted level list of each book side and the FIFO of each level, the
//! pending queue of each instrument.
//!
//! Links hold `slot + 1` (0 is null). A **book** is one side of one instrument, record
//! `2 × instrument + side` of the `books` table; its `best` is the first level of a list sorted
//! best first (bids: higher price first; asks: lower). Each level keeps its orders in placement
//! order (`head` … `tail`, through the orders' `next`/`prev`). PENDING orders rest in their level
//! like LIVE ones and are also linked in their instrument's pending queue (`pending_next` /
//! `pending_prev`), so `batch_open` promotes them in one pass over the queue.

use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Subroutine, Table, Ty, Var};
use curve_ir::keyed;
use curvevm::isa::Segment;

use super::{
    ALLOCATED, BOOK, HEADER, INDEX_ENTRY, INDEX_PROBES, INSTRUMENT, LEVEL, LEVEL_DEPTH_MAX,
    Mutation, POOLS, SlabLayout, code, params,
};

/// The slab's tables, placed by a layout.
#[derive(Clone, Copy, Debug)]
pub struct SlabTables {
    /// Instrument rows.
    pub instruments: Table,
    /// Book sides (`2 × instrument + side`).
    pub books: Table,
    /// Accounts.
    pub accounts: Table,
    /// Orders.
    pub orders: Table,
    /// Price levels.
    pub levels: Table,
    /// user → account slot.
    pub account_index: Table,
    /// order id → order slot.
    pub order_index: Table,
    /// Reservations (holds).
    pub reservations: Table,
    /// Slices of holds.
    pub slices: Table,
    /// hold id → reservation slot.
    pub hold_index: Table,
    /// Positions (one per account and instrument).
    pub positions: Table,
    /// The trade-print ring.
    pub trades: Table,
    /// Aggressor-ledger entries (one per taker and instrument, for the batch it traded in).
    pub aggressor: Table,
    /// Oracle views mapped (`view0` …).
    pub views: u32,
    /// Words of the segment.
    pub words: u32,
    /// The planted bug, if any ([`Mutation::None`] outside the mutation tests).
    pub mutation: Mutation,
}

impl SlabTables {
    /// The tables of `layout`, for a program with `mutation` planted.
    pub fn new(layout: &SlabLayout, mutation: Mutation) -> SlabTables {
        let table = |name: &str, record, code| {
            let region = layout
                .region(name)
                .unwrap_or_else(|| panic!("the layout has `{name}`"));
            Table {
                segment: Segment::Slab,
                base: region.offset,
                capacity: layout.capacity(name),
                record,
                code,
            }
        };
        let pool = |name: &str| {
            &POOLS
                .iter()
                .find(|(pool, _)| *pool == name)
                .expect("a pool")
                .1
        };
        SlabTables {
            instruments: table("instruments", &INSTRUMENT, code::TABLE),
            books: table("books", &BOOK, code::TABLE),
            accounts: table("accounts", pool("accounts"), code::TABLE),
            orders: table("orders", pool("orders"), code::TABLE),
            levels: table("levels", &LEVEL, code::TABLE),
            account_index: table("account_index", &INDEX_ENTRY, code::TABLE),
            order_index: table("order_index", &INDEX_ENTRY, code::TABLE),
            reservations: table("reservations", pool("reservations"), code::TABLE),
            slices: table("slices", pool("slices"), code::TABLE),
            hold_index: table("hold_index", &INDEX_ENTRY, code::TABLE),
            positions: table("positions", pool("positions"), code::TABLE),
            trades: table("trades", pool("trades"), code::TABLE),
            aggressor: table("aggressor", pool("aggressor"), code::TABLE),
            views: layout.views,
            words: layout.words(),
            mutation,
        }
    }

    /// Probes of an index: [`INDEX_PROBES`], or the whole index when it is smaller.
    pub fn probes(index: Table) -> u32 {
        INDEX_PROBES.min(index.capacity)
    }
}

/// A header field.
pub fn header(field: &str) -> Addr {
    HEADER.at(Segment::Slab, 0, field)
}

/// Word `word` (0 free_head, 1 high_water, 2 used) of the header triple of `pool`.
fn pool_word(pool: &str, word: u32) -> Addr {
    let k = ALLOCATED
        .iter()
        .position(|p| *p == pool)
        .unwrap_or_else(|| panic!("`{pool}` is not an allocated pool")) as u32;
    Addr::Fixed(Segment::Slab, HEADER.offset("pools") + 3 * k + word)
}

/// `slot + 1`, the link to a slot.
pub fn link(b: &mut FunctionBuilder, slot: Var) -> Var {
    let one = b.constant("one", 1);
    b.let_("link", Ty::U64, Rvalue::Add(slot, one))
}

/// `link − 1`, the slot a nonzero link names.
pub fn slot_of(b: &mut FunctionBuilder, link: Var) -> Var {
    let one = b.constant("one", 1);
    b.let_("slot", Ty::U64, Rvalue::Sub(link, one))
}

/// Takes a slot of `pool` (a `table` of the layout): the freelist's head, else the next never
/// used slot; aborts `full` when neither exists.
pub fn alloc(b: &mut FunctionBuilder, pool: &str, table: Table, full: u8) -> Var {
    let slot = b.var("slot", Ty::U64);
    let free_head = b.load("free_head", pool_word(pool, 0));
    b.if_else(
        Cond::NonZero(free_head),
        |b| {
            let one = b.constant("one", 1);
            b.assign(slot, Rvalue::Sub(free_head, one));
            let next = b.load("next_free", Addr::Field(table, slot, "next_free"));
            b.store(pool_word(pool, 0), next);
        },
        |b| {
            let high_water = b.load("high_water", pool_word(pool, 1));
            let capacity = b.constant("capacity", u64::from(table.capacity));
            b.guard(
                Cond::Lt(high_water, capacity),
                full,
                "a free slot in the pool",
            );
            b.assign(slot, Rvalue::Copy(high_water));
            let one = b.constant("one", 1);
            let high_water = b.add("high_water", high_water, one);
            b.store(pool_word(pool, 1), high_water);
        },
    );
    let used = b.load("used", pool_word(pool, 2));
    let one = b.constant("one", 1);
    let used = b.add("used", used, one);
    b.store(pool_word(pool, 2), used);
    slot
}

/// Returns `slot` to `pool`'s freelist.
pub fn free(b: &mut FunctionBuilder, pool: &str, table: Table, slot: Var) {
    let free_head = b.load("free_head", pool_word(pool, 0));
    b.store(Addr::Field(table, slot, "next_free"), free_head);
    let head = link(b, slot);
    b.store(pool_word(pool, 0), head);
    let used = b.load("used", pool_word(pool, 2));
    let one = b.constant("one", 1);
    let used = b.sub("used", used, one);
    b.store(pool_word(pool, 2), used);
}

/// The account of `user`: its slot + 1, or 0 when it has none. With `create`, a missing
/// account is made (`ACCOUNTS_FULL` when the pool is, `INDEX_FULL` when its index has no
/// vacancy within the probes) and its slot + 1 returned.
pub fn account(b: &mut FunctionBuilder, t: &SlabTables, user: Var, create: bool) -> Var {
    b.guard(Cond::NonZero(user), code::BAD_USER, "user ≠ 0");
    let probes = SlabTables::probes(t.account_index);
    let entry = keyed::find_slot(b, t.account_index, "key", user, probes, create);
    let account = b.constant("account", 0);
    b.if_(Cond::NonZero(entry), |b| {
        let entry = slot_of(b, entry);
        let key = b.load("key", Addr::Field(t.account_index, entry, "key"));
        b.if_else(
            Cond::Eq(key, user),
            |b| {
                let slot = b.load("slot", Addr::Field(t.account_index, entry, "slot"));
                let one = b.constant("one", 1);
                b.assign(account, Rvalue::Add(slot, one));
            },
            |b| {
                if create {
                    let slot = alloc(b, "accounts", t.accounts, code::ACCOUNTS_FULL);
                    b.store(Addr::Field(t.accounts, slot, "user"), user);
                    b.store(Addr::Field(t.account_index, entry, "key"), user);
                    b.store(Addr::Field(t.account_index, entry, "slot"), slot);
                    let one = b.constant("one", 1);
                    b.assign(account, Rvalue::Add(slot, one));
                }
            },
        );
    });
    if create {
        b.guard(
            Cond::NonZero(account),
            code::INDEX_FULL,
            "a vacancy in the account index",
        );
    }
    account
}

/// The slot of the resting order `order_id`, aborting `UNKNOWN_ORDER` when there is none (0 and
/// the index's tombstone are never ids).
pub fn find_order(b: &mut FunctionBuilder, t: &SlabTables, order_id: Var) -> (Var, Var) {
    find_indexed(
        b,
        t.order_index,
        order_id,
        code::UNKNOWN_ORDER,
        [
            "order_id ≠ 0",
            "order_id is not the tombstone",
            "the order rests on the slab",
        ],
    )
}

/// The pool slot and the index entry of `id` in the id index `index`, aborting `missing` —
/// with `guards`' texts: the id is 0, the tombstone, or not indexed — when there is none.
pub fn find_indexed(
    b: &mut FunctionBuilder,
    index: Table,
    id: Var,
    missing: u8,
    guards: [&'static str; 3],
) -> (Var, Var) {
    let [nonzero, not_tombstone, indexed] = guards;
    b.guard(Cond::NonZero(id), missing, nonzero);
    let tombstone = b.constant("tombstone", keyed::TOMBSTONE);
    b.guard(Cond::Ne(id, tombstone), missing, not_tombstone);
    let probes = SlabTables::probes(index);
    let entry = keyed::find_slot(b, index, "key", id, probes, false);
    b.guard(Cond::NonZero(entry), missing, indexed);
    let entry = slot_of(b, entry);
    let slot = b.load("slot", Addr::Field(index, entry, "slot"));
    (slot, entry)
}

/// Indexes a new order id; aborts `INDEX_FULL` without a vacancy within the probes.
pub fn index_order(b: &mut FunctionBuilder, t: &SlabTables, order_id: Var, order: Var) {
    let probes = SlabTables::probes(t.order_index);
    let entry = keyed::insert_fresh(b, t.order_index, "key", order_id, probes);
    b.guard(
        Cond::NonZero(entry),
        code::INDEX_FULL,
        "a vacancy in the order index",
    );
    let entry = slot_of(b, entry);
    b.store(Addr::Field(t.order_index, entry, "key"), order_id);
    b.store(Addr::Field(t.order_index, entry, "slot"), order);
}

/// The name of the level-walk subroutine.
pub const FIND_LEVEL: &str = "find_level";

/// `find_level(book, side, price) -> (level, before)`: walks `book`'s levels from the best.
/// `level` is the link of the level at `price` (0 if none); `before` the link of the last
/// level better than `price` (0 if none), after which a new level goes. Aborts `LEVEL_DEPTH`
/// when more than [`LEVEL_DEPTH_MAX`] levels are better.
pub fn find_level_subroutine(t: &SlabTables) -> Subroutine {
    let mut b = FunctionBuilder::new(FIND_LEVEL, 0, 0);
    let book = b.var("book", Ty::U64);
    let side = b.var("side", Ty::U64);
    let price = b.var("price", Ty::U64);
    let level = b.var("level", Ty::U64);
    let before = b.var("before", Ty::U64);
    b.step("slab.book/find-level", None, |b| {
        b.assign(level, Rvalue::Const(0));
        b.assign(before, Rvalue::Const(0));
        let cursor = b.load("cursor", Addr::Field(t.books, book, "best"));
        let walk = b.constant("walk", u64::from(LEVEL_DEPTH_MAX) + 1);
        b.for_each(walk, LEVEL_DEPTH_MAX + 1, code::TABLE, |b, _| {
            b.if_(Cond::Zero(cursor), |b| b.ret());
            let at = slot_of(b, cursor);
            let at_price = b.load("at_price", Addr::Field(t.levels, at, "price"));
            b.if_(Cond::Eq(at_price, price), |b| {
                b.assign(level, Rvalue::Copy(cursor));
                b.ret();
            });
            // bids: a higher price is better; asks: a lower one.
            let better = b.var("better", Ty::U64);
            b.if_else(
                Cond::Zero(side),
                |b| b.assign(better, Rvalue::Test(Cond::Lt(price, at_price))),
                |b| b.assign(better, Rvalue::Test(Cond::Lt(at_price, price))),
            );
            b.if_(Cond::Zero(better), |b| b.ret());
            b.assign(before, Rvalue::Copy(cursor));
            b.assign(cursor, Rvalue::Load(Addr::Field(t.levels, at, "next")));
        });
        let never = b.constant("never", 0);
        b.guard(
            Cond::NonZero(never),
            code::LEVEL_DEPTH,
            "at most LEVEL_DEPTH_MAX better levels",
        );
    });
    Subroutine::new(b, &[book, side, price], &[level, before])
}

/// A new empty level of `book` at `price`, linked after `before` (0: as the best). Returns
/// its slot.
pub fn insert_level(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    book: Var,
    price: Var,
    before: Var,
) -> Var {
    // Levels never outnumber orders, and the pool has the orders' capacity.
    let level = alloc(b, "levels", t.levels, code::TABLE);
    let zero = b.constant("zero", 0);
    for field in ["head", "tail", "count"] {
        b.store(Addr::Field(t.levels, level, field), zero);
    }
    b.store(Addr::Field(t.levels, level, "book"), book);
    b.store(Addr::Field(t.levels, level, "price"), price);
    b.store(Addr::Field(t.levels, level, "prev"), before);
    let this = link(b, level);
    let after = b.var("after", Ty::U64);
    b.if_else(
        Cond::Zero(before),
        |b| {
            b.assign(after, Rvalue::Load(Addr::Field(t.books, book, "best")));
            b.store(Addr::Field(t.books, book, "best"), this);
        },
        |b| {
            let prev = slot_of(b, before);
            b.assign(after, Rvalue::Load(Addr::Field(t.levels, prev, "next")));
            b.store(Addr::Field(t.levels, prev, "next"), this);
        },
    );
    b.store(Addr::Field(t.levels, level, "next"), after);
    b.if_(Cond::NonZero(after), |b| {
        let next = slot_of(b, after);
        b.store(Addr::Field(t.levels, next, "prev"), this);
    });
    let count = b.load("levels", Addr::Field(t.books, book, "levels"));
    let one = b.constant("one", 1);
    let count = b.add("levels", count, one);
    b.store(Addr::Field(t.books, book, "levels"), count);
    level
}

/// Unlinks the empty level at `level` (a slot) from its book and frees it.
pub fn remove_level(b: &mut FunctionBuilder, t: &SlabTables, level: Var) {
    let book = b.load("book", Addr::Field(t.levels, level, "book"));
    let prev = b.load("prev", Addr::Field(t.levels, level, "prev"));
    let next = b.load("next", Addr::Field(t.levels, level, "next"));
    b.if_else(
        Cond::Zero(prev),
        |b| b.store(Addr::Field(t.books, book, "best"), next),
        |b| {
            let prev = slot_of(b, prev);
            b.store(Addr::Field(t.levels, prev, "next"), next);
        },
    );
    b.if_(Cond::NonZero(next), |b| {
        let next = slot_of(b, next);
        b.store(Addr::Field(t.levels, next, "prev"), prev);
    });
    let count = b.load("levels", Addr::Field(t.books, book, "levels"));
    let one = b.constant("one", 1);
    let count = b.sub("levels", count, one);
    b.store(Addr::Field(t.books, book, "levels"), count);
    free(b, "levels", t.levels, level);
}

/// A doubly linked list of records kept by an owner record: the owner's fields holding its
/// ends and length, and the items' fields linking it. A level's FIFO and an instrument's
/// pending queue are two such lists over the same orders; an instrument's hold queue is one
/// over its live holds.
#[derive(Clone, Copy)]
struct List {
    owner: Table,
    items: Table,
    head: &'static str,
    tail: &'static str,
    count: &'static str,
    prev: &'static str,
    next: &'static str,
}

impl List {
    fn fifo(t: &SlabTables) -> List {
        List {
            owner: t.levels,
            items: t.orders,
            head: "head",
            tail: "tail",
            count: "count",
            prev: "prev",
            next: "next",
        }
    }

    fn pending(t: &SlabTables) -> List {
        List {
            owner: t.instruments,
            items: t.orders,
            head: "pending_head",
            tail: "pending_tail",
            count: "pending_count",
            prev: "pending_prev",
            next: "pending_next",
        }
    }

    fn holds(t: &SlabTables) -> List {
        List {
            owner: t.instruments,
            items: t.reservations,
            head: "holds_head",
            tail: "holds_tail",
            count: "holds_count",
            prev: "prev_hold",
            next: "next_hold",
        }
    }

    /// Appends the item at slot `item` to the list of owner `owner` (a slot).
    fn push_back(self, b: &mut FunctionBuilder, owner: Var, item: Var) {
        let this = link(b, item);
        let tail = b.load("tail", Addr::Field(self.owner, owner, self.tail));
        let zero = b.constant("zero", 0);
        b.store(Addr::Field(self.items, item, self.prev), tail);
        b.store(Addr::Field(self.items, item, self.next), zero);
        b.if_else(
            Cond::Zero(tail),
            |b| b.store(Addr::Field(self.owner, owner, self.head), this),
            |b| {
                let tail = slot_of(b, tail);
                b.store(Addr::Field(self.items, tail, self.next), this);
            },
        );
        b.store(Addr::Field(self.owner, owner, self.tail), this);
        let count = b.load("count", Addr::Field(self.owner, owner, self.count));
        let one = b.constant("one", 1);
        let count = b.add("count", count, one);
        b.store(Addr::Field(self.owner, owner, self.count), count);
    }

    /// Unlinks the item at slot `item` from the list of owner `owner`; returns the length
    /// left.
    fn unlink(self, b: &mut FunctionBuilder, owner: Var, item: Var) -> Var {
        let prev = b.load("prev", Addr::Field(self.items, item, self.prev));
        let next = b.load("next", Addr::Field(self.items, item, self.next));
        b.if_else(
            Cond::Zero(prev),
            |b| b.store(Addr::Field(self.owner, owner, self.head), next),
            |b| {
                let prev = slot_of(b, prev);
                b.store(Addr::Field(self.items, prev, self.next), next);
            },
        );
        b.if_else(
            Cond::Zero(next),
            |b| b.store(Addr::Field(self.owner, owner, self.tail), prev),
            |b| {
                let next = slot_of(b, next);
                b.store(Addr::Field(self.items, next, self.prev), prev);
            },
        );
        let count = b.load("count", Addr::Field(self.owner, owner, self.count));
        let one = b.constant("one", 1);
        let count = b.sub("count", count, one);
        b.store(Addr::Field(self.owner, owner, self.count), count);
        count
    }
}

/// Appends the order at slot `order` to the tail of the level at slot `level`.
pub fn append_order(b: &mut FunctionBuilder, t: &SlabTables, level: Var, order: Var) {
    let level_link = link(b, level);
    b.store(Addr::Field(t.orders, order, "level"), level_link);
    List::fifo(t).push_back(b, level, order);
}

/// Unlinks the order at slot `order` from its level, removing the level when it empties.
pub fn unlink_order(b: &mut FunctionBuilder, t: &SlabTables, order: Var) {
    let level = b.load("level", Addr::Field(t.orders, order, "level"));
    let level = slot_of(b, level);
    let count = List::fifo(t).unlink(b, level, order);
    b.if_(Cond::Zero(count), |b| remove_level(b, t, level));
}

/// Appends the order at slot `order` to instrument `instrument`'s pending queue.
pub fn enqueue_pending(b: &mut FunctionBuilder, t: &SlabTables, instrument: Var, order: Var) {
    List::pending(t).push_back(b, instrument, order);
}

/// Unlinks the PENDING order at slot `order` from instrument `instrument`'s pending queue.
pub fn dequeue_pending(b: &mut FunctionBuilder, t: &SlabTables, instrument: Var, order: Var) {
    List::pending(t).unlink(b, instrument, order);
}

/// Appends the hold at slot `hold` to instrument `instrument`'s hold queue (reserve order).
pub fn enqueue_hold(b: &mut FunctionBuilder, t: &SlabTables, instrument: Var, hold: Var) {
    List::holds(t).push_back(b, instrument, hold);
}

/// Unlinks the hold at slot `hold` from its instrument's hold queue.
pub fn dequeue_hold(b: &mut FunctionBuilder, t: &SlabTables, hold: Var) {
    let instrument = b.load(
        "instrument",
        Addr::Field(t.reservations, hold, "instrument"),
    );
    List::holds(t).unlink(b, instrument, hold);
}

/// `book ← 2 × instrument + side`.
pub fn book_of(b: &mut FunctionBuilder, instrument: Var, side: Var) -> Var {
    let twice = b.let_("twice", Ty::U64, Rvalue::Shl(instrument, 1));
    b.let_("book", Ty::U64, Rvalue::Add(twice, side))
}

/// `1` when `value` is a multiple of `step` (`step ≥ 1`, a proven condition).
pub fn is_multiple(b: &mut FunctionBuilder, value: Var, step: Var) -> Var {
    let one = b.constant("one", 1);
    let quotient = b.let_("quotient", Ty::U64, Rvalue::MulDiv(value, one, step));
    let back = b.let_("back", Ty::U128, Rvalue::WideMul(quotient, step));
    let back = b.let_("back", Ty::U64, Rvalue::Low(back));
    b.let_("aligned", Ty::U64, Rvalue::Test(Cond::Eq(back, value)))
}

/// `qty × contract_size × price` as a `u128` (`qty × contract_size` fits a word and prices
/// stay below 2^57: proven conditions).
pub fn notional(b: &mut FunctionBuilder, qty: Var, contract_size: Var, price: Var) -> Var {
    let units = b.let_("units", Ty::U128, Rvalue::WideMul(qty, contract_size));
    let units = b.let_("units", Ty::U64, Rvalue::Low(units));
    b.let_("notional", Ty::U128, Rvalue::WideMul(units, price))
}

/// An argument word.
pub fn arg(b: &mut FunctionBuilder, name: &str, word: u32) -> Var {
    b.load(name, Addr::Fixed(Segment::Args, word))
}

pub use crate::templates::now;

/// `book_seqno += 1`: the visible book changed.
pub fn bump_seqno(b: &mut FunctionBuilder) {
    let seqno = b.load("book_seqno", header("book_seqno"));
    let one = b.constant("one", 1);
    let seqno = b.add("book_seqno", seqno, one);
    b.store(header("book_seqno"), seqno);
}

/// Checks `instrument < instrument_count`.
pub fn check_instrument(b: &mut FunctionBuilder, instrument: Var) {
    let count = params::load(b, "instrument_count");
    b.guard(
        Cond::Lt(instrument, count),
        code::UNKNOWN_INSTRUMENT,
        "instrument < instrument_count",
    );
}

/// Takes the order at slot `order` (its index entry at `entry`) off the book: its level, the
/// pending queue when PENDING, the index, the pool; the account's order count.
pub fn remove_order(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    order: Var,
    entry: Var,
    account: Var,
    instrument: Var,
) {
    unlink_order(b, t, order);
    let live = b.load("live", Addr::Field(t.orders, order, "live"));
    b.if_(Cond::Zero(live), |b| {
        dequeue_pending(b, t, instrument, order);
    });
    keyed::remove(b, t.order_index, "key", entry);
    let zero = b.constant("zero", 0);
    b.store(Addr::Field(t.orders, order, "order_id"), zero);
    free(b, "orders", t.orders, order);
    let orders = b.load("orders", Addr::Field(t.accounts, account, "orders"));
    let one = b.constant("one", 1);
    let orders = b.sub("orders", orders, one);
    b.store(Addr::Field(t.accounts, account, "orders"), orders);
}

/// `1 ≤ price ≤ price_max` (`PRICE_RANGE`) and `price mod tick = 0` (`TICK`) for instrument
/// `instrument` (S3, R1).
pub fn check_tick(b: &mut FunctionBuilder, t: &SlabTables, instrument: Var, price: Var) {
    let price_max = params::load_instrument(b, instrument, "price_max");
    b.guard(Cond::NonZero(price), code::PRICE_RANGE, "price ≥ 1");
    b.guard(
        Cond::Le(price, price_max),
        code::PRICE_RANGE,
        "price ≤ price_max",
    );
    let tick = params::load_instrument(b, instrument, "tick");
    let aligned = is_multiple(b, price, tick);
    if t.mutation != Mutation::NoTick {
        b.guard(Cond::NonZero(aligned), code::TICK, "price mod tick = 0");
    }
}

/// `1 ≤ qty ≤ qty_max` (`QTY_RANGE`) and `qty mod lot = 0` (`LOT`) for instrument `instrument`
/// (S3, R1).
pub fn check_lot(b: &mut FunctionBuilder, t: &SlabTables, instrument: Var, qty: Var) {
    let qty_max = params::load_instrument(b, instrument, "qty_max");
    b.guard(Cond::NonZero(qty), code::QTY_RANGE, "qty ≥ 1");
    b.guard(Cond::Le(qty, qty_max), code::QTY_RANGE, "qty ≤ qty_max");
    let lot = params::load_instrument(b, instrument, "lot");
    let aligned = is_multiple(b, qty, lot);
    if t.mutation != Mutation::NoLot {
        b.guard(Cond::NonZero(aligned), code::LOT, "qty mod lot = 0");
    }
}
