//! Commit and margin (percolator §4.4, §4.13, §4.14; S9, S10, S12, R4–R6): `commit` executes a
//! hold at its captured prices, moves both sides' positions, takes fees, prints trades and
//! debits the taker's margin shortfall through `safe_debit`; the risk walk values an account
//! at the oracles' marks. Each step is named after README.md's step of `commit`.
//!
//! Signed values are two's complement: a position's `qty` is an `i64` word, cash and equity
//! `i128` (two words). Quantities stay below 2^62 and prices below 2^57 (proven conditions),
//! so a fill's signed quantity and a price difference are exact `i64`s; a position stays below
//! 2^63 underlying units (`POSITION_LIMIT`), so its value is one 64 × 64-bit product.
//!
//! Gas: the VM multiplies and divides in microcode (a 64 × 64 product costs 588 gas, a 128-bit
//! division 2,324), so the margin walk does two products per position and one division per
//! account, and `commit` walks the taker's positions once: after the fills only its position
//! in the hold's instrument and its cash have changed, so the margin after is the margin
//! before corrected by that position's value before and after.

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Subroutine, Ty, Var};
use curve_ir::keyed;
use curvevm::isa::Segment;

use super::book::{self, SlabTables, arg, header, link, now, slot_of};
use super::hold::bps_of;
use super::{INSTRUMENTS_MAX, Mutation, SLICES_PER_HOLD_MAX, code, params};
use super::{funding, guard};
use crate::templates::debit::{self, Debit};

/// The collateral asset every slab settles in (the rollup's `protocol::COLLATERAL`).
pub const COLLATERAL_ASSET: u64 = 0;

/// The name of the position-lookup subroutine.
pub const FIND_POSITION: &str = "find_position";
/// The name of the fill subroutine.
pub const APPLY_FILL: &str = "apply_fill";
/// The name of the risk subroutine.
pub const RISK: &str = "risk";

/// The mark of `instrument` (checked `< instrument_count`): the `mark` word of the oracle
/// state mapped at the instrument's `oracle_view`; aborts `NO_MARK` while it is 0.
pub fn mark_of(b: &mut FunctionBuilder, t: &SlabTables, instrument: Var) -> Var {
    let mark = guard::mark_or_zero(b, t, instrument);
    b.guard(Cond::NonZero(mark), code::NO_MARK, "the oracle has a mark");
    mark
}

pub use crate::templates::debit::is_negative;

/// `acc ± magnitude` (`+` when `gain ≠ 0`) of an `i128` accumulator and a `u128` magnitude,
/// which must be a valid positive `i128` (else `TABLE`: amounts that large are out of reach).
pub fn add_signed(b: &mut FunctionBuilder, acc: Var, magnitude: Var, gain: Var) {
    let negative = is_negative(b, magnitude);
    b.guard(Cond::Zero(negative), code::TABLE, "an amount below 2^127");
    b.if_else(
        Cond::NonZero(gain),
        |b| b.assign(acc, Rvalue::AddSigned(acc, magnitude)),
        |b| b.assign(acc, Rvalue::SubSigned(acc, magnitude)),
    );
}

/// `cash ← change(cash)` of the account at `account` (a signed `u128`).
fn update_cash(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    account: Var,
    change: impl FnOnce(&mut FunctionBuilder, Var) -> Var,
) {
    let cash = cash_of(b, t, account);
    let cash = change(b, cash);
    b.store(Addr::Field(t.accounts, account, "cash"), cash);
}

/// The cash (a signed `u128`) of the account at `account`.
fn cash_of(b: &mut FunctionBuilder, t: &SlabTables, account: Var) -> Var {
    b.let_(
        "cash",
        Ty::U128,
        Rvalue::Load(Addr::Field(t.accounts, account, "cash")),
    )
}

/// `|q|` of an `i64` word and whether it is long (`q > 0`).
pub fn magnitude(b: &mut FunctionBuilder, q: Var) -> (Var, Var) {
    let zero = b.constant("zero", 0);
    let long = b.let_("long", Ty::U64, Rvalue::Test(Cond::LtSigned(zero, q)));
    let size = b.let_("size", Ty::U64, Rvalue::Copy(q));
    b.if_(Cond::Zero(long), |b| b.assign(size, Rvalue::Neg(q)));
    (size, long)
}

/// `|a − b|` of two prices and whether `a ≥ b`.
pub fn difference(b: &mut FunctionBuilder, a: Var, c: Var) -> (Var, Var) {
    let up = b.let_("up", Ty::U64, Rvalue::Test(Cond::Le(c, a)));
    let gap = b.var("gap", Ty::U64);
    b.if_else(
        Cond::NonZero(up),
        |b| b.assign(gap, Rvalue::Sub(a, c)),
        |b| b.assign(gap, Rvalue::Sub(c, a)),
    );
    (gap, up)
}

