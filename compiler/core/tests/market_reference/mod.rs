//! A plain-Rust reference model of the MARKET template (one LMSR market maker over `n` worlds),
//! written from `compiler/core/src/templates/market/README.md` (authoritative) and
//! `shared/spec/lmsr.md` §7–§8 (background) alone, without reading the template's source. It
//! exists only for the differential tests.
//!
//! The model keeps the shifted shares `r`, the prior's `r0`, the escrow, fees, subsidy and the
//! accounts, and recomputes the potential `Φ(r)` from scratch ([`potential`]) whenever it needs
//! it: the README's cached `m`, `e_w`, `s` and `Φ` are pure functions of `r` and `b`, so a
//! template whose caches drift shows up as a difference. `exp_neg` and `ln` are
//! `curvevm::fixed`'s, used as they are.
//!
//! Every entrypoint runs on a clone and commits the clone only on success, so an aborted call
//! leaves the model exactly unchanged, as the VM undoes an aborted call's writes.
//!
//! [`exact`] is an independent high-precision real LMSR (num-bigint, 256 working bits, no
//! floats) for measuring the fixed-point design's errors.
//!
//! Choices where the README is silent or ambiguous (each also commented where it is made):
//! - `MarketParams::weights` empty means `PRIOR kind=uniform` (weight 1 each); otherwise it must
//!   hold exactly `n` weights (the model panics otherwise: a test bug, not a refusal).
//! - [`Market::new`] panics on parameters the compiler would reject: `b` outside `1 ..= 2^62`,
//!   `multi` outcomes outside `3 ..= 10`, `joint` events outside `1 ..= 12`.
//! - Before `open`, `r` and `r0` are empty, and [`Market::potential`] is 0.
//! - `open` checks `ALREADY_OPEN` before `PRIOR_ZERO`; it takes no clock (`CLOSED` is not checked).
//! - A buy whose `r'_w = r_w + shares` overflows `u128`, or whose `Φ(r')` does, is refused as
//!   `LIMIT` at step 1–2 (it would fail step 4's `max r' < 2^100` anyway); a buy whose
//!   `cost = charge + fee` overflows `u128` is `SLIPPAGE` (it exceeds every `max_cost`).
//!   `fee = ⌈charge·trade_bps / 10^4⌉` is computed exactly, without overflow.
//! - `quote` checks only `NOT_OPEN` and `BAD_BASKET` (no clock, user, `MIN_TRADE` or step-4
//!   limits); where a `buy` would refuse an overflow (above), `quote` returns `LIMIT`.
//!   `price_ppm` is the basket's price in the current state (before the quoted trade).
//! - Accounts are never freed: a user keeps its slot once its first buy succeeded, even with
//!   all holdings sold. A sell never creates an account (an unknown user has no holdings:
//!   `HOLDINGS`).
//! - A sell whose `escrow −= gross` would go negative is refused as `SOLVENCY` (unreachable
//!   unless the state is corrupted; [`Market::force_escrow`] does that for the tests).
//! - Per-world holdings and `r'_w − r0_w` are compared as unsigned values; `r'_w < r0_w` (never
//!   reachable) counts as a liability of 0 in the solvency check.
//! - `spend` is the README's specification, not its estimate: the share count is the largest `k`
//!   with `buy`'s `charge + fee` for `k` at most `amount`, found by search over the model's own
//!   buy cost (`cost(k) ≤ amount < cost(k + 1)`; the README says the cost is monotone in `k`).
//!   Step 2's precondition `b < 2^56` and `E = Σ_{w∈S} e_w ≥ 4·b·(4n + 8)` (`LIMIT`
//!   otherwise; E in units of 2^−64, the cached `e_w` as for prices) is checked exactly, right
//!   after the admission checks. It implies the old `E = 0` refusal and makes the estimate's
//!   `ratio ≥ 2^128` impossible (asserted in debug builds from the README's formulas). Its
//!   `shares ≥ 2^100` (`LIMIT`) is judged on the largest affordable count itself (the
//!   README's estimate may be one higher, which matters only at 2^100 − 1). Step 4's
//!   `charge > x` (`SLIPPAGE`) never fires: the count is affordable by construction. The
//!   README allows the template `k_max − 1` where its estimate falls just below an integer;
//!   the model always returns `k_max` (the differential test allows the one-fewer case).
//! - `position` and `basket` need no `open` (the world count is known from the structure).
//! - The `cap`/`funder` debits (`open` and `buy` step 7) are outside the model: a buy's cost is
//!   returned, not tracked; `cash` only grows by sell proceeds.
//! - Fee, escrow or cash sums that overflow `u128` (far beyond any test) panic.
#![allow(dead_code)]

use std::collections::BTreeMap;

use curvevm::fixed::{ONE, exp_neg, ln};

/// The market's world structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structure {
    /// Two worlds; world 1: the event happens.
    Binary,
    /// One world per outcome (3–10).
    Multi {
        /// The outcome count.
        outcomes: u32,
    },
    /// 2^events worlds; bit `j` of a world is event `j`'s outcome.
    Joint {
        /// The event count (≤ 12).
        events: u32,
    },
}

/// The market's static parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketParams {
    /// The world structure.
    pub structure: Structure,
    /// The LMSR liquidity `b` in base units, 1 ≤ b ≤ 2^62.
    pub b: u64,
    /// The trade fee in basis points of the charge (or of a sell's gross).
    pub trade_bps: u64,
    /// `CLOSE at_ms`: trades at or after it are refused.
    pub close_ms: u64,
    /// The prior's weights, one per world; empty means uniform.
    pub weights: Vec<u64>,
    /// The account pool's capacity.
    pub accounts_max: usize,
}

