//! A plain-Rust reference model of the SLAB template's order book, reservations, positions,
//! funding and liquidation, written from `compiler/core/src/templates/slab/README.md`
//! (authoritative) and `shared/spec/percolator.md` (background) alone, without reading the
//! template.
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
//! - `batch_open`'s dead-hold release (F1): "in the order they were reserved" is ascending
//!   `hold_id` (ids are issued in reservation order and never wrap in practice); the limit
//!   `HOLDS_RELEASED_MAX` counts holds, not slices; only holds of the instrument opened are
//!   looked at (every one of them is dead, expired or not, whatever its epoch — all are older
//!   than the new one). Each release is `cancel`'s own step (so `book_seqno` moves as `cancel`
//!   moves it, see above), after the epoch, `batch_open_ms` and the freeze window are set and
//!   before the promotion; `released_holds` counts the holds released, not their quantity.
//! - The ids 0 and `u64::MAX` are never valid order or hold ids.
//! - `commit` step 8 reads "equity ≥ MM" literally: an account with negative equity is below
//!   maintenance even with no positions (MM 0).
//! - Within one fill on a position: an existing position's funding settles first
//!   (`FUNDING_RANGE`; README "first settles", "before the fill"), then `POSITION_LIMIT`, then
//!   `POSITIONS_FULL` for an open (only an open needs a slot and only an existing position
//!   settles, so those two never compete). Per slice the taker's position (settle, limit, slot)
//!   comes before the maker's. A position closed earlier in the same commit frees its slot at
//!   once. Settlement runs on every fill of an existing position, also when `cum_funding = f`
//!   (a no-op then).
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
//! - `reserve` step 5 (F3): the feed's `fresh_until_ms` (a word of the oracle's state, not the
//!   slab's) reaches the model per instrument through [`Model::set_fresh_until`], kept until
//!   set again; an instrument never set has 0 (never published: not checked). Stale means
//!   `now > fresh_until_ms` (`now = fresh_until_ms` is still fresh). Only `reserve` reads it:
//!   `commit`, `band` and the rest do not check staleness.
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
//! - Margin (commit steps 8 and 12, `account`, `exposure`): every position's mark is checked
//!   (`NO_MARK`) before any position's value is taken (`FUNDING_RANGE`), so the code does not
//!   depend on the order positions are stored in. `account` computes the account's margin as
//!   `exposure` does, equity included, so it too aborts `FUNDING_RANGE` (though it returns only
//!   cash, IM and MM).
//! - Funding (`apply_funding`, `batch_open` step 3): `feeds[i]` is instrument `i`'s feed; a
//!   missing entry has no accumulator. `funding_interval_ms = 0` has no README outcome and
//!   panics. The accumulator `A = cum_price_ms + price × (now − cum_ms)` is computed in `u128`
//!   (checked); a clock before `cum_ms` (unreachable with a monotone clock) counts no time:
//!   `A = cum_price_ms`. `s = 0` also when `now < index_ms` (unreachable: past step 2 `now` is
//!   always after the snapshot). `vwap` and `twap` are floors of non-negative `u128` quotients;
//!   the premium, the prorated step and the cap are checked `i128`/`u128`; `rate_cap_bps = 0`
//!   is read literally (every step capped at 0), not as "no cap". `k × s` and the index's sum
//!   are checked `i128`; a step outside `i64` (`funding_rate`) panics. The snapshot is taken and
//!   `fill_qty`, `fill_notional` reset whenever step 2 passes, whatever `s` is. `batch_open`
//!   runs funding after its checks 1–2 and before the epoch moves; its result is not returned.
//! - Commit step 9's funding statistics add the hold's `qty` (= Σ t) and `Σ t × p` once, after
//!   the last fill; like everything else they are kept only if the commit succeeds.
//! - The host's `safe_debit` checks (commit step 12, liquidation step 8) are one helper, in the
//!   host's order: no such cap, burned or expired, scope (user, slab, asset 0), `remaining`,
//!   escrow balance; `commit` checks its `MAX_CHARGE` before it, `liquidation_call` has no bound
//!   of its own (`u128::MAX`).
//! - `liquidation_call` checks, in order: 1 `UNKNOWN_INSTRUMENT`; 2 `BAD_BAND` on the router's
//!   `band_bps` as given (the slab's `liquidation_band_bps` is not validated: `b = min(band_bps,
//!   liquidation_band_bps)`, and a slab band of 0 gives `w = 0`, so only levels exactly at the
//!   mark are within); 3 a missing account (user 0 included) or position returns
//!   `(deficit, 0, 0)` before any mark is read and without presenting the cap (no debit runs,
//!   no account is created); 4 `NO_MARK` for this instrument's mark only (no margin is
//!   computed, so other positions' marks are not read). `w = ⌊m × b / 10,000⌋` and the short's
//!   limit `m + w` are computed in `u128` (never wrap); `b ≤ 10,000` makes `w ≤ m`, so the
//!   long's limit `m − w` is never clamped in practice.
//! - Liquidation step 5, policy `partial`: `need = min(roundup_lot(⌈deficit × 10,000 /
//!   (contract_size × m × mmr_bps)⌉), |q|)` computed exactly in wide integers, so a deficit so
//!   large that `deficit × 10,000` (or the divisor) passes `u128` just targets `|q|` (no
//!   overflow, no panic). Rounding up to the lot and then capping at `|q|` equals capping the
//!   quotient first. `mmr_bps = 0` (a zero divisor; README silent): a positive deficit targets
//!   `|q|`, a deficit of 0 nothing. Policy `full` targets `|q|` whatever the deficit (0
//!   included).
//! - Liquidation sweep: every order looked at counts toward `LIQUIDATION_VISITS_MAX`, taken or
//!   skipped (PENDING, nothing available, closing, or the user's own), as `reserve`'s walk
//!   reads "orders looked at (taken or skipped)". Before each order the sweep stops when
//!   `need_left = 0`, 32 orders were looked at or 6 fills were made; before each level, when the
//!   level is outside the band. The sweep is planned over the book as it stands and then applied
//!   in sweep order (fills change nothing the sweep reads of later orders; all aborts come from
//!   the position updates, so the order of the book's and the positions' writes is not
//!   observable).
//! - Each liquidation fill, at the maker order's own price `p`: the user's position first
//!   (`apply_fill`, as commit's taker: its funding settles, then `d = −take` for a long, `+take`
//!   for a short; `Σ take ≤ |q|`, so it only reduces or closes, never flips), then the maker's
//!   `−d` (settle, `POSITION_LIMIT`, `POSITIONS_FULL`; an increase rounds its entry into
//!   `insurance` as in commit). A user's position closed by an earlier fill — or by this fill,
//!   before the maker's update — frees its slot at once. Then only the order's `qty` drops (the
//!   take came from its unreserved part: `reserved_qty` and any holds are untouched), the
//!   maker's `quoted` by `take × contract_size × p`, an order at `qty = 0` (only one without
//!   reservations) leaves its level (and the maker's `orders` drops), and one print goes to the
//!   same trade ring as commit's: `{ms: now, maker_order, route_id: 0, instrument, side: the
//!   user's side (1 when it sells to close a long, 0 when it buys to close a short), price: p,
//!   qty: take}`. No maker or taker fee, no rebate (JIT and rebate delay do not matter), no ARG
//!   entry, no margin, kill-band, epoch, reveal or fee-cap check.
//! - `book_seqno` increments exactly once per `liquidation_call` whose `closed_qty > 0` (not per
//!   fill or removed order), and never otherwise; the funding statistics grow once, after the
//!   last fill, by `closed_qty` and `Σ take × p`.
//! - Liquidation step 7: `covered` is computed exactly (wide integers); `residual =
//!   deficit − covered`, 0 when `covered ≥ deficit`. `covered` itself is not returned.
//! - Liquidation step 8: "cash after the sweep" includes the funding the user's position settled
//!   during its fills; with no fill its cash is read unsettled. `debit = min(−cash, escrow)`,
//!   so the host's escrow-balance check cannot refuse it; the cap checks run even for a debit of
//!   0 (so an expired or foreign cap fails any call that reached step 4, closed or not).
//! - `cover_bad_debt` never aborts and creates no account: a missing account (user 0 included)
//!   or a cash ≥ 0 returns 0 and changes nothing.
//! - Arithmetic overflow where the README defines no outcome panics (the tests stay far below).

