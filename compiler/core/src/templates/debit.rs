//! `safe_debit`: the one canonical way a slab or market template takes a user's collateral
//! (percolator §4.1; ADV1, P6, P7, R6, S9).
//!
//! Emitted inline into the calling entrypoint, in this order, every check before any write:
//! 1. **bound** — a runtime guard `amount ≤ bound`, where the bound is what the caller promised
//!    the user (a hold's `max_charge`, a trade's `max_cost`): a commit can never take more than
//!    its reservation priced (S9). It aborts with the caller's code.
//! 2. **escrow** — the host's `safe_debit` through the capability handle the user's router
//!    minted: it refuses an unknown, burned or expired cap, a cap naming another user, program
//!    or asset, `amount > cap.remaining` and `amount > escrow`, before writing (R4/R6). The cap is
//!    the only authority; the template never names an escrow itself.
//! 3. **ledger** — the amount is added, checked, to the program's own u128 ledger word so that
//!    its state accounts for every unit it took (what the runtime's conservation check sums).
//!
//! A trap anywhere after the host call rolls the host's writes back with the call, so the
//! three steps are atomic.

use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Ty, Var};
use curvevm::hostcall::id;

/// What one debit needs; `amount`, `bound` are `u128` variables, the rest `u64`.
#[derive(Clone, Copy, Debug)]
pub struct Debit {
    /// The capability handle (cap id).
    pub cap: Var,
    /// The user whose escrow pays.
    pub user: Var,
    /// The collateral asset.
    pub asset: Var,
    /// The amount.
    pub amount: Var,
    /// The most the caller may take.
    pub bound: Var,
    /// Where the program's own ledger of collected collateral lives (a `u128`).
    pub ledger: Addr,
    /// The abort code when `amount > bound`.
    pub over_bound: u8,
}

/// `a ≤ b` over `u128` variables, as a `u64` flag (1 when it holds).
pub fn le_u128(b: &mut FunctionBuilder, a: Var, c: Var) -> Var {
    let a_hi = b.let_("a_hi", Ty::U64, Rvalue::High(a));
    let c_hi = b.let_("b_hi", Ty::U64, Rvalue::High(c));
    let holds = b.let_("le", Ty::U64, Rvalue::Test(Cond::Lt(a_hi, c_hi)));
    b.if_(Cond::Eq(a_hi, c_hi), |b| {
        let a_lo = b.let_("a_lo", Ty::U64, Rvalue::Low(a));
        let c_lo = b.let_("b_lo", Ty::U64, Rvalue::Low(c));
        b.assign(holds, Rvalue::Test(Cond::Le(a_lo, c_lo)));
    });
    holds
}

/// `min(a, c)` of two `u128`s (over their full range).
pub fn min_u128(b: &mut FunctionBuilder, a: Var, c: Var) -> Var {
    let least = b.let_("least", Ty::U128, Rvalue::Copy(a));
    let within = le_u128(b, a, c);
    b.if_(Cond::Zero(within), |b| b.assign(least, Rvalue::Copy(c)));
    least
}

/// `1` when the two's-complement `u128` `value` is negative.
pub fn is_negative(b: &mut FunctionBuilder, value: Var) -> Var {
    let high = b.let_("high", Ty::U64, Rvalue::High(value));
    let zero = b.constant("zero", 0);
    b.let_(
        "negative",
        Ty::U64,
        Rvalue::Test(Cond::LtSigned(high, zero)),
    )
}

/// Emits the debit; returns the cap's remaining allowance after it (`u128`).
pub fn safe_debit(b: &mut FunctionBuilder, debit: Debit) -> Var {
    b.at("safe_debit/bound", None);
    let within = le_u128(b, debit.amount, debit.bound);
    b.guard(Cond::NonZero(within), debit.over_bound, "amount ≤ bound");

    b.at("safe_debit/escrow", None);
    let amount_lo = b.let_("amount_lo", Ty::U64, Rvalue::Low(debit.amount));
    let amount_hi = b.let_("amount_hi", Ty::U64, Rvalue::High(debit.amount));
    let remaining_lo = b.var("remaining_lo", Ty::U64);
    let remaining_hi = b.var("remaining_hi", Ty::U64);
    b.host(
        id::SAFE_DEBIT,
        &[debit.cap, debit.user, debit.asset, amount_lo, amount_hi],
        &[remaining_lo, remaining_hi],
        0,
    );

    b.at("safe_debit/ledger", None);
    let collected = b.let_("collected", Ty::U128, Rvalue::Load(debit.ledger));
    let collected = b.let_("collected", Ty::U128, Rvalue::Add(collected, debit.amount));
    b.store(debit.ledger, collected);
    b.let_(
        "remaining",
        Ty::U128,
        Rvalue::Join(remaining_lo, remaining_hi),
    )
}
