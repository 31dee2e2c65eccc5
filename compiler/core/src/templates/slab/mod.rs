//! The SLAB template: a perpetual-futures order book shard in one ≤ 10 MiB state segment —
//! its layout and fit analysis (here), its parameter table ([`params`]), the book primitives
//! ([`book`]), the maker entrypoints ([`maker`]) and the program ([`program`]). What each
//! entrypoint does is written in `README.md` beside this file, step by step.
//!
//! The segment is, in order: the header (counters and one pool header per allocated pool), the
//! instrument table and the books (always [`INSTRUMENTS_MAX`] rows, so adding an instrument
//! never moves a pool), one region per pool sized by the script's `POOLS` capacities, then the
//! regions those capacities size ([`DERIVED`]: the price levels and the id indexes). Every
//! record has a fixed number of words and named fields; 128-bit values take two words, low
//! first.
//!
//! Pools allocate in O(1) without an initialisation pass: a pool header holds `free_head` (a
//! freed slot, linked through the record's `next_free`, or 0 for none), `high_water` (slots ever
//! handed out) and `used`. Allocation pops the freelist, else takes slot `high_water` while it is
//! below the capacity, else fails with the pool's code; freeing pushes onto the list. Links
//! store `index + 1`, so zeroed memory is an empty pool and 0 is the null link.
//!
//! Only the shape enters the layout hash — region names, offsets and sizes — so changing fees
//! keeps it and changing a pool capacity changes it; the runtime refuses an in-place upgrade
//! across layout hashes. Capacities are the one script value the bytecode holds as
//! immediates (table bounds): one bytecode serves every parameter set of a layout.

use curvescript_check::CheckedBlock;
use curvescript_syntax::{Code, Diagnostic};

use crate::Region;

pub mod book;
pub mod commit;
pub mod funding;
pub mod guard;
pub mod hold;
pub mod liquidation;
pub mod maker;
pub mod params;
pub mod program;

pub use book::SlabTables;
pub use params::{PARAMS, param};
pub use program::program;
#[cfg(feature = "planted-mutations")]
pub use program::program_with_mutation;

