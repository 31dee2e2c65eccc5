//! The ROUTER template: the custody and risk boundary of seed 002 §2 — the slab registry and
//! atomic multi-slab routes funded through escrows and capabilities. `README.md` beside this
//! file is the specification, step by step; the modules are its parts: the layout and the
//! parameter table (here), the registry ([`registry`]) and the route ([`route`]).
//!
//! One module serves every ROUTER block: the script's values (the capability TTL) are read
//! from the parameter table, and the slab interface the router invokes is pinned there.

use curve_ir::ir::{Addr, FunctionBuilder, Program, Record, Rvalue, Table, Ty, Var};
use curvescript_check::CheckedBlock;
use curvescript_check::value::{Typed, TypedValue};
use curvescript_syntax::Diagnostic;
use curvevm::hostcall::{Capability, CapabilitySet};
use curvevm::isa::Segment;

use crate::templates::{DEFAULT_GAS_BUDGET, Template, largest_gas_bound, probe, slab};
use crate::{Artifact, Condition, ParamSlot, Region};

pub mod liquidate;
pub mod margin;
pub mod market;
pub mod registry;
pub mod route;

/// Abort codes (README.md's table). Code 100 is a template bug, never a user error.
pub mod code {
    /// User id 0.
    pub const BAD_USER: u8 = 1;
    /// A side other than 0 (buy) or 1 (sell).
    pub const BAD_SIDE: u8 = 2;
    /// A quantity of 0.
    pub const BAD_QTY: u8 = 3;
    /// A route with every leg slab 0.
    pub const NO_LEGS: u8 = 4;
    /// A leg's slab is not an active registry entry.
    pub const UNLISTED: u8 = 5;
    /// A slab twice in one route.
    pub const DUPLICATE_LEG: u8 = 6;
    /// The legs cannot fill the quantity within the limit.
    pub const UNFILLED: u8 = 7;
    /// A leg's commit failed.
    pub const LEG_FAILED: u8 = 8;
    /// Listing slab 0.
    pub const BAD_SLAB: u8 = 9;
    /// No free registry entry.
    pub const REGISTRY_FULL: u8 = 10;
    /// No portfolio record free for a new user within the probes.
    pub const PORTFOLIOS_FULL: u8 = 11;
    /// A fifth (slab, instrument) pair in one portfolio.
    pub const PORTFOLIO_FULL: u8 = 12;
    /// A slab refused its `exposure` view (no mark, …).
    pub const MARGIN_VIEW: u8 = 13;
    /// The quantity not met, and a slab's exposure cap held a leg below its depth.
    pub const EXPOSURE_CAP: u8 = 14;
    /// A market trade naming program 0.
    pub const BAD_MARKET: u8 = 15;
    /// A market's call trapped other than by its own abort (out of gas, a host refusal).
    pub const MARKET_FAILED: u8 = 16;
    /// `route_reserve` for a user whose route is pending.
    pub const ROUTE_PENDING: u8 = 17;
    /// `route_commit` or `route_sweep` naming no pending route of the user.
    pub const NO_PENDING: u8 = 18;
    /// `route_commit` after the pending route's expiry.
    pub const EXPIRED: u8 = 19;
    /// `route_sweep` at or before the pending route's expiry.
    pub const NOT_EXPIRED: u8 = 20;
    /// A market's abort `c` is the router's `MARKET + c` (`MARKET_SLIPPAGE` = 135).
    pub const MARKET: u8 = 128;
    /// A table index out of range or a loop past its bound: a template bug.
    pub const TABLE: u8 = 100;