/// `size × contract_size` underlying units, aborting `POSITION_LIMIT` from 2^63.
fn units_of(b: &mut FunctionBuilder, size: Var, contract_size: Var) -> Var {
    let units = b.let_("units", Ty::U128, Rvalue::WideMul(size, contract_size));
    let high = b.let_("units_hi", Ty::U64, Rvalue::High(units));
    b.guard(
        Cond::Zero(high),
        code::POSITION_LIMIT,
        "a position below 2^63 units",
    );
    let units = b.let_("units", Ty::U64, Rvalue::Low(units));
    let zero = b.constant("zero", 0);
    b.guard(
        Cond::LeSigned(zero, units),
        code::POSITION_LIMIT,
        "a position below 2^63 units",
    );
    units
}

/// PnL of `units` underlying units of a position (long when `long ≠ 0`) entered at `entry`,
/// valued at `price`: its magnitude (`u128`) and whether it is a gain.
fn pnl(b: &mut FunctionBuilder, units: Var, long: Var, entry: Var, price: Var) -> (Var, Var) {
    let (gap, up) = difference(b, price, entry);
    let amount = b.let_("pnl", Ty::U128, Rvalue::WideMul(units, gap));
    // A long gains when the price rose, a short when it fell.
    let gain = b.let_("gain", Ty::U64, Rvalue::Test(Cond::Eq(up, long)));
    b.if_(Cond::Eq(entry, price), |b| b.assign(gain, Rvalue::Const(1)));
    (amount, gain)
}

/// Runs `body(link, slot)` for each position of the account at slot `account`, in list order,
/// then returns from the subroutine (an account has at most one position per instrument, so
/// the walk is bounded by [`INSTRUMENTS_MAX`]; a longer list is a template bug: `TABLE`).
fn walk_positions(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    account: Var,
    mut body: impl FnMut(&mut FunctionBuilder, Var, Var),
) {
    let cursor = b.load("cursor", Addr::Field(t.accounts, account, "position_head"));
    let walk = b.constant("walk", u64::from(INSTRUMENTS_MAX) + 1);
    b.for_each(walk, INSTRUMENTS_MAX + 1, code::TABLE, |b, _| {
        b.if_(Cond::Zero(cursor), |b| b.ret());
        let at = slot_of(b, cursor);
        body(b, cursor, at);
        b.assign(
            cursor,
            Rvalue::Load(Addr::Field(t.positions, at, "next_in_account")),
        );
    });
}

/// `find_position(account, instrument) -> (position, previous)`: the link of `account`'s
/// (a slot) position in `instrument` (0 if none) and of the position before it in the
/// account's list (0 if it is the head). An account has at most one position per instrument.
pub fn find_position_subroutine(t: &SlabTables) -> Subroutine {
    let mut b = FunctionBuilder::new(FIND_POSITION, 0, 0);
    let account = b.var("account", Ty::U64);
    let instrument = b.var("instrument", Ty::U64);
    let found = b.var("position", Ty::U64);
    let previous = b.var("previous", Ty::U64);
    b.step("slab.commit/find-position", None, |b| {
        b.assign(found, Rvalue::Const(0));
        b.assign(previous, Rvalue::Const(0));
        walk_positions(b, t, account, |b, cursor, at| {
            let of = b.load("instrument", Addr::Field(t.positions, at, "instrument"));
            b.if_(Cond::Eq(of, instrument), |b| {
                b.assign(found, Rvalue::Copy(cursor));
                b.ret();
            });
            b.assign(previous, Rvalue::Copy(cursor));
        });
    });
    Subroutine::new(b, &[account, instrument], &[found, previous])
}