/// Abort codes (README.md's table). Codes from 100 are the template's own checks — a table
/// index out of range, a loop bound — and mean a template bug, never a user error.
pub mod code {
    /// Instrument index out of range.
    pub const UNKNOWN_INSTRUMENT: u8 = 1;
    /// Side not 0 or 1.
    pub const BAD_SIDE: u8 = 2;
    /// Price 0 or above `price_max`.
    pub const PRICE_RANGE: u8 = 3;
    /// Price not a multiple of `tick`.
    pub const TICK: u8 = 4;
    /// Quantity 0 or above `qty_max`.
    pub const QTY_RANGE: u8 = 5;
    /// Quantity not a multiple of `lot`.
    pub const LOT: u8 = 6;
    /// User id 0.
    pub const BAD_USER: u8 = 7;
    /// No account slot.
    pub const ACCOUNTS_FULL: u8 = 8;
    /// The maker class's quoted-notional allowance would be exceeded.
    pub const ALLOWANCE: u8 = 9;
    /// A maker order would cross the opposite best.
    pub const CROSSES: u8 = 10;
    /// `PENDING_MAX` pending orders on the instrument.
    pub const PENDING_FULL: u8 = 11;
    /// No order slot.
    pub const ORDERS_FULL: u8 = 12;
    /// More than `LEVEL_DEPTH_MAX` better levels on the order's side.
    pub const LEVEL_DEPTH: u8 = 13;
    /// No resting order with that id.
    pub const UNKNOWN_ORDER: u8 = 14;
    /// The order belongs to another user.
    pub const NOT_OWNER: u8 = 15;
    /// `batch_open` before the batch window elapsed.
    pub const BATCH_EARLY: u8 = 16;
    /// Maker class not 0 or 1.
    pub const BAD_CLASS: u8 = 17;
    /// `DLP_MAX` DLP accounts already.
    pub const DLP_FULL: u8 = 18;
    /// An id index has no vacancy within its probes.
    pub const INDEX_FULL: u8 = 19;
    /// A reservation TTL of 0.
    pub const BAD_TTL: u8 = 20;
    /// No reservation slot.
    pub const RESERVATIONS_FULL: u8 = 21;
    /// No slice slot during the walk.
    pub const SLICES_FULL: u8 = 22;
    /// The walk found nothing to hold.
    pub const NO_LIQUIDITY: u8 = 23;
    /// Commit of a hold that is not live.
    pub const UNKNOWN_HOLD: u8 = 24;
    /// Commit after the hold's `expiry_ms`.
    pub const EXPIRED: u8 = 25;
    /// Commit after the instrument's batch moved on.
    pub const EPOCH: u8 = 26;
    /// An instrument's oracle has no mark yet.
    pub const NO_MARK: u8 = 27;
    /// The taker is below maintenance margin before the fill.
    pub const BELOW_MAINTENANCE: u8 = 28;
    /// No position slot.
    pub const POSITIONS_FULL: u8 = 29;
    /// The margin shortfall exceeds the hold's `max_charge`.
    pub const MAX_CHARGE: u8 = 30;
    /// A position would reach 2^63 underlying units.
    pub const POSITION_LIMIT: u8 = 31;
    /// A commit's `margin` flag other than 0 (the slab margins) or 1 (the router does).
    pub const BAD_MARGIN: u8 = 32;
    /// An order ahead of the top `freeze_levels` levels of its side during the freeze window (M8).
    pub const FROZEN: u8 = 33;
    /// Commit after the mark left the kill band around the hold's reserve-time mark (M10).
    pub const KILL_BAND: u8 = 34;
    /// The salt and the hold's fields do not hash to its commitment (M6).
    pub const BAD_REVEAL: u8 = 35;
    /// The slab's fees exceed the caps governance set (ADV3).
    pub const FEE_CAP: u8 = 36;
    /// No aggressor-ledger slot for a taker's first commit in an instrument's batch.
    pub const AGGRESSOR_FULL: u8 = 37;
    /// A position's price gap less its unsettled funding per unit reached 2^64.
    pub const FUNDING_RANGE: u8 = 38;
    /// A liquidation band of 0 or above 10,000 bps.
    pub const BAD_BAND: u8 = 39;
    /// The instrument's feed has published, but its price is stale by batch time (F3).
    pub const STALE_MARK: u8 = 40;
    /// A table index out of range or a loop past its bound: a template bug.
    pub const TABLE: u8 = 100;

    /// Every user-facing code with its name, for the manifest and the tests.
    pub const NAMES: [(u8, &str); 40] = [
        (UNKNOWN_INSTRUMENT, "UNKNOWN_INSTRUMENT"),
        (BAD_SIDE, "BAD_SIDE"),
        (PRICE_RANGE, "PRICE_RANGE"),
        (TICK, "TICK"),
        (QTY_RANGE, "QTY_RANGE"),
        (LOT, "LOT"),
        (BAD_USER, "BAD_USER"),
        (ACCOUNTS_FULL, "ACCOUNTS_FULL"),
        (ALLOWANCE, "ALLOWANCE"),
        (CROSSES, "CROSSES"),
        (PENDING_FULL, "PENDING_FULL"),
        (ORDERS_FULL, "ORDERS_FULL"),
        (LEVEL_DEPTH, "LEVEL_DEPTH"),
        (UNKNOWN_ORDER, "UNKNOWN_ORDER"),
        (NOT_OWNER, "NOT_OWNER"),
        (BATCH_EARLY, "BATCH_EARLY"),
        (BAD_CLASS, "BAD_CLASS"),
        (DLP_FULL, "DLP_FULL"),
        (INDEX_FULL, "INDEX_FULL"),
        (BAD_TTL, "BAD_TTL"),
        (RESERVATIONS_FULL, "RESERVATIONS_FULL"),
        (SLICES_FULL, "SLICES_FULL"),
        (NO_LIQUIDITY, "NO_LIQUIDITY"),
        (UNKNOWN_HOLD, "UNKNOWN_HOLD"),
        (EXPIRED, "EXPIRED"),
        (EPOCH, "EPOCH"),
        (NO_MARK, "NO_MARK"),
        (BELOW_MAINTENANCE, "BELOW_MAINTENANCE"),
        (POSITIONS_FULL, "POSITIONS_FULL"),
        (MAX_CHARGE, "MAX_CHARGE"),
        (POSITION_LIMIT, "POSITION_LIMIT"),
        (BAD_MARGIN, "BAD_MARGIN"),
        (FROZEN, "FROZEN"),
        (KILL_BAND, "KILL_BAND"),
        (BAD_REVEAL, "BAD_REVEAL"),
        (FEE_CAP, "FEE_CAP"),
        (AGGRESSOR_FULL, "AGGRESSOR_FULL"),
        (FUNDING_RANGE, "FUNDING_RANGE"),
        (BAD_BAND, "BAD_BAND"),
        (STALE_MARK, "STALE_MARK"),
    ];
}