    /// Every user-facing code with its name, for the manifest and the tests.
    pub const NAMES: [(u8, &str); 32] = [
        (BAD_USER, "BAD_USER"),
        (BAD_SIDE, "BAD_SIDE"),
        (BAD_QTY, "BAD_QTY"),
        (NO_LEGS, "NO_LEGS"),
        (UNLISTED, "UNLISTED"),
        (DUPLICATE_LEG, "DUPLICATE_LEG"),
        (UNFILLED, "UNFILLED"),
        (LEG_FAILED, "LEG_FAILED"),
        (BAD_SLAB, "BAD_SLAB"),
        (REGISTRY_FULL, "REGISTRY_FULL"),
        (PORTFOLIOS_FULL, "PORTFOLIOS_FULL"),
        (PORTFOLIO_FULL, "PORTFOLIO_FULL"),
        (MARGIN_VIEW, "MARGIN_VIEW"),
        (EXPOSURE_CAP, "EXPOSURE_CAP"),
        (BAD_MARKET, "BAD_MARKET"),
        (MARKET_FAILED, "MARKET_FAILED"),
        (ROUTE_PENDING, "ROUTE_PENDING"),
        (NO_PENDING, "NO_PENDING"),
        (EXPIRED, "EXPIRED"),
        (NOT_EXPIRED, "NOT_EXPIRED"),
        // The market's codes (`templates/market`), moved up by MARKET.
        (MARKET + 1, "MARKET_NOT_OPEN"),
        (MARKET + 2, "MARKET_ALREADY_OPEN"),
        (MARKET + 3, "MARKET_CLOSED"),
        (MARKET + 4, "MARKET_BAD_USER"),
        (MARKET + 5, "MARKET_BAD_BASKET"),
        (MARKET + 6, "MARKET_MIN_TRADE"),
        (MARKET + 7, "MARKET_SLIPPAGE"),
        (MARKET + 8, "MARKET_HOLDINGS"),
        (MARKET + 9, "MARKET_ACCOUNTS_FULL"),
        (MARKET + 11, "MARKET_LIMIT"),
        (MARKET + 12, "MARKET_SOLVENCY"),
        (MARKET + 40, "MARKET_NOT_BUILT"),
    ];
}

/// A planted bug for the mutation tests (`compiler/core/tests/router.rs`), each caught by a
/// named test. Only [`Mutation::None`] is reachable without the `planted-mutations` feature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mutation {
    /// The template as specified.
    #[default]
    None,
    /// `route` goes on after a leg's commit failed instead of aborting (E2E1).
    CommitDespiteFailedLeg,
    /// Portfolio margin skips the netting: every model margins per slab (P8, RM5).
    MarginPerSlab,
}

/// Registry entries (README "State").
pub const SLABS_MAX: u32 = 16;

/// The most slabs one route spans.
pub const LEGS_MAX: usize = 3;

/// Users with a portfolio (README "Portfolios").
pub const PORTFOLIOS_MAX: u32 = 4_096;

/// Probes of the portfolio table's keyed lookup.
pub const PORTFOLIO_PROBES: u32 = 32;

/// (slab, instrument) legs in one portfolio.
pub const LEGS_PER_PORTFOLIO: usize = 4;

/// One user's portfolio: the user, its margin lock's balance and its legs, each with its
/// routed quantity (`i128`, README "Exposure cap"), and its pending route (README "Two-phase
/// routes": `pending_expiry_ms` 0 for none; one slot per allocation rank).
pub static PORTFOLIO: Record = Record {
    name: "portfolio",
    fields: &[
        ("user", 1),
        ("locked", 2),
        ("slab_0", 1),
        ("instrument_0", 1),
        ("qty_0", 2),
        ("slab_1", 1),
        ("instrument_1", 1),
        ("qty_1", 2),
        ("slab_2", 1),
        ("instrument_2", 1),
        ("qty_2", 2),
        ("slab_3", 1),
        ("instrument_3", 1),
        ("qty_3", 2),
        ("flagged_ms", 1),
        ("pending_route_id", 1),
        ("pending_instrument", 1),
        ("pending_side", 1),
        ("pending_qty", 1),
        ("pending_expiry_ms", 1),
        ("pending_slab_0", 1),
        ("pending_hold_0", 1),
        ("pending_cap_0", 1),
        ("pending_filled_0", 1),
        ("pending_charge_0", 2),
        ("pending_slab_1", 1),
        ("pending_hold_1", 1),
        ("pending_cap_1", 1),
        ("pending_filled_1", 1),
        ("pending_charge_1", 2),
        ("pending_slab_2", 1),
        ("pending_hold_2", 1),
        ("pending_cap_2", 1),
        ("pending_filled_2", 1),
        ("pending_charge_2", 2),
    ],
};

/// The header: registry entries in use and routes committed.
pub static HEADER: Record = Record {
    name: "header",
    fields: &[("slabs_listed", 1), ("routes", 1)],
};

/// One registry entry: a slab's program id, whether it may be routed to, its exposure cap
/// (contracts, 0 = none) and its routed open interest (README "Exposure cap").
pub static ENTRY: Record = Record {
    name: "registry",
    fields: &[
        ("slab", 1),
        ("active", 1),
        ("max_exposure", 1),
        ("open_qty", 1),
    ],
};