/// `apply_fill(account, instrument, buys, take, price)`: the fill of `take` contracts at
/// `price` on `account`'s (a slot) position — bought when `buys ≠ 0`, else sold: open,
/// increase (entry rounded against the holder, the rounding to `insurance`), reduce, close or
/// flip, realising PnL into cash (README, "Positions").
pub fn apply_fill_subroutine(t: &SlabTables) -> Subroutine {
    let mut b = FunctionBuilder::new(APPLY_FILL, 0, 0);
    let account = b.var("account", Ty::U64);
    let instrument = b.var("instrument", Ty::U64);
    let buys = b.var("buys", Ty::U64);
    let take = b.var("take", Ty::U64);
    let price = b.var("price", Ty::U64);
    b.step("slab.commit/position", None, |b| {
        let signed = b.let_("signed", Ty::U64, Rvalue::Copy(take));
        b.if_(Cond::Zero(buys), |b| b.assign(signed, Rvalue::Neg(take)));
        let position = b.var("position", Ty::U64);
        let previous = b.var("previous", Ty::U64);
        b.call(FIND_POSITION, &[account, instrument], &[position, previous]);
        let contract_size = params::load_instrument(b, instrument, "contract_size");
        b.if_else(
            Cond::Zero(position),
            |b| {
                units_of(b, take, contract_size);
                open_position(b, t, account, instrument, signed, price)
            },
            |b| {
                let at = slot_of(b, position);
                let q = b.load("qty", Addr::Field(t.positions, at, "qty"));
                let entry = b.load("entry_px", Addr::Field(t.positions, at, "entry_px"));
                let (size, long) = magnitude(b, q);
                // What the position owes or is owed since its snapshot, before the fill.
                let held_units = units_of(b, size, contract_size);
                funding::settle(b, t, account, at, instrument, held_units, long);
                b.if_else(
                    Cond::Eq(long, buys),
                    |b| {
                        let grown = b.let_("qty", Ty::U64, Rvalue::AddSigned(q, signed));
                        let (grown_size, _) = magnitude(b, grown);
                        units_of(b, grown_size, contract_size);
                        b.store(Addr::Field(t.positions, at, "qty"), grown);
                        let entry = rounded_entry(b, size, long, entry, take, price, contract_size);
                        b.store(Addr::Field(t.positions, at, "entry_px"), entry);
                    },
                    |b| {
                        let closed = b.let_("closed", Ty::U64, Rvalue::Copy(size));
                        b.if_(Cond::Lt(take, size), |b| {
                            b.assign(closed, Rvalue::Copy(take))
                        });
                        let units = units_of(b, closed, contract_size);
                        let (amount, gain) = pnl(b, units, long, entry, price);
                        update_cash(b, t, account, |b, cash| {
                            add_signed(b, cash, amount, gain);
                            cash
                        });
                        let remaining = b.let_("qty", Ty::U64, Rvalue::AddSigned(q, signed));
                        b.store(Addr::Field(t.positions, at, "qty"), remaining);
                        // A flip opens the rest at the fill's price.
                        b.if_(Cond::Lt(size, take), |b| {
                            let (rest, _) = magnitude(b, remaining);
                            units_of(b, rest, contract_size);
                            // The snapshot is already the index: the funding just settled.
                            b.store(Addr::Field(t.positions, at, "entry_px"), price);
                        });
                        b.if_(Cond::Zero(remaining), |b| {
                            close_position(b, t, account, at, previous);
                        });
                    },
                );
            },
        );
    });
    Subroutine::new(b, &[account, instrument, buys, take, price], &[])
}

/// A new position `(signed, price)` of `account` in `instrument`, at the head of its list.
fn open_position(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    account: Var,
    instrument: Var,
    signed: Var,
    price: Var,
) {
    let at = book::alloc(b, "positions", t.positions, code::POSITIONS_FULL);
    let owner = link(b, account);
    b.store(Addr::Field(t.positions, at, "account"), owner);
    b.store(Addr::Field(t.positions, at, "instrument"), instrument);
    b.store(Addr::Field(t.positions, at, "qty"), signed);
    b.store(Addr::Field(t.positions, at, "entry_px"), price);
    stamp_funding(b, t, at, instrument);
    let head = b.load("head", Addr::Field(t.accounts, account, "position_head"));
    b.store(Addr::Field(t.positions, at, "next_in_account"), head);
    let this = link(b, at);
    b.store(Addr::Field(t.accounts, account, "position_head"), this);
}

/// The position's funding snapshot ← the instrument's funding index.
fn stamp_funding(b: &mut FunctionBuilder, t: &SlabTables, at: Var, instrument: Var) {
    let cumulative = b.let_(
        "cum_funding",
        Ty::U128,
        Rvalue::Load(Addr::Field(t.instruments, instrument, "cum_funding")),
    );
    b.store(Addr::Field(t.positions, at, "last_funding"), cumulative);
}

