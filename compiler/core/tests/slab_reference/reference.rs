//! A plain-Rust reference model of the SLAB template's order book and reservations, written
//! from `compiler/core/src/templates/slab/README.md` (authoritative) and
//! `shared/spec/percolator.md` (background) alone, without reading the template.
//!
//! The model keeps the abstract [`SlabState`] itself as its data: per instrument and side a
//! `Vec<Level>` sorted best first, each level's orders in FIFO order, accounts and holds in
//! `BTreeMap`s. Lookups are linear scans over the book — slower than the template's indexes
//! but obviously correct, and O(book size) per call is plenty for the differential tests.
//!
//! Every entrypoint runs on a clone of the model and commits the clone only on success, so an
//! aborted call leaves the model exactly unchanged, as the VM undoes an aborted call's writes.
//!
//! Choices where the README is silent or ambiguous (each also commented where it is made):
//! - `set_maker_class` checks `BAD_CLASS`, then finds or creates the account (`BAD_USER` for
//!   user 0, `ACCOUNTS_FULL`), then `DLP_FULL`; a new account set to REG is still created.
//! - `cancel` of a hold bumps `book_seqno` once per slice whose order is closing (its visible
//!   `qty` drops by the slice), whether or not that slice empties the order.
//! - `batch_open` compares `now ≥ batch_open_ms + batch_ms` without overflow (in `u128`);
//!   `expiry_ms = now + ttl` saturates at `u64::MAX`; `epoch` increments with wrapping.
//! - The ids 0 and `u64::MAX` are never valid order or hold ids.
//! - `commit` step 8 reads "equity ≥ MM" literally: an account with negative equity is below
//!   maintenance even with no positions (MM 0).
//! - `POSITION_LIMIT` is checked before `POSITIONS_FULL` for the same position; per slice the
//!   taker's position (limit, then slot) comes before the maker's. A position closed earlier in
//!   the same commit frees its slot at once.
//! - `total_fee` is the taker fee plus the ARG tax; maker fees and rebates move
//!   `fees_collected` but are not in it.
//! - `commit` with `margin = 1` reads no mark but the hold's instrument's (step 6): step 8 is
//!   skipped and step 12's `max(0, −cash)` needs none, so another position without a mark does
//!   not fail it. `MAX_CHARGE` and the host's checks apply to that debit as to the margin
//!   shortfall.
//! - Top-K freeze (`place_order` step 8): applies to DLP and REG orders alike (the README's
//!   abort table still says "a DLP order"; step 8 and "Anti-toxicity" are followed), and
//!   "levels on that side" counts every level of the order's own side (LIVE or PENDING
//!   orders). `batch_open`'s `freeze_until_ms = now + batch_ms` saturates at `u64::MAX`.
//! - `reserve` reads the hold's `mark_px` from `marks[instrument]`; a missing entry is 0.
//! - The rebate's age `now − created_ms ≥ rebate_delay_ms` is compared without wrapping
//!   (`now ≥ created_ms + rebate_delay_ms` in `u128`): a clock before the order's creation
//!   never earns the rebate (unreachable with a monotone clock).
//! - A maker's rebate at net rate `r < 0` is `⌊N_i × |r| / 10,000⌋` (the credit floors, like the
//!   fee). The commit's maker fees, rebates, taker fee and tax reach `fees_collected` as one net
//!   sum after step 11 (a rebate may precede the taker fee that funds it; nothing reads
//!   `fees_collected` in between); a net below 0 (only with `rebate_bps > taker_bps`, which the
//!   checker refuses) panics.
//! - Fee caps (step 5) compare `maker_bps` then `taker_bps` (both `FEE_CAP`); `rebate_bps` is
//!   not checked against a cap.
//! - The ARG (step 11, only with `arg_tax_bps > 0`): the qty added is the hold's filled qty,
//!   the notional `Σ t × p` over its slices. Entries are never removed: one per (taker,
//!   instrument) it ever committed in with the guard on, each holding an `aggressor_capacity`
//!   slot for the life of the slab; `AGGRESSOR_FULL` only when a new entry is needed and
//!   `aggressor_capacity` entries exist. A found entry of an earlier epoch is reset in place
//!   (epoch current, zeros); "earlier" is read as "not the current epoch" (the epoch only
//!   grows, wrapping aside). The entry is created, reset or updated even when no tax is due.
//!   The new overlap's prices (step 4) are this commit's `avg_px = ⌊px_sum / qty⌋` (the value
//!   commit returns) on the commit's side and `⌊notional / qty⌋` of the other side as the
//!   entry held it before this commit (after a reset: zeros, so no overlap is new); the
//!   commit's own earlier same-side fills in the batch do not enter the price.
//! - `band` treats every hold in the model as live, as commit's step 1 does (an expired hold or
//!   one whose epoch moved on still answers); a missing mark entry is 0.
//! - `reveal_commitment` hashes `side` as its low byte (a stored side is always 0 or 1).
//! - `exposure` checks `UNKNOWN_INSTRUMENT` first, then (for a known account) `NO_MARK` as
//!   `account` does (every position's instrument; the queried instrument's mark only when the
//!   account holds a position in it). An unknown user (or user 0) reads zeros without any mark.
//!   `im_pos` and `mm_pos` are each one floor of the position's exposure, then signed.
//! - Arithmetic overflow where the README defines no outcome panics (the tests stay far below).

use std::collections::{BTreeMap, BTreeSet};

use super::state::*;

/// Longest reservation TTL; a longer one is clamped to it (README `reserve` step 2).
pub const TTL_MAX_MS: u64 = 120_000;
/// Most orders a reserve walk looks at, taken or skipped.
pub const RESERVE_VISITS_MAX: usize = 128;
/// Most slices one hold has.
pub const SLICES_PER_HOLD_MAX: usize = 8;
/// Most levels of an order's side that may be strictly better than its price.
pub const LEVEL_DEPTH_MAX: usize = 1_024;
/// Most PENDING orders per instrument.
pub const PENDING_MAX: usize = 2_048;
/// Most DLP accounts at once.
pub const DLP_MAX: u64 = 100;

/// One instrument's static parameters, as its `INSTRUMENT` statement declares them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentParams {
    /// Price granularity: every price is a multiple of it.
    pub tick: u64,
    /// Quantity granularity: every quantity is a multiple of it.
    pub lot: u64,
    /// Largest admissible price.
    pub price_max: u64,
    /// Largest admissible quantity.
    pub qty_max: u64,
    /// Underlying units per contract.
    pub contract_size: u64,
    /// The key of the feed that marks the instrument (README `exposure`: nonzero, computed by
    /// the compiler from the oracle's name; the model takes it as given).
    pub oracle_key: u64,
}

