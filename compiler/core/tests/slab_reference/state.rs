//! The slab's state as both sides of the differential test describe it: the reference model
//! builds it from its own data, the test decodes it from the template's segment. Only what the
//! behaviour defines is here — no pool slots, links or freelists — so two correct
//! implementations with different memory layouts describe equal states.

use std::collections::BTreeMap;

/// The whole slab.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlabState {
    /// The id the next placed order gets (starts at 1).
    pub next_order_id: u64,
    /// Bumped by every book change (README: place, cancel that changed something, promotion,
    /// commit, a liquidation that closed something — once per call; a hold released by
    /// `cancel` or by `batch_open`'s dead-hold release, as `cancel` bumps it).
    pub book_seqno: u64,
    /// Accounts that are DLP.
    pub dlp_count: u64,
    /// Every account the slab has created, by user id.
    pub accounts: BTreeMap<u64, AccountState>,
    /// One entry per declared instrument, in declaration order.
    pub instruments: Vec<InstrumentState>,
    /// The id the next reservation gets (starts at 1).
    pub next_hold_id: u64,
    /// Live holds, by hold id.
    pub holds: BTreeMap<u64, HoldState>,
    /// Maker and taker fees and ARG taxes taken so far, less the maker rebates paid.
    pub fees_collected: u128,
    /// Entry-rounding remainders (`|e' × n − X| × contract_size` per increase), less what
    /// `cover_bad_debt` moved into accounts' cash.
    pub insurance: u128,
    /// What the slab took through `safe_debit` (commit and liquidation debits).
    pub collected: u128,
    /// Trade prints written over the slab's life.
    pub trades_written: u64,
    /// The trade ring's content: the last min(trades_written, capacity) prints, oldest first.
    pub trades: Vec<TradeState>,
    /// The fee caps governance set with `set_fee_caps`, (maker cap, taker cap); `None` before
    /// the first call (no cap).
    pub fee_caps: Option<(u64, u64)>,
    /// The aggressor round-trip guard's ledger, by (user, instrument): every entry the slab
    /// ever created (entries are never removed; one of an older epoch is reset when that user
    /// next commits in that instrument with the guard on).
    pub aggressor: BTreeMap<(u64, u64), AggressorState>,
}

/// One aggressor-ledger entry: a taker's aggressive fills in one instrument's batch (the
/// batch of its last guarded commit in that instrument).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AggressorState {
    /// The instrument's epoch the entry counts.
    pub epoch: u64,
    /// Contracts bought by the taker's commits in that epoch.
    pub buy_qty: u64,
    /// Σ t × p of those buys (no `contract_size`).
    pub buy_notional: u128,
    /// Contracts sold by the taker's commits in that epoch.
    pub sell_qty: u64,
    /// Σ t × p of those sells (no `contract_size`).
    pub sell_notional: u128,
}

/// One position of an account in one instrument (never of quantity 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PositionState {
    /// Signed contracts: > 0 long, < 0 short.
    pub qty: i64,
    /// Entry price.
    pub entry_px: u64,
    /// Funding snapshot `f`: the instrument's `cum_funding` when the position last settled
    /// (README "Positions"); its unsettled funding is `qty × contract_size × (cum_funding − f)`.
    pub last_funding: i128,
}

/// One trade print (one per committed slice, and one per liquidation fill).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TradeState {
    /// Batch time of the commit (or liquidation).
    pub ms: u64,
    /// The maker order's id.
    pub maker_order: u64,
    /// The hold's route id (0 for a liquidation fill).
    pub route_id: u64,
    /// The instrument.
    pub instrument: u64,
    /// The taker's side (a liquidation: the liquidated user's, 1 when it sells to close a long).
    pub side: u64,
    /// The slice's price (a liquidation fill: the maker order's price).
    pub price: u64,
    /// The slice's quantity (a liquidation fill: its take).
    pub qty: u64,
}

