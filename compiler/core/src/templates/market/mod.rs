//! The MARKET template: one LMSR market maker over an explicit table of worlds (binary,
//! multi-outcome, or joint over N binary events), priced in bytecode with the `exp_neg` and `ln`
//! microcode. `README.md` beside this file is the specification, step by step; the modules are
//! its parts: the layout and shape (here), the parameter table ([`params`]), baskets
//! ([`basket`]), the potential and its caches ([`potential`]), the entrypoints ([`trade`],
//! [`prior`]) and the program ([`program`]).
//!
//! The module is generated per shape — the structure, the world count and the account
//! capacity are immediates (loop bounds, table capacities) — as a slab's is per pool capacities;
//! every script value (`b`, the fee, the close time, the prior's weights) is read from the
//! parameter table.

use curve_ir::ir::{Record, Table};
use curvevm::isa::Segment;

use crate::Region;

pub mod artifact;
pub mod basket;
pub mod params;
pub mod potential;
pub mod prior;
pub mod program;
pub mod trade;

pub use artifact::artifact;
pub use program::program;
#[cfg(feature = "planted-mutations")]
pub use program::program_with_mutation;

/// Abort codes (README.md's table). Code 100 is a template bug, never a user error; 10 is unused
/// (a prior whose weights sum to zero is the compiler's error).
pub mod code {
    /// A trade before `open`.
    pub const NOT_OPEN: u8 = 1;
    /// `open` twice.
    pub const ALREADY_OPEN: u8 = 2;
    /// At or after the close time.
    pub const CLOSED: u8 = 3;
    /// User id 0.
    pub const BAD_USER: u8 = 4;
    /// A basket outside the worlds, contradictory or empty.
    pub const BAD_BASKET: u8 = 5;
    /// Fewer shares than the minimum trade.
    pub const MIN_TRADE: u8 = 6;
    /// Cost above `max_cost` or proceeds below `min_proceeds`.
    pub const SLIPPAGE: u8 = 7;
    /// A sell beyond the user's holdings.
    pub const HOLDINGS: u8 = 8;
    /// No account slot.
    pub const ACCOUNTS_FULL: u8 = 9;
    /// A buy past the spread or size limits.
    pub const LIMIT: u8 = 11;
    /// The escrow would not cover a world's liability.
    pub const SOLVENCY: u8 = 12;
    /// An entrypoint of a later issue.
    pub const NOT_BUILT: u8 = 40;
    /// A table index out of range or a loop past its bound: a template bug.
    pub const TABLE: u8 = 100;

    /// Every user-facing code with its name, for the manifest and the tests.
    pub const NAMES: [(u8, &str); 12] = [
        (NOT_OPEN, "NOT_OPEN"),
        (ALREADY_OPEN, "ALREADY_OPEN"),
        (CLOSED, "CLOSED"),
        (BAD_USER, "BAD_USER"),
        (BAD_BASKET, "BAD_BASKET"),
        (MIN_TRADE, "MIN_TRADE"),
        (SLIPPAGE, "SLIPPAGE"),
        (HOLDINGS, "HOLDINGS"),
        (ACCOUNTS_FULL, "ACCOUNTS_FULL"),
        (LIMIT, "LIMIT"),
        (SOLVENCY, "SOLVENCY"),
        (NOT_BUILT, "NOT_BUILT"),
    ];
}

/// A planted bug for the mutation tests (`compiler/core/tests/market.rs`), each caught by a
/// named test. Only [`Mutation::None`] is reachable without the `planted-mutations` feature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mutation {
    /// The template as specified.
    #[default]
    None,
    /// The potential's `b·ln s` term is rounded down instead of up, so charges round down.
    ChargeRoundedDown,
    /// `sell` skips the holdings check.
    NoHoldingsCheck,
    /// `spend`'s estimate is one share high, so every spend takes the adjust step (which must
    /// still land on the largest count: a fault the template absorbs, not one a test catches).
    SpendEstimateHigh,
}