/// The state regions, contiguous from word 0.
pub fn regions() -> Vec<Region> {
    let header = HEADER.words();
    vec![
        Region {
            name: "header",
            offset: 0,
            words: header,
        },
        Region {
            name: "registry",
            offset: header,
            words: SLABS_MAX * ENTRY.words(),
        },
        Region {
            name: "portfolios",
            offset: header + SLABS_MAX * ENTRY.words(),
            words: PORTFOLIOS_MAX * PORTFOLIO.words(),
        },
    ]
}

/// State words.
pub fn words() -> u32 {
    regions().iter().map(|r| r.words).sum()
}

/// The registry table.
pub fn registry_table() -> Table {
    Table {
        segment: Segment::Slab,
        base: HEADER.words(),
        capacity: SLABS_MAX,
        record: &ENTRY,
        code: code::TABLE,
    }
}

/// The portfolio table, keyed by user.
pub fn portfolio_table() -> Table {
    Table {
        segment: Segment::Slab,
        base: HEADER.words() + SLABS_MAX * ENTRY.words(),
        capacity: PORTFOLIOS_MAX,
        record: &PORTFOLIO,
        code: code::TABLE,
    }
}

/// A header field's address.
pub fn header(field: &str) -> Addr {
    Addr::Fixed(Segment::Slab, HEADER.field(field))
}

/// The parameter table: the pinned slab interface hash (four words), then the script's
/// capability TTL and margin model (`cross`: 1 for `cross_alpha`, 0 for `isolated`), the
/// constants the conditions read, the liquidation settings and the pinned market interface
/// hash (four words), then the correlation pairs ([`CORRELATION_PARAMS`]).
pub const PARAMS: [&str; 30] = [
    "slab_0",
    "slab_1",
    "slab_2",
    "slab_3",
    "cap_ttl_ms",
    "one",
    "cap_ttl_max",
    "cross",
    "band_bps",
    "preliq_band_bps",
    "preliq_buffer_lo",
    "preliq_buffer_hi",
    "grace_ms",
    "market_0",
    "market_1",
    "market_2",
    "market_3",
    "correl_0_a",
    "correl_0_b",
    "correl_0_alpha",
    "correl_1_a",
    "correl_1_b",
    "correl_1_alpha",
    "correl_2_a",
    "correl_2_b",
    "correl_2_alpha",
    "correl_3_a",
    "correl_3_b",
    "correl_3_alpha",
    "alpha_max",
];

/// The correlation table (README "Correlation pairs"): `CORRELATIONS_MAX` pairs of parameter
/// slots, each its feeds' `oracle_key`s and its `alpha_bps`, in the ROUTER block's
/// `CORRELATION` statement order; an unused pair is zeros.
pub const CORRELATION_PARAMS: [[&str; 3]; CORRELATIONS_MAX] = [
    ["correl_0_a", "correl_0_b", "correl_0_alpha"],
    ["correl_1_a", "correl_1_b", "correl_1_alpha"],
    ["correl_2_a", "correl_2_b", "correl_2_alpha"],
    ["correl_3_a", "correl_3_b", "correl_3_alpha"],
];

/// Most correlation pairs (the schema's bound, so that a margin's gas is static).
pub const CORRELATIONS_MAX: usize = curvescript_check::schema::CORRELATIONS_MAX;

/// A correlation pair's largest `alpha_bps`: the whole of the smaller net.
pub const ALPHA_MAX: u64 = 10_000;

/// The longest capability the host mints (it clamps any TTL to this).
pub const CAP_TTL_MAX: u64 = 120_000;

/// The slot of `name` in [`PARAMS`].
///
/// # Panics
/// If there is no such slot (a template bug).
pub fn param(name: &str) -> u32 {
    PARAMS
        .iter()
        .position(|&n| n == name)
        .unwrap_or_else(|| panic!("no router parameter `{name}`")) as u32
}

/// `name ← params[name]`.
pub fn load_param(b: &mut FunctionBuilder, name: &str) -> Var {
    b.let_(
        name,
        Ty::U64,
        Rvalue::Load(Addr::Fixed(Segment::Params, param(name))),
    )
}