use std::collections::{BTreeMap, BTreeSet};

use super::state::*;

/// Longest reservation TTL; a longer one is clamped to it (README `reserve` step 2).
pub const TTL_MAX_MS: u64 = 120_000;
/// Most orders a reserve walk looks at, taken or skipped.
pub const RESERVE_VISITS_MAX: usize = 128;
/// Most slices one hold has.
pub const SLICES_PER_HOLD_MAX: usize = 6;
/// Most levels of an order's side that may be strictly better than its price.
pub const LEVEL_DEPTH_MAX: usize = 1_024;
/// Most PENDING orders per instrument.
pub const PENDING_MAX: usize = 2_048;
/// Most DLP accounts at once.
pub const DLP_MAX: u64 = 100;
/// Most orders a liquidation sweep looks at, taken or skipped.
pub const LIQUIDATION_VISITS_MAX: usize = 32;
/// Most fills one liquidation sweep makes.
pub const LIQUIDATION_FILLS_MAX: usize = 6;
/// Most dead holds one `batch_open` releases (README `batch_open`, F1).
pub const HOLDS_RELEASED_MAX: usize = 3;

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
    /// The funding interval (`FUNDING interval_ms`): interval `n` is the batch times
    /// `n × interval_ms ≤ now < (n + 1) × interval_ms`. Must be nonzero.
    pub funding_interval_ms: u64,
    /// The funding step's cap (`FUNDING rate_cap_bps`): `|s| ≤ ⌊twap × rate_cap_bps / 10,000⌋`.
    pub funding_rate_cap_bps: u64,
    /// The liquidation policy (`LIQUIDATION`): `full` (true) closes the whole position,
    /// `partial` (false) only what covers the router's deficit at maintenance margin.
    pub liquidation_full: bool,
    /// The slab's liquidation band (`LIQUIDATION band_bps`): the widest band a
    /// `liquidation_call` may use around the mark; the router's `band_bps` may only tighten it.
    pub liquidation_band_bps: u64,
}