/// A planted bug: one guard of the template left out, for the mutation tests
/// (`compiler/core/tests/slab_book.rs`), each of which a named test must catch. Only
/// [`Mutation::None`] is reachable without the `planted-mutations` feature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mutation {
    /// The template as specified.
    #[default]
    None,
    /// `place_order` and `reserve` accept prices off the tick (S3, R1).
    NoTick,
    /// `place_order` and `reserve` accept quantities off the lot (S3, R1).
    NoLot,
    /// The walk takes an order's whole quantity, ignoring what is already reserved (S8, M4).
    NoReservedBound,
    /// The walk takes from PENDING orders too (S7, M2).
    MatchesPending,
    /// `cancel` of a hold that is not live aborts instead of succeeding (R8, F2).
    CancelNotIdempotent,
    /// `commit` after the hold's TTL (R4).
    NoTtl,
    /// `commit` after the instrument's epoch moved on.
    NoEpoch,
    /// `commit` debits more than the hold's `max_charge` (S9, ADV1).
    NoDebitGuard,
    /// `commit` skips the taker's maintenance check before the fill.
    NoMargin,
    /// `commit` takes its debit without the router's cap (cap id 0): the host must refuse it.
    DebitWithoutCap,
    /// `commit` ignores the kill band (M10, R7).
    KillBandOff,
    /// The round-trip guard charges a taker's whole overlap on every commit, profitable or not
    /// (percolator §7's defect 7; S11, M11).
    ArgEveryCommit,
    /// `commit` does not re-check the governance fee caps (ADV3).
    FeeCapUnchecked,
    /// `apply_funding` applies an interval's funding again when called twice in it (RM6).
    FundingTwice,
    /// `liquidation_call` debits everything the closing left owing, beyond the escrow the
    /// router pledged (L2): the host refuses it and the liquidation fails.
    LiquidationUnbounded,
    /// `batch_open` releases no hold: a hold of an earlier epoch keeps its quantity reserved
    /// though it can never commit (F1).
    HoldsOutliveTheirBatch,
}

impl Mutation {
    /// Every planted bug.
    pub const ALL: [Mutation; 16] = [
        Mutation::NoTick,
        Mutation::NoLot,
        Mutation::NoReservedBound,
        Mutation::MatchesPending,
        Mutation::CancelNotIdempotent,
        Mutation::NoTtl,
        Mutation::NoEpoch,
        Mutation::NoDebitGuard,
        Mutation::NoMargin,
        Mutation::DebitWithoutCap,
        Mutation::KillBandOff,
        Mutation::ArgEveryCommit,
        Mutation::FeeCapUnchecked,
        Mutation::FundingTwice,
        Mutation::LiquidationUnbounded,
        Mutation::HoldsOutliveTheirBatch,
    ];
}

/// Instrument rows (the schema's `INSTRUMENT` repeat bound).
pub const INSTRUMENTS_MAX: u32 = 32;

/// Most accounts that are designated LPs at once (percolator §3.2's `dlp_max`).
pub const DLP_MAX: u32 = 100;

/// Most PENDING orders one instrument holds: `batch_open` promotes them all in one call, so
/// this bounds its gas.
pub const PENDING_MAX: u32 = 2_048;

/// Most price levels of a side that may be better than a maker order's price: placing an
/// order walks the sorted level list from the best, so this bounds `place_order`'s gas.
pub const LEVEL_DEPTH_MAX: u32 = 1_024;