/// The entry of a position of `size` contracts (long when `long ≠ 0`) entered at `entry`,
/// increased by `take` at `price`: `e' = ⌈X / n⌉` long, `⌊X / n⌋` short, `X = size × entry +
/// take × price`, `n = size + take`; `|e' × n − X| × contract_size` goes to `insurance`.
fn rounded_entry(
    b: &mut FunctionBuilder,
    size: Var,
    long: Var,
    entry: Var,
    take: Var,
    price: Var,
    contract_size: Var,
) -> Var {
    let held = b.let_("held", Ty::U128, Rvalue::WideMul(size, entry));
    let added = b.let_("added", Ty::U128, Rvalue::WideMul(take, price));
    let basis = b.let_("basis", Ty::U128, Rvalue::Add(held, added));
    let n = b.add("n", size, take);
    let wide_n = b.let_("n", Ty::U128, Rvalue::Widen(n));
    let numerator = b.let_("numerator", Ty::U128, Rvalue::Copy(basis));
    b.if_(Cond::NonZero(long), |b| {
        // ⌈X / n⌉ = ⌊(X + n − 1) / n⌋.
        let one = b.let_("one", Ty::U128, Rvalue::Const(1));
        let bias = b.let_("bias", Ty::U128, Rvalue::Sub(wide_n, one));
        b.assign(numerator, Rvalue::Add(basis, bias));
    });
    // The entry lies between two prices below 2^57: it fits a word.
    let quotient = b.let_("entry", Ty::U128, Rvalue::Div(numerator, wide_n));
    let new_entry = b.let_("entry_px", Ty::U64, Rvalue::Low(quotient));
    let rounded = b.let_("rounded", Ty::U128, Rvalue::WideMul(new_entry, n));
    let dust = b.var("dust", Ty::U128);
    b.if_else(
        Cond::NonZero(long),
        |b| b.assign(dust, Rvalue::Sub(rounded, basis)),
        |b| b.assign(dust, Rvalue::Sub(basis, rounded)),
    );
    // The rounding is below n < 2^63: one word.
    let dust = b.let_("dust", Ty::U64, Rvalue::Low(dust));
    let dust = b.let_("dust", Ty::U128, Rvalue::WideMul(dust, contract_size));
    let insurance = b.let_("insurance", Ty::U128, Rvalue::Load(header("insurance")));
    let insurance = b.add("insurance", insurance, dust);
    b.store(header("insurance"), insurance);
    new_entry
}

/// Unlinks the closed position at slot `at` (after link `previous`, 0 at the head) from
/// `account`'s list and frees it.
fn close_position(b: &mut FunctionBuilder, t: &SlabTables, account: Var, at: Var, previous: Var) {
    let next = b.load("next", Addr::Field(t.positions, at, "next_in_account"));
    b.if_else(
        Cond::Zero(previous),
        |b| b.store(Addr::Field(t.accounts, account, "position_head"), next),
        |b| {
            let before = slot_of(b, previous);
            b.store(Addr::Field(t.positions, before, "next_in_account"), next);
        },
    );
    book::free(b, "positions", t.positions, at);
}

/// The name of the position-value subroutine.
pub const POSITION_VALUE: &str = "position_value";

/// The value (`i128`: unrealised PnL less unsettled funding, `q × contract_size × ((m − e) −
/// (cum_funding − f))`) and exposure `|q| × contract_size × mark` (`u128`) of the position at
/// slot `at`.
fn value_of(b: &mut FunctionBuilder, t: &SlabTables, at: Var) -> (Var, Var) {
    let instrument = b.load("instrument", Addr::Field(t.positions, at, "instrument"));
    let q = b.load("qty", Addr::Field(t.positions, at, "qty"));
    let entry = b.load("entry_px", Addr::Field(t.positions, at, "entry_px"));
    let mark = mark_of(b, t, instrument);
    let contract_size = params::load_instrument(b, instrument, "contract_size");
    let (size, long) = magnitude(b, q);
    let units = units_of(b, size, contract_size);
    // Prices are below 2^57: their difference is an exact i128.
    let wide_mark = b.let_("mark", Ty::U128, Rvalue::Widen(mark));
    let wide_entry = b.let_("entry", Ty::U128, Rvalue::Widen(entry));
    let gap = b.let_("gap", Ty::U128, Rvalue::SubSigned(wide_mark, wide_entry));
    let owed = funding::owed_per_unit(b, t, at, instrument);
    let gap = b.let_("gap", Ty::U128, Rvalue::SubSigned(gap, owed));
    let (per_unit, up) = funding::word_magnitude(b, gap);
    let amount = b.let_("value", Ty::U128, Rvalue::WideMul(units, per_unit));
    // A long gains when the gap is up, a short when it is down (a zero gap is worth 0).
    let gain = b.let_("gain", Ty::U64, Rvalue::Test(Cond::Eq(up, long)));
    let value = b.let_("value", Ty::U128, Rvalue::Const(0));
    add_signed(b, value, amount, gain);
    let exposure = b.let_("exposure", Ty::U128, Rvalue::WideMul(units, mark));
    (value, exposure)
}

/// `risk(account) -> (equity, exposure)`: `account`'s (a slot) equity (`i128`: cash plus
/// every position's unrealised PnL) and total exposure `Σ |q| × contract_size × mark`
/// (`u128`), at the current marks.
pub fn risk_subroutine(t: &SlabTables) -> Subroutine {
    let mut b = FunctionBuilder::new(RISK, 0, 0);
    let account = b.var("account", Ty::U64);
    let equity = b.var("equity", Ty::U128);
    let exposure = b.var("exposure", Ty::U128);
    b.step("slab.commit/risk", Some("RISK"), |b| {
        b.assign(
            equity,
            Rvalue::Load(Addr::Field(t.accounts, account, "cash")),
        );
        b.assign(exposure, Rvalue::Const(0));
        walk_positions(b, t, account, |b, _, at| {
            let (value, position_exposure) = value_of(b, t, at);
            b.assign(equity, Rvalue::AddSigned(equity, value));
            b.assign(exposure, Rvalue::Add(exposure, position_exposure));
        });
    });
    Subroutine::new(b, &[account], &[equity, exposure])
}