/// The slab's static parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// The instruments, in declaration order.
    pub instruments: Vec<InstrumentParams>,
    /// The DLP class's quoted-notional allowance; `None` (no `MAKER_CLASS` DLP statement) is 0.
    pub dlp_allowance: Option<u128>,
    /// The REG class's quoted-notional allowance; `None` is 0.
    pub reg_allowance: Option<u128>,
    /// The batch window: the least time between two `batch_open`s of an instrument.
    pub batch_ms: u64,
    /// Account pool capacity.
    pub accounts_capacity: u32,
    /// Order pool capacity (all instruments together).
    pub orders_capacity: u32,
    /// Reservation (hold) pool capacity.
    pub reservations_capacity: u32,
    /// Slice pool capacity (all holds together).
    pub slices_capacity: u32,
    /// Taker fee in basis points, used for `max_charge` and the commit's taker fee.
    pub taker_bps: u64,
    /// Maker fee in basis points (per committed slice).
    pub maker_bps: u64,
    /// Initial margin rate in basis points of exposure.
    pub imr_bps: u64,
    /// Maintenance margin rate in basis points of exposure.
    pub mmr_bps: u64,
    /// Position pool capacity (all accounts and instruments together).
    pub positions_capacity: usize,
    /// Trade ring capacity.
    pub trades_capacity: usize,
    /// Maker rebate in basis points (FEE): a maker order that earns its rebate pays
    /// `maker_bps − rebate_bps` (signed) on a fill. At most `taker_bps` (the checker's rule).
    pub rebate_bps: u64,
    /// Least resting time (`now − created_ms`) for a maker order to earn its rebate.
    pub rebate_delay_ms: u64,
    /// Kill band in basis points around the hold's reserve-time mark; 0 = off.
    pub kill_band_bps: u64,
    /// JIT penalty: an order created at or after its instrument's `batch_open_ms` earns no
    /// rebate.
    pub jit_penalty: bool,
    /// Aggressor round-trip guard's rate in basis points; 0 = the guard is off.
    pub arg_tax_bps: u64,
    /// Top-K freeze depth `K`; 0 = off.
    pub freeze_levels: u64,
    /// The chain id a reveal message carries.
    pub chain_id: u64,
    /// Aggressor-ledger pool capacity (all users and instruments together).
    pub aggressor_capacity: usize,
}

/// The host's view of a capability passed to `commit` (percolator §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapView {
    /// The user whose escrow it debits.
    pub user: u64,
    /// The slab it is scoped to.
    pub slab: u64,
    /// The asset it is scoped to (the collateral is asset 0).
    pub asset: u64,
    /// What it may still debit.
    pub remaining: u128,
    /// Batch time after which it is expired.
    pub expiry_ms: u64,
    /// Burned (spent) already.
    pub burned: bool,
}

/// What a successful `commit` returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The hold's quantity.
    pub filled_qty: u64,
    /// ⌊Σ t × p / filled_qty⌋.
    pub avg_px: u64,
    /// The taker fee plus the ARG tax (maker fees and rebates are not in it).
    pub total_fee: u128,
    /// The margin shortfall debited through the cap.
    pub total_debit: u128,
}

/// A refusal of the host's `safe_debit`: a host trap, not an abort code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No cap with that id.
    UnknownCap,
    /// Burned, or `now > expiry_ms`.
    CapExpired,
    /// Scoped to another user, slab or asset.
    CapScope,
    /// The debit exceeds the cap's remaining amount.
    CapRemaining,
    /// The debit exceeds the escrow's balance.
    EscrowBalance,
}

impl Refusal {
    /// The host's refusal code.
    pub fn host_code(self) -> u32 {
        match self {
            Refusal::UnknownCap => 5,
            Refusal::CapExpired => 6,
            Refusal::CapScope => 7,
            Refusal::CapRemaining => 8,
            Refusal::EscrowBalance => 9,
        }
    }
}

/// The README's abort codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abort {
    /// Instrument index out of range.
    UnknownInstrument,
    /// Side not 0 or 1.
    BadSide,
    /// Price 0 or above `price_max`.
    PriceRange,
    /// Price not a multiple of `tick`.
    Tick,
    /// Quantity 0 or above `qty_max`.
    QtyRange,
    /// Quantity not a multiple of `lot`.
    Lot,
    /// User id 0.
    BadUser,
    /// No account slot.
    AccountsFull,
    /// The maker class's allowance would be exceeded.
    Allowance,
    /// A maker order would cross the opposite best.
    Crosses,
    /// `PENDING_MAX` pending orders on the instrument.
    PendingFull,
    /// No order slot.
    OrdersFull,
    /// Too many better levels on the order's side.
    LevelDepth,
    /// No resting order with that id.
    UnknownOrder,
    /// The order belongs to another user.
    NotOwner,
    /// `batch_open` before the batch window elapsed.
    BatchEarly,
    /// Maker class not 0 or 1.
    BadClass,
    /// `DLP_MAX` DLP accounts already.
    DlpFull,
    /// An id index is full (never produced by the model: the tests keep indexes half empty).
    IndexFull,
    /// A reservation TTL of 0.
    BadTtl,
    /// No reservation slot.
    ReservationsFull,
    /// No slice slot during the walk.
    SlicesFull,
    /// The walk found nothing to hold.
    NoLiquidity,
    /// Commit of a hold that is not live.
    UnknownHold,
    /// Commit after the hold's `expiry_ms`.
    Expired,
    /// Commit after the instrument's batch moved on.
    Epoch,
    /// An instrument's oracle has no mark yet.
    NoMark,
    /// The taker is below maintenance margin before the fill.
    BelowMaintenance,
    /// No position slot.
    PositionsFull,
    /// The margin shortfall exceeds the hold's `max_charge`.
    MaxCharge,
    /// A position would reach 2^63 underlying units.
    PositionLimit,
    /// A commit's `margin` flag other than 0 or 1.
    BadMargin,
    /// An order (either class) ahead of the top `freeze_levels` levels during the freeze window.
    Frozen,
    /// Commit after the mark left the kill band around the hold's reserve-time mark.
    KillBand,
    /// The salt and the hold's fields do not hash to its commitment.
    BadReveal,
    /// The slab's fees exceed the caps governance set.
    FeeCap,
    /// No aggressor-ledger slot for a taker's first guarded commit in an instrument.
    AggressorFull,
    /// An entrypoint of a later issue.
    NotBuilt,
    /// The host's `safe_debit` refused (a host trap, not an abort code).
    Refused(Refusal),
}

impl Abort {
    /// The numeric abort code the VM reports.
    /// `Refused` is a host trap, not an abort: 0.
    pub fn code(self) -> u64 {
        use Abort::*;
        match self {
            UnknownInstrument => 1,
            BadSide => 2,
            PriceRange => 3,
            Tick => 4,
            QtyRange => 5,
            Lot => 6,
            BadUser => 7,
            AccountsFull => 8,
            Allowance => 9,
            Crosses => 10,
            PendingFull => 11,
            OrdersFull => 12,
            LevelDepth => 13,
            UnknownOrder => 14,
            NotOwner => 15,
            BatchEarly => 16,
            BadClass => 17,
            DlpFull => 18,
            IndexFull => 19,
            BadTtl => 20,
            ReservationsFull => 21,
            SlicesFull => 22,
            NoLiquidity => 23,
            UnknownHold => 24,
            Expired => 25,
            Epoch => 26,
            NoMark => 27,
            BelowMaintenance => 28,
            PositionsFull => 29,
            MaxCharge => 30,
            PositionLimit => 31,
            BadMargin => 32,
            Frozen => 33,
            KillBand => 34,
            BadReveal => 35,
            FeeCap => 36,
            AggressorFull => 37,
            NotBuilt => 40,
            Refused(_) => 0,
        }
    }
}

/// What a successful `reserve` returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reserved {
    /// The new hold's id.
    pub hold_id: u64,
    /// Quantity held.
    pub filled_qty: u64,
    /// ⌊Σ take × price / filled⌋.
    pub vwap_px: u64,
    /// The last slice's price.
    pub worst_px: u64,
    /// Upper bound of what the commit can cost.
    pub max_charge: u128,
    /// `now + ttl` (TTL clamped).
    pub expiry_ms: u64,
    /// The current `book_seqno` (unchanged by the reserve).
    pub book_seqno: u64,
}