/// One live reservation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HoldState {
    /// The router's route id.
    pub route_id: u64,
    /// The taker.
    pub user: u64,
    /// Its instrument.
    pub instrument: u64,
    /// The taker's side (0 buys, 1 sells).
    pub side: u64,
    /// Quantity held (`filled_qty`).
    pub qty: u64,
    /// The quantity the reserve asked for (what a reveal hashes).
    pub qty_asked: u64,
    /// The reserve's limit price (what a reveal hashes).
    pub limit_px: u64,
    /// The instrument's mark when the hold was made (0: unpublished), the kill band's `m₀`.
    pub mark_px: u64,
    /// ⌊Σ take × price / qty⌋.
    pub vwap_px: u64,
    /// The last slice's price.
    pub worst_px: u64,
    /// The most a commit may charge.
    pub max_charge: u128,
    /// The commitment words as given.
    pub commitment: [u64; 4],
    /// `book_seqno` when it was made.
    pub book_seqno: u64,
    /// Batch time after which it cannot commit.
    pub expiry_ms: u64,
    /// The instrument's epoch when it was made.
    pub epoch: u64,
    /// Its slices in walk order.
    pub slices: Vec<SliceState>,
}

/// One slice of a hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SliceState {
    /// The maker order's id.
    pub order_id: u64,
    /// The maker order's price, captured.
    pub price: u64,
    /// Quantity taken.
    pub qty: u64,
}

/// One account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountState {
    /// DLP (true) or REG (false).
    pub dlp: bool,
    /// Σ over its resting orders of remaining qty × contract_size × price.
    pub quoted: u128,
    /// How many of its orders rest on the book.
    pub orders: u64,
    /// Cash (signed; a liquidated account's cash left negative is its bad debt).
    pub cash: i128,
    /// Its positions, by instrument index.
    pub positions: BTreeMap<u64, PositionState>,
}

/// One instrument.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstrumentState {
    /// Batches opened so far.
    pub epoch: u64,
    /// Batch time of the last `batch_open` (0 before the first).
    pub batch_open_ms: u64,
    /// End of the top-K freeze window: `batch_open_ms + batch_ms` (0 before the first open).
    pub freeze_until_ms: u64,
    /// Bid levels, best (highest price) first.
    pub bids: Vec<Level>,
    /// Ask levels, best (lowest price) first.
    pub asks: Vec<Level>,
    /// Ids of the PENDING orders, in placement order.
    pub pending: Vec<u64>,
    /// The funding index (README "Funding"): Σ over applied intervals of the step, in price
    /// units (collateral per underlying unit).
    pub cum_funding: i128,
    /// The last per-interval step `s` applied (signed; for observers).
    pub funding_rate: i64,
    /// The funding interval `⌊now / interval_ms⌋` the index last moved in (0 at first).
    pub funding_interval: u64,
    /// The funding feed's accumulator at the last application (0 without an accumulator).
    pub index_area: u128,
    /// The batch time of the last application's snapshot (0: no snapshot).
    pub index_ms: u64,
    /// Contracts filled in the instrument since the last application (commit step 9 and
    /// liquidation step 6).
    pub fill_qty: u128,
    /// Σ t × p of those fills (no `contract_size`).
    pub fill_notional: u128,
}

/// One instrument's oracle funding-feed words (README "Funding", `FEEDS funding`): the
/// accumulator `cum_price_ms` (Σ price × ms), `cum_ms` (the batch time of its last
/// accumulation; 0 = the feed has no accumulator) and the current `price`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FundingFeed {
    /// Σ price × ms up to `cum_ms`.
    pub cum_price_ms: u128,
    /// The batch time of the last accumulation; 0: no accumulator.
    pub cum_ms: u64,
    /// The price since `cum_ms`.
    pub price: u64,
}

/// One price level: its orders in FIFO order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Level {
    /// The level's price.
    pub price: u64,
    /// Its orders, first placed first.
    pub orders: Vec<OrderState>,
}

/// One resting order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderState {
    /// Its id.
    pub order_id: u64,
    /// Its owner.
    pub user: u64,
    /// Remaining quantity.
    pub qty: u64,
    /// Quantity held by reservations.
    pub reserved_qty: u64,
    /// Quantity at placement.
    pub qty_orig: u64,
    /// LIVE (true) or PENDING (false).
    pub live: bool,
    /// Cancelled while reserved: what reservations release leaves the book.
    pub closing: bool,
    /// Batch time of placement.
    pub created_ms: u64,
}
