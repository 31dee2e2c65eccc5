//! The trading and reading entrypoints (README "Entrypoints"): `buy`, `sell`, `quote`,
//! `position` and `summary`, each a sequence of named steps.

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Ty, Var};
use curvevm::isa::Segment;

use super::basket::{self, Basket};
use super::potential::{self, Direction, Write, lt_u128};
use super::{INDEX_PROBES, MarketLayout, Mutation, code, params};
use crate::templates::debit::{self, Debit, le_u128};
use crate::templates::slab::commit::COLLATERAL_ASSET;

fn arg(b: &mut FunctionBuilder, name: &str, word: u32) -> Var {
    b.load(name, Addr::Fixed(Segment::Args, word))
}

fn arg_wide(b: &mut FunctionBuilder, name: &str, word: u32) -> Var {
    b.let_(
        name,
        Ty::U128,
        Rvalue::Load(Addr::Fixed(Segment::Args, word)),
    )
}

/// `NOT_OPEN` unless `open` ran.
pub fn require_open(b: &mut FunctionBuilder, layout: &MarketLayout) {
    let open = b.load("open", layout.header("open"));
    b.guard(Cond::NonZero(open), code::NOT_OPEN, "open ran");
}

/// The step names of `buy`'s and `sell`'s admission checks.
const BUY_STEPS: [&str; 5] = [
    "market.buy/open",
    "market.buy/close",
    "market.buy/user",
    "market.buy/basket",
    "market.buy/min_trade",
];
const SELL_STEPS: [&str; 5] = [
    "market.sell/open",
    "market.sell/close",
    "market.sell/user",
    "market.sell/basket",
    "market.sell/min_trade",
];