/// The host's view of a capability passed to `commit` or `liquidation_call` (percolator §4.3).
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
    /// A position's price gap less its unsettled funding per unit (or that funding alone, when
    /// it settles) reached 2^64 in magnitude.
    FundingRange,
    /// A liquidation band of 0 or above 10,000 bps.
    BadBand,
    /// `reserve` while the instrument's feed, once published, is stale by batch time.
    StaleMark,
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
            FundingRange => 38,
            BadBand => 39,
            StaleMark => 40,
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
    /// Per instrument, its feed's `fresh_until_ms` (oracle state, an input like the marks; not
    /// part of the slab's state). Missing: 0, never published.
    fresh_until: BTreeMap<u64, u64>,
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
            fresh_until: BTreeMap::new(),
        }
    }

    /// Sets instrument `instrument`'s feed's `fresh_until_ms` (its `publish_ms + STALENESS`;
    /// 0 = never published, which `reserve` does not check). An input, like the marks: it
    /// stays until set again and is not part of [`Model::state`].
    pub fn set_fresh_until(&mut self, instrument: u64, fresh_until_ms: u64) {
        self.fresh_until.insert(instrument, fresh_until_ms);
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

    /// `batch_open(instrument) -> (epoch, promoted, released_holds)`: brings the instrument's
    /// funding up to date (as `apply_funding`, from `feeds`), opens a batch, releases the
    /// oldest of the instrument's live holds — all dead now, reserved in an earlier epoch — at
    /// most [`HOLDS_RELEASED_MAX`], each exactly as `cancel` releases it (F1), and promotes every
    /// PENDING order of the instrument. Returns the new epoch, the number promoted and the
    /// number of holds released.
    pub fn batch_open(
        &mut self,
        now_ms: u64,
        instrument: u64,
        feeds: &[FundingFeed],
    ) -> Result<(u64, u64, u64), Abort> {
        self.atomic(|m| m.batch_open_inner(now_ms, instrument, feeds))
    }

    fn batch_open_inner(
        &mut self,
        now_ms: u64,
        instrument: u64,
        feeds: &[FundingFeed],
    ) -> Result<(u64, u64, u64), Abort> {
        // 1.
        self.instrument_params(instrument)?;
        let i = instrument as usize;
        // 2. Compared in u128 so that a huge batch_open_ms + batch_ms cannot wrap (README
        // silent on overflow; the mathematical comparison is the contract's meaning).
        let inst = &self.st.instruments[i];
        if (now_ms as u128) < inst.batch_open_ms as u128 + self.params.batch_ms as u128 {
            return Err(Abort::BatchEarly);
        }
        // 3. Funding, exactly as `apply_funding` (its check 1 passed above).
        self.apply_funding_inner(now_ms, instrument, feeds)?;
        let inst = &mut self.st.instruments[i];
        inst.epoch = inst.epoch.wrapping_add(1);
        inst.batch_open_ms = now_ms;
        // The freeze window (M8). README silent on overflow: saturate, as `expiry_ms` does.
        inst.freeze_until_ms = now_ms.saturating_add(self.params.batch_ms);
        let epoch = inst.epoch;
        // Dead holds (F1): every live hold of the instrument was reserved in an earlier epoch.
        // The oldest — ascending hold id, the order they were reserved in — are released, at
        // most HOLDS_RELEASED_MAX, each by `cancel`'s own step; the rest wait.
        let dead: Vec<u64> = self
            .st
            .holds
            .iter()
            .filter(|(_, h)| h.instrument == instrument)
            .map(|(&id, _)| id)
            .take(HOLDS_RELEASED_MAX)
            .collect();
        for &hold_id in &dead {
            debug_assert_ne!(self.st.holds[&hold_id].epoch, epoch);
            self.cancel_inner(hold_id)?;
        }
        let released_holds = dead.len() as u64;
        let inst = &mut self.st.instruments[i];
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
        let promoted = pending.len() as u64;
        if promoted > 0 {
            self.st.book_seqno = self.st.book_seqno.wrapping_add(1);
        }
        Ok((epoch, promoted, released_holds))
    }

    /// `apply_funding(instrument) -> (cum_funding, intervals)` (README "Funding"): when an
    /// interval began since the index last moved, moves it by `k × s` and takes a new snapshot;
    /// otherwise returns the index and 0 and changes nothing. `feeds[i]` is instrument `i`'s
    /// funding feed (a missing entry has no accumulator).
    pub fn apply_funding(
        &mut self,
        now_ms: u64,
        instrument: u64,
        feeds: &[FundingFeed],
    ) -> Result<(i128, u64), Abort> {
        self.atomic(|m| m.apply_funding_inner(now_ms, instrument, feeds))
    }

    fn apply_funding_inner(
        &mut self,
        now_ms: u64,
        instrument: u64,
        feeds: &[FundingFeed],
    ) -> Result<(i128, u64), Abort> {
        // 1.
        self.instrument_params(instrument)?;
        let i = instrument as usize;
        let interval_ms = self.params.funding_interval_ms;
        assert!(
            interval_ms != 0,
            "reference model: FUNDING interval_ms = 0 (README defines no outcome)"
        );
        let feed = feeds.get(i).copied().unwrap_or_default();
        let inst = &mut self.st.instruments[i];
        // 2. At most once per interval.
        let n = now_ms / interval_ms;
        if n <= inst.funding_interval {
            return Ok((inst.cum_funding, 0));
        }
        // 3.
        let k = n - inst.funding_interval;
        // The feed's accumulator now, when it has one. A clock before its last accumulation
        // (README silent; unreachable with a monotone clock) counts no time since: A =
        // cum_price_ms.
        let area = (feed.cum_ms != 0).then(|| {
            let since = now_ms.saturating_sub(feed.cum_ms) as u128;
            ck(feed.cum_price_ms.checked_add(feed.price as u128 * since))
        });
        let s: i128 = match area {
            Some(a)
                if inst.index_ms != 0
                    && now_ms > inst.index_ms
                    && inst.fill_qty != 0
                    && a >= inst.index_area =>
            {
                let vwap = inst.fill_notional / inst.fill_qty;
                let twap = (a - inst.index_area) / (now_ms - inst.index_ms) as u128;
                let premium = ck(u_to_i(vwap).checked_sub(u_to_i(twap)));
                let prorated =
                    ck(premium.unsigned_abs().checked_mul(interval_ms as u128)) / 86_400_000;
                let cap = ck(twap.checked_mul(self.params.funding_rate_cap_bps as u128)) / 10_000;
                let mag = u_to_i(prorated.min(cap));
                if premium < 0 { -mag } else { mag }
            }
            // A side missing: no accumulator, no snapshot, no time since it, no fills, or a
            // replaced feed (A below the snapshot).
            _ => 0,
        };
        inst.cum_funding = ck(inst.cum_funding.checked_add(ck((k as i128).checked_mul(s))));
        // 4.
        inst.funding_rate =
            i64::try_from(s).expect("reference model: funding step above i64 (README silent)");
        inst.funding_interval = n;
        (inst.index_area, inst.index_ms) = match area {
            Some(a) => (a, now_ms),
            None => (0, 0),
        };
        inst.fill_qty = 0;
        inst.fill_notional = 0;
        Ok((inst.cum_funding, k))
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

    /// `reserve(...)`: holds quantity of LIVE resting orders for a taker (README checks 1–10).
    /// `marks[i]` is instrument `i`'s mark now (0 or missing: unpublished); the hold records its
    /// instrument's as `mark_px` and never aborts for a missing one. Step 5 refuses a stale feed
    /// (`STALE_MARK`) by the `fresh_until_ms` last given to [`Model::set_fresh_until`].
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
        // 5. A fresh mark (F3): once the feed has published (`fresh_until_ms ≠ 0`), `now ≤
        // fresh_until_ms`. Before the account is created: a refused reserve changes nothing.
        let fresh_until_ms = self.fresh_until.get(&instrument).copied().unwrap_or(0);
        if fresh_until_ms != 0 && now_ms > fresh_until_ms {
            return Err(Abort::StaleMark);
        }
        // 6.
        self.find_or_create_account(user)?;
        // 7.
        if self.st.holds.len() >= self.params.reservations_capacity as usize {
            return Err(Abort::ReservationsFull);
        }
        // 8. The walk over the opposite side: a taker buying (0) walks the asks (1).
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
        // 9.
        let filled = qty - qty_left;
        if filled == 0 {
            return Err(Abort::NoLiquidity);
        }
        // 10. INDEX_FULL cannot happen in the model.

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
        // After the last fill: the premium's traded side (README "Funding").
        {
            let inst = &mut self.st.instruments[i];
            inst.fill_qty = ck(inst.fill_qty.checked_add(hold.qty as u128));
            inst.fill_notional = ck(inst.fill_notional.checked_add(px_sum));
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
        self.safe_debit(now_ms, cap, slab_id, escrow, taker, total_debit)?;
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

    /// `liquidation_call(user, instrument, deficit, band_bps, cap) -> (residual, closed_qty,
    /// debit)` (README "Liquidation", checks and effects 1–8): closes `user`'s position in
    /// `instrument`, reduce-only, against resting LIVE depth within the band around the mark,
    /// until the closed contracts' maintenance margin covers `deficit` (policy `partial`) or the
    /// position is gone (policy `full`); then debits the negative part of the user's cash (at
    /// most `escrow`) through `cap`. `cap`, `slab_id` and `escrow` are as in `commit` (`escrow`
    /// is what the `escrow_read` host call returns for (user, this slab, collateral));
    /// `marks[i]` is instrument `i`'s mark (0 or missing: none). Fills charge no fees, pay no
    /// rebate and do not touch the aggressor ledger.
    #[allow(clippy::too_many_arguments)]
    pub fn liquidation_call(
        &mut self,
        now_ms: u64,
        user: u64,
        instrument: u64,
        deficit: u128,
        band_bps: u64,
        cap: Option<CapView>,
        slab_id: u64,
        escrow: u128,
        marks: &[u64],
    ) -> Result<(u128, u64, u128), Abort> {
        self.atomic(|m| {
            m.liquidation_call_inner(
                now_ms, user, instrument, deficit, band_bps, cap, slab_id, escrow, marks,
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn liquidation_call_inner(
        &mut self,
        now_ms: u64,
        user: u64,
        instrument: u64,
        deficit: u128,
        band_bps: u64,
        cap: Option<CapView>,
        slab_id: u64,
        escrow: u128,
        marks: &[u64],
    ) -> Result<(u128, u64, u128), Abort> {
        // 1.
        let ip = self.instrument_params(instrument)?.clone();
        let i = instrument as usize;
        let cs = ip.contract_size;
        // 2. The router may tighten the slab's band, never widen it.
        if band_bps == 0 || band_bps > 10_000 {
            return Err(Abort::BadBand);
        }
        let b = band_bps.min(self.params.liquidation_band_bps);
        // 3. No account (user 0 never has one) or no position: nothing to close, nothing
        // debited (the cap is not presented), no account created.
        let Some(pos) = self
            .st
            .accounts
            .get(&user)
            .and_then(|a| a.positions.get(&instrument))
            .cloned()
        else {
            return Ok((deficit, 0, 0));
        };
        // 4. Only this instrument's mark is read.
        let m = mark_of(marks, instrument)?;
        let w = m as u128 * b as u128 / 10_000;
        let long = pos.qty > 0;
        // A long closes by selling (the user's side 1) to the bids (side 0), down to m − w; a
        // short by buying (side 0) from the asks (side 1), up to m + w. b ≤ 10,000 so w ≤ m;
        // m + w is computed in u128 (it may pass u64::MAX, where every ask is within).
        let user_side: u64 = if long { 1 } else { 0 };
        let contra = 1 - user_side;
        let limit: u128 = if long {
            (m as u128).saturating_sub(w)
        } else {
            m as u128 + w
        };
        // 5. The target.
        let q_abs = pos.qty.unsigned_abs();
        let need = if self.params.liquidation_full {
            q_abs
        } else {
            partial_need(deficit, cs, m, self.params.mmr_bps, ip.lot, q_abs)
        };
        // 6. The sweep. Planned over the book as it stands (fills change only the orders they
        // take and positions, never what the sweep reads of the orders after them), then
        // applied fill by fill in sweep order.
        struct Fill {
            order_id: u64,
            maker: u64,
            price: u64,
            take: u64,
        }
        let mut plan: Vec<Fill> = Vec::new();
        let mut need_left = need;
        let mut visits = 0usize;
        'sweep: for level in side_levels(&self.st.instruments[i], contra) {
            let within = if long {
                level.price as u128 >= limit
            } else {
                level.price as u128 <= limit
            };
            if !within {
                break;
            }
            for o in &level.orders {
                if need_left == 0
                    || visits >= LIQUIDATION_VISITS_MAX
                    || plan.len() >= LIQUIDATION_FILLS_MAX
                {
                    break 'sweep;
                }
                // Every order looked at counts, taken or skipped (as reserve's walk).
                visits += 1;
                let available = o.qty - o.reserved_qty;
                if !o.live || available == 0 || o.closing || o.user == user {
                    continue;
                }
                let take = need_left.min(available);
                need_left -= take;
                plan.push(Fill {
                    order_id: o.order_id,
                    maker: o.user,
                    price: level.price,
                    take,
                });
            }
        }
        let mut closed_qty: u64 = 0;
        let mut px_sum: u128 = 0;
        for f in &plan {
            let t = f.take as i128;
            // The user's position first (settles its funding, then reduces or closes: Σ take ≤
            // |q|, so it never flips), then the maker's.
            let d = if long { -t } else { t };
            self.apply_fill(user, instrument, d, f.price)?;
            self.apply_fill(f.maker, instrument, -d, f.price)?;
            // The taken quantity was available (unreserved): only `qty` drops.
            let loc = self
                .find_order(f.order_id)
                .expect("a planned order still rests");
            let qty_now = {
                let o = self.order_mut(loc);
                o.qty -= f.take;
                o.qty
            };
            {
                let a = self
                    .st
                    .accounts
                    .get_mut(&f.maker)
                    .expect("maker has an account");
                a.quoted -= notional(f.take, cs, f.price);
            }
            if qty_now == 0 {
                self.remove_order(loc);
            }
            self.print(TradeState {
                ms: now_ms,
                maker_order: f.order_id,
                route_id: 0,
                instrument,
                side: user_side,
                price: f.price,
                qty: f.take,
            });
            closed_qty += f.take;
            px_sum = ck(px_sum.checked_add(f.take as u128 * f.price as u128));
        }
        if closed_qty > 0 {
            self.st.book_seqno = self.st.book_seqno.wrapping_add(1);
            let inst = &mut self.st.instruments[i];
            inst.fill_qty = ck(inst.fill_qty.checked_add(closed_qty as u128));
            inst.fill_notional = ck(inst.fill_notional.checked_add(px_sum));
        }
        // 7. Covered, exact (the product may pass u128): the residual saturates at 0.
        let covered = Wide::from_u128(closed_qty as u128)
            .mul(cs)
            .mul(m)
            .mul(self.params.mmr_bps)
            .div(10_000);
        let residual = if covered >= Wide::from_u128(deficit) {
            0
        } else {
            deficit - covered.to_u128().expect("below deficit, so within u128")
        };
        // 8. The debit: the negative part of the cash after the sweep, at most the escrow,
        // through the cap with no bound of the slab's own; it runs even when 0. What remains
        // negative is bad debt and stays in the cash.
        let cash = self.st.accounts[&user].cash;
        let debit = if cash < 0 {
            cash.unsigned_abs().min(escrow)
        } else {
            0
        };
        self.safe_debit(now_ms, cap, slab_id, escrow, user, debit)?;
        Ok((residual, closed_qty, debit))
    }

    /// `cover_bad_debt(user, amount) -> covered` (README, governance only): moves
    /// `min(amount, insurance, max(0, −cash))` from `insurance` into `user`'s cash; 0 for a
    /// missing account (user 0 included; no account is created). Never aborts.
    pub fn cover_bad_debt(&mut self, user: u64, amount: u128) -> Result<u128, Abort> {
        self.atomic(|m| {
            let insurance = m.st.insurance;
            let Some(a) = m.st.accounts.get_mut(&user) else {
                return Ok(0);
            };
            let owed = if a.cash < 0 { a.cash.unsigned_abs() } else { 0 };
            let covered = amount.min(insurance).min(owed);
            a.cash = ck(a.cash.checked_add(u_to_i(covered)));
            m.st.insurance -= covered;
            Ok(covered)
        })
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

    /// An account's (equity, IM, MM) at `marks` (README "Positions"): equity = cash + Σ value,
    /// value = q × contract_size × ((m − e) − (cum_funding − f)) (unrealised PnL less the
    /// unsettled funding), X = Σ |q| × contract_size × m, one floor per account. Every
    /// position's mark is checked (`NO_MARK`) before any value is taken (`FUNDING_RANGE`).
    /// An unknown account has no cash and no positions.
    fn margin(&self, user: u64, marks: &[u64]) -> Result<(i128, u128, u128), Abort> {
        let Some(a) = self.st.accounts.get(&user) else {
            return Ok((0, 0, 0));
        };
        for &inst in a.positions.keys() {
            mark_of(marks, inst)?;
        }
        let mut equity = a.cash;
        let mut x: u128 = 0;
        for (&inst, pos) in &a.positions {
            let m = mark_of(marks, inst)?;
            let cs = self.params.instruments[inst as usize].contract_size as i128;
            let cum = self.st.instruments[inst as usize].cum_funding;
            let q = pos.qty as i128;
            let gap = value_gap(m, pos.entry_px, cum, pos.last_funding)?;
            // |q × cs| < 2^63 (POSITION_LIMIT) and |gap| < 2^64: the value fits i128.
            let value = ck(ck(q.checked_mul(cs)).checked_mul(gap));
            equity = ck(equity.checked_add(value));
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
    /// "Positions": settlement of an existing position's funding, then open, increase, reduce,
    /// close, flip). An existing position settles first (`FUNDING_RANGE`), then
    /// `POSITION_LIMIT` is checked, then `POSITIONS_FULL` for an open. Every position the
    /// fill leaves has `f = cum_funding`.
    fn apply_fill(&mut self, user: u64, instrument: u64, d: i128, p: u64) -> Result<(), Abort> {
        let cs = self.params.instruments[instrument as usize].contract_size;
        let cum = self.st.instruments[instrument as usize].cum_funding;
        let old = self.st.accounts[&user].positions.get(&instrument).cloned();
        let q = old.as_ref().map_or(0i128, |o| o.qty as i128);
        let e = old.as_ref().map_or(0u64, |o| o.entry_px);
        // Settlement, "before the fill": |cum_funding − f| < 2^64, cash −= F, f = cum_funding
        // (the position keeps its q and e; every branch below writes f = cum_funding).
        if let Some(o) = &old {
            let per = match cum.checked_sub(o.last_funding) {
                Some(v) if v.unsigned_abs() < 1u128 << 64 => v,
                _ => return Err(Abort::FundingRange),
            };
            // |q × cs| < 2^63 and |per| < 2^64: F fits i128.
            let f_owed = ck(ck(q.checked_mul(cs as i128)).checked_mul(per));
            let a = self.st.accounts.get_mut(&user).expect("account exists");
            a.cash = ck(a.cash.checked_sub(f_owed));
        }
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

    /// The host's `safe_debit` of `amount` from `user`'s escrow under `cap` (commit step 12,
    /// `liquidation_call` step 8), its checks in the host's order — no such cap, burned or
    /// expired (`now > expiry_ms`), scoped to another user, slab or asset (the collateral is
    /// asset 0), `amount > remaining`, `amount > escrow` — each a refusal that fails the whole
    /// call. On success `amount` is credited to `user`'s cash and to `collected`. Runs the checks
    /// even for an amount of 0. The caller checks its own bound (commit's `MAX_CHARGE`) first.
    fn safe_debit(
        &mut self,
        now_ms: u64,
        cap: Option<CapView>,
        slab_id: u64,
        escrow: u128,
        user: u64,
        amount: u128,
    ) -> Result<(), Abort> {
        let cap = cap.ok_or(Abort::Refused(Refusal::UnknownCap))?;
        if cap.burned || now_ms > cap.expiry_ms {
            return Err(Abort::Refused(Refusal::CapExpired));
        }
        if cap.user != user || cap.slab != slab_id || cap.asset != 0 {
            return Err(Abort::Refused(Refusal::CapScope));
        }
        if amount > cap.remaining {
            return Err(Abort::Refused(Refusal::CapRemaining));
        }
        if amount > escrow {
            return Err(Abort::Refused(Refusal::EscrowBalance));
        }
        self.st.collected = ck(self.st.collected.checked_add(amount));
        let a = self
            .st
            .accounts
            .get_mut(&user)
            .expect("debited user has an account");
        a.cash = ck(a.cash.checked_add(u_to_i(amount)));
        Ok(())
    }

    /// Moves `amount` out of `user`'s cash (the caller credits `fees_collected`).
    fn debit_cash(&mut self, user: u64, amount: u128) {
        let a = self.st.accounts.get_mut(&user).expect("account exists");
        a.cash = ck(a.cash.checked_sub(u_to_i(amount)));
    }

    /// Writes `user`'s position in `instrument` with its funding snapshot at the instrument's
    /// `cum_funding` (an open, or a position just settled).
    fn set_position(&mut self, user: u64, instrument: u64, qty: i128, entry_px: u64) {
        let qty = i64::try_from(qty).expect("checked by POSITION_LIMIT");
        let last_funding = self.st.instruments[instrument as usize].cum_funding;
        self.st
            .accounts
            .get_mut(&user)
            .expect("account exists")
            .positions
            .insert(
                instrument,
                PositionState {
                    qty,
                    entry_px,
                    last_funding,
                },
            );
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

/// A position's per-unit value gap `(m − e) − (cum_funding − f)` (README "Positions"):
/// `FUNDING_RANGE` when its magnitude reaches 2^64 (an intermediate past i128 is far beyond).
fn value_gap(m: u64, e: u64, cum: i128, f: i128) -> Result<i128, Abort> {
    let gap = cum
        .checked_sub(f)
        .and_then(|funding| (m as i128 - e as i128).checked_sub(funding));
    match gap {
        Some(g) if g.unsigned_abs() < 1u128 << 64 => Ok(g),
        _ => Err(Abort::FundingRange),
    }
}

/// Liquidation step 5, policy `partial`: `need = ⌈deficit × 10,000 / (contract_size × m ×
/// mmr_bps)⌉` rounded up to a multiple of `lot`, at most `q_abs` — exactly, whatever the sizes
/// (the quotient is found as the least `n ≤ q_abs` with `n × contract_size × m × mmr_bps ≥
/// deficit × 10,000`, compared in wide integers, so a huge deficit simply closes `q_abs`). A
/// deficit of 0 closes nothing. `mmr_bps = 0` (a divisor of 0; README silent): the closed
/// contracts cover nothing, so any positive deficit targets the whole position.
fn partial_need(
    deficit: u128,
    contract_size: u64,
    m: u64,
    mmr_bps: u64,
    lot: u64,
    q_abs: u64,
) -> u64 {
    if deficit == 0 {
        return 0;
    }
    if mmr_bps == 0 || contract_size == 0 || m == 0 {
        return q_abs;
    }
    let target = Wide::from_u128(deficit).mul(10_000);
    let covers = |n: u64| {
        Wide::from_u128(n as u128)
            .mul(contract_size)
            .mul(m)
            .mul(mmr_bps)
            >= target
    };
    // The least n in [0, q_abs] that covers the deficit, or q_abs when none does: this is
    // min(⌈deficit × 10,000 / divisor⌉, q_abs).
    let (mut lo, mut hi) = (0u64, q_abs);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if covers(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    // Rounding up to the lot then capping at q_abs gives the same as on the uncapped quotient.
    let lot = lot.max(1) as u128;
    ((lo as u128).div_ceil(lot) * lot).min(q_abs as u128) as u64
}

/// A non-negative integer of any size, little-endian `u64` limbs without high zero limbs: the
/// liquidation's exact products (`deficit × 10,000`, `n × contract_size × m × mmr_bps`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Wide(Vec<u64>);

impl Wide {
    fn from_u128(v: u128) -> Wide {
        let mut w = Wide(vec![v as u64, (v >> 64) as u64]);
        w.trim();
        w
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn mul(mut self, k: u64) -> Wide {
        let mut carry: u128 = 0;
        for limb in self.0.iter_mut() {
            let t = *limb as u128 * k as u128 + carry;
            *limb = t as u64;
            carry = t >> 64;
        }
        if carry != 0 {
            self.0.push(carry as u64);
        }
        self.trim();
        self
    }

    /// Floor division by a nonzero `k`.
    fn div(mut self, k: u64) -> Wide {
        let k = k as u128;
        let mut rem: u128 = 0;
        for limb in self.0.iter_mut().rev() {
            let cur = (rem << 64) | *limb as u128;
            *limb = (cur / k) as u64;
            rem = cur % k;
        }
        self.trim();
        self
    }

    fn to_u128(&self) -> Option<u128> {
        match self.0.as_slice() {
            [] => Some(0),
            [lo] => Some(*lo as u128),
            [lo, hi] => Some(*lo as u128 | (*hi as u128) << 64),
            _ => None,
        }
    }
}

impl PartialOrd for Wide {
    fn partial_cmp(&self, other: &Wide) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Wide {
    fn cmp(&self, other: &Wide) -> std::cmp::Ordering {
        // Trimmed: more limbs is larger; else compare from the top limb down.
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }
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