/// Where a resting order sits: instrument, side (0 bids, 1 asks), level index, index in level.
#[derive(Clone, Copy, Debug)]
struct Loc {
    instrument: usize,
    side: u64,
    level: usize,
    pos: usize,
}

/// The reference model: parameters plus the abstract state, which is its only data.
#[derive(Clone, Debug)]
pub struct Model {
    params: Params,
    st: SlabState,
}

impl Model {
    /// An empty slab: no accounts, orders or holds; both id counters at 1.
    pub fn new(params: Params) -> Model {
        let instruments = params
            .instruments
            .iter()
            .map(|_| InstrumentState::default())
            .collect();
        Model {
            params,
            st: SlabState {
                next_order_id: 1,
                book_seqno: 0,
                dlp_count: 0,
                accounts: BTreeMap::new(),
                instruments,
                next_hold_id: 1,
                holds: BTreeMap::new(),
                ..SlabState::default()
            },
        }
    }

    /// Runs `f` on a clone and keeps the clone only when `f` succeeds, so that an aborted
    /// call changes nothing.
    fn atomic<T>(&mut self, f: impl FnOnce(&mut Model) -> Result<T, Abort>) -> Result<T, Abort> {
        let mut next = self.clone();
        let out = f(&mut next)?;
        *self = next;
        Ok(out)
    }

    /// `place_order(user, instrument, side, price, qty) -> order_id` (README, checks 1–11).
    pub fn place_order(
        &mut self,
        now_ms: u64,
        user: u64,
        instrument: u64,
        side: u64,
        price: u64,
        qty: u64,
    ) -> Result<u64, Abort> {
        self.atomic(|m| m.place_order_inner(now_ms, user, instrument, side, price, qty))
    }

    fn place_order_inner(
        &mut self,
        now_ms: u64,
        user: u64,
        instrument: u64,
        side: u64,
        price: u64,
        qty: u64,
    ) -> Result<u64, Abort> {
        // 1.
        let ip = self.instrument_params(instrument)?.clone();
        let i = instrument as usize;
        // 2.
        if side > 1 {
            return Err(Abort::BadSide);
        }
        // 3.
        check_price(&ip, price)?;
        // 4.
        check_qty(&ip, qty)?;
        // 5.
        self.find_or_create_account(user)?;
        let acct = self.st.accounts[&user].clone();
        // 6. The allowance of the account's class at this moment.
        let notional = notional(qty, ip.contract_size, price);
        let allowance = if acct.dlp {
            self.params.dlp_allowance
        } else {
            self.params.reg_allowance
        }
        .unwrap_or(0);
        match acct.quoted.checked_add(notional) {
            Some(total) if total <= allowance => {}
            _ => return Err(Abort::Allowance),
        }
        // 7. Post-only against the opposite side's best level, LIVE or PENDING orders alike
        // (levels hold both).
        let inst = &self.st.instruments[i];
        let crosses = if side == 0 {
            inst.asks
                .first()
                .is_some_and(|best_ask| price >= best_ask.price)
        } else {
            inst.bids
                .first()
                .is_some_and(|best_bid| price <= best_bid.price)
        };
        if crosses {
            return Err(Abort::Crosses);
        }
        // 8. Top-K freeze, both classes: while the window is open, not strictly better than
        // the k-th best level of the order's own side, k = min(freeze_levels, levels), counting
        // every level (a level holds LIVE or PENDING orders alike). No levels: k = 0, no limit.
        if now_ms < inst.freeze_until_ms && self.params.freeze_levels > 0 {
            let levels = side_levels(inst, side);
            let k = (levels.len() as u64).min(self.params.freeze_levels) as usize;
            if k > 0 && is_better(side, price, levels[k - 1].price) {
                return Err(Abort::Frozen);
            }
        }
        // 9. REG only.
        if !acct.dlp && inst.pending.len() >= PENDING_MAX {
            return Err(Abort::PendingFull);
        }
        // 10.
        if self.resting_orders() >= self.params.orders_capacity as usize {
            return Err(Abort::OrdersFull);
        }
        // 11. The number of strictly better levels is the insertion index in a best-first list.
        let levels = side_levels(inst, side);
        let better = levels
            .iter()
            .take_while(|l| is_better(side, l.price, price))
            .count();
        if better > LEVEL_DEPTH_MAX {
            return Err(Abort::LevelDepth);
        }

        let order_id = self.st.next_order_id;
        self.st.next_order_id = self.st.next_order_id.wrapping_add(1);
        let order = OrderState {
            order_id,
            user,
            qty,
            reserved_qty: 0,
            qty_orig: qty,
            live: acct.dlp,
            closing: false,
            created_ms: now_ms,
        };
        let inst = &mut self.st.instruments[i];
        if !acct.dlp {
            inst.pending.push(order_id);
        }
        let levels = side_levels_mut(inst, side);
        match levels.get_mut(better) {
            Some(level) if level.price == price => level.orders.push(order),
            _ => levels.insert(
                better,
                Level {
                    price,
                    orders: vec![order],
                },
            ),
        }
        let a = self
            .st
            .accounts
            .get_mut(&user)
            .expect("account just found or created");
        a.quoted += notional;
        a.orders += 1;
        self.st.book_seqno = self.st.book_seqno.wrapping_add(1);
        Ok(order_id)
    }

    /// `cancel_order(user, order_id) -> cancelled_qty`: cancels the unreserved quantity and
    /// marks the order closing.
    pub fn cancel_order(&mut self, now_ms: u64, user: u64, order_id: u64) -> Result<u64, Abort> {
        let _ = now_ms; // The README's cancel_order does not use the clock.
        self.atomic(|m| m.cancel_order_inner(user, order_id))
    }

    fn cancel_order_inner(&mut self, user: u64, order_id: u64) -> Result<u64, Abort> {
        // 1. (0 and u64::MAX never name an order: find_order cannot match them since ids start
        // at 1 and never reach MAX in practice, but reject them explicitly all the same.)
        if order_id == 0 || order_id == u64::MAX {
            return Err(Abort::UnknownOrder);
        }
        let loc = self.find_order(order_id).ok_or(Abort::UnknownOrder)?;
        // 2.
        let (owner, price, qty, reserved) = {
            let o = self.order(loc);
            (o.user, self.level_price(loc), o.qty, o.reserved_qty)
        };
        if owner != user {
            return Err(Abort::NotOwner);
        }
        let cancelled = qty - reserved;
        {
            let o = self.order_mut(loc);
            o.qty = reserved;
            o.closing = true;
        }
        let cs = self.params.instruments[loc.instrument].contract_size;
        let a = self
            .st
            .accounts
            .get_mut(&owner)
            .expect("an order's owner has an account");
        a.quoted -= notional(cancelled, cs, price);
        if reserved == 0 {
            self.remove_order(loc);
        }
        if cancelled > 0 {
            self.st.book_seqno = self.st.book_seqno.wrapping_add(1);
        }
        Ok(cancelled)
    }

    /// `batch_open(instrument) -> (epoch, promoted)`: opens a batch and promotes every PENDING
    /// order of the instrument.
    pub fn batch_open(&mut self, now_ms: u64, instrument: u64) -> Result<(u64, u64), Abort> {
        self.atomic(|m| m.batch_open_inner(now_ms, instrument))
    }

