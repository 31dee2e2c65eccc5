//! Liquidation (README "Liquidation"; percolator §4.17; L2, L3, R10, E2E4): `liquidation_call`
//! closes one position of a user the router found short, reduce-only, against resting LIVE
//! depth within a band around the mark, and takes what the closing realised through the
//! router's cap; `cover_bad_debt` is governance's one path from `insurance` to an account.
//! Each step is named after README.md's step of the same entrypoint.

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Subroutine, Ty, Var};
use curvevm::hostcall::id;
use curvevm::isa::Segment;

use super::book::{self, SlabTables, arg, check_instrument, header, link, now, slot_of};
use super::commit::{
    APPLY_FILL, COLLATERAL_ASSET, FIND_POSITION, consume_order, is_negative, magnitude, mark_of,
    print_trade,
};
use super::hold::bps_of;
use super::{Mutation, code, funding, params};
use crate::templates::debit::{self, Debit, le_u128};

/// Most orders one liquidation sweep looks at (taken or skipped): bounds its gas.
pub const LIQUIDATION_VISITS_MAX: u32 = 32;

/// Most fills of one liquidation sweep: with the position updates of both sides, what fits
/// the 300,000-gas ceiling.
pub const LIQUIDATION_FILLS_MAX: u32 = 6;

/// The name of the sweep subroutine.
pub const SWEEP: &str = "liquidation_sweep";