/// Most holds one `batch_open` releases (the oldest of its instrument's queue, all of earlier
/// epochs and so never committable again): bounds its gas — a release costs what a `cancel`
/// does, and three fit the 300,000-gas ceiling beside a full promotion; more wait for the next
/// batch. (Dead holds are rare: the router cancels what it does not commit in the same call.)
pub const HOLDS_RELEASED_MAX: u32 = 3;

/// Most orders one `reserve` looks at (taken or skipped): bounds its gas.
pub const RESERVE_VISITS_MAX: u32 = 128;

/// Most slices one hold takes: bounds the gas of `commit` and `cancel` (a commit of 6 slices,
/// each settling two positions' funding, fits the 300,000-gas ceiling with the margin walk; the
/// router splits larger routes into several holds).
pub const SLICES_PER_HOLD_MAX: u32 = 6;

/// Probes of an id index ([`curve_ir::keyed`]): the index has twice its pool's capacity, so
/// at most half its slots hold keys and a vacancy is almost always within a few probes.
pub const INDEX_PROBES: u32 = 32;

/// Bytes one state segment may hold (10 MiB).
pub const SLAB_BYTES_MAX: u64 = curvevm::module::MAX_SLAB_WORDS as u64 * 8;

pub use curve_ir::ir::Record;

/// Pools with a (free_head, high_water, used) header triple, in header order. The `trades`
/// pool is a ring (`trades_written` in the header), not allocated.
pub const ALLOCATED: [&str; 7] = [
    "accounts",
    "orders",
    "levels",
    "positions",
    "reservations",
    "slices",
    "aggressor",
];

/// The header's fields: counters, then one (free_head, high_water, used) triple per
/// [`ALLOCATED`] pool.
pub static HEADER: Record = Record {
    name: "header",
    fields: &[
        ("magic", 1),
        ("version", 1),
        ("orders_issued", 1),
        ("holds_issued", 1),
        ("book_seqno", 1),
        ("current_ms", 1),
        ("dlp_count", 1),
        ("fees_collected", 2),
        ("insurance", 2),
        ("collected", 2),
        ("trades_written", 1),
        ("trades_next", 1),
        ("reserved", 1),
        ("fee_caps_set", 1),
        ("maker_bps_cap", 1),
        ("taker_bps_cap", 1),
        ("pools", 3 * ALLOCATED.len() as u32),
    ],
};

/// One instrument row.
pub static INSTRUMENT: Record = Record {
    name: "instruments",
    fields: &[
        // Funding (README "Funding"): the index, the last per-interval step, the interval it
        // last moved in, the oracle accumulator's snapshot and the fills since.
        ("cum_funding", 2),
        ("funding_rate", 1),
        ("funding_interval", 1),
        ("index_area", 2),
        ("index_ms", 1),
        ("fill_qty", 2),
        ("fill_notional", 2),
        ("pending_head", 1),
        ("pending_tail", 1),
        ("pending_count", 1),
        ("epoch", 1),
        ("batch_open_ms", 1),
        ("freeze_until_ms", 1),
        ("open_interest", 1),
        // The live holds, in reserve order (`batch_open` releases those of earlier epochs).
        ("holds_head", 1),
        ("holds_tail", 1),
        ("holds_count", 1),
        ("reserved", 2),
    ],
};

/// One side of one instrument's book (record `2 × instrument + side`): its best level.
pub static BOOK: Record = Record {
    name: "books",
    fields: &[("best", 1), ("levels", 1)],
};