/// `position_value(account, instrument) -> (value, exposure)`: [`value_of`] the position of
/// `account` (a slot) in `instrument`, zeros when it has none.
pub fn position_value_subroutine(t: &SlabTables) -> Subroutine {
    let mut b = FunctionBuilder::new(POSITION_VALUE, 0, 0);
    let account = b.var("account", Ty::U64);
    let instrument = b.var("instrument", Ty::U64);
    let value = b.var("value", Ty::U128);
    let exposure = b.var("exposure", Ty::U128);
    b.step("slab.commit/position-value", Some("RISK"), |b| {
        b.assign(value, Rvalue::Const(0));
        b.assign(exposure, Rvalue::Const(0));
        let position = b.var("position", Ty::U64);
        let previous = b.var("previous", Ty::U64);
        b.call(FIND_POSITION, &[account, instrument], &[position, previous]);
        b.if_(Cond::NonZero(position), |b| {
            let at = slot_of(b, position);
            let (v, e) = value_of(b, t, at);
            b.assign(value, Rvalue::Copy(v));
            b.assign(exposure, Rvalue::Copy(e));
        });
    });
    Subroutine::new(b, &[account, instrument], &[value, exposure])
}

/// The signed IM and MM of `account`'s (a slot) own position in `instrument`:
/// `⌊|q| × contract_size × mark × rate / 10,000⌋`, negative for a short; and 1 when the
/// position exists (zeros otherwise). README `exposure`.
pub fn position_margin(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    account: Var,
    instrument: Var,
) -> (Var, Var, Var) {
    let im_pos = b.let_("im_pos", Ty::U128, Rvalue::Const(0));
    let mm_pos = b.let_("mm_pos", Ty::U128, Rvalue::Const(0));
    let open = b.constant("open", 0);
    let position = b.var("position", Ty::U64);
    let previous = b.var("previous", Ty::U64);
    b.call(FIND_POSITION, &[account, instrument], &[position, previous]);
    b.if_(Cond::NonZero(position), |b| {
        let at = slot_of(b, position);
        let (_, exposure) = value_of(b, t, at);
        let q = b.load("qty", Addr::Field(t.positions, at, "qty"));
        let (_, long) = magnitude(b, q);
        for (signed, rate) in [(im_pos, "imr_bps"), (mm_pos, "mmr_bps")] {
            let amount = margin(b, exposure, rate);
            b.if_else(
                Cond::NonZero(long),
                |b| b.assign(signed, Rvalue::Copy(amount)),
                |b| {
                    let zero = b.let_("zero", Ty::U128, Rvalue::Const(0));
                    b.assign(signed, Rvalue::SubSigned(zero, amount));
                },
            );
        }
        b.assign(open, Rvalue::Const(1));
    });
    (im_pos, mm_pos, open)
}

/// `(equity, exposure)` of the account at `account` (a slot): calls [`RISK`].
pub fn risk(b: &mut FunctionBuilder, account: Var) -> (Var, Var) {
    let equity = b.var("equity", Ty::U128);
    let exposure = b.var("exposure", Ty::U128);
    b.call(RISK, &[account], &[equity, exposure]);
    (equity, exposure)
}

/// `(value, exposure)` of `account`'s position in `instrument`: calls [`POSITION_VALUE`].
fn position_value(b: &mut FunctionBuilder, account: Var, instrument: Var) -> (Var, Var) {
    let value = b.var("value", Ty::U128);
    let exposure = b.var("exposure", Ty::U128);
    b.call(POSITION_VALUE, &[account, instrument], &[value, exposure]);
    (value, exposure)
}

/// `⌊exposure × rate_bps / 10,000⌋` for the `RISK` rate `rate` (`imr_bps` or `mmr_bps`).
pub fn margin(b: &mut FunctionBuilder, exposure: Var, rate: &'static str) -> Var {
    let bps = params::load(b, rate);
    bps_of(b, exposure, bps)
}