/// The market structures (README's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structure {
    /// Two worlds: world 1 is "the event happens"; baskets as a joint market of one event.
    Binary,
    /// 3–10 mutually exclusive outcomes; a basket is a set of outcomes (`yes_mask`).
    Multi,
    /// 2^N worlds over N binary events; a basket is a slice (`yes_mask`, `no_mask`).
    Joint,
}

impl Structure {
    /// Its `STRUCTURE kind=` name.
    pub fn name(self) -> &'static str {
        match self {
            Structure::Binary => "binary",
            Structure::Multi => "multi",
            Structure::Joint => "joint",
        }
    }

    /// The structure named `name`.
    pub fn from_name(name: &str) -> Option<Structure> {
        [Structure::Binary, Structure::Multi, Structure::Joint]
            .into_iter()
            .find(|s| s.name() == name)
    }

    /// Its number in a manifest's shape.
    pub fn number(self) -> u32 {
        match self {
            Structure::Binary => 0,
            Structure::Multi => 1,
            Structure::Joint => 2,
        }
    }
}

/// Most events of a joint market (12 with `large_world_table`, 10 without).
pub const EVENTS_MAX: u32 = 12;

/// Most worlds of any market.
pub const WORLDS_MAX: u32 = 1 << EVENTS_MAX;

/// Words of state a market may use: 8 MiB, of which the world table takes 6 words a world and
/// each account `3 + 2n` words plus its index entries. The account capacity is what is left.
pub const MEMORY_BUDGET_WORDS: u32 = 1 << 20;

/// Most accounts of any market.
pub const ACCOUNTS_MAX: u32 = 4_096;

/// Probes of the account index (twice the accounts' capacity, so at most half full).
pub const INDEX_PROBES: u32 = 32;

/// The header: whether `open` ran, the caches of the potential and the money.
pub static HEADER: Record = Record {
    name: "header",
    fields: &[
        ("open", 1),
        ("accounts_used", 1),
        // max_w r_w, Σ_w e_w (Q64.64) and Φ(r): the potential's caches.
        ("max", 2),
        ("sum", 2),
        ("potential", 2),
        // What backs the worlds' payouts: the subsidy plus every charge less every payout.
        ("escrow", 2),
        ("fees", 2),
        ("subsidy", 2),
        // Collateral taken through caps (the runtime's conservation ledger).
        ("collected", 2),
    ],
};

/// One world: its shifted shares `r_w`, the prior's `r0_w`, and the cached `e_w`.
pub static WORLD: Record = Record {
    name: "worlds",
    fields: &[("shares", 2), ("initial", 2), ("exp", 2)],
};

/// One account: its user and its cash (sale proceeds).
pub static ACCOUNT: Record = Record {
    name: "accounts",
    fields: &[("user", 1), ("cash", 2)],
};

/// One holding: an account's shares of one world (record `account × n + world`).
pub static HOLDING: Record = Record {
    name: "holdings",
    fields: &[("amount", 2)],
};

/// One entry of the account index: the user (0 empty) and the account slot.
pub static INDEX_ENTRY: Record = Record {
    name: "account_index",
    fields: &[("key", 1), ("slot", 1)],
};

/// A market's shape and layout: what its module is generated for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketLayout {
    /// The structure.
    pub structure: Structure,
    /// Events (joint; 1 for binary) or outcomes (multi).
    pub events: u32,
    /// Worlds `n`.
    pub worlds: u32,
    /// Account capacity.
    pub accounts: u32,
    /// Whether the parameter table holds the prior's lifts (a table or naive-Bayes prior); a
    /// uniform prior has none (every `r0_w` is 0).
    pub lifts: bool,
    /// Regions, contiguous from word 0.
    pub regions: Vec<Region>,
}