/// `name ← args[word]`.
pub(super) fn arg(b: &mut FunctionBuilder, name: &str, word: u32) -> Var {
    b.load(name, Addr::Fixed(Segment::Args, word))
}

/// Invokes `entry` of `interface` on `callee` with `words` stored at scratch [`ARGS`], the
/// callee's interface hash pinned at parameter `pinned`: `(status, detail)`, the callee's
/// returns at scratch [`RETURNS`].
pub(super) fn invoke_with_args(
    b: &mut FunctionBuilder,
    (interface, entry): (&crate::abi::Interface, &str),
    callee: Var,
    words: &[Var],
    pinned: &str,
) -> (Var, Var) {
    for (i, &word) in words.iter().enumerate() {
        b.store(Addr::Fixed(Segment::Scratch, ARGS + i as u32), word);
    }
    let at = ((Segment::Scratch, ARGS), words.len() as u16);
    probe::invoke(b, interface, entry, callee, at, param(pinned))
}

/// The constant region: the slab interface the router invokes, and the TTL bounds.
pub fn constants() -> Vec<(&'static str, u64)> {
    let mut constants = probe::hash_constants(&SLAB_HASH, crate::abi::SLAB.hash());
    constants.extend(probe::hash_constants(
        &MARKET_HASH,
        crate::abi::MARKET.hash(),
    ));
    constants.extend([
        ("one", 1),
        ("cap_ttl_max", CAP_TTL_MAX),
        ("alpha_max", ALPHA_MAX),
    ]);
    constants
}

const SLAB_HASH: [&str; 4] = ["slab_0", "slab_1", "slab_2", "slab_3"];
const MARKET_HASH: [&str; 4] = ["market_0", "market_1", "market_2", "market_3"];

/// Scratch words: the callee's returns land at [`RETURNS`], arguments are built at [`ARGS`].
pub const RETURNS: u32 = 0;
/// Where an invoke's arguments are built.
pub const ARGS: u32 = 8;
/// Scratch words the template addresses.
pub const SCRATCH_WORDS: u32 = ARGS + 11;

/// The ROUTER program.
pub fn program() -> Program {
    build(Mutation::None)
}

/// The program with a planted bug (mutation tests only).
#[cfg(feature = "planted-mutations")]
pub fn program_with_mutation(mutation: Mutation) -> Program {
    build(mutation)
}

fn build(mutation: Mutation) -> Program {
    Program {
        functions: vec![
            registry::list_slab(),
            registry::delist_slab(),
            registry::set_max_exposure(),
            registry::slab_exposure(),
            route::route(mutation),
            route::route_reserve(),
            route::route_commit(mutation),
            route::route_sweep(),
            margin::margin_view(mutation),
            margin::sync_margin(mutation),
            liquidate::liquidate(mutation),
            market::market_open(),
            market::market_buy(),
            market::market_spend(),
        ],
        subroutines: Vec::new(),
        params: PARAMS.len() as u32,
        slab: words(),
        scratch_reserved: SCRATCH_WORDS,
        // The clock times a liquidation's grace window.
        capabilities: CapabilitySet::of(&[
            Capability::Invoke,
            Capability::VaultWrite,
            Capability::CapAdmin,
            Capability::Clock,
        ]),
        views: Vec::new(),
    }
}

/// The ROUTER template. Its gas budget covers its own steps and every leg's invokes.
pub fn template() -> Template {
    let lowered = curve_ir::lower(&program()).expect("the ROUTER template lowers");
    let gas_budget = largest_gas_bound(&lowered).max(DEFAULT_GAS_BUDGET);
    Template {
        name: "router",
        role: "router",
        interface: &crate::abi::ROUTER,
        lowered,
        param_names: PARAMS.to_vec(),
        conditions: vec![
            Condition::Le("one", "cap_ttl_ms"),
            Condition::Le("cap_ttl_ms", "cap_ttl_max"),
            Condition::Range("cross", 1),
            Condition::Le("correl_0_alpha", "alpha_max"),
            Condition::Le("correl_1_alpha", "alpha_max"),
            Condition::Le("correl_2_alpha", "alpha_max"),
            Condition::Le("correl_3_alpha", "alpha_max"),
        ],
        constants: constants(),
        derived: Vec::new(),
        layout: regions(),
        shape: Vec::new(),
        gas_budget,
    }
}