/// The checks every trade makes first, in README order: open, clock, user, basket, minimum.
fn admit(
    b: &mut FunctionBuilder,
    layout: &MarketLayout,
    steps: [&'static str; 5],
    (user, yes, no): (Var, Var, Var),
    shares: Var,
) -> Basket {
    b.step(steps[0], None, |b| require_open(b, layout));
    b.step(steps[1], Some("CLOSE"), |b| {
        let now = crate::templates::now(b);
        let close = params::load(b, "close_ms");
        b.guard(Cond::Lt(now, close), code::CLOSED, "now < close");
    });
    b.step(steps[2], None, |b| {
        b.guard(Cond::NonZero(user), code::BAD_USER, "user ≠ 0");
    });
    let basket = b.step(steps[3], Some("STRUCTURE"), |b| {
        basket::decode(b, layout, yes, no)
    });
    b.step(steps[4], Some("LIQUIDITY"), |b| {
        min_trade(b, shares);
        shares_bound(b, shares);
    });
    basket
}

/// `MIN_TRADE` unless `amount ≥ ⌈b / 10^6⌉` (≥ 1): a trade a millionth of the liquidity or more.
fn min_trade(b: &mut FunctionBuilder, amount: Var) {
    let liquidity = params::load(b, "b");
    let round = b.constant("round", 999_999);
    let million = b.constant("million", 1_000_000);
    let one = b.constant("one", 1);
    let padded = b.let_("padded", Ty::U64, Rvalue::Add(liquidity, round));
    let minimum = b.let_("minimum", Ty::U64, Rvalue::MulDiv(padded, one, million));
    let minimum = b.let_("minimum_wide", Ty::U128, Rvalue::Widen(minimum));
    let enough = le_u128(b, minimum, amount);
    b.guard(Cond::NonZero(enough), code::MIN_TRADE, "shares ≥ min_trade");
}

/// `shares < 2^100` (`LIMIT`): every `r_w` stays below 2^101, so no sum overflows.
fn shares_bound(b: &mut FunctionBuilder, shares: Var) {
    let bound = b.let_("shares_bound", Ty::U128, Rvalue::Const(SHARES_BOUND));
    let small = lt_u128(b, shares, bound);
    b.guard(Cond::NonZero(small), code::LIMIT, "shares < 2^100");
}

/// The largest trade plus one, and the bound on `max r` after a buy.
const SHARES_BOUND: u128 = 1 << 100;

/// `⌈amount·trade_bps / 10^4⌉` (`u128`).
fn fee_of(b: &mut FunctionBuilder, amount: Var) -> Var {
    let bps = params::load(b, "trade_bps");
    let bps = b.let_("bps", Ty::U128, Rvalue::Widen(bps));
    let scaled = b.let_("scaled", Ty::U128, Rvalue::Mul(amount, bps));
    let round = b.let_("round", Ty::U128, Rvalue::Const(9_999));
    let padded = b.let_("padded", Ty::U128, Rvalue::Add(scaled, round));
    let denominator = b.let_("denominator", Ty::U128, Rvalue::Const(10_000));
    b.let_("fee", Ty::U128, Rvalue::Div(padded, denominator))
}

/// `a − b` when `a ≥ b`, else 0 (`u128`).
fn positive_part(b: &mut FunctionBuilder, name: &str, a: Var, c: Var) -> Var {
    let difference = b.let_(name, Ty::U128, Rvalue::Const(0));
    let covered = le_u128(b, c, a);
    b.if_(Cond::NonZero(covered), |b| {
        b.assign(difference, Rvalue::Sub(a, c));
    });
    difference
}

/// The account of `user` as slot + 1, or 0 when it has none; with `create`, a new one is
/// allocated (`ACCOUNTS_FULL` when none is free).
pub fn account(b: &mut FunctionBuilder, layout: &MarketLayout, user: Var, create: bool) -> Var {
    let index = layout.index_table();
    let entry = curve_ir::keyed::find_slot(b, index, "key", user, INDEX_PROBES, create);
    let account = b.constant("account", 0);
    b.if_(Cond::NonZero(entry), |b| {
        let one = b.constant("one", 1);
        let entry = b.let_("entry", Ty::U64, Rvalue::Sub(entry, one));
        let key = b.load("key", Addr::Field(index, entry, "key"));
        b.if_else(
            Cond::Eq(key, user),
            |b| {
                let slot = b.load("slot", Addr::Field(index, entry, "slot"));
                b.assign(account, Rvalue::Add(slot, one));
            },
            |b| {
                if create {
                    let used = b.load("accounts_used", layout.header("accounts_used"));
                    let capacity = b.constant("capacity", u64::from(layout.accounts));
                    b.guard(
                        Cond::Lt(used, capacity),
                        code::ACCOUNTS_FULL,
                        "a free account",
                    );
                    b.store(Addr::Field(index, entry, "key"), user);
                    b.store(Addr::Field(index, entry, "slot"), used);
                    b.store(Addr::Field(layout.accounts_table(), used, "user"), user);
                    let next = b.let_("next", Ty::U64, Rvalue::Add(used, one));
                    b.store(layout.header("accounts_used"), next);
                    b.assign(account, Rvalue::Copy(next));
                }
            },
        );
    });
    if create {
        b.guard(
            Cond::NonZero(account),
            code::ACCOUNTS_FULL,
            "an index vacancy",
        );
    }
    account
}

/// The holdings record of (`account` slot, world `w`).
fn holding(b: &mut FunctionBuilder, layout: &MarketLayout, account: Var, w: Var) -> Addr {
    let n = b.constant("n", u64::from(layout.worlds));
    let row = b.let_("row", Ty::U128, Rvalue::WideMul(account, n));
    let row = b.let_("row_lo", Ty::U64, Rvalue::Low(row));
    let at = b.let_("holding_at", Ty::U64, Rvalue::Add(row, w));
    Addr::Field(layout.holdings_table(), at, "amount")
}

/// Adds `shares` to (or, on a sell, takes them from) the account's holding of every member.
fn move_holdings(
    b: &mut FunctionBuilder,
    layout: &MarketLayout,
    basket: Basket,
    account: Var,
    shares: Var,
    direction: Direction,
) {
    b.for_each(basket.count, layout.worlds, code::TABLE, |b, i| {
        let w = b.let_("w", Ty::U64, Rvalue::Load(basket::member(i)));
        let at = holding(b, layout, account, w);
        let held = b.let_("held", Ty::U128, Rvalue::Load(at));
        let moved = match direction {
            Direction::Buy => Rvalue::Add(held, shares),
            Direction::Sell => Rvalue::Sub(held, shares),
        };
        b.assign(held, moved);
        b.store(at, held);
    });
}

/// Solvency (README `buy` step 6) in O(1): `escrow ≥ max r'`, which implies `escrow ≥ r'_w − r0_w`
/// in every world since every `r0_w ≥ 0`. It holds in every reachable state — the escrow is at
/// least Φ(r) ≥ max r — so it fires only if the template is wrong.
fn solvency(b: &mut FunctionBuilder, escrow: Var, max: Var) {
    let covered = le_u128(b, max, escrow);
    b.guard(
        Cond::NonZero(covered),
        code::SOLVENCY,
        "escrow ≥ max r ≥ every world's liability",
    );
}

/// `buy(cap, user, yes_mask, no_mask, shares, max_cost) -> cost`.
pub fn buy(layout: &MarketLayout, mutation: Mutation) -> Function {
    let mut b = FunctionBuilder::new("buy", 8, 2);
    let cap = arg(&mut b, "cap", 0);
    let user = arg(&mut b, "user", 1);
    let yes = arg(&mut b, "yes_mask", 2);
    let no = arg(&mut b, "no_mask", 3);
    let shares = arg_wide(&mut b, "shares", 4);
    let max_cost = arg_wide(&mut b, "max_cost", 6);
    let basket = admit(&mut b, layout, BUY_STEPS, (user, yes, no), shares);

    b.at("market.buy/reprice", Some("LIQUIDITY"));
    let repriced = potential::reprice(
        &mut b,
        layout,
        basket,
        shares,
        Direction::Buy,
        Write::Commit,
        mutation,
    );
    let charge = b.step("market.buy/charge", None, |b| {
        positive_part(b, "charge", repriced.after, repriced.before)
    });
    let (fee, cost) = b.step("market.buy/fee", Some("FEE"), |b| {
        let fee = fee_of(b, charge);
        let cost = b.let_("cost", Ty::U128, Rvalue::Add(charge, fee));
        let within = le_u128(b, cost, max_cost);
        b.guard(Cond::NonZero(within), code::SLIPPAGE, "cost ≤ max_cost");
        (fee, cost)
    });
    let bought = Bought {
        basket,
        shares,
        repriced,
        charge,
        fee,
        cost,
    };
    settle_buy(&mut b, layout, BUY_SETTLE, bought, (cap, user, max_cost));
    b.store(Addr::Fixed(Segment::Ret, 0), cost);
    b.finish()
}

/// The step names of a buy's settlement: limit, ledger, holdings, solvency, debit.
const BUY_SETTLE: [&str; 5] = [
    "market.buy/limit",
    "market.buy/ledger",
    "market.buy/holdings",
    "market.buy/solvency",
    "market.buy/debit",
];
const SPEND_SETTLE: [&str; 5] = [
    "market.spend/limit",
    "market.spend/ledger",
    "market.spend/holdings",
    "market.spend/solvency",
    "market.spend/debit",
];

/// A priced buy, before it settles.
#[derive(Clone, Copy)]
struct Bought {
    basket: Basket,
    shares: Var,
    repriced: potential::Repriced,
    charge: Var,
    fee: Var,
    cost: Var,
}

/// `buy` steps 4–7 (README): the limits, the ledger, the holdings, solvency and the debit of
/// `cost` through `cap` (at most `bound`).
fn settle_buy(
    b: &mut FunctionBuilder,
    layout: &MarketLayout,
    steps: [&'static str; 5],
    bought: Bought,
    (cap, user, bound): (Var, Var, Var),
) {
    let repriced = bought.repriced;
    b.step(steps[0], Some("LIQUIDITY"), |b| {
        let liquidity = params::load(b, "b");
        let forty = b.constant("forty", 40);
        let spread_max = b.let_("spread_max", Ty::U128, Rvalue::WideMul(liquidity, forty));
        let spread = b.let_("spread", Ty::U128, Rvalue::Sub(repriced.max, repriced.min));
        // A buy may leave a wide table (sells widened it) as long as it does not widen it.
        let within = le_u128(b, spread, spread_max);
        let narrower = le_u128(b, spread, repriced.spread_before);
        b.if_(Cond::NonZero(narrower), |b| {
            b.assign(within, Rvalue::Const(1))
        });
        b.guard(
            Cond::NonZero(within),
            code::LIMIT,
            "max r − min r ≤ 40·b, or no wider than before",
        );
        let size_max = b.let_("size_max", Ty::U128, Rvalue::Const(SHARES_BOUND));
        let small = lt_u128(b, repriced.max, size_max);
        b.guard(Cond::NonZero(small), code::LIMIT, "max r < 2^100");
    });
    let escrow = b.step(steps[1], None, |b| {
        let escrow = b.let_("escrow", Ty::U128, Rvalue::Load(layout.header("escrow")));
        b.assign(escrow, Rvalue::Add(escrow, bought.charge));
        b.store(layout.header("escrow"), escrow);
        let fees = b.let_("fees", Ty::U128, Rvalue::Load(layout.header("fees")));
        b.assign(fees, Rvalue::Add(fees, bought.fee));
        b.store(layout.header("fees"), fees);
        escrow
    });
    b.step(steps[2], None, |b| {
        let account = account(b, layout, user, true);
        let one = b.constant("one", 1);
        let slot = b.let_("slot", Ty::U64, Rvalue::Sub(account, one));
        move_holdings(
            b,
            layout,
            bought.basket,
            slot,
            bought.shares,
            Direction::Buy,
        );
    });
    b.step(steps[3], None, |b| solvency(b, escrow, repriced.max));
    b.step(steps[4], None, |b| {
        let asset = b.constant("asset", COLLATERAL_ASSET);
        debit::safe_debit(
            b,
            Debit {
                cap,
                user,
                asset,
                amount: bought.cost,
                bound,
                ledger: layout.header("collected"),
                over_bound: code::SLIPPAGE,
            },
        );
    });
}

/// The step names of `spend`'s admission checks.
const SPEND_STEPS: [&str; 5] = [
    "market.spend/open",
    "market.spend/close",
    "market.spend/user",
    "market.spend/basket",
    "market.spend/min_trade",
];

/// `spend(cap, user, yes_mask, no_mask, amount, min_shares) -> (shares, cost)`: as many shares
/// of the basket as `amount` pays for, fee included (README `spend`, lmsr.md §7.5).
pub fn spend(layout: &MarketLayout, mutation: Mutation) -> Function {
    let mut b = FunctionBuilder::new("spend", 8, 4);
    let cap = arg(&mut b, "cap", 0);
    let user = arg(&mut b, "user", 1);
    let yes = arg(&mut b, "yes_mask", 2);
    let no = arg(&mut b, "no_mask", 3);
    let amount = arg_wide(&mut b, "amount", 4);
    let min_shares = arg_wide(&mut b, "min_shares", 6);
    let basket = admit(&mut b, layout, SPEND_STEPS, (user, yes, no), amount);

    let budget = b.step("market.spend/budget", Some("FEE"), |b| budget_of(b, amount));
    let shares = b.step("market.spend/estimate", Some("LIQUIDITY"), |b| {
        let shares = estimate(b, layout, basket, budget);
        if mutation == Mutation::SpendEstimateHigh {
            let one = b.let_("one_share", Ty::U128, Rvalue::Const(1));
            b.assign(shares, Rvalue::Add(shares, one));
        }
        shares_bound(b, shares);
        shares
    });
    b.at("market.spend/reprice", Some("LIQUIDITY"));
    let repriced = potential::reprice(
        &mut b,
        layout,
        basket,
        shares,
        Direction::Buy,
        Write::Commit,
        mutation,
    );
    let charge = b.step("market.spend/charge", None, |b| {
        positive_part(b, "charge", repriced.after, repriced.before)
    });
    b.step("market.spend/adjust", Some("LIQUIDITY"), |b| {
        // The estimate rounds to the largest count the budget pays for up to the error of
        // exp and ln; when that rounding crossed an integer, one share less: the state after
        // selling it is the state of buying one fewer, bit for bit (path independence).
        let over = lt_u128(b, budget, charge);
        b.if_(Cond::NonZero(over), |b| {
            let one = b.let_("one_share", Ty::U128, Rvalue::Const(1));
            let fewer = potential::reprice(
                b,
                layout,
                basket,
                one,
                Direction::Sell,
                Write::Commit,
                mutation,
            );
            b.assign(shares, Rvalue::Sub(shares, one));
            b.assign(repriced.after, Rvalue::Copy(fewer.after));
            b.assign(repriced.max, Rvalue::Copy(fewer.max));
            b.assign(repriced.min, Rvalue::Copy(fewer.min));
            let again = positive_part(b, "charge", fewer.after, repriced.before);
            b.assign(charge, Rvalue::Copy(again));
        });
        let within = le_u128(b, charge, budget);
        b.guard(Cond::NonZero(within), code::SLIPPAGE, "charge ≤ budget");
        let enough = le_u128(b, min_shares, shares);
        b.guard(Cond::NonZero(enough), code::SLIPPAGE, "shares ≥ min_shares");
        min_trade(b, shares);
    });
    let (fee, cost) = b.step("market.spend/fee", Some("FEE"), |b| {
        let fee = fee_of(b, charge);
        let cost = b.let_("cost", Ty::U128, Rvalue::Add(charge, fee));
        (fee, cost)
    });
    let bought = Bought {
        basket,
        shares,
        repriced,
        charge,
        fee,
        cost,
    };
    settle_buy(&mut b, layout, SPEND_SETTLE, bought, (cap, user, amount));
    b.store(Addr::Fixed(Segment::Ret, 0), shares);
    b.store(Addr::Fixed(Segment::Ret, 2), cost);
    b.finish()
}

/// The largest `b` (exclusive) `spend` accepts: above it the ln's error alone nears a share.
const SPEND_B_LIMIT: u64 = 1 << 56;

/// `x = ⌊amount·10^4 / (10^4 + trade_bps)⌋`: the largest charge whose fee
/// `⌈charge·trade_bps / 10^4⌉` still fits in `amount` (`u128`).
fn budget_of(b: &mut FunctionBuilder, amount: Var) -> Var {
    let bps = params::load(b, "trade_bps");
    let bps = b.let_("bps", Ty::U128, Rvalue::Widen(bps));
    let whole = b.let_("whole", Ty::U128, Rvalue::Const(10_000));
    let scaled = b.let_("scaled", Ty::U128, Rvalue::Mul(amount, whole));
    let denominator = b.let_("denominator", Ty::U128, Rvalue::Add(whole, bps));
    b.let_("budget", Ty::U128, Rvalue::Div(scaled, denominator))
}

/// The shares a charge of `budget` buys (README `spend` step 3): with the basket's `E = Σ e_w`,
/// the sum `s`, and `c = budget + φ` where `φ = Φ(r) − (m + b·ln s / 2^64)` is what the cached
/// potential's rounding up left over, the real solution of `cost(x) = c` is
/// `x = c + b·ln((s − e^{−c/b}·(s − E)) / E)` (lmsr.md §1.2's inverse with `e^{c/b}` divided
/// out). Its floor is the count the integer charge allows, up to the error of exp and ln.
fn estimate(b: &mut FunctionBuilder, layout: &MarketLayout, basket: Basket, budget: Var) -> Var {
    let liquidity = potential::liquidity(b);
    let sum = b.let_("sum", Ty::U128, Rvalue::Load(layout.header("sum")));
    let inside = b.let_("inside", Ty::U128, Rvalue::Const(0));
    b.for_each(basket.count, layout.worlds, code::TABLE, |b, i| {
        let w = b.let_("w", Ty::U64, Rvalue::Load(basket::member(i)));
        let e = b.let_(
            "e",
            Ty::U128,
            Rvalue::Load(Addr::Field(layout.worlds_table(), w, "exp")),
        );
        b.assign(inside, Rvalue::Add(inside, e));
    });
    // The estimate's error, about b·(4n + 8) / E shares plus b·2^-60, under a quarter share.
    let b_limit = b.constant("spend_b_limit", SPEND_B_LIMIT);
    b.guard(Cond::Lt(liquidity.b, b_limit), code::LIMIT, "b < 2^56");
    let slack_units = b.let_(
        "slack_units",
        Ty::U128,
        Rvalue::Const(4 * (4 * u128::from(layout.worlds) + 8)),
    );
    let floor = b.let_(
        "mass_floor",
        Ty::U128,
        Rvalue::Mul(liquidity.wide, slack_units),
    );
    let priced = le_u128(b, floor, inside);
    b.guard(
        Cond::NonZero(priced),
        code::LIMIT,
        "E ≥ 4·b·(4n + 8): a basket priced high enough for the estimate",
    );

    // φ in Q0.64: 2^64 minus the fraction `b·ln s` rounded up, or 0 when it was whole.
    let ln_sum = b.let_("ln_sum", Ty::U128, Rvalue::Ln(sum));
    let ln_lo = b.let_("ln_lo", Ty::U64, Rvalue::Low(ln_sum));
    let part = b.let_("part", Ty::U128, Rvalue::WideMul(liquidity.b, ln_lo));
    let part_lo = b.let_("part_lo", Ty::U64, Rvalue::Low(part));
    let slack = b.let_("slack", Ty::U128, Rvalue::Const(0));
    b.if_(Cond::NonZero(part_lo), |b| {
        let unit = b.let_("unit", Ty::U128, Rvalue::Const(1 << 64));
        let fraction = b.let_("fraction", Ty::U128, Rvalue::Widen(part_lo));
        b.assign(slack, Rvalue::Sub(unit, fraction));
    });

    // u = e^{−c/b}: c/b in Q64.64 as ⌊budget/b⌋·2^64 + ⌊((budget mod b)·2^64 + φ) / b⌋.
    let whole = b.let_("whole", Ty::U128, Rvalue::Div(budget, liquidity.wide));
    let taken = b.let_("taken", Ty::U128, Rvalue::Mul(whole, liquidity.wide));
    let rest = b.let_("rest", Ty::U128, Rvalue::Sub(budget, taken));
    let rest_lo = b.let_("rest_lo", Ty::U64, Rvalue::Low(rest));
    let zero = b.constant("zero", 0);
    let shifted = b.let_("shifted", Ty::U128, Rvalue::Join(zero, rest_lo));
    b.assign(shifted, Rvalue::Add(shifted, slack));
    let fraction = b.let_("fraction", Ty::U128, Rvalue::Div(shifted, liquidity.wide));
    let u = b.let_("u", Ty::U128, Rvalue::Const(0));
    let limit = b.let_("whole_limit", Ty::U128, Rvalue::Const(45));
    let beyond = le_u128(b, limit, whole);
    b.if_(Cond::Zero(beyond), |b| {
        let fraction_lo = b.let_("fraction_lo", Ty::U64, Rvalue::Low(fraction));
        let whole_lo = b.let_("whole_lo", Ty::U64, Rvalue::Low(whole));
        let z = b.let_("z", Ty::U128, Rvalue::Join(fraction_lo, whole_lo));
        b.assign(u, Rvalue::ExpNeg(z));
    });

    // numerator = s − ⌊u·(s − E) / 2^64⌋, from the words of u and of s − E.
    let outside = b.let_("outside", Ty::U128, Rvalue::Sub(sum, inside));
    let outside_hi = b.let_("outside_hi", Ty::U64, Rvalue::High(outside));
    let outside_lo = b.let_("outside_lo", Ty::U64, Rvalue::Low(outside));
    let u_lo = b.let_("u_lo", Ty::U64, Rvalue::Low(u));
    let u_hi = b.let_("u_hi", Ty::U64, Rvalue::High(u));
    let high = b.let_("high", Ty::U128, Rvalue::Widen(outside_hi));
    let scaled = b.let_("scaled", Ty::U128, Rvalue::Mul(u, high));
    let low = b.let_("low", Ty::U128, Rvalue::WideMul(u_lo, outside_lo));
    let low_hi = b.let_("low_hi", Ty::U64, Rvalue::High(low));
    let low_hi = b.let_("low_hi_wide", Ty::U128, Rvalue::Widen(low_hi));
    b.assign(scaled, Rvalue::Add(scaled, low_hi));
    let carry = b.let_("carry", Ty::U128, Rvalue::WideMul(u_hi, outside_lo));
    b.assign(scaled, Rvalue::Add(scaled, carry));
    let numerator = b.let_("numerator", Ty::U128, Rvalue::Sub(sum, scaled));

    // ratio = ⌊numerator·2^64 / E⌋ (≥ ONE, since numerator ≥ E): both halved until E fits a
    // word (63 bits of it remain), then a whole part and a fraction.
    let divisor = b.let_("divisor", Ty::U128, Rvalue::Copy(inside));
    let two = b.let_("two", Ty::U128, Rvalue::Const(2));
    for _ in 0..=layout.worlds.ilog2() {
        let divisor_hi = b.let_("divisor_hi", Ty::U64, Rvalue::High(divisor));
        b.if_(Cond::NonZero(divisor_hi), |b| {
            b.assign(divisor, Rvalue::Div(divisor, two));
            b.assign(numerator, Rvalue::Div(numerator, two));
        });
    }
    let ratio_whole = b.let_("ratio_whole", Ty::U128, Rvalue::Div(numerator, divisor));
    let ratio_hi = b.let_("ratio_hi", Ty::U64, Rvalue::High(ratio_whole));
    b.guard(
        Cond::Zero(ratio_hi),
        code::LIMIT,
        "the basket's price ≥ 2^-64",
    );
    let taken = b.let_("taken", Ty::U128, Rvalue::Mul(ratio_whole, divisor));
    let rest = b.let_("rest", Ty::U128, Rvalue::Sub(numerator, taken));
    let rest_lo = b.let_("rest_lo", Ty::U64, Rvalue::Low(rest));
    let shifted = b.let_("shifted", Ty::U128, Rvalue::Join(zero, rest_lo));
    let ratio_fraction = b.let_("ratio_fraction", Ty::U128, Rvalue::Div(shifted, divisor));
    let ratio_fraction = b.let_("ratio_fraction_lo", Ty::U64, Rvalue::Low(ratio_fraction));
    let ratio_whole = b.let_("ratio_whole_lo", Ty::U64, Rvalue::Low(ratio_whole));
    let ratio = b.let_("ratio", Ty::U128, Rvalue::Join(ratio_fraction, ratio_whole));

    // shares = budget + ⌊(φ + b·ln ratio) / 2^64⌋.
    let ln = b.let_("ln_ratio", Ty::U128, Rvalue::Ln(ratio));
    let ln_hi = b.let_("ln_hi", Ty::U64, Rvalue::High(ln));
    let ln_lo = b.let_("ln_lo", Ty::U64, Rvalue::Low(ln));
    let lifted = b.let_("lifted", Ty::U128, Rvalue::WideMul(liquidity.b, ln_hi));
    let part = b.let_("part", Ty::U128, Rvalue::WideMul(liquidity.b, ln_lo));
    b.assign(part, Rvalue::Add(part, slack));
    let part_hi = b.let_("part_hi", Ty::U64, Rvalue::High(part));
    let part_hi = b.let_("part_hi_wide", Ty::U128, Rvalue::Widen(part_hi));
    b.assign(lifted, Rvalue::Add(lifted, part_hi));
    b.let_("shares", Ty::U128, Rvalue::Add(budget, lifted))
}

/// `sell(user, yes_mask, no_mask, shares, min_proceeds) -> proceeds`.
pub fn sell(layout: &MarketLayout, mutation: Mutation) -> Function {
    let mut b = FunctionBuilder::new("sell", 7, 2);
    let user = arg(&mut b, "user", 0);
    let yes = arg(&mut b, "yes_mask", 1);
    let no = arg(&mut b, "no_mask", 2);
    let shares = arg_wide(&mut b, "shares", 3);
    let min_proceeds = arg_wide(&mut b, "min_proceeds", 5);
    let basket = admit(&mut b, layout, SELL_STEPS, (user, yes, no), shares);

    let slot = b.step("market.sell/holdings", None, |b| {
        let account = account(b, layout, user, false);
        b.guard(
            Cond::NonZero(account),
            code::HOLDINGS,
            "the user holds shares",
        );
        let one = b.constant("one", 1);
        let slot = b.let_("slot", Ty::U64, Rvalue::Sub(account, one));
        if mutation != Mutation::NoHoldingsCheck {
            b.for_each(basket.count, layout.worlds, code::TABLE, |b, i| {
                let w = b.let_("w", Ty::U64, Rvalue::Load(basket::member(i)));
                let at = holding(b, layout, slot, w);
                let held = b.let_("held", Ty::U128, Rvalue::Load(at));
                let enough = le_u128(b, shares, held);
                b.guard(Cond::NonZero(enough), code::HOLDINGS, "holding ≥ shares");
            });
        }
        slot
    });
    b.at("market.sell/reprice", Some("LIQUIDITY"));
    let repriced = potential::reprice(
        &mut b,
        layout,
        basket,
        shares,
        Direction::Sell,
        Write::Commit,
        mutation,
    );
    let gross = b.step("market.sell/gross", None, |b| {
        positive_part(b, "gross", repriced.before, repriced.after)
    });
    let (fee, proceeds) = b.step("market.sell/fee", Some("FEE"), |b| {
        let fee = fee_of(b, gross);
        let capped = le_u128(b, gross, fee);
        b.if_(Cond::NonZero(capped), |b| {
            b.assign(fee, Rvalue::Copy(gross))
        });
        let proceeds = b.let_("proceeds", Ty::U128, Rvalue::Sub(gross, fee));
        let enough = le_u128(b, min_proceeds, proceeds);
        b.guard(
            Cond::NonZero(enough),
            code::SLIPPAGE,
            "proceeds ≥ min_proceeds",
        );
        (fee, proceeds)
    });
    let escrow = b.step("market.sell/ledger", None, |b| {
        let escrow = b.let_("escrow", Ty::U128, Rvalue::Load(layout.header("escrow")));
        b.assign(escrow, Rvalue::Sub(escrow, gross));
        b.store(layout.header("escrow"), escrow);
        let fees = b.let_("fees", Ty::U128, Rvalue::Load(layout.header("fees")));
        b.assign(fees, Rvalue::Add(fees, fee));
        b.store(layout.header("fees"), fees);
        move_holdings(b, layout, basket, slot, shares, Direction::Sell);
        let at = Addr::Field(layout.accounts_table(), slot, "cash");
        let cash = b.let_("cash", Ty::U128, Rvalue::Load(at));
        b.assign(cash, Rvalue::Add(cash, proceeds));
        b.store(at, cash);
        escrow
    });
    b.step("market.sell/solvency", None, |b| {
        solvency(b, escrow, repriced.max)
    });
    b.store(Addr::Fixed(Segment::Ret, 0), proceeds);
    b.finish()
}

/// `quote(yes_mask, no_mask, shares) -> (cost, price_ppm)`: no state change.
pub fn quote(layout: &MarketLayout, mutation: Mutation) -> Function {
    let mut b = FunctionBuilder::new("quote", 4, 3);
    let yes = arg(&mut b, "yes_mask", 0);
    let no = arg(&mut b, "no_mask", 1);
    let shares = arg_wide(&mut b, "shares", 2);
    b.step("market.quote/open", None, |b| require_open(b, layout));
    let basket = b.step("market.quote/basket", Some("STRUCTURE"), |b| {
        let basket = basket::decode(b, layout, yes, no);
        shares_bound(b, shares);
        basket
    });
    b.step("market.quote/price", None, |b| {
        let worlds = layout.worlds_table();
        let inside = b.let_("inside", Ty::U128, Rvalue::Const(0));
        b.for_each(basket.count, layout.worlds, code::TABLE, |b, i| {
            let w = b.let_("w", Ty::U64, Rvalue::Load(basket::member(i)));
            let e = b.let_("e", Ty::U128, Rvalue::Load(Addr::Field(worlds, w, "exp")));
            b.assign(inside, Rvalue::Add(inside, e));
        });
        let million = b.let_("million", Ty::U128, Rvalue::Const(1_000_000));
        let scaled = b.let_("scaled", Ty::U128, Rvalue::Mul(inside, million));
        let sum = b.let_("sum", Ty::U128, Rvalue::Load(layout.header("sum")));
        let ppm = b.let_("ppm", Ty::U128, Rvalue::Div(scaled, sum));
        let ppm = b.let_("ppm_lo", Ty::U64, Rvalue::Low(ppm));
        b.store(Addr::Fixed(Segment::Ret, 2), ppm);
    });
    let lo = b.let_("shares_lo", Ty::U64, Rvalue::Low(shares));
    let hi = b.let_("shares_hi", Ty::U64, Rvalue::High(shares));
    let any = b.let_("any", Ty::U64, Rvalue::Test(Cond::NonZero(hi)));
    b.if_(Cond::NonZero(lo), |b| b.assign(any, Rvalue::Const(1)));
    b.if_(Cond::NonZero(any), |b| {
        b.at("market.quote/reprice", Some("LIQUIDITY"));
        let repriced = potential::reprice(
            b,
            layout,
            basket,
            shares,
            Direction::Buy,
            Write::DryRun,
            mutation,
        );
        b.step("market.quote/cost", Some("FEE"), |b| {
            let charge = positive_part(b, "charge", repriced.after, repriced.before);
            let fee = fee_of(b, charge);
            let cost = b.let_("cost", Ty::U128, Rvalue::Add(charge, fee));
            b.store(Addr::Fixed(Segment::Ret, 0), cost);
        });
    });
    b.finish()
}

/// `position(user, world) -> (holding, cash)`.
pub fn position(layout: &MarketLayout) -> Function {
    let mut b = FunctionBuilder::new("position", 2, 4);
    let user = arg(&mut b, "user", 0);
    let world = arg(&mut b, "world", 1);
    b.step("market.position/read", None, |b| {
        let n = b.constant("n", u64::from(layout.worlds));
        b.guard(Cond::Lt(world, n), code::BAD_BASKET, "world < n");
        b.if_(Cond::Zero(user), |b| b.ret());
        let account = account(b, layout, user, false);
        b.if_(Cond::NonZero(account), |b| {
            let one = b.constant("one", 1);
            let slot = b.let_("slot", Ty::U64, Rvalue::Sub(account, one));
            let at = holding(b, layout, slot, world);
            let held = b.let_("held", Ty::U128, Rvalue::Load(at));
            b.store(Addr::Fixed(Segment::Ret, 0), held);
            let cash = b.let_(
                "cash",
                Ty::U128,
                Rvalue::Load(Addr::Field(layout.accounts_table(), slot, "cash")),
            );
            b.store(Addr::Fixed(Segment::Ret, 2), cash);
        });
    });
    b.finish()
}

/// `summary(user) -> (form, yes_mask, no_mask, amount, worlds)`: the user's holdings in their
/// simplest form (README `summary`): one pass over the worlds counts the held ones, checks their
/// amounts are equal and, per event, how many held worlds have it; the held worlds are a slice
/// exactly when each event is held by all or none of them or is free, and the free events number
/// log2 of the held worlds.
pub fn summary(layout: &MarketLayout) -> Function {
    let mut b = FunctionBuilder::new("summary", 1, 6);
    let user = arg(&mut b, "user", 0);
    b.step("market.summary/holdings", None, |b| {
        b.if_(Cond::Zero(user), |b| b.ret());
        let account = account(b, layout, user, false);
        b.if_(Cond::Zero(account), |b| b.ret());
        let one = b.constant("one", 1);
        let slot = b.let_("slot", Ty::U64, Rvalue::Sub(account, one));
        let multi = layout.structure == super::Structure::Multi;
        let count = b.constant("count", 0);
        let uniform = b.constant("uniform", 1);
        let amount = b.let_("amount", Ty::U128, Rvalue::Const(0));
        let largest = b.let_("largest", Ty::U128, Rvalue::Const(0));
        let held_set = b.constant("held_set", 0);
        let ones: Vec<Var> = if multi {
            Vec::new()
        } else {
            (0..layout.events).map(|_| b.constant("ones", 0)).collect()
        };
        let n = b.constant("n", u64::from(layout.worlds));
        b.for_each(n, layout.worlds, code::TABLE, |b, w| {
            let at = holding(b, layout, slot, w);
            let held = b.let_("held", Ty::U128, Rvalue::Load(at));
            let nothing = b.let_("nothing", Ty::U128, Rvalue::Const(0));
            let empty = potential::eq_u128(b, held, nothing);
            b.if_(Cond::Zero(empty), |b| {
                b.if_else(
                    Cond::Zero(count),
                    |b| b.assign(amount, Rvalue::Copy(held)),
                    |b| {
                        let same = potential::eq_u128(b, held, amount);
                        b.if_(Cond::Zero(same), |b| b.assign(uniform, Rvalue::Const(0)));
                    },
                );
                let above = lt_u128(b, largest, held);
                b.if_(Cond::NonZero(above), |b| {
                    b.assign(largest, Rvalue::Copy(held))
                });
                b.assign(count, Rvalue::Add(count, one));
                if multi {
                    for outcome in 0..layout.events {
                        let this = b.constant("outcome", u64::from(outcome));
                        b.if_(Cond::Eq(w, this), |b| {
                            let bit = b.constant("bit", 1 << outcome);
                            b.assign(held_set, Rvalue::Add(held_set, bit));
                        });
                    }
                } else {
                    let rest = b.let_("rest", Ty::U64, Rvalue::Copy(w));
                    for j in (0..layout.events).rev() {
                        let bit = b.constant("bit", 1 << j);
                        let counter = ones[j as usize];
                        b.if_(Cond::Le(bit, rest), |b| {
                            b.assign(rest, Rvalue::Sub(rest, bit));
                            b.assign(counter, Rvalue::Add(counter, one));
                        });
                    }
                }
            });
        });
        b.store(Addr::Fixed(Segment::Ret, 5), count);
        b.if_(Cond::Zero(count), |b| b.ret());
        let form = b.constant("form", 2);
        let yes = b.constant("yes", 0);
        let no = b.constant("no", 0);
        b.if_(Cond::NonZero(uniform), |b| {
            if multi {
                b.assign(yes, Rvalue::Copy(held_set));
                b.assign(form, Rvalue::Const(1));
                return;
            }
            // Slice worlds: 2^(free events), the events held by some but not all.
            let expected = b.constant("expected", 1);
            for (j, &counter) in ones.iter().enumerate() {
                let bit = b.constant("bit", 1 << j);
                b.if_else(
                    Cond::Eq(counter, count),
                    |b| b.assign(yes, Rvalue::Add(yes, bit)),
                    |b| {
                        b.if_else(
                            Cond::Zero(counter),
                            |b| b.assign(no, Rvalue::Add(no, bit)),
                            |b| b.assign(expected, Rvalue::Add(expected, expected)),
                        );
                    },
                );
            }
            b.if_else(
                Cond::Eq(expected, count),
                |b| b.assign(form, Rvalue::Const(1)),
                |b| {
                    b.assign(yes, Rvalue::Const(0));
                    b.assign(no, Rvalue::Const(0));
                },
            );
        });
        let two = b.constant("two", 2);
        b.if_(Cond::Eq(form, two), |b| {
            b.assign(amount, Rvalue::Copy(largest))
        });
        b.store(Addr::Fixed(Segment::Ret, 0), form);
        b.store(Addr::Fixed(Segment::Ret, 1), yes);
        b.store(Addr::Fixed(Segment::Ret, 2), no);
        b.store(Addr::Fixed(Segment::Ret, 3), amount);
    });
    b.finish()
}