/// Every pool the script sizes, in segment order: the `POOLS` argument and its record.
pub static POOLS: [(&str, Record); 7] = [
    (
        "accounts",
        Record {
            name: "accounts",
            fields: &[
                ("user", 1),
                ("cash", 2),
                ("quoted", 2),
                ("position_head", 1),
                ("orders", 1),
                ("class", 1),
                ("aggressor_head", 1),
                ("next_free", 1),
            ],
        },
    ),
    (
        "orders",
        Record {
            name: "orders",
            fields: &[
                ("order_id", 1),
                ("account", 1),
                ("level", 1),
                ("live", 1),
                ("created_ms", 1),
                ("price", 1),
                ("qty", 1),
                ("reserved_qty", 1),
                ("qty_orig", 1),
                ("next", 1),
                ("prev", 1),
                ("pending_next", 1),
                ("pending_prev", 1),
                ("closing", 1),
                ("next_free", 1),
            ],
        },
    ),
    (
        "positions",
        Record {
            name: "positions",
            fields: &[
                ("account", 1),
                ("instrument", 1),
                ("qty", 1),
                ("entry_px", 1),
                ("last_funding", 2),
                ("next_in_account", 1),
                ("next_free", 1),
            ],
        },
    ),
    (
        "reservations",
        Record {
            name: "reservations",
            fields: &[
                ("hold_id", 1),
                ("route_id", 1),
                ("account", 1),
                ("instrument", 1),
                ("side", 1),
                ("qty", 1),
                ("vwap_px", 1),
                ("worst_px", 1),
                ("max_charge", 2),
                ("commitment_0", 1),
                ("commitment_1", 1),
                ("commitment_2", 1),
                ("commitment_3", 1),
                ("book_seqno", 1),
                ("expiry_ms", 1),
                ("slice_head", 1),
                ("slices", 1),
                ("epoch", 1),
                ("qty_asked", 1),
                ("limit_px", 1),
                ("mark_px", 1),
                ("band_low", 1),
                ("band_high", 1),
                ("prev_hold", 1),
                ("next_hold", 1),
                ("next_free", 1),
            ],
        },
    ),
    (
        "slices",
        Record {
            name: "slices",
            fields: &[
                ("order_id", 1),
                ("qty", 1),
                ("price", 1),
                ("next", 1),
                ("next_free", 1),
            ],
        },
    ),
    (
        "trades",
        Record {
            name: "trades",
            fields: &[
                ("ms", 1),
                ("maker_order", 1),
                ("route_id", 1),
                ("instrument", 1),
                ("side", 1),
                ("price", 1),
                ("qty", 1),
            ],
        },
    ),
    (
        "aggressor",
        Record {
            name: "aggressor",
            fields: &[
                ("account", 1),
                ("instrument", 1),
                ("epoch", 1),
                ("buy_qty", 1),
                ("buy_notional", 2),
                ("sell_qty", 1),
                ("sell_notional", 2),
                ("next_in_account", 1),
                ("next_free", 1),
                // Sixteen words in all: a record's address is a shift, which the ledger walk
                // of every commit repeats up to 32 times.
                ("unused", 5),
            ],
        },
    ),
];

/// A price level: its book (`2 × instrument + side`), price, FIFO of orders and neighbours
/// in the book's sorted level list. A level exists while it holds an order, so there are
/// never more levels than orders: the pool has the orders' capacity.
pub static LEVEL: Record = Record {
    name: "levels",
    fields: &[
        ("book", 1),
        ("price", 1),
        ("head", 1),
        ("tail", 1),
        ("prev", 1),
        ("next", 1),
        ("count", 1),
        ("next_free", 1),
    ],
};

/// One entry of an id index: the key (an id, 0 empty, [`curve_ir::keyed::TOMBSTONE`] removed)
/// and the pool slot it names.
pub static INDEX_ENTRY: Record = Record {
    name: "index",
    fields: &[("key", 1), ("slot", 1)],
};

/// Regions sized from a script pool: (region, record, the `POOLS` argument, records per unit
/// of its capacity), after the pools in segment order.
pub static DERIVED: [(&str, &Record, &str, u32); 4] = [
    ("levels", &LEVEL, "orders", 1),
    ("account_index", &INDEX_ENTRY, "accounts", 2),
    ("order_index", &INDEX_ENTRY, "orders", 2),
    ("hold_index", &INDEX_ENTRY, "reservations", 2),
];

/// Words one unit of a `POOLS` argument costs: its record plus the derived regions it sizes.
pub fn words_per_unit(pool: &str) -> u64 {
    let own = POOLS
        .iter()
        .find(|(arg, _)| *arg == pool)
        .map_or(0, |(_, record)| u64::from(record.words()));
    let derived: u64 = DERIVED
        .iter()
        .filter(|(_, _, arg, _)| *arg == pool)
        .map(|(_, record, _, per)| u64::from(record.words() * per))
        .sum();
    own + derived
}