/// `liquidation_sweep(book, sells, limit, need, user, instrument) -> (left, closed, prices)`:
/// step 6. Walks `book` (the contra side) from its best level while levels are within `limit`
/// (selling: price ≥ limit; buying: ≤), filling the LIVE available quantity of orders of other
/// accounts than `user` (a slot) until `need` is closed or a bound is reached. `prices` is
/// Σ take × price (`u128`).
pub fn sweep_subroutine(t: &SlabTables) -> Subroutine {
    let mut b = FunctionBuilder::new(SWEEP, 0, 0);
    let book_index = b.var("book", Ty::U64);
    let sells = b.var("sells", Ty::U64);
    let limit = b.var("limit", Ty::U64);
    let left = b.var("left", Ty::U64);
    let user = b.var("user", Ty::U64);
    let instrument = b.var("instrument", Ty::U64);
    let closed = b.var("closed", Ty::U64);
    let prices = b.var("prices", Ty::U128);
    b.step("slab.liquidation_call/sweep", Some("LIQUIDATION"), |b| {
        b.assign(closed, Rvalue::Const(0));
        b.assign(prices, Rvalue::Const(0));
        b.if_(Cond::Zero(left), |b| b.ret());
        let now = now(b);
        let owner_link = link(b, user);
        let one = b.constant("one", 1);
        let user_buys = b.let_("user_buys", Ty::U64, Rvalue::Sub(one, sells));
        let contract_size = params::load_instrument(b, instrument, "contract_size");
        let level = b.load("level", Addr::Field(t.books, book_index, "best"));
        let order = b.constant("order", 0);
        // Enters `level` if it exists and is within the band (selling: price ≥ limit;
        // buying: price ≤ limit), else returns.
        let enter = |b: &mut FunctionBuilder| {
            b.if_(Cond::Zero(level), |b| b.ret());
            let at = slot_of(b, level);
            let price = b.load("level_price", Addr::Field(t.levels, at, "price"));
            let within = b.var("within", Ty::U64);
            b.if_else(
                Cond::NonZero(sells),
                |b| b.assign(within, Rvalue::Test(Cond::Le(limit, price))),
                |b| b.assign(within, Rvalue::Test(Cond::Le(price, limit))),
            );
            b.if_(Cond::Zero(within), |b| b.ret());
            b.assign(order, Rvalue::Load(Addr::Field(t.levels, at, "head")));
        };
        enter(b);
        // Two loops so that the gas bound is fills × (visits of cheap skips + one fill), not
        // visits × a fill: each fill first looks for its order, skipping what it may not take.
        let visits = b.constant("visits", 0);
        let most_visits = b.constant("visits_max", u64::from(LIQUIDATION_VISITS_MAX));
        let fills_max = b.constant("fills_max", u64::from(LIQUIDATION_FILLS_MAX));
        b.for_each(fills_max, LIQUIDATION_FILLS_MAX, code::TABLE, |b, _| {
            let found = b.constant("found", 0);
            let visits_max = b.constant("visits_max", u64::from(LIQUIDATION_VISITS_MAX));
            b.for_each(visits_max, LIQUIDATION_VISITS_MAX, code::TABLE, |b, _| {
                b.if_(Cond::Zero(found), |b| {
                    b.if_(Cond::Eq(visits, most_visits), |b| b.ret());
                    b.assign(visits, Rvalue::Add(visits, one));
                    let o = slot_of(b, order);
                    let live = b.load("live", Addr::Field(t.orders, o, "live"));
                    let owner = b.load("owner", Addr::Field(t.orders, o, "account"));
                    let qty = b.load("qty", Addr::Field(t.orders, o, "qty"));
                    let reserved = b.load("reserved_qty", Addr::Field(t.orders, o, "reserved_qty"));
                    let available = b.sub("available", qty, reserved);
                    // LIVE depth only (R10), never the user's own orders, never reserved
                    // quantity.
                    let takes = b.let_("takes", Ty::U64, Rvalue::Test(Cond::NonZero(live)));
                    b.if_(Cond::Eq(owner, owner_link), |b| {
                        b.assign(takes, Rvalue::Const(0))
                    });
                    b.if_(Cond::Zero(available), |b| b.assign(takes, Rvalue::Const(0)));
                    b.if_else(
                        Cond::NonZero(takes),
                        |b| b.assign(found, Rvalue::Const(1)),
                        |b| advance(b, t, order, level, &enter),
                    );
                });
            });
            b.if_(Cond::Zero(found), |b| b.ret());
            let o = slot_of(b, order);
            // The fill may take the order and its level off the book: their successors first.
            let next_order = b.load("next_order", Addr::Field(t.orders, o, "next"));
            let at = slot_of(b, level);
            let next_level = b.load("next_level", Addr::Field(t.levels, at, "next"));
            let qty = b.load("qty", Addr::Field(t.orders, o, "qty"));
            let reserved = b.load("reserved_qty", Addr::Field(t.orders, o, "reserved_qty"));
            let available = b.sub("available", qty, reserved);
            let take = b.let_("take", Ty::U64, Rvalue::Copy(available));
            b.if_(Cond::Lt(left, available), |b| {
                b.assign(take, Rvalue::Copy(left));
            });
            let price = b.load("price", Addr::Field(t.orders, o, "price"));
            let order_id = b.load("order_id", Addr::Field(t.orders, o, "order_id"));
            let owner = b.load("owner", Addr::Field(t.orders, o, "account"));
            let (_, entry) = book::find_order(b, t, order_id);
            let maker = slot_of(b, owner);
            b.call(APPLY_FILL, &[user, instrument, user_buys, take, price], &[]);
            b.call(APPLY_FILL, &[maker, instrument, sells, take, price], &[]);
            let traded = book::notional(b, take, contract_size, price);
            consume_order(b, t, o, entry, maker, instrument, take, traded);
            let route_id = b.constant("route_id", 0);
            print_trade(
                b, t, now, order_id, route_id, instrument, sells, price, take,
            );
            let cost = b.let_("cost", Ty::U128, Rvalue::WideMul(take, price));
            b.assign(prices, Rvalue::Add(prices, cost));
            b.assign(closed, Rvalue::Add(closed, take));
            b.assign(left, Rvalue::Sub(left, take));
            b.if_(Cond::Zero(left), |b| b.ret());
            // The order is used up: on to the next, or the next level.
            b.assign(order, Rvalue::Copy(next_order));
            b.if_(Cond::Zero(order), |b| {
                b.assign(level, Rvalue::Copy(next_level));
                enter(b);
            });
        });
    });
    Subroutine::new(
        b,
        &[book_index, sells, limit, left, user, instrument],
        &[left, closed, prices],
    )
}

/// The sweep's next order after the one at link `order`: the next in its level, else the head
/// of the next level (`enter` returns when there is none or it is outside the band).
fn advance(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    order: Var,
    level: Var,
    enter: &dyn Fn(&mut FunctionBuilder),
) {
    let o = slot_of(b, order);
    b.assign(order, Rvalue::Load(Addr::Field(t.orders, o, "next")));
    b.if_(Cond::Zero(order), |b| {
        let at = slot_of(b, level);
        b.assign(level, Rvalue::Load(Addr::Field(t.levels, at, "next")));
        enter(b);
    });
}

