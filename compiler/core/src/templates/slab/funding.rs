//! Funding (README "Funding"; percolator §4.16; RM6, RM7): the instrument's funding index moves
//! once per interval by the premium of the slab's trades over the oracle's time-weighted index,
//! prorated to the interval and capped (`apply_funding`, also `batch_open`'s step 3); a position
//! settles what it owes at every fill on it ([`settle`]) and its value counts what it has not
//! settled meanwhile (`commit::value_of`).
//!
//! The index is in price units per underlying unit, so a position owes `q × contract_size ×
//! Δindex`, an exact integer: funding needs no per-position rounding and what longs pay is what
//! shorts receive (Σ q = 0 over an instrument).

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Subroutine, Ty, Var};
use curvevm::isa::Segment;

use super::book::{SlabTables, arg, check_instrument, now};
use super::commit::{add_signed, difference, is_negative};
use super::{Mutation, code, params};
use crate::templates::debit::le_u128;
use crate::templates::oracle;

/// The name of the funding subroutine (`apply_funding` and `batch_open` step 3).
pub const APPLY: &str = "funding_due";

/// The premium converges over a day: an interval of `interval_ms` pays `interval_ms / DAY_MS`
/// of it.
pub const DAY_MS: u64 = 86_400_000;

/// The oracle's funding words of `instrument`'s feed: `(cum_price_ms: u128, cum_ms, price)`
/// (zeros for a feed without the funding accumulator, which never sets `cum_ms`).
fn feed(b: &mut FunctionBuilder, t: &SlabTables, instrument: Var) -> (Var, Var, Var) {
    let view = params::load_instrument(b, instrument, "oracle_view");
    let area = b.let_("cum_price_ms", Ty::U128, Rvalue::Const(0));
    let since = b.constant("cum_ms", 0);
    let price = b.constant("price", 0);
    for k in 0..t.views {
        let at = b.constant("view", u64::from(k));
        let word = |at| Addr::Fixed(Segment::View(k as u8), at);
        b.if_(Cond::Eq(view, at), |b| {
            let low = b.load("low", word(oracle::state::CUM_PRICE_MS));
            let high = b.load("high", word(oracle::state::CUM_PRICE_MS + 1));
            b.assign(area, Rvalue::Join(low, high));
            b.assign(since, Rvalue::Load(word(oracle::state::CUM_MS)));
            b.assign(price, Rvalue::Load(word(oracle::state::PRICE)));
        });
    }
    (area, since, price)
}