impl MarketLayout {
    /// The layout of a market of `structure` over `events` events (or outcomes) whose prior's
    /// lifts are in the parameter table.
    ///
    /// # Panics
    /// Outside the structure's range (binary: 1; multi: 3–10; joint: 1–12): the checker refuses
    /// such scripts before.
    pub fn new(structure: Structure, events: u32) -> MarketLayout {
        let worlds = match structure {
            Structure::Binary => {
                assert_eq!(events, 1, "a binary market has one event");
                2
            }
            Structure::Multi => {
                assert!((3..=10).contains(&events), "3 to 10 outcomes");
                events
            }
            Structure::Joint => {
                assert!((1..=EVENTS_MAX).contains(&events), "1 to 12 events");
                1 << events
            }
        };
        let fixed = HEADER.words() + worlds * WORLD.words();
        let per_account = ACCOUNT.words() + worlds * HOLDING.words() + 2 * INDEX_ENTRY.words();
        let accounts = ((MEMORY_BUDGET_WORDS - fixed) / per_account).min(ACCOUNTS_MAX);
        let mut regions = Vec::new();
        let mut offset = 0;
        for (name, words) in [
            ("header", HEADER.words()),
            ("worlds", worlds * WORLD.words()),
            ("accounts", accounts * ACCOUNT.words()),
            ("holdings", accounts * worlds * HOLDING.words()),
            ("account_index", 2 * accounts * INDEX_ENTRY.words()),
        ] {
            regions.push(Region {
                name,
                offset,
                words,
            });
            offset += words;
        }
        MarketLayout {
            structure,
            events,
            worlds,
            accounts,
            lifts: true,
            regions,
        }
    }

    /// The same layout with a uniform prior: no lifts in the parameter table.
    pub fn uniform(mut self) -> MarketLayout {
        self.lifts = false;
        self
    }

    /// The region called `name`.
    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// State words.
    pub fn words(&self) -> u32 {
        self.regions.last().map_or(0, |r| r.offset + r.words)
    }

    /// The shape a manifest states.
    pub fn shape(&self) -> Vec<(&'static str, u32)> {
        vec![
            ("structure", self.structure.number()),
            ("events", self.events),
            ("worlds", self.worlds),
            ("accounts", self.accounts),
            ("prior", u32::from(self.lifts)),
        ]
    }

    fn table(&self, name: &'static str, record: &'static Record, capacity: u32) -> Table {
        Table {
            segment: Segment::Slab,
            base: self.region(name).expect("every market region").offset,
            capacity,
            record,
            code: code::TABLE,
        }
    }

    /// The world table.
    pub fn worlds_table(&self) -> Table {
        self.table("worlds", &WORLD, self.worlds)
    }

    /// The account table.
    pub fn accounts_table(&self) -> Table {
        self.table("accounts", &ACCOUNT, self.accounts)
    }

    /// The holdings table (`account × n + world`).
    pub fn holdings_table(&self) -> Table {
        self.table("holdings", &HOLDING, self.accounts * self.worlds)
    }

    /// The account index.
    pub fn index_table(&self) -> Table {
        self.table("account_index", &INDEX_ENTRY, 2 * self.accounts)
    }

    /// A header field's address.
    pub fn header(&self, field: &str) -> curve_ir::ir::Addr {
        curve_ir::ir::Addr::Fixed(Segment::Slab, HEADER.field(field))
    }
}

/// Scratch words the template addresses directly: the basket's worlds (`n` words from 0) and
/// its membership flags (`n` words from `n`).
pub fn scratch_words(layout: &MarketLayout) -> u32 {
    2 * layout.worlds
}

/// The MARKET template of `layout`. Its gas budget is the largest entrypoint bound: a market's
/// calls are limited by their own static bounds (which grow with the world count), and a
/// script's `GAS budget` is checked against the trading entrypoints' bounds at compile time.
pub fn template(layout: &MarketLayout) -> crate::templates::Template {
    let lowered = curve_ir::lower(&program(layout)).expect("the MARKET template lowers");
    let gas_budget = crate::templates::largest_gas_bound(&lowered);
    crate::templates::Template {
        name: "market",
        role: "market",
        interface: &crate::abi::MARKET,
        lowered,
        param_names: params::names(layout),
        conditions: params::conditions(),
        constants: params::CONSTANTS.to_vec(),
        derived: Vec::new(),
        layout: layout.regions.clone(),
        shape: layout.shape(),
        gas_budget,
    }
}