/// Step 5: the contracts to close of a position of `size` (`partial`: those whose maintenance
/// margin at `mark` covers `deficit`, rounded up to the lot, at most `size`).
fn target(b: &mut FunctionBuilder, instrument: Var, size: Var, deficit: Var, mark: Var) -> Var {
    let need = b.let_("need", Ty::U64, Rvalue::Copy(size));
    let full = params::load(b, "liquidation_full");
    b.if_(Cond::Zero(full), |b| {
        let contract_size = params::load_instrument(b, instrument, "contract_size");
        let mmr = params::load(b, "mmr_bps");
        let per_contract = b.let_(
            "per_contract",
            Ty::U128,
            Rvalue::WideMul(contract_size, mark),
        );
        let mmr = b.let_("mmr", Ty::U128, Rvalue::Widen(mmr));
        let per_contract = b.let_("per_contract", Ty::U128, Rvalue::Mul(per_contract, mmr));
        let ten_thousand = b.let_("ten_thousand", Ty::U128, Rvalue::Const(10_000));
        let scaled = b.let_("scaled", Ty::U128, Rvalue::Mul(deficit, ten_thousand));
        // ⌈scaled / per_contract⌉ = ⌊(scaled + per_contract − 1) / per_contract⌋.
        let one = b.let_("one", Ty::U128, Rvalue::Const(1));
        let bias = b.let_("bias", Ty::U128, Rvalue::Sub(per_contract, one));
        let scaled = b.let_("scaled", Ty::U128, Rvalue::Add(scaled, bias));
        let contracts = b.let_("contracts", Ty::U128, Rvalue::Div(scaled, per_contract));
        let wide_size = b.let_("size", Ty::U128, Rvalue::Widen(size));
        let within = le_u128(b, contracts, wide_size);
        b.if_(Cond::NonZero(within), |b| {
            let contracts = b.let_("contracts", Ty::U64, Rvalue::Low(contracts));
            // Up to the lot: a position is a whole number of lots, so this stays ≤ size.
            let lot = params::load_instrument(b, instrument, "lot");
            let one = b.constant("one", 1);
            let lots = b.let_("lots", Ty::U64, Rvalue::MulDiv(contracts, one, lot));
            let floor = b.let_("floor", Ty::U64, Rvalue::MulDiv(lots, lot, one));
            b.assign(need, Rvalue::Copy(floor));
            b.if_(Cond::Lt(floor, contracts), |b| {
                b.assign(need, Rvalue::Add(floor, lot));
            });
            b.if_(Cond::Lt(size, need), |b| b.assign(need, Rvalue::Copy(size)));
        });
    });
    need
}