/// `funding_due(instrument) -> (cum_funding, intervals)`: README `apply_funding` steps 2–4 for
/// a checked instrument.
pub fn apply_subroutine(t: &SlabTables) -> Subroutine {
    let mut b = FunctionBuilder::new(APPLY, 0, 0);
    let instrument = b.var("instrument", Ty::U64);
    let cum = b.var("cum_funding", Ty::U128);
    let intervals = b.var("intervals", Ty::U64);
    let field = |name: &'static str| Addr::Field(t.instruments, instrument, name);
    let (now, n) = b.step("slab.apply_funding/interval", Some("FUNDING"), |b| {
        b.assign(cum, Rvalue::Load(field("cum_funding")));
        b.assign(intervals, Rvalue::Const(0));
        let now = now(b);
        let interval_ms = params::load(b, "funding_interval_ms");
        let one = b.constant("one", 1);
        let n = b.let_("n", Ty::U64, Rvalue::MulDiv(now, one, interval_ms));
        let last = b.load("funding_interval", field("funding_interval"));
        if t.mutation == Mutation::FundingTwice {
            // The interval's funding applied again: at least one interval every call.
            b.if_(Cond::Le(n, last), |b| b.assign(intervals, Rvalue::Const(1)));
            b.if_(Cond::Lt(last, n), |b| {
                b.assign(intervals, Rvalue::Sub(n, last))
            });
        } else {
            // Already applied in this interval: nothing changes (RM6).
            b.if_(Cond::Le(n, last), |b| b.ret());
            b.assign(intervals, Rvalue::Sub(n, last));
        }
        (now, n)
    });
    let (area, since, step, up) = b.step("slab.apply_funding/premium", Some("FUNDING"), |b| {
        let (cum_area, since, price) = feed(b, t, instrument);
        // The feed's accumulator now: the last price has held since its last accumulation.
        let area = b.let_("area", Ty::U128, Rvalue::Copy(cum_area));
        b.if_(Cond::Le(since, now), |b| {
            let elapsed = b.sub("elapsed", now, since);
            let held = b.let_("held", Ty::U128, Rvalue::WideMul(price, elapsed));
            b.assign(area, Rvalue::Add(cum_area, held));
        });
        let step = b.constant("step", 0);
        let up = b.constant("up", 1);
        let index_ms = b.load("index_ms", field("index_ms"));
        let index_area = b.let_("index_area", Ty::U128, Rvalue::Load(field("index_area")));
        let fill_qty = b.let_("fill_qty", Ty::U128, Rvalue::Load(field("fill_qty")));
        let fill_qty_high = b.let_("fill_qty_high", Ty::U64, Rvalue::High(fill_qty));
        let fill_qty_low = b.let_("fill_qty_low", Ty::U64, Rvalue::Low(fill_qty));
        let traded = b.let_("traded", Ty::U64, Rvalue::Test(Cond::NonZero(fill_qty_low)));
        b.if_(Cond::NonZero(fill_qty_high), |b| {
            b.assign(traded, Rvalue::Const(1))
        });
        let grown = le_u128(b, index_area, area);
        // Both sides measured: a feed with an accumulator, a snapshot, time, fills, and an
        // accumulator that did not go back (a replaced feed).
        let measured = b.let_("measured", Ty::U64, Rvalue::Test(Cond::NonZero(since)));
        b.if_(Cond::Zero(index_ms), |b| {
            b.assign(measured, Rvalue::Const(0))
        });
        b.if_(Cond::Le(now, index_ms), |b| {
            b.assign(measured, Rvalue::Const(0))
        });
        b.if_(Cond::Zero(traded), |b| b.assign(measured, Rvalue::Const(0)));
        b.if_(Cond::Zero(grown), |b| b.assign(measured, Rvalue::Const(0)));
        b.if_(Cond::NonZero(measured), |b| {
            let span = b.sub("span", now, index_ms);
            let span = b.let_("span", Ty::U128, Rvalue::Widen(span));
            let covered = b.let_("covered", Ty::U128, Rvalue::Sub(area, index_area));
            // Averages of prices: each fits a word.
            let twap = b.let_("twap", Ty::U128, Rvalue::Div(covered, span));
            let twap = b.let_("twap", Ty::U64, Rvalue::Low(twap));
            let notional = b.let_(
                "fill_notional",
                Ty::U128,
                Rvalue::Load(field("fill_notional")),
            );
            let vwap = b.let_("vwap", Ty::U128, Rvalue::Div(notional, fill_qty));
            let vwap = b.let_("vwap", Ty::U64, Rvalue::Low(vwap));
            let (premium, rich) = difference(b, vwap, twap);
            let interval_ms = params::load(b, "funding_interval_ms");
            let day = b.constant("day_ms", DAY_MS);
            b.assign(step, Rvalue::MulDiv(premium, interval_ms, day));
            let cap_bps = params::load(b, "funding_rate_cap_bps");
            let ten_thousand = b.constant("ten_thousand", 10_000);
            let cap = b.let_("cap", Ty::U64, Rvalue::MulDiv(twap, cap_bps, ten_thousand));
            b.if_(Cond::Lt(cap, step), |b| b.assign(step, Rvalue::Copy(cap)));
            b.assign(up, Rvalue::Copy(rich));
        });
        (area, since, step, up)
    });
    b.step("slab.apply_funding/accrue", Some("FUNDING"), |b| {
        let moved = b.let_("moved", Ty::U128, Rvalue::WideMul(intervals, step));
        add_signed(b, cum, moved, up);
        b.store(field("cum_funding"), cum);
        let rate = b.let_("rate", Ty::U64, Rvalue::Copy(step));
        b.if_(Cond::Zero(up), |b| b.assign(rate, Rvalue::Neg(step)));
        b.store(field("funding_rate"), rate);
        b.store(field("funding_interval"), n);
    });
    b.step("slab.apply_funding/snapshot", Some("FUNDING"), |b| {
        let wide_zero = b.let_("wide_zero", Ty::U128, Rvalue::Const(0));
        let snapshot_area = b.let_("snapshot_area", Ty::U128, Rvalue::Const(0));
        let snapshot_ms = b.constant("snapshot_ms", 0);
        b.if_(Cond::NonZero(since), |b| {
            b.assign(snapshot_area, Rvalue::Copy(area));
            b.assign(snapshot_ms, Rvalue::Copy(now));
        });
        b.store(field("index_area"), snapshot_area);
        b.store(field("index_ms"), snapshot_ms);
        b.store(field("fill_qty"), wide_zero);
        b.store(field("fill_notional"), wide_zero);
    });
    Subroutine::new(b, &[instrument], &[cum, intervals])
}