/// Where the parameter slot `name` sits in [`CORRELATION_PARAMS`]: its pair `k` and its
/// place in the pair (0 `feed_a`, 1 `feed_b`, 2 `alpha_bps`); `None` for any other slot.
pub fn correlation_slot(name: &str) -> Option<(usize, usize)> {
    CORRELATION_PARAMS
        .iter()
        .enumerate()
        .find_map(|(k, slots)| Some((k, slots.iter().position(|slot| *slot == name)?)))
}

/// A correlation pair's parameter slot `name` (`correl_k_a`, `…_b`, `…_alpha`): the `k`-th
/// `CORRELATION` statement's feed key or `alpha_bps`, 0 when the block has fewer pairs.
fn correlation_param(block: &CheckedBlock, name: &str) -> (&'static str, &'static str, u64) {
    let (k, at) = correlation_slot(name).expect("a correlation slot");
    let arg = ["feed_a", "feed_b", "alpha_bps"][at];
    let value = block
        .statements_named("CORRELATION")
        .nth(k)
        .and_then(|pair| pair.value(arg))
        .map_or(0, |value| match (&value.value, arg) {
            (_, "alpha_bps") => value.as_u128().map_or(0, |v| v as u64),
            (Typed::BlockRef { id: Some(feed), .. } | Typed::Str(feed), _) => {
                slab::params::oracle_key(feed)
            }
            _ => 0,
        });
    ("CORRELATION", arg, value)
}

/// The deployable artifact of a checked ROUTER block.
pub fn artifact(block: &CheckedBlock) -> Result<Artifact, Diagnostic> {
    let template = template();
    let constants = template.constants.clone();
    // A LIQUIDATION value (the checker fills the schema's defaults of implicit statements).
    let liquidation = |arg: &str| {
        block
            .value("LIQUIDATION", arg)
            .and_then(TypedValue::as_u128)
            .unwrap_or(0)
    };
    let params = PARAMS
        .iter()
        .map(|&name| {
            let (keyword, arg, value) = match constants.iter().find(|(c, _)| *c == name) {
                Some(&(_, value)) => ("", "", value),
                None if name == "cross" => (
                    "PORTFOLIO_MARGIN",
                    "model",
                    u64::from(
                        block
                            .value("PORTFOLIO_MARGIN", "model")
                            .and_then(TypedValue::as_choice)
                            == Some("cross_alpha"),
                    ),
                ),
                None if name.starts_with("correl_") => correlation_param(block, name),
                None if name == "cap_ttl_ms" => (
                    "CAP_TTL",
                    "ms",
                    block
                        .value("CAP_TTL", "ms")
                        .and_then(TypedValue::as_u128)
                        .map_or(CAP_TTL_MAX, |v| u64::try_from(v).unwrap_or(u64::MAX)),
                ),
                None => {
                    // `preliq_buffer` is a u128 amount: two words, low first.
                    let (arg, value) = match name {
                        "preliq_buffer_lo" => {
                            ("preliq_buffer", liquidation("preliq_buffer") as u64)
                        }
                        "preliq_buffer_hi" => {
                            ("preliq_buffer", (liquidation("preliq_buffer") >> 64) as u64)
                        }
                        other => (other, liquidation(other) as u64),
                    };
                    ("LIQUIDATION", arg, value)
                }
            };
            let span = if keyword.is_empty() {
                block.header_span
            } else if let Some((k, _)) = correlation_slot(name) {
                block
                    .statements_named(keyword)
                    .nth(k)
                    .and_then(|s| s.arg_span(arg))
                    .unwrap_or(block.header_span)
            } else {
                block
                    .statement(keyword)
                    .and_then(|s| s.arg_span(arg))
                    .unwrap_or(block.header_span)
            };
            ParamSlot {
                name,
                keyword,
                arg,
                value,
                span,
            }
        })
        .collect();
    Ok(Artifact {
        kind: block.kind,
        id: None,
        template: template.name,
        role: template.role,
        interface: template.interface,
        ir: program(),
        lowered: template.lowered,
        params,
        conditions: template.conditions,
        constants: template.constants,
        layout: template.layout,
        shape: template.shape,
        gas_budget: template.gas_budget,
        keyword_spans: crate::keyword_spans(
            block,
            &[
                "COLLATERAL",
                "CAP_TTL",
                "CAP",
                "PORTFOLIO_MARGIN",
                "CORRELATION",
                "LIQUIDATION",
            ],
        ),
        block_span: block.span,
    })
}