    fn batch_open_inner(&mut self, now_ms: u64, instrument: u64) -> Result<(u64, u64), Abort> {
        // 1.
        self.instrument_params(instrument)?;
        let i = instrument as usize;
        // 2. Compared in u128 so that a huge batch_open_ms + batch_ms cannot wrap (README
        // silent on overflow; the mathematical comparison is the contract's meaning).
        let inst = &self.st.instruments[i];
        if (now_ms as u128) < inst.batch_open_ms as u128 + self.params.batch_ms as u128 {
            return Err(Abort::BatchEarly);
        }
        let inst = &mut self.st.instruments[i];
        inst.epoch = inst.epoch.wrapping_add(1);
        inst.batch_open_ms = now_ms;
        // The freeze window (M8). README silent on overflow: saturate, as `expiry_ms` does.
        inst.freeze_until_ms = now_ms.saturating_add(self.params.batch_ms);
        // A set only to keep the promotion O(book × log pending).
        let pending: BTreeSet<u64> = std::mem::take(&mut inst.pending).into_iter().collect();
        // Promotion only flips the LIVE flag: orders keep their id and place in their level.
        for level in inst.bids.iter_mut().chain(inst.asks.iter_mut()) {
            for o in level.orders.iter_mut() {
                if pending.contains(&o.order_id) {
                    debug_assert!(!o.live);
                    o.live = true;
                }
            }
        }
        let epoch = inst.epoch;
        let promoted = pending.len() as u64;
        if promoted > 0 {
            self.st.book_seqno = self.st.book_seqno.wrapping_add(1);
        }
        Ok((epoch, promoted))
    }

    /// `set_maker_class(user, class)`: 0 = REG, 1 = DLP.
    pub fn set_maker_class(&mut self, user: u64, class: u64) -> Result<(), Abort> {
        self.atomic(|m| m.set_maker_class_inner(user, class))
    }

    fn set_maker_class_inner(&mut self, user: u64, class: u64) -> Result<(), Abort> {
        if class > 1 {
            return Err(Abort::BadClass);
        }
        // README silent on the order of the remaining checks: the account must exist to know
        // its class, so find-or-create (BAD_USER, ACCOUNTS_FULL) comes before DLP_FULL. A new
        // account is created even when set to REG, the class it already has.
        self.find_or_create_account(user)?;
        let dlp = class == 1;
        let was = self.st.accounts[&user].dlp;
        if was == dlp {
            return Ok(());
        }
        if dlp {
            if self.st.dlp_count >= DLP_MAX {
                return Err(Abort::DlpFull);
            }
            self.st.dlp_count += 1;
        } else {
            self.st.dlp_count -= 1;
        }
        self.st.accounts.get_mut(&user).expect("just created").dlp = dlp;
        Ok(())
    }