/// `apply_funding(instrument) -> (cum_funding: i128, intervals)`.
pub fn apply_funding(_t: &SlabTables) -> Function {
    let mut b = FunctionBuilder::new("apply_funding", 1, 3);
    let instrument = arg(&mut b, "instrument", 0);
    b.step("slab.apply_funding/instrument", Some("INSTRUMENT"), |b| {
        check_instrument(b, instrument);
    });
    let (cum, intervals) = due(&mut b, instrument);
    b.store(Addr::Fixed(Segment::Ret, 0), cum);
    b.store(Addr::Fixed(Segment::Ret, 2), intervals);
    b.finish()
}

/// Calls [`APPLY`] for a checked `instrument`: `(cum_funding, intervals)`.
pub fn due(b: &mut FunctionBuilder, instrument: Var) -> (Var, Var) {
    let cum = b.var("cum_funding", Ty::U128);
    let intervals = b.var("intervals", Ty::U64);
    b.call(APPLY, &[instrument], &[cum, intervals]);
    (cum, intervals)
}

/// The fill's funding statistics: `fill_qty += filled`, `fill_notional += Σ t × p` of the
/// hold's `instrument` (README `commit` step 9, the premium's traded side).
pub fn record_fills(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    instrument: Var,
    filled: Var,
    prices: Var,
) {
    let field = |name: &'static str| Addr::Field(t.instruments, instrument, name);
    let qty = b.let_("fill_qty", Ty::U128, Rvalue::Load(field("fill_qty")));
    let filled = b.let_("filled", Ty::U128, Rvalue::Widen(filled));
    let qty = b.add("fill_qty", qty, filled);
    b.store(field("fill_qty"), qty);
    let notional = b.let_(
        "fill_notional",
        Ty::U128,
        Rvalue::Load(field("fill_notional")),
    );
    let notional = b.add("fill_notional", notional, prices);
    b.store(field("fill_notional"), notional);
}

/// The index's move since a position's snapshot, per underlying unit (`cum_funding − f`, an
/// `i128`), of the position at slot `at` in `instrument`.
pub fn owed_per_unit(b: &mut FunctionBuilder, t: &SlabTables, at: Var, instrument: Var) -> Var {
    let cum = b.let_(
        "cum_funding",
        Ty::U128,
        Rvalue::Load(Addr::Field(t.instruments, instrument, "cum_funding")),
    );
    let snapshot = b.let_(
        "last_funding",
        Ty::U128,
        Rvalue::Load(Addr::Field(t.positions, at, "last_funding")),
    );
    b.let_("owed", Ty::U128, Rvalue::SubSigned(cum, snapshot))
}

/// `|value|` of an `i128` as one word, and whether `value ≥ 0`; aborts `FUNDING_RANGE` from
/// 2^64.
pub fn word_magnitude(b: &mut FunctionBuilder, value: Var) -> (Var, Var) {
    let negative = is_negative(b, value);
    let size = b.let_("size", Ty::U128, Rvalue::Copy(value));
    b.if_(Cond::NonZero(negative), |b| {
        b.assign(size, Rvalue::Neg(value))
    });
    let high = b.let_("size_high", Ty::U64, Rvalue::High(size));
    b.guard(
        Cond::Zero(high),
        code::FUNDING_RANGE,
        "funding below 2^64 per unit",
    );
    let size = b.let_("size", Ty::U64, Rvalue::Low(size));
    let one = b.constant("one", 1);
    let positive = b.let_("positive", Ty::U64, Rvalue::Sub(one, negative));
    (size, positive)
}

/// Settles the funding of the position at slot `at` (of `units` underlying units, long when
/// `long ≠ 0`) of the account at slot `account` in `instrument`: `cash −= F`, `f =
/// cum_funding` (README "Positions").
pub fn settle(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    account: Var,
    at: Var,
    instrument: Var,
    units: Var,
    long: Var,
) {
    let owed = owed_per_unit(b, t, at, instrument);
    let (size, rose) = word_magnitude(b, owed);
    let amount = b.let_("funding", Ty::U128, Rvalue::WideMul(units, size));
    // A long pays a rise and a short a fall: the holder gains when the two differ.
    let gain = b.let_("gain", Ty::U64, Rvalue::Test(Cond::Ne(long, rose)));
    let cash = b.let_(
        "cash",
        Ty::U128,
        Rvalue::Load(Addr::Field(t.accounts, account, "cash")),
    );
    add_signed(b, cash, amount, gain);
    b.store(Addr::Field(t.accounts, account, "cash"), cash);
    let cum = b.let_(
        "cum_funding",
        Ty::U128,
        Rvalue::Load(Addr::Field(t.instruments, instrument, "cum_funding")),
    );
    b.store(Addr::Field(t.positions, at, "last_funding"), cum);
}