/// `commit(hold_id, cap, salt, margin) -> (filled_qty, avg_px, total_fee, total_debit)`.
pub fn commit(t: &SlabTables) -> Function {
    let entry = crate::abi::SLAB.entry("commit").expect("in the interface");
    let mut b = FunctionBuilder::new("commit", entry.arg_words(), entry.return_words());
    let hold_id = arg(&mut b, "hold_id", 0);
    let cap = arg(&mut b, "cap", 1);
    // Words 2–5 are the salt (step 4).
    let router_margined = arg(&mut b, "margin", 6);

    b.step("slab.commit/margin-flag", None, |b| {
        let one = b.constant("one", 1);
        b.guard(
            Cond::Le(router_margined, one),
            code::BAD_MARGIN,
            "margin is 0 or 1",
        );
    });

    let (hold, hold_entry) = b.step("slab.commit/find", None, |b| {
        guard::find_hold(b, t, hold_id)
    });
    let field = |b: &mut FunctionBuilder, name: &'static str| {
        b.load(name, Addr::Field(t.reservations, hold, name))
    };
    let instrument = field(&mut b, "instrument");
    let now = b.step("slab.commit/ttl", None, |b| {
        let now = now(b);
        let expiry = field(b, "expiry_ms");
        if t.mutation != Mutation::NoTtl {
            b.guard(Cond::Le(now, expiry), code::EXPIRED, "now ≤ expiry_ms");
        }
        now
    });
    b.step("slab.commit/epoch", None, |b| {
        let epoch = b.load("epoch", Addr::Field(t.instruments, instrument, "epoch"));
        let held_at = field(b, "epoch");
        if t.mutation != Mutation::NoEpoch {
            b.guard(Cond::Eq(epoch, held_at), code::EPOCH, "the hold's epoch");
        }
    });
    b.step("slab.commit/reveal", Some("ANTI_TOXICITY"), |b| {
        guard::reveal(b, t, hold);
    });
    b.step("slab.commit/fee-caps", Some("FEE"), |b| {
        guard::fee_caps(b, t);
    });
    let mark = b.step("slab.commit/mark", Some("INSTRUMENT"), |b| {
        mark_of(b, t, instrument)
    });
    b.step("slab.commit/kill-band", Some("ANTI_TOXICITY"), |b| {
        guard::kill_band(b, t, hold, mark);
    });
    let taker = field(&mut b, "account");
    let taker = slot_of(&mut b, taker);
    let (equity, exposure, cash, held) = b.step("slab.commit/margin-before", Some("RISK"), |b| {
        let equity = b.let_("equity", Ty::U128, Rvalue::Const(0));
        let exposure = b.let_("exposure", Ty::U128, Rvalue::Const(0));
        // A router-margined account's margin is the router's (README `commit`): no walk.
        b.if_(Cond::Zero(router_margined), |b| {
            let (walked, walked_exposure) = risk(b, taker);
            b.assign(equity, Rvalue::Copy(walked));
            b.assign(exposure, Rvalue::Copy(walked_exposure));
            let mm = margin(b, exposure, "mmr_bps");
            let over = b.let_("over", Ty::U128, Rvalue::SubSigned(equity, mm));
            let below = is_negative(b, over);
            if t.mutation != Mutation::NoMargin {
                b.guard(Cond::Zero(below), code::BELOW_MAINTENANCE, "equity ≥ MM");
            }
        });
        // What the fills will change: the cash and the position in this instrument.
        let cash = cash_of(b, t, taker);
        let held = position_value(b, taker, instrument);
        (equity, exposure, cash, held)
    });
    let (notional, prices, charged, credited) = b.step("slab.commit/fills", None, |b| {
        fills(b, t, hold, instrument, now)
    });
    let fee = b.step("slab.commit/taker-fee", Some("FEE"), |b| {
        let taker_bps = params::load(b, "taker_bps");
        let fee = bps_of(b, notional, taker_bps);
        charge(b, t, taker, fee);
        fee
    });
    let (total_fee, filled, average) =
        b.step("slab.commit/round-trip-guard", Some("ANTI_TOXICITY"), |b| {
            let filled = field(b, "qty");
            // ⌊Σ t × p / filled⌋ lies between two prices: it fits a word (also `avg_px`).
            let average = guard::mean(b, prices, filled);
            let side = field(b, "side");
            let tax = guard::round_trip_tax(b, t, taker, instrument, side, filled, prices, average);
            charge(b, t, taker, tax);
            // Every fee, rebate and tax of the commit into the fee class at once: the rebates are
            // paid from the taker fee (`rebate_bps ≤ taker_bps`), so the sum never goes below 0.
            let fees = b.let_("fees", Ty::U128, Rvalue::Load(header("fees_collected")));
            let fees = b.add("fees", fees, charged);
            let fees = b.add("fees", fees, fee);
            let fees = b.add("fees", fees, tax);
            let fees = b.sub("fees", fees, credited);
            b.store(header("fees_collected"), fees);
            (b.add("total_fee", fee, tax), filled, average)
        });
    let shortfall = b.step("slab.commit/debit", Some("RISK"), |b| {
        let cash_after = cash_of(b, t, taker);
        // Router-margined: only what the fill realised, so cash ends at 0 or above.
        let zero = b.let_("zero", Ty::U128, Rvalue::Const(0));
        let gap = b.let_("gap", Ty::U128, Rvalue::SubSigned(zero, cash_after));
        b.if_(Cond::Zero(router_margined), |b| {
            // equity' = equity − cash + cash' − value + value'; exposure likewise.
            let (value, position_exposure) = position_value(b, taker, instrument);
            let equity = b.let_("equity", Ty::U128, Rvalue::SubSigned(equity, cash));
            let equity = b.let_("equity", Ty::U128, Rvalue::AddSigned(equity, cash_after));
            let equity = b.let_("equity", Ty::U128, Rvalue::SubSigned(equity, held.0));
            let equity = b.let_("equity", Ty::U128, Rvalue::AddSigned(equity, value));
            let exposure = b.sub("exposure", exposure, held.1);
            let exposure = b.add("exposure", exposure, position_exposure);
            let im = margin(b, exposure, "imr_bps");
            b.assign(gap, Rvalue::SubSigned(im, equity));
        });
        let negative = is_negative(b, gap);
        let shortfall = b.let_("shortfall", Ty::U128, Rvalue::Copy(gap));
        b.if_(Cond::NonZero(negative), |b| {
            b.assign(shortfall, Rvalue::Const(0))
        });
        let bound = match t.mutation {
            Mutation::NoDebitGuard => b.let_("bound", Ty::U128, Rvalue::Const(u128::MAX)),
            _ => b.let_(
                "max_charge",
                Ty::U128,
                Rvalue::Load(Addr::Field(t.reservations, hold, "max_charge")),
            ),
        };
        let user = b.load("user", Addr::Field(t.accounts, taker, "user"));
        let asset = b.constant("asset", COLLATERAL_ASSET);
        let cap = match t.mutation {
            // The slab tries to take the debit with no cap at all (P2, P6).
            Mutation::DebitWithoutCap => b.constant("no_cap", 0),
            _ => cap,
        };
        debit::safe_debit(
            b,
            Debit {
                cap,
                user,
                asset,
                amount: shortfall,
                bound,
                ledger: header("collected"),
                over_bound: code::MAX_CHARGE,
            },
        );
        update_cash(b, t, taker, |b, cash| {
            b.let_("cash", Ty::U128, Rvalue::AddSigned(cash, shortfall))
        });
        shortfall
    });
    b.step("slab.commit/free", None, |b| {
        book::dequeue_hold(b, t, hold);
        keyed::remove(b, t.hold_index, "key", hold_entry);
        book::free(b, "reservations", t.reservations, hold);
        book::bump_seqno(b);
        b.store(Addr::Fixed(Segment::Ret, 0), filled);
        b.store(Addr::Fixed(Segment::Ret, 1), average);
        b.store(Addr::Fixed(Segment::Ret, 2), total_fee);
        b.store(Addr::Fixed(Segment::Ret, 4), shortfall);
    });
    b.finish()
}