/// The README's abort codes that the model can produce (`NOT_BUILT` and `TABLE` excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 1: a trade before `open`.
    NotOpen,
    /// 2: `open` twice.
    AlreadyOpen,
    /// 3: at or after `CLOSE at_ms`.
    Closed,
    /// 4: user 0.
    BadUser,
    /// 5: see "Worlds and baskets".
    BadBasket,
    /// 6: `shares < min_trade`.
    MinTrade,
    /// 7: cost above `max_cost`, proceeds below `min_proceeds`, shares below `min_shares`.
    Slippage,
    /// 8: a sell beyond the user's holdings.
    Holdings,
    /// 9: no account slot.
    AccountsFull,
    /// 10: the prior's weights sum to 0.
    PriorZero,
    /// 11: the spread or size limits of `buy` step 4.
    Limit,
    /// 12: the escrow would not cover a world.
    Solvency,
}

impl Refusal {
    /// The README's abort code.
    pub fn code(self) -> u64 {
        match self {
            Refusal::NotOpen => 1,
            Refusal::AlreadyOpen => 2,
            Refusal::Closed => 3,
            Refusal::BadUser => 4,
            Refusal::BadBasket => 5,
            Refusal::MinTrade => 6,
            Refusal::Slippage => 7,
            Refusal::Holdings => 8,
            Refusal::AccountsFull => 9,
            Refusal::PriorZero => 10,
            Refusal::Limit => 11,
            Refusal::Solvency => 12,
        }
    }
}

/// One user's account.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Account {
    /// Shares held per world.
    holdings: Vec<u128>,
    /// Sell proceeds received.
    cash: u128,
}

/// The market's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Market {
    params: MarketParams,
    /// The world count `n`.
    n: usize,
    /// Whether `open` has run.
    opened: bool,
    /// Shifted shares (empty before `open`).
    r: Vec<u128>,
    /// The prior's shifted shares (empty before `open`).
    r0: Vec<u128>,
    escrow: u128,
    fees: u128,
    subsidy: u128,
    accounts: BTreeMap<u64, Account>,
}

/// `2^100`: `buy` step 4's bound on `max r'`.
const R_MAX: u128 = 1 << 100;
/// Fee denominator (basis points).
const BPS: u64 = 10_000;

