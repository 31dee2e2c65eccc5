//! Market trades (README "Markets"): collateral reaches an LMSR market only as a funded leg
//! of the router — pledge the user's bound, mint a cap for exactly it, invoke the market's
//! `open`, `buy` or `spend` with the cap, release what the market did not take, burn the cap.
//! A market's refusal aborts the router with the market's code moved up by [`code::MARKET`].

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Var};
use curvevm::isa::Segment;

use super::{RETURNS, arg, code, param};
use crate::abi;
use crate::templates::{market, probe};

/// The step names of one market entry: admission, pledge, cap, invoke, release.
struct Steps {
    admit: &'static str,
    leg: probe::FundedSteps,
    invoke: &'static str,
}

/// A `u128` argument at words `word`, `word + 1`, as its two words.
fn arg_words(b: &mut FunctionBuilder, name: &str, word: u32) -> [Var; 2] {
    [
        b.load(&format!("{name}_lo"), Addr::Fixed(Segment::Args, word)),
        b.load(&format!("{name}_hi"), Addr::Fixed(Segment::Args, word + 1)),
    ]
}

/// Admission: `user ≠ 0` (`BAD_USER`) and `market ≠ 0` (`BAD_MARKET`); the market's own
/// checks come with its call.
fn admit(b: &mut FunctionBuilder, step: &'static str, user: Var, market: Var) {
    b.at(step, None);
    b.guard(Cond::NonZero(user), code::BAD_USER, "a user");
    b.guard(Cond::NonZero(market), code::BAD_MARKET, "a market");
}

/// Invokes the market's `entry` with `words` built at scratch [`ARGS`]; a refusal aborts:
/// the market's abort `c` as `MARKET + c`, any other trap as `MARKET_FAILED`.
fn invoke_market(b: &mut FunctionBuilder, market_id: Var, entry: &str, words: &[Var]) -> Var {
    let (status, detail) =
        super::invoke_with_args(b, (&abi::MARKET, entry), market_id, words, "market_0");
    b.if_(Cond::NonZero(status), |b| {
        // The VM's trap class of an abort, as an invoke reports it.
        let abort_class = curvevm::TrapKind::Abort { code: 0 }.invoke_code().0;
        let abort = b.constant("trap_abort", abort_class);
        b.if_(Cond::Eq(status, abort), |b| {
            for (market_code, _) in market::code::NAMES {
                let refused = b.constant("market_code", u64::from(market_code));
                b.guard(
                    Cond::Ne(detail, refused),
                    code::MARKET + market_code,
                    "a market's refusal aborts with its code",
                );
            }
        });
        b.guard(
            Cond::Zero(status),
            code::MARKET_FAILED,
            "the market returns",
        );
    });
    status
}

/// One funded market leg: `bound` pledged and capped for `market_id`, `entry` invoked with
/// `cap` then `words`; the market's debit is its `u128` return at [`RETURNS`] + `taken_at`.
fn funded_leg(
    b: &mut FunctionBuilder,
    steps: &Steps,
    (market_id, user): (Var, Var),
    bound: [Var; 2],
    (entry, words, taken_at): (&str, &[Var], u32),
) {
    let ttl = probe::CapTtl::Param(param("cap_ttl_ms"));
    probe::funded(
        b,
        steps.leg,
        (market_id, user),
        bound,
        (RETURNS + taken_at, ttl),
        |b, cap| {
            b.at(steps.invoke, Some("CAP_TTL"));
            let mut all = vec![cap];
            all.extend_from_slice(words);
            invoke_market(b, market_id, entry, &all)
        },
    );
}

/// Copies the market's `count` return words to the router's returns.
fn returns(b: &mut FunctionBuilder, step: &'static str, count: u32) {
    b.at(step, None);
    for word in 0..count {
        let value = b.load("returned", Addr::Fixed(Segment::Scratch, RETURNS + word));
        b.store(Addr::Fixed(Segment::Ret, word), value);
    }
}

/// `market_open(funder, market, amount: u128) -> (subsidy: u128)`: the market's `open(cap,
/// funder)`, funded with at most `amount`.
pub fn market_open() -> Function {
    let mut function = FunctionBuilder::new("market_open", 4, 2);
    let b = &mut function;
    let funder = arg(b, "funder", 0);
    let market_id = arg(b, "market", 1);
    let amount = arg_words(b, "amount", 2);
    let steps = Steps {
        admit: "router.market_open/admit",
        leg: [
            "router.market_open/pledge",
            "router.market_open/cap",
            "router.market_open/release",
        ],
        invoke: "router.market_open/open",
    };
    admit(b, steps.admit, funder, market_id);
    funded_leg(
        b,
        &steps,
        (market_id, funder),
        amount,
        ("open", &[funder], 0),
    );
    returns(b, "router.market_open/result", 2);
    function.finish()
}

/// `market_buy(user, market, yes_mask, no_mask, shares: u128, max_cost: u128) -> (cost:
/// u128)`: the market's `buy`, funded with `max_cost`.
pub fn market_buy() -> Function {
    let mut function = FunctionBuilder::new("market_buy", 8, 2);
    let b = &mut function;
    let user = arg(b, "user", 0);
    let market_id = arg(b, "market", 1);
    let yes = arg(b, "yes_mask", 2);
    let no = arg(b, "no_mask", 3);
    let [shares_lo, shares_hi] = arg_words(b, "shares", 4);
    let max_cost = arg_words(b, "max_cost", 6);
    let steps = Steps {
        admit: "router.market_buy/admit",
        leg: [
            "router.market_buy/pledge",
            "router.market_buy/cap",
            "router.market_buy/release",
        ],
        invoke: "router.market_buy/buy",
    };
    admit(b, steps.admit, user, market_id);
    let words = [
        user,
        yes,
        no,
        shares_lo,
        shares_hi,
        max_cost[0],
        max_cost[1],
    ];
    funded_leg(b, &steps, (market_id, user), max_cost, ("buy", &words, 0));
    returns(b, "router.market_buy/result", 2);
    function.finish()
}

/// `market_spend(user, market, yes_mask, no_mask, amount: u128, min_shares: u128) ->
/// (shares: u128, cost: u128)`: the market's `spend`, funded with `amount`.
pub fn market_spend() -> Function {
    let mut function = FunctionBuilder::new("market_spend", 8, 4);
    let b = &mut function;
    let user = arg(b, "user", 0);
    let market_id = arg(b, "market", 1);
    let yes = arg(b, "yes_mask", 2);
    let no = arg(b, "no_mask", 3);
    let amount = arg_words(b, "amount", 4);
    let [min_lo, min_hi] = arg_words(b, "min_shares", 6);
    let steps = Steps {
        admit: "router.market_spend/admit",
        leg: [
            "router.market_spend/pledge",
            "router.market_spend/cap",
            "router.market_spend/release",
        ],
        invoke: "router.market_spend/spend",
    };
    admit(b, steps.admit, user, market_id);
    let words = [user, yes, no, amount[0], amount[1], min_lo, min_hi];
    // spend returns (shares, cost): the debit is the cost, words 2 and 3.
    funded_leg(b, &steps, (market_id, user), amount, ("spend", &words, 2));
    returns(b, "router.market_spend/result", 4);
    function.finish()
}