/// A slab's layout: the regions in segment order and the capacity of each pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabLayout {
    /// Regions, contiguous from word 0.
    pub regions: Vec<Region>,
    /// Pool capacities, in [`POOLS`] order.
    pub capacities: Vec<u32>,
    /// Oracle views the program maps: one per distinct oracle its instruments name (1–8). The
    /// bytecode reads a mark by view number, so this is part of the shape.
    pub views: u32,
}

impl SlabLayout {
    /// The layout of pools with these capacities (in [`POOLS`] order), whether or not it fits
    /// the segment ([`layout`] checks that for a script).
    pub fn of(capacities: [u32; POOLS.len()]) -> SlabLayout {
        let mut regions = Vec::new();
        let mut offset = 0u32;
        let mut push = |name: &'static str, words: u32| {
            regions.push(Region {
                name,
                offset,
                words,
            });
            offset += words;
        };
        push("header", HEADER.words());
        push("instruments", INSTRUMENTS_MAX * INSTRUMENT.words());
        push("books", 2 * INSTRUMENTS_MAX * BOOK.words());
        for ((name, record), capacity) in POOLS.iter().zip(capacities) {
            push(name, capacity * record.words());
        }
        for (name, record, pool, per) in &DERIVED {
            let capacity = capacities[pool_index(pool)];
            push(name, capacity * per * record.words());
        }
        SlabLayout {
            regions,
            capacities: capacities.to_vec(),
            views: 1,
        }
    }

    /// The same layout mapping `views` oracle views.
    pub fn with_views(mut self, views: u32) -> SlabLayout {
        assert!(
            (1..=curvevm::module::MAX_VIEWS as u32).contains(&views),
            "a slab maps 1 to 8 oracle views"
        );
        self.views = views;
        self
    }

    /// Records the region called `name` holds (a pool, a derived region or a fixed table).
    pub fn capacity(&self, name: &str) -> u32 {
        if let Some(i) = POOLS.iter().position(|(pool, _)| *pool == name) {
            return self.capacities[i];
        }
        if let Some((_, _, pool, per)) = DERIVED.iter().find(|(region, ..)| *region == name) {
            return self.capacities[pool_index(pool)] * per;
        }
        match name {
            "instruments" => INSTRUMENTS_MAX,
            "books" => 2 * INSTRUMENTS_MAX,
            _ => panic!("the slab layout has no region `{name}`"),
        }
    }

    /// Words the segment needs.
    pub fn words(&self) -> u32 {
        self.regions.last().map_or(0, |r| r.offset + r.words)
    }

    /// The layout hash ([`crate::manifest::layout_hash_of`]).
    pub fn hash(&self) -> String {
        crate::manifest::layout_hash_of("slab", self.words(), &self.regions, &self.shape())
    }

    /// What the module is generated for: each pool's capacity, then `views`.
    pub fn shape(&self) -> Vec<(&'static str, u32)> {
        POOLS
            .iter()
            .map(|(name, _)| *name)
            .zip(self.capacities.iter().copied())
            .chain([("views", self.views)])
            .collect()
    }

    /// The layout a manifest states (`layout.shape`).
    pub fn from_manifest(manifest: &serde_json::Value) -> Result<SlabLayout, String> {
        let shape = crate::templates::manifest_shape(manifest)?;
        let pairs: Vec<(&str, u32)> = shape.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        SlabLayout::from_shape(&pairs)
    }

    /// The layout of `shape` (as a manifest states it), if it is one a script could declare:
    /// every pool named once with a capacity of 1 to 10^6, 1 to 8 views, nothing else, and the
    /// whole within 10 MiB.
    pub fn from_shape(shape: &[(&str, u32)]) -> Result<SlabLayout, String> {
        let value = |name: &str| -> Result<u32, String> {
            let mut found = shape.iter().filter(|(n, _)| *n == name);
            match (found.next(), found.next()) {
                (Some(&(_, value)), None) => Ok(value),
                (None, _) => Err(format!("the slab shape names no `{name}`")),
                (Some(_), Some(_)) => Err(format!("the slab shape names `{name}` twice")),
            }
        };
        if let Some((extra, _)) = shape
            .iter()
            .find(|(n, _)| *n != "views" && !POOLS.iter().any(|(pool, _)| pool == n))
        {
            return Err(format!("the slab shape has no dimension `{extra}`"));
        }
        let mut capacities = [0u32; POOLS.len()];
        for (slot, (name, _)) in capacities.iter_mut().zip(&POOLS) {
            *slot = value(name)?;
            if !(1..=POOL_CAPACITY_MAX).contains(slot) {
                return Err(format!(
                    "the `{name}` pool holds {slot} records; a pool holds 1 to {POOL_CAPACITY_MAX}"
                ));
            }
        }
        let views = value("views")?;
        if !(1..=curvevm::module::MAX_VIEWS as u32).contains(&views) {
            return Err(format!(
                "a slab maps 1 to {} oracle views, not {views}",
                curvevm::module::MAX_VIEWS
            ));
        }
        let fixed = u64::from(SlabLayout::of([0; POOLS.len()]).words());
        let words: u64 = fixed
            + POOLS
                .iter()
                .zip(capacities)
                .map(|((name, _), capacity)| u64::from(capacity) * words_per_unit(name))
                .sum::<u64>();
        if words * 8 > SLAB_BYTES_MAX {
            return Err(format!(
                "the slab shape needs {} bytes; a slab holds {}",
                thousands(words * 8),
                thousands(SLAB_BYTES_MAX)
            ));
        }
        Ok(SlabLayout::of(capacities).with_views(views))
    }

    /// The region called `name`.
    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }
}