impl Market {
    /// A market with these parameters, not yet open.
    pub fn new(params: MarketParams) -> Market {
        assert!(
            (1..=1u64 << 62).contains(&params.b),
            "b = {} outside 1 ..= 2^62",
            params.b
        );
        let n = match params.structure {
            Structure::Binary => 2,
            Structure::Multi { outcomes } => {
                assert!((3..=10).contains(&outcomes), "multi outcomes {outcomes}");
                outcomes as usize
            }
            Structure::Joint { events } => {
                assert!((1..=12).contains(&events), "joint events {events}");
                1usize << events
            }
        };
        // Choice: no weights is the uniform prior; otherwise one weight per world.
        assert!(
            params.weights.is_empty() || params.weights.len() == n,
            "{} weights for {n} worlds",
            params.weights.len()
        );
        Market {
            params,
            n,
            opened: false,
            r: Vec::new(),
            r0: Vec::new(),
            escrow: 0,
            fees: 0,
            subsidy: 0,
            accounts: BTreeMap::new(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &MarketParams {
        &self.params
    }

    /// The world count `n`.
    pub fn worlds(&self) -> usize {
        self.n
    }

    /// Whether `open` has run.
    pub fn is_open(&self) -> bool {
        self.opened
    }

    /// `max(1, ⌈b / 10^6⌉)`.
    pub fn min_trade(&self) -> u128 {
        u128::from(self.params.b.div_ceil(1_000_000).max(1))
    }

    /// How many accounts exist.
    pub fn accounts(&self) -> usize {
        self.accounts.len()
    }

    /// `open`: computes the prior and returns the subsidy (the opener's debit).
    pub fn open(&mut self) -> Result<u128, Refusal> {
        // Choice: ALREADY_OPEN before the prior's PRIOR_ZERO.
        if self.opened {
            return Err(Refusal::AlreadyOpen);
        }
        let weights = if self.params.weights.is_empty() {
            vec![1; self.n]
        } else {
            self.params.weights.clone()
        };
        let r0 = prior_shares(self.params.b, &weights)?;
        // Prior step 5: the subsidy is Φ(r0) − min r0 = Φ(r0) (min r0 = 0).
        let subsidy = potential(self.params.b, &r0);
        self.opened = true;
        self.r = r0.clone();
        self.r0 = r0;
        self.subsidy = subsidy;
        self.escrow = subsidy;
        Ok(subsidy)
    }

    /// `buy`: returns the cost (`charge + fee`) debited from the user.
    pub fn buy(
        &mut self,
        now_ms: u64,
        user: u64,
        yes_mask: u64,
        no_mask: u64,
        shares: u128,
        max_cost: u128,
    ) -> Result<u128, Refusal> {
        let mut next = self.clone();
        let cost = next.buy_in_place(now_ms, user, yes_mask, no_mask, shares, max_cost)?;
        *self = next;
        Ok(cost)
    }

    fn buy_in_place(
        &mut self,
        now_ms: u64,
        user: u64,
        yes_mask: u64,
        no_mask: u64,
        shares: u128,
        max_cost: u128,
    ) -> Result<u128, Refusal> {
        let basket = self.entry_checks(now_ms, user, yes_mask, no_mask, shares)?;
        let b = self.params.b;
        // 1–2. r', charge (see `priced`).
        let BuyPrice {
            next,
            charge,
            fee_cost,
        } = self.priced(&basket, shares)?;
        // 3. Slippage (choice: a cost that overflows exceeds every max_cost).
        let (fee, cost) = fee_cost.ok_or(Refusal::Slippage)?;
        if cost > max_cost {
            return Err(Refusal::Slippage);
        }
        // 4. Limits, over every world of r': a spread above 40·b only if it is no wider than
        // before the buy.
        let max = *next.iter().max().expect("n ≥ 2");
        let min = *next.iter().min().expect("n ≥ 2");
        let spread_before =
            self.r.iter().max().expect("n ≥ 2") - self.r.iter().min().expect("n ≥ 2");
        let spread = max - min;
        if (spread > 40 * u128::from(b) && spread > spread_before) || max >= R_MAX {
            return Err(Refusal::Limit);
        }
        // 5. Escrow, fees, holdings (ACCOUNTS_FULL for a new user without a free slot).
        self.escrow = self
            .escrow
            .checked_add(charge)
            .expect("escrow overflows u128");
        self.fees = self.fees.checked_add(fee).expect("fees overflow u128");
        if !self.accounts.contains_key(&user) {
            if self.accounts.len() >= self.params.accounts_max {
                return Err(Refusal::AccountsFull);
            }
            let account = Account {
                holdings: vec![0; self.n],
                cash: 0,
            };
            self.accounts.insert(user, account);
        }
        let account = self.accounts.get_mut(&user).expect("just ensured");
        for &w in &basket {
            account.holdings[w] += shares; // ≤ r'_w − r0_w < 2^100
        }
        self.r = next;
        // 6. Solvency.
        self.check_solvency()?;
        // 7. The debit through the cap is outside the model.
        Ok(cost)
    }

    /// `sell`: returns the proceeds credited to the user's cash.
    pub fn sell(
        &mut self,
        now_ms: u64,
        user: u64,
        yes_mask: u64,
        no_mask: u64,
        shares: u128,
        min_proceeds: u128,
    ) -> Result<u128, Refusal> {
        let mut next = self.clone();
        let proceeds = next.sell_in_place(now_ms, user, yes_mask, no_mask, shares, min_proceeds)?;
        *self = next;
        Ok(proceeds)
    }

    fn sell_in_place(
        &mut self,
        now_ms: u64,
        user: u64,
        yes_mask: u64,
        no_mask: u64,
        shares: u128,
        min_proceeds: u128,
    ) -> Result<u128, Refusal> {
        let basket = self.entry_checks(now_ms, user, yes_mask, no_mask, shares)?;
        let b = self.params.b;
        // 1. Holdings (an unknown user holds nothing).
        let held = |w: usize| self.accounts.get(&user).map_or(0, |a| a.holdings[w]);
        if basket.iter().any(|&w| held(w) < shares) {
            return Err(Refusal::Holdings);
        }
        // 2. r' = r − shares; gross = Φ(r) − Φ(r'), 0 if negative.
        let mut next = self.r.clone();
        for &w in &basket {
            next[w] = next[w]
                .checked_sub(shares)
                .expect("holdings never exceed r − r0 ≤ r");
        }
        let gross = potential(b, &self.r).saturating_sub(potential(b, &next));
        // 3. fee = min(gross, ⌈gross·bps / 10^4⌉).
        let fee = mul_div_ceil(gross, self.params.trade_bps, BPS).map_or(gross, |f| f.min(gross));
        let proceeds = gross - fee;
        if proceeds < min_proceeds {
            return Err(Refusal::Slippage);
        }
        // 4. Escrow (choice: going negative is SOLVENCY), fees, holdings, cash.
        self.escrow = self.escrow.checked_sub(gross).ok_or(Refusal::Solvency)?;
        self.fees = self.fees.checked_add(fee).expect("fees overflow u128");
        let account = self.accounts.get_mut(&user).expect("holdings ≥ shares ≥ 1");
        for &w in &basket {
            account.holdings[w] -= shares;
        }
        account.cash = account
            .cash
            .checked_add(proceeds)
            .expect("cash overflows u128");
        self.r = next;
        // 5. Solvency.
        self.check_solvency()?;
        Ok(proceeds)
    }

    /// `spend`: buys the largest number of shares of the basket whose cost (`buy`'s charge +
    /// fee) is at most `amount`; returns `(shares, cost)`.
    ///
    /// The share count is found by search over the model's own `buy` cost ([`Market::priced`]),
    /// not by the README's closed-form estimate: exponential search (1, 2, 4, …, 2^100) for the
    /// first unaffordable power of two, then binary search below it, so `cost(shares) ≤ amount <
    /// cost(shares + 1)` (≤ 2·101 potentials). The README's step 2 precondition (`b < 2^56`,
    /// `E ≥ 4·b·(4n + 8)`, else `LIMIT`) is checked exactly ([`Market::spend_precondition`]).
    /// The template may return `k_max − 1` (README step 4); the model returns `k_max`.
    pub fn spend(
        &mut self,
        now_ms: u64,
        user: u64,
        yes_mask: u64,
        no_mask: u64,
        amount: u128,
        min_shares: u128,
    ) -> Result<(u128, u128), Refusal> {
        let mut next = self.clone();
        let out = next.spend_in_place(now_ms, user, yes_mask, no_mask, amount, min_shares)?;
        *self = next;
        Ok(out)
    }

    fn spend_in_place(
        &mut self,
        now_ms: u64,
        user: u64,
        yes_mask: u64,
        no_mask: u64,
        amount: u128,
        min_shares: u128,
    ) -> Result<(u128, u128), Refusal> {
        // The admission checks, reading `amount` where a buy reads `shares`.
        let basket = self.entry_checks(now_ms, user, yes_mask, no_mask, amount)?;
        // Step 1 (the budget x) cannot refuse. Step 2's precondition: b < 2^56 and
        // E ≥ 4·b·(4n + 8), else LIMIT — after the admission checks, before everything else.
        if !self.spend_precondition(&basket) {
            return Err(Refusal::Limit);
        }
        // The README's former `ratio ≥ 2^128` refusal cannot fire past the precondition
        // (E ≥ 16n + 32 > n ≥ s / 2^64 ≥ the ratio's numerator / 2^64).
        debug_assert!(!self.spend_ratio_limit(&basket, amount));
        // The largest affordable count; ≥ 2^100 shares is step 2's LIMIT (choice: judged on the
        // largest count itself, not on the estimate, which may be one higher).
        let shares = self
            .most_shares_for(&basket, amount)
            .ok_or(Refusal::Limit)?;
        // Step 4's refusals after the adjustment (`charge > x` cannot happen: cost(shares) ≤
        // amount by construction, and 0 shares cost 0).
        if shares < min_shares {
            return Err(Refusal::Slippage);
        }
        if shares < self.min_trade() {
            return Err(Refusal::MinTrade);
        }
        // Step 5: buy steps 4–7 for `shares` with `amount` as the bound. The buy repeats the
        // admission checks (all pass: same clock, user and basket; min_trade ≤ shares < 2^100)
        // and its step 3 (cost ≤ amount, as found above).
        let cost = self.buy_in_place(now_ms, user, yes_mask, no_mask, shares, amount)?;
        Ok((shares, cost))
    }

    /// Whether buying `shares` of the basket costs at most `amount` (a cost that overflows does
    /// not; nor does a count the model's buy refuses as an overflow).
    fn affordable(&self, basket: &[usize], shares: u128, amount: u128) -> bool {
        matches!(
            self.priced(basket, shares),
            Ok(BuyPrice { fee_cost: Some((_, cost)), .. }) if cost <= amount
        )
    }

    /// The largest `k < 2^100` with `cost(k) ≤ amount < cost(k + 1)` (the largest affordable
    /// count while the cost is monotone in `k`, as the README says it is); `None` when `2^100`
    /// shares are affordable.
    fn most_shares_for(&self, basket: &[usize], amount: u128) -> Option<u128> {
        // cost(0) = 0 ≤ amount. Exponential search: lo affordable, hi the first power of two
        // that is not (≤ 101 potentials).
        let (mut lo, mut hi) = (0u128, 1u128);
        while self.affordable(basket, hi, amount) {
            if hi == R_MAX {
                return None;
            }
            lo = hi;
            hi *= 2;
        }
        // Binary search, keeping cost(lo) ≤ amount < cost(hi) (≤ 100 potentials).
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.affordable(basket, mid, amount) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }

    /// The README's `spend` step 2 precondition: `b < 2^56` and `E = Σ_{w∈S} e_w ≥ 4·b·(4n + 8)`
    /// with `E` in units of 2^−64 (the cached `e_w`, as for prices) and `n` the world count.
    fn spend_precondition(&self, basket: &[usize]) -> bool {
        let b = u128::from(self.params.b);
        if b >= 1 << 56 {
            return false;
        }
        let terms = Terms::of(self.params.b, &self.r);
        let e: u128 = basket.iter().map(|&w| terms.e[w]).sum();
        // b < 2^56 and n ≤ 4096: the bound is < 2^73.
        let bound = (self.n as u128)
            .checked_mul(4)
            .and_then(|x| x.checked_add(8))
            .and_then(|x| x.checked_mul(b))
            .and_then(|x| x.checked_mul(4))
            .expect("4·b·(4n + 8) < 2^73");
        e >= bound
    }

    /// Whether the README's former `spend` step 2 refusal would fire, from its formulas:
    /// `E = Σ_{w∈S} e_w = 0`, or `ratio = ⌊(s − ⌊u·(s − E)/2^64⌋)·2^64 / E⌋ ≥ 2^128` with `x = ⌊amount·10^4 / (10^4 +
    /// trade_bps)⌋`, `φ = Φ(r) − (max r + b·ln s / 2^64)` and `u = exp_neg(⌊(x + φ)·2^64 / b⌋)`.
    ///
    /// The halving "until E < 2^64" never decides it: with `E ≥ 2^64` the halved ratio is below
    /// `2^78` (the numerator is ≤ s < 2^77); with `E < 2^64` nothing is halved and
    /// `⌊N·2^64 / E⌋ ≥ 2^128 ⟺ N ≥ E·2^64` exactly.
    fn spend_ratio_limit(&self, basket: &[usize], amount: u128) -> bool {
        let b = self.params.b;
        let b128 = u128::from(b);
        let terms = Terms::of(b, &self.r);
        let e: u128 = basket.iter().map(|&w| terms.e[w]).sum();
        if e == 0 {
            return true;
        }
        if e >= ONE {
            return false;
        }
        // 1. x (amount < 2^100: no overflow).
        let x = amount * u128::from(BPS) / (u128::from(BPS) + u128::from(self.params.trade_bps));
        // φ·2^64 = ⌈b·l / 2^64⌉·2^64 − b·l = (−b·l) mod 2^64, l = ln s.
        let l = ln(terms.s).expect("s ≥ ONE");
        let low = (b128 * (l & (ONE - 1))) & (ONE - 1);
        let phi = if low == 0 { 0 } else { ONE - low };
        // u = exp_neg(⌊(x·2^64 + φ·2^64) / b⌋), 0 from 45.
        let u = if x / b128 >= 45 {
            0
        } else {
            let (q, rem) = (x / b128, x % b128);
            exp_neg((q << 64) + ((rem << 64) + phi) / b128) // rem·2^64 + φ < 2^127
        };
        // N = s − ⌊u·(s − E) / 2^64⌋, u ≤ 2^64, s − E < 2^77 (split to stay in u128).
        let rest = terms.s - e;
        let scaled = u * (rest >> 64) + ((u * (rest & (ONE - 1))) >> 64);
        let numerator = terms.s - scaled;
        numerator >= e << 64
    }

    /// `quote`: `buy`'s cost for `shares` and the basket's current price in ppm.
    pub fn quote(&self, yes_mask: u64, no_mask: u64, shares: u128) -> Result<(u128, u64), Refusal> {
        if !self.opened {
            return Err(Refusal::NotOpen);
        }
        let basket = self.basket(yes_mask, no_mask)?;
        if shares >= R_MAX {
            return Err(Refusal::Limit);
        }
        let b = self.params.b;
        // Choice: the overflows a buy refuses are LIMIT here.
        let (_, cost) = self
            .priced(&basket, shares)?
            .fee_cost
            .ok_or(Refusal::Limit)?;
        let terms = Terms::of(b, &self.r);
        let in_basket: u128 = basket.iter().map(|&w| terms.e[w]).sum();
        let price_ppm = in_basket * 1_000_000 / terms.s; // < 2^77 · 10^6: no overflow
        Ok((cost, u64::try_from(price_ppm).expect("≤ 10^6")))
    }

    /// `position`: the user's holding of `world` and cash; (0, 0) for an unknown user.
    pub fn position(&self, user: u64, world: u64) -> Result<(u128, u128), Refusal> {
        if world >= self.n as u64 {
            return Err(Refusal::BadBasket);
        }
        Ok(self
            .accounts
            .get(&user)
            .map_or((0, 0), |a| (a.holdings[world as usize], a.cash)))
    }

    /// `summary`: the user's holdings in their simplest form, `(form, yes_mask, no_mask, amount,
    /// worlds)`; all 0 for an unknown user (user 0 included) or one holding nothing.
    pub fn summary(&self, user: u64) -> (u64, u64, u64, u128, u64) {
        let Some(account) = self.accounts.get(&user) else {
            return (0, 0, 0, 0, 0);
        };
        let held: Vec<usize> = (0..self.n).filter(|&w| account.holdings[w] > 0).collect();
        let worlds = held.len() as u64;
        let Some(amount) = held.iter().map(|&w| account.holdings[w]).max() else {
            return (0, 0, 0, 0, 0);
        };
        if held.iter().any(|&w| account.holdings[w] != amount) {
            return (2, 0, 0, amount, worlds);
        }
        match self.params.structure {
            Structure::Multi { .. } => {
                let yes = held.iter().fold(0, |mask, &w| mask | 1 << w);
                (1, yes, 0, amount, worlds)
            }
            Structure::Binary | Structure::Joint { .. } => {
                let events = self.n.trailing_zeros(); // binary: one event
                let all = (1u64 << events) - 1;
                // yes: the events every held world has; no: the events no held world has.
                let yes = held.iter().fold(all, |mask, &w| mask & w as u64);
                let no = held.iter().fold(all, |mask, &w| mask & !(w as u64));
                // The held worlds lie in that slice; they are it when the counts agree.
                if worlds == 1 << (events - (yes | no).count_ones()) {
                    (1, yes, no, amount, worlds)
                } else {
                    (2, 0, 0, amount, worlds)
                }
            }
        }
    }

    /// The basket's worlds in ascending order, or `BAD_BASKET`.
    pub fn basket(&self, yes_mask: u64, no_mask: u64) -> Result<Vec<usize>, Refusal> {
        let worlds: Vec<usize> = match self.params.structure {
            Structure::Multi { outcomes } => {
                if no_mask != 0 || yes_mask == 0 || yes_mask >> outcomes != 0 {
                    return Err(Refusal::BadBasket);
                }
                (0..self.n).filter(|&w| yes_mask >> w & 1 == 1).collect()
            }
            Structure::Binary | Structure::Joint { .. } => {
                let events = self.n.trailing_zeros(); // binary: one event
                if yes_mask >> events != 0 || no_mask >> events != 0 || yes_mask & no_mask != 0 {
                    return Err(Refusal::BadBasket);
                }
                (0..self.n)
                    .filter(|&w| w as u64 & yes_mask == yes_mask && w as u64 & no_mask == 0)
                    .collect()
            }
        };
        if worlds.is_empty() {
            return Err(Refusal::BadBasket);
        }
        Ok(worlds)
    }

    /// The shifted shares `r` (empty before `open`).
    pub fn shifted_shares(&self) -> &[u128] {
        &self.r
    }

    /// The prior's shifted shares `r0` (empty before `open`).
    pub fn initial_shares(&self) -> &[u128] {
        &self.r0
    }

    /// The escrow: subsidy plus charges minus sells' gross.
    pub fn escrow(&self) -> u128 {
        self.escrow
    }

    /// The collected fees.
    pub fn fees(&self) -> u128 {
        self.fees
    }

    /// The subsidy `open` returned (0 before).
    pub fn subsidy(&self) -> u128 {
        self.subsidy
    }

    /// `Φ(r)` of the current state (0 before `open`).
    pub fn potential(&self) -> u128 {
        if self.opened {
            potential(self.params.b, &self.r)
        } else {
            0
        }
    }

    /// `(Σ_{w ∈ basket} e_w, s)` of the current state: the basket's exact price fraction.
    pub fn price_fraction(&self, yes_mask: u64, no_mask: u64) -> Result<(u128, u128), Refusal> {
        if !self.opened {
            return Err(Refusal::NotOpen);
        }
        let basket = self.basket(yes_mask, no_mask)?;
        let terms = Terms::of(self.params.b, &self.r);
        Ok((basket.iter().map(|&w| terms.e[w]).sum(), terms.s))
    }

    /// Test hook: overwrites the escrow (corrupting the state) so that `SOLVENCY` can fire.
    pub fn force_escrow(&mut self, escrow: u128) {
        self.escrow = escrow;
    }

    /// The trading entries' common checks, in the README's order; the basket on success.
    fn entry_checks(
        &self,
        now_ms: u64,
        user: u64,
        yes_mask: u64,
        no_mask: u64,
        shares: u128,
    ) -> Result<Vec<usize>, Refusal> {
        if !self.opened {
            return Err(Refusal::NotOpen);
        }
        if now_ms >= self.params.close_ms {
            return Err(Refusal::Closed);
        }
        if user == 0 {
            return Err(Refusal::BadUser);
        }
        let basket = self.basket(yes_mask, no_mask)?;
        if shares < self.min_trade() {
            return Err(Refusal::MinTrade);
        }
        // README: `shares < 2^100`, else LIMIT.
        if shares >= R_MAX {
            return Err(Refusal::Limit);
        }
        Ok(basket)
    }

    /// `buy` steps 1–2 and 3's fee, without its slippage check: `r'`, `charge` and `(fee, cost)`
    /// (`None` when the fee or `charge + fee` overflows u128). Choice: `r' = r + shares`
    /// overflowing u128, or `Φ(r')` overflowing, is `LIMIT`.
    fn priced(&self, basket: &[usize], shares: u128) -> Result<BuyPrice, Refusal> {
        let b = self.params.b;
        // 1. r' = r + shares on the basket.
        let next = self.bumped(basket, shares).ok_or(Refusal::Limit)?;
        // 2. charge = Φ(r') − Φ(r), 0 if negative.
        let phi_next = checked_potential(b, &next).ok_or(Refusal::Limit)?;
        let charge = phi_next.saturating_sub(potential(b, &self.r));
        // 3. fee = ⌈charge·trade_bps / 10^4⌉, cost = charge + fee.
        let fee_cost = mul_div_ceil(charge, self.params.trade_bps, BPS)
            .and_then(|fee| Some((fee, charge.checked_add(fee)?)));
        Ok(BuyPrice {
            next,
            charge,
            fee_cost,
        })
    }

    /// `r` with `shares` added on the basket, or `None` on a u128 overflow.
    fn bumped(&self, basket: &[usize], shares: u128) -> Option<Vec<u128>> {
        let mut next = self.r.clone();
        for &w in basket {
            next[w] = next[w].checked_add(shares)?;
        }
        Some(next)
    }

    /// `escrow ≥ r_w − r0_w` for every world.
    fn check_solvency(&self) -> Result<(), Refusal> {
        let covered = self
            .r
            .iter()
            .zip(&self.r0)
            .all(|(&r, &r0)| r.saturating_sub(r0) <= self.escrow);
        if covered {
            Ok(())
        } else {
            Err(Refusal::Solvency)
        }
    }
}

/// `buy` steps 1–3 priced for one share count ([`Market::priced`]).
struct BuyPrice {
    /// `r' = r + shares·1_basket`.
    next: Vec<u128>,
    /// `Φ(r') − Φ(r)`, 0 if negative.
    charge: u128,
    /// `(fee, charge + fee)`, `None` on a u128 overflow.
    fee_cost: Option<(u128, u128)>,
}

/// The potential's intermediate values for one state.
struct Terms {
    /// `max r`.
    m: u128,
    /// `e_w` per world (Q64.64).
    e: Vec<u128>,
    /// `Σ e_w` (Q64.64, ONE ≤ s ≤ n·ONE).
    s: u128,
}

impl Terms {
    /// The README's steps 1–3.
    fn of(b: u64, r: &[u128]) -> Terms {
        let m = *r.iter().max().expect("at least one world");
        let b128 = u128::from(b);
        let e: Vec<u128> = r
            .iter()
            .map(|&rw| {
                let d = m - rw;
                if d >= 45 * b128 {
                    0
                } else {
                    // ⌊d·2^64 / b⌋ without overflow: d / b < 45, (d mod b)·2^64 < 2^128.
                    exp_neg(((d / b128) << 64) + (((d % b128) << 64) / b128))
                }
            })
            .collect();
        let s = e.iter().sum();
        Terms { m, e, s }
    }
}

/// The README's bit-exact potential `Φ(r) = m + ⌈b·ln(s) / 2^64⌉`, from scratch.
pub fn potential(b: u64, r: &[u128]) -> u128 {
    checked_potential(b, r).expect("Φ overflows u128")
}

/// [`potential`], or `None` when `m + ⌈b·ln s / 2^64⌉` overflows u128.
fn checked_potential(b: u64, r: &[u128]) -> Option<u128> {
    let terms = Terms::of(b, r);
    terms.m.checked_add(b_ln_ceil(b, terms.s))
}

/// `⌈b·ln(x) / 2^64⌉` with `ln` = `curvevm::fixed::ln` (x ≥ ONE), the 256-bit product exact.
fn b_ln_ceil(b: u64, x: u128) -> u128 {
    let l = ln(x).expect("x ≥ ONE");
    // b·l / 2^64 = b·⌊l / 2^64⌋ + b·(l mod 2^64) / 2^64; the second product is < 2^128.
    let b = u128::from(b);
    b * (l >> 64) + (b * (l & (ONE - 1))).div_ceil(ONE)
}

/// `⌈a·k / d⌉` exactly, or `None` if it overflows u128.
fn mul_div_ceil(a: u128, k: u64, d: u64) -> Option<u128> {
    let (k, d) = (u128::from(k), u128::from(d));
    // a·k / d = ⌊a / d⌋·k + (a mod d)·k / d, and (a mod d)·k < 2^128.
    (a / d).checked_mul(k)?.checked_add((a % d * k).div_ceil(d))
}

/// The README's Prior steps 1–4: `r0` for these weights (one per world).
pub fn prior_shares(b: u64, weights: &[u64]) -> Result<Vec<u128>, Refusal> {
    let n = weights.len() as u128;
    // 1. total = Σ weights (exact in u128).
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if total == 0 {
        return Err(Refusal::PriorZero);
    }
    // 2. floor = ⌈total / (16n)⌉ ≥ 1; weight ← max(weight, floor).
    let floor = total.div_ceil(16 * n);
    let floored: Vec<u128> = weights.iter().map(|&w| u128::from(w).max(floor)).collect();
    // 3. ratio_w = ⌊wmax·2^64 / weight_w⌋ (wmax < 2^64), lift_w = ⌈b·ln(ratio_w) / 2^64⌉.
    let wmax = *floored.iter().max().expect("at least one world");
    let lifts: Vec<u128> = floored
        .iter()
        .map(|&w| b_ln_ceil(b, (wmax << 64) / w))
        .collect();
    // 4. D = max lift, r0_w = D − lift_w.
    let d = *lifts.iter().max().expect("at least one world");
    Ok(lifts.iter().map(|&lift| d - lift).collect())
}

/// A high-precision real LMSR for the tests: every value is a `BigInt` fixed-point number with
/// `W = 256` fraction bits inside, returned as `⌊value × 2^128⌋`. No floats.
///
/// **Method.** `e^(−z)`: `z = i + f` with the integer `i ≤ 200` (`e^(−z) < 2^−288` beyond:
/// taken as 0), `e^(−z) = e^(−i) · Π_{c=1..4} e^(−byte_c·2^(−8c)) · e^(−lo)` from tables (powers
/// of `e^(−1)` and of `e^(−2^(−8c))`, built once by repeated multiplication in a `OnceLock`) and a
/// Taylor series for `lo < 2^−32` (≤ 9 terms). `ln x`: `x = 2^k·y`, `y ∈ [1, 2)`,
/// `ln y = 2·atanh((y − 1)/(y + 1))` (series in `u² ≤ 1/9`, ≤ 82 terms), `ln 2 = 2·atanh(1/3)`.
///
/// **Error bound** (absolute; ulp = 2^−256). Every product or quotient floors (< 1 ulp). The
/// Taylor sums lose < 1 ulp per term: `e^(−1)` < 60 ulp, `e^(−2^(−8c))` < 20 ulp, `ln 2` < 90
/// ulp. A table entry `T^j` made by `j ≤ 255` multiplications by a base with error `ε` is off
/// by < `j·(ε + 1)` ulp ≤ 2^14 ulp; so `e^(−z)` (≤ 6 factors, each ≤ 1) is off by < 2^17 ulp =
/// 2^−239. `ln` of a `W`-bit `s = 2^k·y ≥ 1` is off by < `(k + 1)·90 + 400` ulp. Hence
/// `potential_scaled` (n ≤ 2^12 terms, so `s` is off by < 2^−227; b < 2^64) is off by
/// < 2^64·(2^−227 + 2^−245) < 2^−162 base units, far inside the 2^−128 output ulp: the results
/// are `⌊value × 2^128⌋` or one more or less (only when the value is within 2^−162 of a multiple
/// of 2^−128), i.e. correct to ≥ 127 bits below the base unit (`basket_cost_scaled` likewise). `exp_neg_scaled` and `ln_scaled` likewise (for `ln_scaled`
/// while `log2 x < 2^100`).
pub mod exact {
    use std::sync::OnceLock;

    use num_bigint::{BigInt, Sign};

    /// Working fraction bits.
    const W: u32 = 256;
    /// Output fraction bits.
    const OUT: u32 = 128;
    /// `e^(−z)` is taken as 0 from `z > INT_MAX` (e^−201 < 2^−289).
    const INT_MAX: usize = 200;

    /// Tables built once.
    struct Tables {
        /// `ln 2`.
        ln2: BigInt,
        /// `int[i] = e^(−i)`, i = 0 … INT_MAX.
        int: Vec<BigInt>,
        /// `frac[c][j] = e^(−j·2^(−8(c+1)))`, c = 0 … 3, j = 0 … 255.
        frac: Vec<Vec<BigInt>>,
    }

    fn one() -> BigInt {
        BigInt::from(1) << W
    }

    fn is_zero(x: &BigInt) -> bool {
        x.sign() == Sign::NoSign
    }

    /// `⌊a·b / 2^W⌋` of non-negative fixed-point values.
    fn mul(a: &BigInt, b: &BigInt) -> BigInt {
        (a * b) >> W
    }

    /// `e^(−x)` by its Taylor series, for `0 ≤ x ≤ 1` (fixed point).
    fn exp_neg_taylor(x: &BigInt) -> BigInt {
        let mut sum = one();
        let mut term = one();
        let mut k = 1u32;
        loop {
            term = mul(&term, x) / k;
            if is_zero(&term) {
                return sum;
            }
            if k % 2 == 1 {
                sum -= &term;
            } else {
                sum += &term;
            }
            k += 1;
        }
    }

    /// `atanh(u) = Σ u^(2i+1) / (2i + 1)` for `0 ≤ u ≤ 1/3` (fixed point).
    fn atanh(u: &BigInt) -> BigInt {
        let u2 = mul(u, u);
        let mut power = u.clone();
        let mut sum = u.clone();
        let mut j = 1u32;
        loop {
            power = mul(&power, &u2);
            j += 2;
            let term = &power / j;
            if is_zero(&term) {
                return sum;
            }
            sum += term;
        }
    }

    fn tables() -> &'static Tables {
        static TABLES: OnceLock<Tables> = OnceLock::new();
        TABLES.get_or_init(|| {
            let ln2 = atanh(&(one() / 3u32)) * 2u32;
            let e1 = exp_neg_taylor(&one());
            let mut int = vec![one()];
            for i in 1..=INT_MAX {
                let next = mul(&int[i - 1], &e1);
                int.push(next);
            }
            let frac = (1..=4u32)
                .map(|c| {
                    let base = exp_neg_taylor(&(one() >> (8 * c)));
                    let mut row = vec![one()];
                    for j in 1..256 {
                        let next = mul(&row[j - 1], &base);
                        row.push(next);
                    }
                    row
                })
                .collect();
            Tables { ln2, int, frac }
        })
    }

    /// `e^(−z)` for a fixed-point `z ≥ 0`.
    fn exp_neg_fixed(z: &BigInt) -> BigInt {
        assert!(z.sign() != Sign::Minus, "exp_neg of a negative");
        let t = tables();
        let int = z >> W;
        let i = match u64::try_from(&int) {
            Ok(i) if i as usize <= INT_MAX => i as usize,
            _ => return BigInt::from(0),
        };
        let frac = z - (int << W);
        // The top 32 fraction bits index the byte tables; `lo < 2^−32` goes to Taylor.
        let top = u64::try_from(&(&frac >> (W - 32))).expect("32 bits");
        let lo = frac - (BigInt::from(top) << (W - 32));
        let mut acc = t.int[i].clone();
        for c in 0..4 {
            let byte = (top >> (24 - 8 * c)) & 0xff;
            if byte != 0 {
                acc = mul(&acc, &t.frac[c][byte as usize]);
            }
        }
        if !is_zero(&lo) {
            acc = mul(&acc, &exp_neg_taylor(&lo));
        }
        acc
    }

    /// `ln x` for a fixed-point `x ≥ 1`.
    fn ln_fixed(x: &BigInt) -> BigInt {
        assert!(*x >= one(), "ln below 1");
        let k = x.bits() - 1 - u64::from(W); // ⌊log2 x⌋
        let y = x >> k; // [1, 2), floored
        let u = ((&y - one()) << W) / (&y + one());
        &tables().ln2 * k + atanh(&u) * 2u32
    }

    /// `Φ(r)` in the working precision.
    fn potential_fixed(b: u64, r: &[BigInt]) -> BigInt {
        let m = r.iter().max().expect("at least one world").clone();
        let b = BigInt::from(b);
        let mut s = BigInt::from(0);
        for rw in r {
            s += exp_neg_fixed(&(((&m - rw) << W) / &b));
        }
        (m << W) + b * ln_fixed(&s)
    }

    fn out(x: BigInt) -> BigInt {
        x >> (W - OUT)
    }

    /// `e^(−z_num / z_den) × 2^128` (floored), for `z ≥ 0`.
    pub fn exp_neg_scaled(z_num: &BigInt, z_den: &BigInt) -> BigInt {
        assert!(z_num.sign() != Sign::Minus && z_den.sign() == Sign::Plus);
        out(exp_neg_fixed(&((z_num << W) / z_den)))
    }

    /// `ln(x_num / x_den) × 2^128` (floored), for `x ≥ 1`.
    pub fn ln_scaled(x_num: &BigInt, x_den: &BigInt) -> BigInt {
        assert!(x_den.sign() == Sign::Plus && x_num >= x_den, "ln below 1");
        // k = ⌊log2 x⌋, y = x / 2^k ∈ [1, 2) in fixed point.
        let mut k = x_num.bits() - x_den.bits();
        if (x_den << k) > *x_num {
            k -= 1;
        }
        let y = (x_num << W) / (x_den << k);
        out(&tables().ln2 * k + ln_fixed(&y))
    }

    /// `(m + b·ln Σ_w e^((r_w − m)/b)) × 2^128` (floored): the exact real potential.
    pub fn potential_scaled(b: u64, r: &[u128]) -> BigInt {
        let r: Vec<BigInt> = r.iter().map(|&x| BigInt::from(x)).collect();
        out(potential_fixed(b, &r))
    }

    /// `(Φ(r + shares·1_basket) − Φ(r)) × 2^128` (floored), exact reals.
    pub fn basket_cost_scaled(b: u64, r: &[u128], basket: &[usize], shares: u128) -> BigInt {
        let before: Vec<BigInt> = r.iter().map(|&x| BigInt::from(x)).collect();
        let mut after = before.clone();
        for &w in basket {
            after[w] += shares;
        }
        out(potential_fixed(b, &after) - potential_fixed(b, &before))
    }
}