/// `liquidation_call(user, instrument, deficit, band_bps, cap) -> (residual, closed_qty,
/// debit)`.
pub fn liquidation_call(t: &SlabTables) -> Function {
    let entry = crate::abi::SLAB
        .entry("liquidation_call")
        .expect("in the interface");
    let mut b = FunctionBuilder::new("liquidation_call", entry.arg_words(), entry.return_words());
    let user = arg(&mut b, "user", 0);
    let instrument = arg(&mut b, "instrument", 1);
    let deficit_lo = arg(&mut b, "deficit_lo", 2);
    let deficit_hi = arg(&mut b, "deficit_hi", 3);
    let deficit = b.let_("deficit", Ty::U128, Rvalue::Join(deficit_lo, deficit_hi));
    let band_bps = arg(&mut b, "band_bps", 4);
    let cap = arg(&mut b, "cap", 5);
    b.step(
        "slab.liquidation_call/instrument",
        Some("INSTRUMENT"),
        |b| {
            check_instrument(b, instrument);
        },
    );
    let band = b.step("slab.liquidation_call/band", Some("LIQUIDATION"), |b| {
        let one = b.constant("one", 1);
        let ten_thousand = b.constant("ten_thousand", 10_000);
        b.guard(Cond::Le(one, band_bps), code::BAD_BAND, "band_bps ≥ 1");
        b.guard(
            Cond::Le(band_bps, ten_thousand),
            code::BAD_BAND,
            "band_bps ≤ 10,000",
        );
        let own = params::load(b, "liquidation_band_bps");
        let band = b.let_("band", Ty::U64, Rvalue::Copy(band_bps));
        b.if_(Cond::Lt(own, band), |b| b.assign(band, Rvalue::Copy(own)));
        band
    });
    // Step 3: nothing to close is a no-op that returns the whole deficit.
    let (account, position) = b.step("slab.liquidation_call/position", None, |b| {
        let zero = b.constant("zero", 0);
        b.store(Addr::Fixed(Segment::Ret, 0), deficit_lo);
        b.store(Addr::Fixed(Segment::Ret, 1), deficit_hi);
        for word in 2..5 {
            b.store(Addr::Fixed(Segment::Ret, word), zero);
        }
        let account = b.constant("account", 0);
        b.if_(Cond::NonZero(user), |b| {
            let found = book::account(b, t, user, false);
            b.assign(account, Rvalue::Copy(found));
        });
        b.if_(Cond::Zero(account), |b| b.ret());
        let account = slot_of(b, account);
        let position = b.var("position", Ty::U64);
        let previous = b.var("previous", Ty::U64);
        b.call(FIND_POSITION, &[account, instrument], &[position, previous]);
        b.if_(Cond::Zero(position), |b| b.ret());
        (account, position)
    });
    let (mark, size, sells, limit) = b.step(
        "slab.liquidation_call/band-limit",
        Some("LIQUIDATION"),
        |b| {
            let mark = mark_of(b, t, instrument);
            let at = slot_of(b, position);
            let q = b.load("qty", Addr::Field(t.positions, at, "qty"));
            let (size, long) = magnitude(b, q);
            let ten_thousand = b.constant("ten_thousand", 10_000);
            let width = b.let_("width", Ty::U64, Rvalue::MulDiv(mark, band, ten_thousand));
            // Closing a long sells down to m − w; closing a short buys up to m + w (L3).
            let limit = b.constant("limit", 0);
            b.if_else(
                Cond::NonZero(long),
                |b| {
                    b.if_(Cond::Le(width, mark), |b| {
                        b.assign(limit, Rvalue::Sub(mark, width))
                    })
                },
                |b| b.assign(limit, Rvalue::Add(mark, width)),
            );
            (mark, size, long, limit)
        },
    );
    let need = b.step("slab.liquidation_call/target", Some("LIQUIDATION"), |b| {
        target(b, instrument, size, deficit, mark)
    });
    let (closed, prices) = b.step("slab.liquidation_call/fills", None, |b| {
        let one = b.constant("one", 1);
        let side_index = b.let_("book_side", Ty::U64, Rvalue::Sub(one, sells));
        let book_index = book::book_of(b, instrument, side_index);
        let left = b.var("left", Ty::U64);
        let closed = b.var("closed", Ty::U64);
        let prices = b.var("prices", Ty::U128);
        b.call(
            SWEEP,
            &[book_index, sells, limit, need, account, instrument],
            &[left, closed, prices],
        );
        b.if_(Cond::NonZero(closed), |b| {
            book::bump_seqno(b);
            funding::record_fills(b, t, instrument, closed, prices);
        });
        (closed, prices)
    });
    let _ = prices;
    b.step("slab.liquidation_call/covered", Some("RISK"), |b| {
        let contract_size = params::load_instrument(b, instrument, "contract_size");
        let units = b.let_("units", Ty::U128, Rvalue::WideMul(closed, contract_size));
        let units = b.let_("units", Ty::U64, Rvalue::Low(units));
        let exposure = b.let_("exposure", Ty::U128, Rvalue::WideMul(units, mark));
        let mmr = params::load(b, "mmr_bps");
        let covered = bps_of(b, exposure, mmr);
        let residual = b.let_("residual", Ty::U128, Rvalue::Const(0));
        let enough = le_u128(b, deficit, covered);
        b.if_(Cond::Zero(enough), |b| {
            b.assign(residual, Rvalue::Sub(deficit, covered))
        });
        b.store(Addr::Fixed(Segment::Ret, 0), residual);
        b.store(Addr::Fixed(Segment::Ret, 2), closed);
    });
    b.step("slab.liquidation_call/debit", Some("RISK"), |b| {
        let cash = b.let_(
            "cash",
            Ty::U128,
            Rvalue::Load(Addr::Field(t.accounts, account, "cash")),
        );
        let owed = b.let_("owed", Ty::U128, Rvalue::Const(0));
        let negative = is_negative(b, cash);
        b.if_(Cond::NonZero(negative), |b| {
            let zero = b.let_("zero", Ty::U128, Rvalue::Const(0));
            b.assign(owed, Rvalue::SubSigned(zero, cash));
        });
        let asset = b.constant("asset", COLLATERAL_ASSET);
        let amount = b.let_("amount", Ty::U128, Rvalue::Copy(owed));
        if t.mutation != Mutation::LiquidationUnbounded {
            // Never beyond the escrow the router pledged (L2): the rest is bad debt.
            let escrow_lo = b.var("escrow_lo", Ty::U64);
            let escrow_hi = b.var("escrow_hi", Ty::U64);
            b.host(id::ESCROW_READ, &[user, asset], &[escrow_lo, escrow_hi], 0);
            let escrow = b.let_("escrow", Ty::U128, Rvalue::Join(escrow_lo, escrow_hi));
            let covered = le_u128(b, owed, escrow);
            b.if_(Cond::Zero(covered), |b| {
                b.assign(amount, Rvalue::Copy(escrow))
            });
        }
        let bound = b.let_("bound", Ty::U128, Rvalue::Const(u128::MAX));
        debit::safe_debit(
            b,
            Debit {
                cap,
                user,
                asset,
                amount,
                bound,
                ledger: header("collected"),
                over_bound: code::MAX_CHARGE,
            },
        );
        let cash = b.let_("cash", Ty::U128, Rvalue::AddSigned(cash, amount));
        b.store(Addr::Field(t.accounts, account, "cash"), cash);
        b.store(Addr::Fixed(Segment::Ret, 3), amount);
    });
    b.finish()
}