/// The most records a pool holds (the schema's bound on every `POOLS` argument).
pub const POOL_CAPACITY_MAX: u32 = 1_000_000;

/// The SLAB template of one layout: the module is generated for the layout's shape (pool
/// capacities are immediates), so a verifier rebuilds it from the shape a manifest states and
/// compares bytes. The parameters and the certificate's conditions are the same for every
/// layout.
///
/// # Panics
/// If the template does not lower (a compiler bug).
pub fn template(layout: &SlabLayout) -> crate::templates::Template {
    crate::templates::Template {
        name: "slab",
        role: "slab",
        interface: &crate::abi::SLAB,
        lowered: curve_ir::lower(&program::program(layout)).expect("the SLAB template lowers"),
        param_names: params::PARAM_NAMES.clone(),
        conditions: params::conditions(),
        constants: params::CONSTANTS.to_vec(),
        derived: Vec::new(),
        layout: layout.regions.clone(),
        shape: layout.shape(),
        gas_budget: crate::templates::DEFAULT_GAS_BUDGET,
    }
}

/// The deployable artifact of a checked SLAB block (a layout that does not fit is the
/// diagnostic of [`layout`]).
pub fn artifact(block: &CheckedBlock) -> Result<crate::Artifact, Diagnostic> {
    let layout = layout(block)?;
    let template = template(&layout);
    Ok(crate::Artifact {
        kind: block.kind,
        id: block.id.clone(),
        template: template.name,
        role: template.role,
        interface: template.interface,
        ir: program::program(&layout),
        lowered: template.lowered,
        params: params::table(block),
        conditions: template.conditions,
        constants: template.constants,
        layout: template.layout,
        shape: template.shape,
        gas_budget: template.gas_budget,
        keyword_spans: crate::keyword_spans(
            block,
            &[
                "MAKER_CLASS",
                "MATCHING",
                "FEE",
                "RISK",
                "ANTI_TOXICITY",
                "BATCH_WINDOW",
                "FUNDING",
                "LIQUIDATION",
                "INSTRUMENT",
                "POOLS",
            ],
        ),
        block_span: block.span,
    })
}

/// A compiled SLAB block: its layout, its lowered program and its parameter table.
#[derive(Clone, Debug)]
pub struct Built {
    /// The layout.
    pub layout: SlabLayout,
    /// The program of that layout, lowered.
    pub lowered: curve_ir::Lowered,
    /// The parameter table's words.
    pub params: Vec<u64>,
}

/// Lays out, generates and lowers `block`'s slab (a layout that does not fit is the
/// diagnostic of [`layout`]).
///
/// # Panics
/// If the template does not lower (a compiler bug).
pub fn build(block: &CheckedBlock) -> Result<Built, Diagnostic> {
    let layout = layout(block)?;
    let lowered = curve_ir::lower(&program::program(&layout)).expect("the SLAB template lowers");
    let params = params::table(block).iter().map(|slot| slot.value).collect();
    Ok(Built {
        layout,
        lowered,
        params,
    })
}