/// Step 9: fills every slice of the hold at slot `hold` in walk order and frees it. Returns
/// `N = Σ t × contract_size × p`, `Σ t × p`, and the makers' fees charged and rebates paid
/// (all `u128`; the caller moves the fees into `fees_collected`).
fn fills(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    hold: Var,
    instrument: Var,
    now: Var,
) -> (Var, Var, Var, Var) {
    let count = b.load("slices", Addr::Field(t.reservations, hold, "slices"));
    let cursor = b.load("cursor", Addr::Field(t.reservations, hold, "slice_head"));
    let taker = b.load("taker", Addr::Field(t.reservations, hold, "account"));
    let taker = slot_of(b, taker);
    let side = b.load("side", Addr::Field(t.reservations, hold, "side"));
    let route_id = b.load("route_id", Addr::Field(t.reservations, hold, "route_id"));
    let one = b.constant("one", 1);
    let buys = b.let_("buys", Ty::U64, Rvalue::Sub(one, side));
    let sells = b.let_("sells", Ty::U64, Rvalue::Copy(side));
    let contract_size = params::load_instrument(b, instrument, "contract_size");
    let notional = b.let_("notional", Ty::U128, Rvalue::Const(0));
    let prices = b.let_("prices", Ty::U128, Rvalue::Const(0));
    let charged = b.let_("charged", Ty::U128, Rvalue::Const(0));
    let maker_fees = guard::MakerFees::load(b, t, instrument);
    let credited = b.let_("credited", Ty::U128, Rvalue::Const(0));
    b.for_each(count, SLICES_PER_HOLD_MAX, code::TABLE, |b, _| {
        let slice = slot_of(b, cursor);
        let order_id = b.load("order_id", Addr::Field(t.slices, slice, "order_id"));
        let take = b.load("take", Addr::Field(t.slices, slice, "qty"));
        let price = b.load("price", Addr::Field(t.slices, slice, "price"));
        // A reserved part cannot be cancelled, so the order is still there (R5).
        let (order, order_entry) = book::find_order(b, t, order_id);
        let maker = b.load("maker", Addr::Field(t.orders, order, "account"));
        let maker = slot_of(b, maker);
        b.call(APPLY_FILL, &[taker, instrument, buys, take, price], &[]);
        b.call(APPLY_FILL, &[maker, instrument, sells, take, price], &[]);
        let traded = book::notional(b, take, contract_size, price);
        let (amount, credit) = maker_fees.fee(b, t, order, now, traded);
        b.if_else(
            Cond::NonZero(credit),
            |b| {
                update_cash(b, t, maker, |b, cash| {
                    b.let_("cash", Ty::U128, Rvalue::AddSigned(cash, amount))
                });
                b.assign(credited, Rvalue::Add(credited, amount));
            },
            |b| {
                charge(b, t, maker, amount);
                b.assign(charged, Rvalue::Add(charged, amount));
            },
        );
        let reserved = b.load("reserved_qty", Addr::Field(t.orders, order, "reserved_qty"));
        let reserved = b.sub("reserved_qty", reserved, take);
        b.store(Addr::Field(t.orders, order, "reserved_qty"), reserved);
        consume_order(b, t, order, order_entry, maker, instrument, take, traded);
        print_trade(b, t, now, order_id, route_id, instrument, side, price, take);
        b.assign(notional, Rvalue::Add(notional, traded));
        let cost = b.let_("cost", Ty::U128, Rvalue::WideMul(take, price));
        b.assign(prices, Rvalue::Add(prices, cost));
        let next = b.load("next", Addr::Field(t.slices, slice, "next"));
        book::free(b, "slices", t.slices, slice);
        b.assign(cursor, Rvalue::Copy(next));
    });
    let filled = b.load("filled", Addr::Field(t.reservations, hold, "qty"));
    funding::record_fills(b, t, instrument, filled, prices);
    (notional, prices, charged, credited)
}