    /// `reserve(...)`: holds quantity of LIVE resting orders for a taker (README checks 1–9).
    /// `marks[i]` is instrument `i`'s mark now (0 or missing: unpublished); the hold records its
    /// instrument's as `mark_px` and never aborts for a missing one.
    #[allow(clippy::too_many_arguments)]
    pub fn reserve(
        &mut self,
        now_ms: u64,
        route_id: u64,
        user: u64,
        instrument: u64,
        side: u64,
        qty: u64,
        limit_px: u64,
        ttl_ms: u64,
        commitment: [u64; 4],
        marks: &[u64],
    ) -> Result<Reserved, Abort> {
        self.atomic(|m| {
            m.reserve_inner(
                now_ms, route_id, user, instrument, side, qty, limit_px, ttl_ms, commitment, marks,
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn reserve_inner(
        &mut self,
        now_ms: u64,
        route_id: u64,
        user: u64,
        instrument: u64,
        side: u64,
        qty: u64,
        limit_px: u64,
        ttl_ms: u64,
        commitment: [u64; 4],
        marks: &[u64],
    ) -> Result<Reserved, Abort> {
        // 1.
        let ip = self.instrument_params(instrument)?.clone();
        let i = instrument as usize;
        if side > 1 {
            return Err(Abort::BadSide);
        }
        // 2.
        if ttl_ms == 0 {
            return Err(Abort::BadTtl);
        }
        let ttl = ttl_ms.min(TTL_MAX_MS);
        // 3. (quantity before price here, unlike place_order.)
        check_qty(&ip, qty)?;
        // 4.
        check_price(&ip, limit_px)?;
        // 5.
        self.find_or_create_account(user)?;
        // 6.
        if self.st.holds.len() >= self.params.reservations_capacity as usize {
            return Err(Abort::ReservationsFull);
        }
        // 7. The walk over the opposite side: a taker buying (0) walks the asks (1).
        let slices_in_use: usize = self.st.holds.values().map(|h| h.slices.len()).sum();
        let slices_capacity = self.params.slices_capacity as usize;
        let contra = 1 - side;
        let mut qty_left = qty;
        let mut visits = 0usize;
        let mut slices: Vec<SliceState> = Vec::new();
        let inst = &mut self.st.instruments[i];
        let levels = side_levels_mut(inst, contra);
        'walk: for level in levels.iter_mut() {
            let crosses = if side == 0 {
                level.price <= limit_px
            } else {
                level.price >= limit_px
            };
            if !crosses {
                break;
            }
            for o in level.orders.iter_mut() {
                if qty_left == 0
                    || visits >= RESERVE_VISITS_MAX
                    || slices.len() >= SLICES_PER_HOLD_MAX
                {
                    break 'walk;
                }
                visits += 1;
                // A closing order's remaining quantity is all reserved, so `available` is 0
                // for it anyway; the explicit test documents the rule.
                let available = o.qty - o.reserved_qty;
                if !o.live || available == 0 || o.closing || o.user == user {
                    continue;
                }
                if slices_in_use + slices.len() >= slices_capacity {
                    return Err(Abort::SlicesFull);
                }
                let take = qty_left.min(available);
                o.reserved_qty += take;
                qty_left -= take;
                slices.push(SliceState {
                    order_id: o.order_id,
                    price: level.price,
                    qty: take,
                });
            }
        }
        // 8.
        let filled = qty - qty_left;
        if filled == 0 {
            return Err(Abort::NoLiquidity);
        }
        // 9. INDEX_FULL cannot happen in the model.

        let hold_id = self.st.next_hold_id;
        self.st.next_hold_id = self.st.next_hold_id.wrapping_add(1);
        let sum: u128 = slices.iter().map(|s| s.qty as u128 * s.price as u128).sum();
        let vwap_px = (sum / filled as u128) as u64;
        let worst_px = slices.last().expect("filled ≥ 1").price;
        let n = filled as u128 * ip.contract_size as u128 * worst_px as u128;
        let max_charge = n + n * self.params.taker_bps as u128 / 10_000;
        // README silent on overflow of now + ttl: saturate (tests keep the clock small).
        let expiry_ms = now_ms.saturating_add(ttl);
        let book_seqno = self.st.book_seqno;
        let epoch = self.st.instruments[i].epoch;
        // The mark now, 0 while unpublished (reserve needs none).
        let mark_px = marks.get(i).copied().unwrap_or(0);
        self.st.holds.insert(
            hold_id,
            HoldState {
                route_id,
                user,
                instrument,
                side,
                qty: filled,
                qty_asked: qty,
                limit_px,
                mark_px,
                vwap_px,
                worst_px,
                max_charge,
                commitment,
                book_seqno,
                expiry_ms,
                epoch,
                slices,
            },
        );
        Ok(Reserved {
            hold_id,
            filled_qty: filled,
            vwap_px,
            worst_px,
            max_charge,
            expiry_ms,
            book_seqno,
        })
    }

    /// `cancel(hold_id) -> released_qty`: idempotent; an id naming no live hold returns 0.
    pub fn cancel(&mut self, now_ms: u64, hold_id: u64) -> Result<u64, Abort> {
        let _ = now_ms; // Expiry does not matter to cancel: an expired hold is still released.
        self.atomic(|m| m.cancel_inner(hold_id))
    }

    fn cancel_inner(&mut self, hold_id: u64) -> Result<u64, Abort> {
        if hold_id == 0 || hold_id == u64::MAX {
            return Ok(0);
        }
        let hold = match self.st.holds.remove(&hold_id) {
            Some(h) => h,
            None => return Ok(0),
        };
        let cs = self.params.instruments[hold.instrument as usize].contract_size;
        let mut released = 0u64;
        for s in &hold.slices {
            released += s.qty;
            // A slice's order always still rests: its reserved quantity keeps qty ≥ take > 0.
            let loc = self
                .find_order(s.order_id)
                .expect("a live slice's order rests on the book");
            let price = self.level_price(loc);
            let (owner, closing, qty_now) = {
                let o = self.order_mut(loc);
                o.reserved_qty -= s.qty;
                if o.closing {
                    o.qty -= s.qty;
                }
                (o.user, o.closing, o.qty)
            };
            if closing {
                let a = self
                    .st
                    .accounts
                    .get_mut(&owner)
                    .expect("owner has an account");
                a.quoted -= notional(s.qty, cs, price);
                // Reading of "(and book_seqno increments)": the visible qty of a closing order
                // changed, which is a book change like a cancel_order with cancelled > 0, so
                // it counts once per such slice, whether or not the order is removed.
                self.st.book_seqno = self.st.book_seqno.wrapping_add(1);
                if qty_now == 0 {
                    self.remove_order(loc);
                }
            }
        }
        Ok(released)
    }

    /// `commit(hold_id, cap, salt, margin) -> (filled_qty, avg_px, total_fee, total_debit)`
    /// (README `commit`, checks and effects 1–13). `cap` is the host's view of the cap id passed
    /// (`None`: no such cap), `slab_id` this slab's id as the host scopes caps, `escrow` the
    /// taker's escrow balance, `marks[i]` instrument `i`'s mark (0 or missing: none), `salt` the
    /// reveal's four words (read only when the hold's commitment is nonzero), `margin` 0 (the
    /// slab margins the taker) or 1 (router-margined: no margin-before check, the debit is
    /// `max(0, −cash)`); anything else is `BAD_MARGIN` before any other check.
    #[allow(clippy::too_many_arguments)]
    pub fn commit(
        &mut self,
        now_ms: u64,
        hold_id: u64,
        cap: Option<CapView>,
        slab_id: u64,
        escrow: u128,
        marks: &[u64],
        salt: [u64; 4],
        margin: u64,
    ) -> Result<Committed, Abort> {
        self.atomic(|m| m.commit_inner(now_ms, hold_id, cap, slab_id, escrow, marks, salt, margin))
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_inner(
        &mut self,
        now_ms: u64,
        hold_id: u64,
        cap: Option<CapView>,
        slab_id: u64,
        escrow: u128,
        marks: &[u64],
        salt: [u64; 4],
        margin: u64,
    ) -> Result<Committed, Abort> {
        // The margin flag, before anything else.
        if margin > 1 {
            return Err(Abort::BadMargin);
        }
        let router_margined = margin == 1;
        // 1.
        let hold = self
            .st
            .holds
            .get(&hold_id)
            .cloned()
            .ok_or(Abort::UnknownHold)?;
        // 2.
        if now_ms > hold.expiry_ms {
            return Err(Abort::Expired);
        }
        // 3.
        let i = hold.instrument as usize;
        if self.st.instruments[i].epoch != hold.epoch {
            return Err(Abort::Epoch);
        }
        // 4. Reveal: only for a nonzero commitment; the message is built from the hold's
        // requested qty and limit, not what it filled.
        if hold.commitment != [0; 4] {
            let expected = reveal_commitment(
                self.params.chain_id,
                hold.route_id,
                hold.instrument,
                hold.side,
                hold.qty_asked,
                hold.limit_px,
                salt,
            );
            if expected != hold.commitment {
                return Err(Abort::BadReveal);
            }
        }
        // 5. Fee caps, once governance set them (maker first; both are FEE_CAP).
        if let Some((maker_cap, taker_cap)) = self.st.fee_caps
            && (self.params.maker_bps > maker_cap || self.params.taker_bps > taker_cap)
        {
            return Err(Abort::FeeCap);
        }
        // 6.
        let m_now = mark_of(marks, hold.instrument)?;
        // 7. Kill band against the reserve-time mark, in integers (m₀ = 0 always fails).
        if self.params.kill_band_bps > 0
            && !within_band(self.params.kill_band_bps, hold.mark_px, m_now)
        {
            return Err(Abort::KillBand);
        }
        // 8. Margin before, literally `equity ≥ MM` (so negative equity fails even with MM 0);
        // skipped for a router-margined account.
        let taker = hold.user;
        if !router_margined {
            let (equity, _im, mm) = self.margin(taker, marks)?;
            if equity < u_to_i(mm) {
                return Err(Abort::BelowMaintenance);
            }
        }
        // 9. Fills.
        let cs = self.params.instruments[i].contract_size;
        let batch_open_ms = self.st.instruments[i].batch_open_ms;
        let mut n_total: u128 = 0;
        let mut px_sum: u128 = 0;
        // What the fees, rebates and tax move into (or out of) `fees_collected`, applied once
        // after step 11: a rebate may be paid before the taker fee that funds it comes in, and
        // nothing reads `fees_collected` in between.
        let mut fees_delta: i128 = 0;
        for s in &hold.slices {
            let loc = self.find_order(s.order_id).ok_or(Abort::UnknownOrder)?;
            let (maker, created_ms) = {
                let o = self.order(loc);
                (o.user, o.created_ms)
            };
            let t = s.qty as i128;
            let d = if hold.side == 0 { t } else { -t };
            self.apply_fill(taker, hold.instrument, d, s.price)?;
            self.apply_fill(maker, hold.instrument, -d, s.price)?;
            let notional = notional(s.qty, cs, s.price);
            // The maker's signed net rate: JIT orders never earn the rebate; others earn it
            // once they rested `rebate_delay_ms` (the age compared without wrapping).
            let jit = self.params.jit_penalty && created_ms >= batch_open_ms;
            let rested = now_ms as u128 >= created_ms as u128 + self.params.rebate_delay_ms as u128;
            let earns = !jit && rested;
            let rate = self.params.maker_bps as i128
                - if earns {
                    self.params.rebate_bps as i128
                } else {
                    0
                };
            let amount = u_to_i(ck(notional.checked_mul(rate.unsigned_abs())) / 10_000);
            // r ≥ 0: the maker pays `amount`; r < 0: it is paid `amount`.
            let maker_fee = if rate >= 0 { amount } else { -amount };
            {
                let a = self
                    .st
                    .accounts
                    .get_mut(&maker)
                    .expect("maker has an account");
                a.cash = ck(a.cash.checked_sub(maker_fee));
                a.quoted -= notional;
            }
            fees_delta = ck(fees_delta.checked_add(maker_fee));
            let qty_now = {
                let o = self.order_mut(loc);
                o.qty -= s.qty;
                o.reserved_qty -= s.qty;
                o.qty
            };
            if qty_now == 0 {
                self.remove_order(loc);
            }
            self.print(TradeState {
                ms: now_ms,
                maker_order: s.order_id,
                route_id: hold.route_id,
                instrument: hold.instrument,
                side: hold.side,
                price: s.price,
                qty: s.qty,
            });
            n_total = ck(n_total.checked_add(notional));
            px_sum = ck(px_sum.checked_add(s.qty as u128 * s.price as u128));
        }
        // 10. Taker fee, once over the whole notional.
        let taker_fee = ck(n_total.checked_mul(self.params.taker_bps as u128)) / 10_000;
        self.debit_cash(taker, taker_fee);
        fees_delta = ck(fees_delta.checked_add(u_to_i(taker_fee)));
        // 11. Aggressor round-trip guard.
        let tax = if self.params.arg_tax_bps > 0 {
            self.arg(taker, hold.instrument, hold.side, hold.qty, px_sum)?
        } else {
            0
        };
        self.debit_cash(taker, tax);
        fees_delta = ck(fees_delta.checked_add(u_to_i(tax)));
        let total_fee = ck(taker_fee.checked_add(tax));
        // Rebates are funded by the same commit's taker fee when rebate_bps ≤ taker_bps (the
        // checker's rule); a params set breaking it has no README outcome: panic.
        let fees = ck(u_to_i(self.st.fees_collected).checked_add(fees_delta));
        self.st.fees_collected =
            u128::try_from(fees).expect("reference model: rebates above fees_collected");
        // 12. The debit: the shortfall to initial margin, or for a router-margined account only
        // what the fill realised (the negative part of its cash; no mark is read).
        let total_debit: u128 = if router_margined {
            let cash = self.st.accounts[&taker].cash;
            if cash < 0 { cash.unsigned_abs() } else { 0 }
        } else {
            let (equity, im, _mm) = self.margin(taker, marks)?;
            let im_i = u_to_i(im);
            if im_i > equity {
                ck(im_i.checked_sub(equity)) as u128
            } else {
                0
            }
        };
        if total_debit > hold.max_charge {
            return Err(Abort::MaxCharge);
        }
        // The host's safe_debit, in its order; it runs even for a debit of 0.
        let cap = cap.ok_or(Abort::Refused(Refusal::UnknownCap))?;
        if cap.burned || now_ms > cap.expiry_ms {
            return Err(Abort::Refused(Refusal::CapExpired));
        }
        if cap.user != taker || cap.slab != slab_id || cap.asset != 0 {
            return Err(Abort::Refused(Refusal::CapScope));
        }
        if total_debit > cap.remaining {
            return Err(Abort::Refused(Refusal::CapRemaining));
        }
        if total_debit > escrow {
            return Err(Abort::Refused(Refusal::EscrowBalance));
        }
        self.st.collected = ck(self.st.collected.checked_add(total_debit));
        {
            let a = self
                .st
                .accounts
                .get_mut(&taker)
                .expect("taker has an account");
            a.cash = ck(a.cash.checked_add(u_to_i(total_debit)));
        }
        // 13.
        self.st.holds.remove(&hold_id);
        self.st.book_seqno = self.st.book_seqno.wrapping_add(1);
        let avg_px = (px_sum / hold.qty as u128) as u64;
        Ok(Committed {
            filled_qty: hold.qty,
            avg_px,
            total_fee,
            total_debit,
        })
    }

    /// Commit step 11, the aggressor round-trip guard (README "Anti-toxicity", ARG 1–4): finds
    /// or creates the taker's entry for `instrument` (`AGGRESSOR_FULL`), resets it when it
    /// counts an earlier epoch, adds this commit's `qty` and `Σ t × p` (`px_sum`) to the
    /// taker's side and returns the tax of the newly created overlap when the round trip is
    /// profitable (else 0): the overlap is priced at this commit's `avg_px` on its side and
    /// the other side's batch average before this commit. The caller moves the tax from the taker's cash into
    /// `fees_collected`.
    fn arg(
        &mut self,
        taker: u64,
        instrument: u64,
        side: u64,
        qty: u64,
        px_sum: u128,
    ) -> Result<u128, Abort> {
        // 1. Found, or created with the current epoch and zeros (AGGRESSOR_FULL when the
        // pool has no slot: every entry ever created holds one, entries are never removed).
        let epoch = self.st.instruments[instrument as usize].epoch;
        let key = (taker, instrument);
        if !self.st.aggressor.contains_key(&key)
            && self.st.aggressor.len() >= self.params.aggressor_capacity
        {
            return Err(Abort::AggressorFull);
        }
        let e = self
            .st
            .aggressor
            .entry(key)
            .or_insert_with(|| AggressorState {
                epoch,
                ..AggressorState::default()
            });
        // 2. An entry of an earlier epoch is reset to the current epoch and zeros (in place:
        // it keeps its slot).
        if e.epoch != epoch {
            *e = AggressorState {
                epoch,
                ..AggressorState::default()
            };
        }
        // 3. The other side's (qty, notional) is read before the commit's side is added (the
        // commit never changes it, so before and after agree).
        let before = e.buy_qty.min(e.sell_qty);
        let (other_qty, other_notional) = if side == 0 {
            (e.sell_qty, e.sell_notional)
        } else {
            (e.buy_qty, e.buy_notional)
        };
        if side == 0 {
            e.buy_qty = ck(e.buy_qty.checked_add(qty));
            e.buy_notional = ck(e.buy_notional.checked_add(px_sum));
        } else {
            e.sell_qty = ck(e.sell_qty.checked_add(qty));
            e.sell_notional = ck(e.sell_notional.checked_add(px_sum));
        }
        let after = e.buy_qty.min(e.sell_qty);
        let new = after - before;
        if new == 0 {
            return Ok(0);
        }
        // 4. The new overlap pairs this commit's fills, at its own avg_px = ⌊Σ t × p / filled⌋,
        // with the other side's earlier fills in the batch, at their batch average
        // ⌊notional / qty⌋ from the entry before this commit (new > 0 implies other_qty > 0).
        let commit_px = px_sum / qty as u128;
        let other_px = other_notional / other_qty as u128;
        let (buy_px, sell_px) = if side == 0 {
            (commit_px, other_px)
        } else {
            (other_px, commit_px)
        };
        if sell_px <= buy_px {
            return Ok(0);
        }
        let cs = self.params.instruments[instrument as usize].contract_size as u128;
        let units = new as u128 * cs;
        let gain = ck(units.checked_mul(sell_px - buy_px));
        let rate = ck(ck(units.checked_mul(sell_px)).checked_mul(self.params.arg_tax_bps as u128))
            / 10_000;
        Ok(ck(gain.checked_add(rate)))
    }

    /// `band(hold_id) -> (mark_px, mark, within)` at `marks` (README `band`): for a live hold
    /// (else `UNKNOWN_HOLD`) the mark it was reserved at, its instrument's mark now (0 while
    /// unpublished, no abort) and whether commit's kill band (step 7) passes at that mark.
    pub fn band(&self, hold_id: u64, marks: &[u64]) -> Result<(u64, u64, u64), Abort> {
        let hold = self.st.holds.get(&hold_id).ok_or(Abort::UnknownHold)?;
        let mark = marks.get(hold.instrument as usize).copied().unwrap_or(0);
        let within = self.params.kill_band_bps == 0
            || (mark != 0 && within_band(self.params.kill_band_bps, hold.mark_px, mark));
        Ok((hold.mark_px, mark, within as u64))
    }

    /// `set_fee_caps(maker_bps_max, taker_bps_max)`: governance's caps, replacing any earlier
    /// ones; `commit` checks the slab's fees against them. Never fails.
    pub fn set_fee_caps(&mut self, maker_bps_max: u64, taker_bps_max: u64) -> Result<(), Abort> {
        self.atomic(|m| {
            m.st.fee_caps = Some((maker_bps_max, taker_bps_max));
            Ok(())
        })
    }

    /// `account(user) -> (cash, im, mm)` at `marks`: zeros for an unknown user (or user 0, which
    /// never has an account); `NO_MARK` when a position's instrument has no mark.
    pub fn account(&self, user: u64, marks: &[u64]) -> Result<(i128, u128, u128), Abort> {
        let Some(a) = self.st.accounts.get(&user) else {
            return Ok((0, 0, 0));
        };
        let (_equity, im, mm) = self.margin(user, marks)?;
        Ok((a.cash, im, mm))
    }

    /// `exposure(user, instrument) -> (equity, im, mm, im_pos, mm_pos, oracle_key, open)` at
    /// `marks` (README `exposure`): the account's equity, IM and MM as `account` computes them,
    /// and the position's own `⌊|q| × contract_size × mark × imr_bps / 10,000⌋` (and `mmr_bps`),
    /// negative for a short, the instrument's `oracle_key` and `open` = 1 when the position
    /// exists. `UNKNOWN_INSTRUMENT` past the instrument count; zeros for a missing account or
    /// position (the `oracle_key` is still the instrument's); `NO_MARK` as for `account`.
    #[allow(clippy::type_complexity)]
    pub fn exposure(
        &self,
        user: u64,
        instrument: u64,
        marks: &[u64],
    ) -> Result<(i128, u128, u128, i128, i128, u64, u64), Abort> {
        let ip = self.instrument_params(instrument)?;
        let key = ip.oracle_key;
        let cs = ip.contract_size;
        let Some(a) = self.st.accounts.get(&user) else {
            return Ok((0, 0, 0, 0, 0, key, 0));
        };
        let (equity, im, mm) = self.margin(user, marks)?;
        let Some(pos) = a.positions.get(&instrument) else {
            return Ok((equity, im, mm, 0, 0, key, 0));
        };
        let m = mark_of(marks, instrument)?;
        let x = ck((pos.qty.unsigned_abs() as u128 * cs as u128).checked_mul(m as u128));
        let im_pos = u_to_i(ck(x.checked_mul(self.params.imr_bps as u128)) / 10_000);
        let mm_pos = u_to_i(ck(x.checked_mul(self.params.mmr_bps as u128)) / 10_000);
        let sign = if pos.qty < 0 { -1 } else { 1 };
        Ok((equity, im, mm, sign * im_pos, sign * mm_pos, key, 1))
    }

    /// The abstract state, for comparison with the template's decoded segment.
    pub fn state(&self) -> SlabState {
        self.st.clone()
    }

    // ---- helpers ----

    /// An account's (equity, IM, MM) at `marks` (README "Positions"): equity = cash + Σ
    /// q × (m − e) × contract_size, X = Σ |q| × contract_size × m, one floor per account.
    /// An unknown account has no cash and no positions.
    fn margin(&self, user: u64, marks: &[u64]) -> Result<(i128, u128, u128), Abort> {
        let Some(a) = self.st.accounts.get(&user) else {
            return Ok((0, 0, 0));
        };
        let mut equity = a.cash;
        let mut x: u128 = 0;
        for (&inst, pos) in &a.positions {
            let m = mark_of(marks, inst)?;
            let cs = self.params.instruments[inst as usize].contract_size as i128;
            let q = pos.qty as i128;
            let upnl = ck(ck(q.checked_mul(m as i128 - pos.entry_px as i128)).checked_mul(cs));
            equity = ck(equity.checked_add(upnl));
            let exp = ck((q.unsigned_abs() * cs as u128).checked_mul(m as u128));
            x = ck(x.checked_add(exp));
        }
        let im = ck(x.checked_mul(self.params.imr_bps as u128)) / 10_000;
        let mm = ck(x.checked_mul(self.params.mmr_bps as u128)) / 10_000;
        Ok((equity, im, mm))
    }

    /// Positions on the slab, all accounts together: the position pool's use.
    fn positions_count(&self) -> usize {
        self.st.accounts.values().map(|a| a.positions.len()).sum()
    }

    /// Applies a fill of signed `d` at `p` to `user`'s position in `instrument` (README
    /// "Positions": open, increase, reduce, close, flip). `POSITION_LIMIT` is checked first,
    /// then `POSITIONS_FULL` for an open.
    fn apply_fill(&mut self, user: u64, instrument: u64, d: i128, p: u64) -> Result<(), Abort> {
        let cs = self.params.instruments[instrument as usize].contract_size;
        let old = self.st.accounts[&user].positions.get(&instrument).cloned();
        let q = old.as_ref().map_or(0i128, |o| o.qty as i128);
        let e = old.as_ref().map_or(0u64, |o| o.entry_px);
        let q_new = q + d;
        let limit = 1u128 << 63;
        match q_new.unsigned_abs().checked_mul(cs as u128) {
            Some(units) if units < limit && i64::try_from(q_new).is_ok() => {}
            _ => return Err(Abort::PositionLimit),
        }
        if q == 0 {
            // Open.
            if self.positions_count() >= self.params.positions_capacity {
                return Err(Abort::PositionsFull);
            }
            self.set_position(user, instrument, q_new, p);
            return Ok(());
        }
        if (d > 0) == (q > 0) {
            // Increase: the entry rounds against the holder, the remainder to insurance.
            let x = q.unsigned_abs() * e as u128 + d.unsigned_abs() * p as u128;
            let n = q_new.unsigned_abs();
            let e_new = if q > 0 { x.div_ceil(n) } else { x / n };
            let diff = (e_new * n).abs_diff(x);
            self.st.insurance = ck(self
                .st
                .insurance
                .checked_add(ck(diff.checked_mul(cs as u128))));
            let e_new = u64::try_from(e_new).expect("entry between two u64 prices");
            self.set_position(user, instrument, q_new, e_new);
            return Ok(());
        }
        // Reduce, close or flip: realise on min(|d|, |q|).
        let r = d.unsigned_abs().min(q.unsigned_abs()) as i128;
        let per = if q > 0 {
            p as i128 - e as i128
        } else {
            e as i128 - p as i128
        };
        let realised = ck(ck(r.checked_mul(per)).checked_mul(cs as i128));
        {
            let a = self.st.accounts.get_mut(&user).expect("account exists");
            a.cash = ck(a.cash.checked_add(realised));
        }
        if q_new == 0 {
            self.st
                .accounts
                .get_mut(&user)
                .expect("account exists")
                .positions
                .remove(&instrument);
        } else if (q_new > 0) == (q > 0) {
            self.set_position(user, instrument, q_new, e);
        } else {
            self.set_position(user, instrument, q_new, p);
        }
        Ok(())
    }

    /// Moves `amount` out of `user`'s cash (the caller credits `fees_collected`).
    fn debit_cash(&mut self, user: u64, amount: u128) {
        let a = self.st.accounts.get_mut(&user).expect("account exists");
        a.cash = ck(a.cash.checked_sub(u_to_i(amount)));
    }

    fn set_position(&mut self, user: u64, instrument: u64, qty: i128, entry_px: u64) {
        let qty = i64::try_from(qty).expect("checked by POSITION_LIMIT");
        self.st
            .accounts
            .get_mut(&user)
            .expect("account exists")
            .positions
            .insert(instrument, PositionState { qty, entry_px });
    }

    /// Writes a trade print into the ring (slot `trades_written mod capacity`): the model keeps
    /// the last `capacity` prints, oldest first.
    fn print(&mut self, t: TradeState) {
        self.st.trades_written = self.st.trades_written.wrapping_add(1);
        let cap = self.params.trades_capacity;
        if cap == 0 {
            return;
        }
        self.st.trades.push(t);
        if self.st.trades.len() > cap {
            self.st.trades.remove(0);
        }
    }

    fn instrument_params(&self, instrument: u64) -> Result<&InstrumentParams, Abort> {
        usize::try_from(instrument)
            .ok()
            .and_then(|i| self.params.instruments.get(i))
            .ok_or(Abort::UnknownInstrument)
    }

    /// README "found or created": `BAD_USER` for 0, `ACCOUNTS_FULL` when a new one has no slot
    /// (accounts are never freed, so the pool's use is the number of accounts).
    fn find_or_create_account(&mut self, user: u64) -> Result<(), Abort> {
        if user == 0 {
            return Err(Abort::BadUser);
        }
        if self.st.accounts.contains_key(&user) {
            return Ok(());
        }
        if self.st.accounts.len() >= self.params.accounts_capacity as usize {
            return Err(Abort::AccountsFull);
        }
        self.st.accounts.insert(user, AccountState::default());
        Ok(())
    }

    /// Orders resting on all instruments: the order pool's use.
    fn resting_orders(&self) -> usize {
        self.st
            .instruments
            .iter()
            .flat_map(|i| i.bids.iter().chain(i.asks.iter()))
            .map(|l| l.orders.len())
            .sum()
    }

    fn find_order(&self, order_id: u64) -> Option<Loc> {
        for (ii, inst) in self.st.instruments.iter().enumerate() {
            for side in 0..2u64 {
                for (li, level) in side_levels(inst, side).iter().enumerate() {
                    if let Some(pos) = level.orders.iter().position(|o| o.order_id == order_id) {
                        return Some(Loc {
                            instrument: ii,
                            side,
                            level: li,
                            pos,
                        });
                    }
                }
            }
        }
        None
    }

    fn order(&self, loc: Loc) -> &OrderState {
        &side_levels(&self.st.instruments[loc.instrument], loc.side)[loc.level].orders[loc.pos]
    }

    fn order_mut(&mut self, loc: Loc) -> &mut OrderState {
        &mut side_levels_mut(&mut self.st.instruments[loc.instrument], loc.side)[loc.level].orders
            [loc.pos]
    }

    fn level_price(&self, loc: Loc) -> u64 {
        side_levels(&self.st.instruments[loc.instrument], loc.side)[loc.level].price
    }

    /// Unlinks an order (from its level, the pending queue if PENDING, and its level if that
    /// empties) and drops its owner's order count. Its quoted notional must already be gone.
    fn remove_order(&mut self, loc: Loc) {
        let inst = &mut self.st.instruments[loc.instrument];
        let levels = side_levels_mut(inst, loc.side);
        let o = levels[loc.level].orders.remove(loc.pos);
        if levels[loc.level].orders.is_empty() {
            levels.remove(loc.level);
        }
        if !o.live {
            inst.pending.retain(|&id| id != o.order_id);
        }
        let a = self
            .st
            .accounts
            .get_mut(&o.user)
            .expect("owner has an account");
        a.orders -= 1;
    }
}

/// The kill band's test (README commit step 7, `band`): `|m − m₀| × 10,000 ≤ band_bps × m₀`,
/// exact in integers, so `m₀ = 0` passes only when `m = 0` (which commit refuses as `NO_MARK`
/// and `band` reports as not within before reaching this).
fn within_band(band_bps: u64, mark_px: u64, mark: u64) -> bool {
    mark.abs_diff(mark_px) as u128 * 10_000 <= band_bps as u128 * mark_px as u128
}

/// The commitment a reserve carries for a later reveal (README "Commit-reveal"): SHA-256 of the
/// 80-byte reveal message — the 15-byte tag `"CURV" ‖ 13 (u8) ‖ 1 (u16 LE) ‖ chain_id (u64
/// LE)`, `side` (u8), then `route_id`, `instrument`, `qty`, `limit_px` and the four salt words,
/// each u64 LE — as four words, word `k` the digest's bytes `8k..8k+8` little-endian. `side`
/// is a valid side (0 or 1): only its low byte is hashed.
pub fn reveal_commitment(
    chain_id: u64,
    route_id: u64,
    instrument: u64,
    side: u64,
    qty: u64,
    limit_px: u64,
    salt: [u64; 4],
) -> [u64; 4] {
    use sha2::{Digest, Sha256};
    let mut msg: Vec<u8> = Vec::with_capacity(80);
    msg.extend_from_slice(b"CURV");
    msg.push(13);
    msg.extend_from_slice(&1u16.to_le_bytes());
    msg.extend_from_slice(&chain_id.to_le_bytes());
    msg.push(side as u8);
    for w in [route_id, instrument, qty, limit_px] {
        msg.extend_from_slice(&w.to_le_bytes());
    }
    for w in salt {
        msg.extend_from_slice(&w.to_le_bytes());
    }
    assert_eq!(msg.len(), 80);
    let d = Sha256::digest(&msg);
    let mut out = [0u64; 4];
    for (k, w) in out.iter_mut().enumerate() {
        *w = u64::from_le_bytes(d[8 * k..8 * k + 8].try_into().expect("8 bytes"));
    }
    out
}

/// Instrument `instrument`'s mark: `NO_MARK` when 0 or not given.
fn mark_of(marks: &[u64], instrument: u64) -> Result<u64, Abort> {
    match marks.get(instrument as usize) {
        Some(&m) if m != 0 => Ok(m),
        _ => Err(Abort::NoMark),
    }
}

/// Unwraps checked arithmetic: the README defines no overflow outcome for these sums, and the
/// tests keep values far below it, so an overflow is a harness bug, not a slab behaviour.
fn ck<T>(v: Option<T>) -> T {
    v.expect("reference model: arithmetic overflow (README defines no outcome)")
}

/// A u128 amount as i128 (amounts here stay far below 2^127).
fn u_to_i(v: u128) -> i128 {
    i128::try_from(v).expect("reference model: amount above i128")
}

/// README `place_order` check 3 / `reserve` check 4.
fn check_price(ip: &InstrumentParams, price: u64) -> Result<(), Abort> {
    if price == 0 || price > ip.price_max {
        return Err(Abort::PriceRange);
    }
    if ip.tick == 0 || !price.is_multiple_of(ip.tick) {
        return Err(Abort::Tick);
    }
    Ok(())
}

/// README `place_order` check 4 / `reserve` check 3.
fn check_qty(ip: &InstrumentParams, qty: u64) -> Result<(), Abort> {
    if qty == 0 || qty > ip.qty_max {
        return Err(Abort::QtyRange);
    }
    if ip.lot == 0 || !qty.is_multiple_of(ip.lot) {
        return Err(Abort::Lot);
    }
    Ok(())
}

/// The one notional convention: `qty × contract_size × price` in `u128`.
fn notional(qty: u64, contract_size: u64, price: u64) -> u128 {
    qty as u128 * contract_size as u128 * price as u128
}

/// Whether a level at `level_px` ranks strictly before `px` on `side` (0 bids: higher first;
/// 1 asks: lower first).
fn is_better(side: u64, level_px: u64, px: u64) -> bool {
    if side == 0 {
        level_px > px
    } else {
        level_px < px
    }
}

fn side_levels(inst: &InstrumentState, side: u64) -> &Vec<Level> {
    if side == 0 { &inst.bids } else { &inst.asks }
}

fn side_levels_mut(inst: &mut InstrumentState, side: u64) -> &mut Vec<Level> {
    if side == 0 {
        &mut inst.bids
    } else {
        &mut inst.asks
    }
}