/// `cover_bad_debt(user, amount) -> (covered)`: governance moves `min(amount, insurance,
/// −cash)` from `insurance` into the account's cash (E2E4).
pub fn cover_bad_debt(t: &SlabTables) -> Function {
    let mut b = FunctionBuilder::new("cover_bad_debt", 3, 2);
    let user = arg(&mut b, "user", 0);
    let amount_lo = arg(&mut b, "amount_lo", 1);
    let amount_hi = arg(&mut b, "amount_hi", 2);
    b.step("slab.cover_bad_debt/cover", Some("LIQUIDATION"), |b| {
        let covered = b.let_("covered", Ty::U128, Rvalue::Join(amount_lo, amount_hi));
        let zero = b.let_("zero", Ty::U128, Rvalue::Const(0));
        let account = b.constant("account", 0);
        b.if_(Cond::NonZero(user), |b| {
            let found = book::account(b, t, user, false);
            b.assign(account, Rvalue::Copy(found));
        });
        b.if_else(
            Cond::Zero(account),
            |b| b.assign(covered, Rvalue::Copy(zero)),
            |b| {
                let at = slot_of(b, account);
                let cash = b.let_(
                    "cash",
                    Ty::U128,
                    Rvalue::Load(Addr::Field(t.accounts, at, "cash")),
                );
                let owed = b.let_("owed", Ty::U128, Rvalue::Const(0));
                let negative = is_negative(b, cash);
                b.if_(Cond::NonZero(negative), |b| {
                    b.assign(owed, Rvalue::SubSigned(zero, cash))
                });
                let insurance = b.let_("insurance", Ty::U128, Rvalue::Load(header("insurance")));
                for bound in [owed, insurance] {
                    let within = le_u128(b, covered, bound);
                    b.if_(Cond::Zero(within), |b| {
                        b.assign(covered, Rvalue::Copy(bound))
                    });
                }
                let insurance = b.let_("insurance", Ty::U128, Rvalue::Sub(insurance, covered));
                b.store(header("insurance"), insurance);
                let cash = b.let_("cash", Ty::U128, Rvalue::AddSigned(cash, covered));
                b.store(Addr::Field(t.accounts, at, "cash"), cash);
            },
        );
        b.store(Addr::Fixed(Segment::Ret, 0), covered);
    });
    b.finish()
}