/// The book side of a fill of `take` (worth `traded`) from the order at slot `order` (index
/// entry `entry`) of the maker at slot `maker`: the order's `qty` and the maker's `quoted`
/// drop, and an emptied order leaves its level (and the level, when it empties).
#[allow(clippy::too_many_arguments)]
pub fn consume_order(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    order: Var,
    entry: Var,
    maker: Var,
    instrument: Var,
    take: Var,
    traded: Var,
) {
    let qty = b.load("qty", Addr::Field(t.orders, order, "qty"));
    let qty = b.sub("qty", qty, take);
    b.store(Addr::Field(t.orders, order, "qty"), qty);
    let quoted = b.let_(
        "quoted",
        Ty::U128,
        Rvalue::Load(Addr::Field(t.accounts, maker, "quoted")),
    );
    let quoted = b.sub("quoted", quoted, traded);
    b.store(Addr::Field(t.accounts, maker, "quoted"), quoted);
    b.if_(Cond::Zero(qty), |b| {
        book::remove_order(b, t, order, entry, maker, instrument);
    });
}

/// Takes `amount` (`u128`) from the cash of the account at `account` (the caller moves it
/// into `fees_collected`).
fn charge(b: &mut FunctionBuilder, t: &SlabTables, account: Var, amount: Var) {
    update_cash(b, t, account, |b, cash| {
        b.let_("cash", Ty::U128, Rvalue::SubSigned(cash, amount))
    });
}

/// Writes print number `trades_written` into ring slot `trades_written mod capacity` (S12).
#[allow(clippy::too_many_arguments)]
pub fn print_trade(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    now: Var,
    maker_order: Var,
    route_id: Var,
    instrument: Var,
    side: Var,
    price: Var,
    qty: Var,
) {
    // `trades_next` is `trades_written mod capacity`, kept without a division.
    let slot = b.load("trades_next", header("trades_next"));
    for (field, value) in [
        ("ms", now),
        ("maker_order", maker_order),
        ("route_id", route_id),
        ("instrument", instrument),
        ("side", side),
        ("price", price),
        ("qty", qty),
    ] {
        b.store(Addr::Field(t.trades, slot, field), value);
    }
    let one = b.constant("one", 1);
    let written = b.load("trades_written", header("trades_written"));
    let written = b.add("trades_written", written, one);
    b.store(header("trades_written"), written);
    let next = b.add("trades_next", slot, one);
    let capacity = b.constant("capacity", u64::from(t.trades.capacity));
    b.if_(Cond::Eq(next, capacity), |b| {
        b.assign(next, Rvalue::Const(0))
    });
    b.store(header("trades_next"), next);
}