fn pool_index(pool: &str) -> usize {
    POOLS
        .iter()
        .position(|(name, _)| *name == pool)
        .expect("derived regions name a pool")
}

fn thousands(n: u64) -> String {
    curvescript_check::schema::show_number(u128::from(n))
}

/// Lays out `block`'s slab, or explains at the `POOLS` line why it does not fit.
pub fn layout(block: &CheckedBlock) -> Result<SlabLayout, Diagnostic> {
    // u64 arithmetic first: a capacity is at most 10^6 and a record tens of words, so sizes
    // cannot overflow here even when they overflow the segment.
    let fixed = u64::from(SlabLayout::of([0; POOLS.len()]).words());
    // (argument, capacity, words of the region and its derived regions, words per unit)
    let pools: Vec<(&'static str, u32, u64, u32)> = POOLS
        .iter()
        .map(|(arg, _)| {
            let capacity = block
                .number("POOLS", arg)
                .and_then(|n| u32::try_from(n).ok())
                .expect("the checker fills every POOLS default, ≤ 10^6");
            let per = words_per_unit(arg);
            (*arg, capacity, u64::from(capacity) * per, per as u32)
        })
        .collect();
    let total: u64 = fixed + pools.iter().map(|(_, _, w, _)| w).sum::<u64>();
    if total * 8 > SLAB_BYTES_MAX {
        let (largest, _, largest_words, record_words) = *pools
            .iter()
            .max_by_key(|(_, _, words, _)| *words)
            .expect("seven pools");
        let span = block
            .statement("POOLS")
            .and_then(|s| s.arg_span(largest))
            .unwrap_or(block.header_span);
        let breakdown: Vec<String> = pools
            .iter()
            .map(|(arg, _, words, _)| format!("{arg} {} B", thousands(words * 8)))
            .collect();
        return Err(Diagnostic::error(
            Code::LayoutTooLarge,
            span,
            format!(
                "the slab's pools need {} bytes; a slab holds {} (10 MiB)",
                thousands(total * 8),
                thousands(SLAB_BYTES_MAX)
            ),
        )
        .with_label(format!(
            "`{largest}` alone takes {} bytes ({} per record with its level and index entries)",
            thousands(largest_words * 8),
            record_words * 8
        ))
        .with_help(format!(
            "lower the POOLS capacities by {} bytes in all ({})",
            thousands(total * 8 - SLAB_BYTES_MAX),
            breakdown.join(", ")
        )));
    }
    let mut capacities = [0; POOLS.len()];
    for (slot, (_, capacity, _, _)) in capacities.iter_mut().zip(&pools) {
        *slot = *capacity;
    }
    let views = params::oracles(block).len().max(1) as u32;
    if views > curvevm::module::MAX_VIEWS as u32 {
        let span = block
            .statements_named("INSTRUMENT")
            .nth(curvevm::module::MAX_VIEWS)
            .and_then(|s| s.arg_span("oracle"))
            .unwrap_or(block.header_span);
        return Err(Diagnostic::error(
            Code::LayoutTooLarge,
            span,
            format!(
                "the slab's instruments name {views} distinct oracles; a slab maps at most {}",
                curvevm::module::MAX_VIEWS
            ),
        )
        .with_help("mark several instruments from the same ORACLE block"));
    }
    Ok(SlabLayout::of(capacities).with_views(views))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_fields_are_unique_and_named_offsets_add_up() {
        for record in [&HEADER, &INSTRUMENT, &BOOK, &LEVEL, &INDEX_ENTRY]
            .into_iter()
            .chain(POOLS.iter().map(|(_, r)| r))
        {
            let mut names: Vec<_> = record.fields.iter().map(|(n, _)| *n).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), record.fields.len(), "{}", record.name);
            let (last, words) = record.fields.last().expect("fields");
            assert_eq!(
                record.field(last) + words,
                record.words(),
                "{}",
                record.name
            );
        }
        for (arg, record) in &POOLS {
            assert_eq!(*arg, record.name);
        }
    }
}
