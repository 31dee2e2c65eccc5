//! The schema: every block's statements, every statement's arguments, with types, bounds,
//! defaults and required flags. This table is the single source of truth: the checker reads
//! it, `curvescript/SPEC.md`'s keyword tables are generated from it (a test fails on drift), and
//! the compiler will read the typed values it produces.

use curvescript_syntax::ast::BlockKind;

/// Largest collateral amount in base units: 2^96 − 1, leaving 32 bits of headroom below u128
/// for `price × qty` products and fee sums.
pub const AMOUNT_MAX: u128 = (1 << 96) - 1;
/// Largest capability lifetime: 2 minutes (percolator `MAX_CAP_TTL_MS`).
pub const CAP_TTL_MS_MAX: u128 = 120_000;
/// Largest difference between a slab's batch window and the router's.
pub const BATCH_WINDOW_TOLERANCE_MS: u128 = 10;
/// Joint-outcome markets above this many events need `large_world_table=true`.
pub const JOINT_EVENTS_DEFAULT_MAX: usize = 10;
/// Joint-outcome markets may never exceed this many events (2^12 worlds).
pub const JOINT_EVENTS_HARD_MAX: usize = 12;
/// Outcome counts of multi-outcome and gaming markets.
pub const OUTCOMES_MIN: usize = 3;
/// Outcome counts of multi-outcome and gaming markets.
pub const OUTCOMES_MAX: usize = 10;
/// The router's batch window when the script does not set one.
pub const ROUTER_BATCH_DEFAULT_MS: u128 = 50;
/// One in parts per million.
pub const PPM_ONE: u128 = 1_000_000;
/// Most `CORRELATION` pairs a ROUTER block may declare: the router's margin step visits every
/// pair for every margin it computes, so the table's size bounds the call's static gas.
pub const CORRELATIONS_MAX: usize = 4;

/// The type of an argument value, with its bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// A dimensionless unsigned integer in `min..=max`.
    Int {
        /// Smallest allowed.
        min: u128,
        /// Largest allowed.
        max: u128,
    },
    /// A collateral amount in base units, `min..=max`.
    Amount {
        /// Smallest allowed.
        min: u128,
        /// Largest allowed.
        max: u128,
    },
    /// A duration in milliseconds (`500`, `500ms` or `2s`), `min..=max`.
    Ms {
        /// Smallest allowed, in ms.
        min: u128,
        /// Largest allowed, in ms.
        max: u128,
    },
    /// Basis points (`75` or `75bps`), `min..=max`.
    Bps {
        /// Smallest allowed.
        min: u128,
        /// Largest allowed.
        max: u128,
    },
    /// Parts per million, `0..=1_000_000`.
    Ppm,
    /// A point in rollup time, unix milliseconds.
    Timestamp,
    /// `true` or `false`.
    Bool,
    /// Free text.
    Str,
    /// An asset symbol written as an identifier, e.g. `USDC`.
    Asset,
    /// One of a fixed set, written as an identifier or a string.
    Choice(&'static [&'static str]),
    /// A reference to a block of this kind: `&ORACLE "id"`, or its id as a string.
    BlockRef(BlockKind),
    /// A route identifier: only `route_id("slab id", …)` is accepted, never a number.
    RouteId,
    /// A list of values of one type, with a length range (further length rules are
    /// cross-checks).
    List {
        /// Element type.
        element: &'static ValueType,
        /// Fewest elements.
        min_len: usize,
        /// Most elements.
        max_len: usize,
    },
}

impl ValueType {
    /// How the type reads in messages and in SPEC.md.
    pub fn describe(&self) -> String {
        match self {
            ValueType::Int { .. } => "integer".into(),
            ValueType::Amount { .. } => "amount".into(),
            ValueType::Ms { .. } => "duration (ms)".into(),
            ValueType::Bps { .. } => "basis points".into(),
            ValueType::Ppm => "ppm".into(),
            ValueType::Timestamp => "timestamp (unix ms)".into(),
            ValueType::Bool => "bool".into(),
            ValueType::Str => "string".into(),
            ValueType::Asset => "asset symbol".into(),
            ValueType::Choice(options) => format!("one of {}", options.join(" | ")),
            ValueType::BlockRef(kind) => format!("{kind} reference"),
            ValueType::RouteId => "`route_id(…)`".into(),
            ValueType::List { element, .. } => format!("list of {}", element.describe()),
        }
    }

    /// The bounds as SPEC.md shows them.
    pub fn describe_bounds(&self) -> String {
        match self {
            ValueType::Int { min, max }
            | ValueType::Amount { min, max }
            | ValueType::Bps { min, max } => {
                format!("{}..={}", show_number(*min), show_number(*max))
            }
            ValueType::Ms { min, max } => {
                format!("{}..={} ms", show_number(*min), show_number(*max))
            }
            ValueType::Ppm => format!("0..={}", show_number(PPM_ONE)),
            ValueType::Timestamp => format!("0..={}", show_number(u128::from(u64::MAX))),
            ValueType::List {
                min_len, max_len, ..
            } => format!("{min_len}..={max_len} items"),
            _ => String::new(),
        }
    }
}

/// Writes large bounds readably: `2^96-1` rather than 29 digits.
pub fn show_number(n: u128) -> String {
    if n == AMOUNT_MAX {
        return "2^96-1".into();
    }
    if n == u128::from(u64::MAX) {
        return "2^64-1".into();
    }
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(ch);
    }
    out
}

/// Whether an argument must be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Must be written.
    Required,
    /// May be omitted; then it has no value.
    Optional,
    /// May be omitted; then it has this value.
    Default(DefaultValue),
}

/// A default value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// An integer of the argument's type.
    Int(u128),
    /// A boolean.
    Bool(bool),
    /// One of a `Choice`.
    Choice(&'static str),
    /// The router's value of `keyword arg`, or `fallback` when the script has no router.
    Router {
        /// Router statement.
        keyword: &'static str,
        /// Its argument.
        arg: &'static str,
        /// The value without a router (the router's own default).
        fallback: u128,
    },
}

impl DefaultValue {
    /// How SPEC.md shows the default.
    pub fn describe(&self) -> String {
        match self {
            DefaultValue::Int(n) => show_number(*n),
            DefaultValue::Bool(b) => b.to_string(),
            DefaultValue::Choice(c) => format!("`{c}`"),
            DefaultValue::Router { keyword, arg, .. } => format!("the router's `{keyword} {arg}`"),
        }
    }
}

/// One argument of a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgSchema {
    /// Name as written before `=`.
    pub name: &'static str,
    /// Type and bounds.
    pub ty: ValueType,
    /// Required, optional or defaulted.
    pub presence: Presence,
    /// Whether it may be written as a bare value in its position.
    pub positional: bool,
    /// One line for SPEC.md and hovers.
    pub doc: &'static str,
}

/// How often a statement appears in its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occurrence {
    /// Exactly once.
    Required,
    /// At most once; absent means absent.
    Optional,
    /// At most once; absent means present with every argument at its default.
    Implicit,
    /// Any number of times up to `max`.
    Repeated {
        /// Most occurrences.
        max: usize,
    },
}

impl Occurrence {
    /// How SPEC.md shows the occurrence.
    pub fn describe(&self) -> String {
        match self {
            Occurrence::Required => "required".into(),
            Occurrence::Optional => "optional".into(),
            Occurrence::Implicit => "optional, defaults apply when absent".into(),
            Occurrence::Repeated { max } => format!("0 to {max} times"),
        }
    }
}

/// The market structures a `MARKET` statement applies to (bit set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Structures(pub u8);

impl Structures {
    /// `STRUCTURE kind=binary`.
    pub const BINARY: Structures = Structures(1);
    /// `STRUCTURE kind=multi`.
    pub const MULTI: Structures = Structures(2);
    /// `STRUCTURE kind=joint`.
    pub const JOINT: Structures = Structures(4);
    /// `STRUCTURE kind=gaming`.
    pub const GAMING: Structures = Structures(8);
    /// Every structure (and every non-market block).
    pub const ALL: Structures = Structures(15);

    /// The structure named by `STRUCTURE kind=…`.
    pub fn from_name(name: &str) -> Option<Structures> {
        match name {
            "binary" => Some(Structures::BINARY),
            "multi" => Some(Structures::MULTI),
            "joint" => Some(Structures::JOINT),
            "gaming" => Some(Structures::GAMING),
            _ => None,
        }
    }

    /// Whether `self` includes `other`.
    pub const fn contains(self, other: Structures) -> bool {
        self.0 & other.0 == other.0
    }

    /// Union.
    pub const fn or(self, other: Structures) -> Structures {
        Structures(self.0 | other.0)
    }

    /// The structures' names, e.g. `multi, gaming`.
    pub fn describe(self) -> String {
        if self == Structures::ALL {
            return "all structures".into();
        }
        let names = [
            ("binary", Structures::BINARY),
            ("multi", Structures::MULTI),
            ("joint", Structures::JOINT),
            ("gaming", Structures::GAMING),
        ];
        names
            .iter()
            .filter(|(_, s)| self.contains(*s))
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One statement of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatementSchema {
    /// The keyword that opens the statement.
    pub keyword: &'static str,
    /// How often it appears.
    pub occurrence: Occurrence,
    /// Which market structures it applies to (`ALL` outside markets).
    pub applies_to: Structures,
    /// Its arguments, positional ones first.
    pub args: &'static [ArgSchema],
    /// One line for SPEC.md.
    pub doc: &'static str,
}

impl StatementSchema {
    /// The argument named `name`.
    pub fn arg(&self, name: &str) -> Option<&'static ArgSchema> {
        self.args.iter().find(|a| a.name == name)
    }
}

/// A block kind's schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSchema {
    /// The kind.
    pub kind: BlockKind,
    /// Whether the block takes a quoted id (`SLAB "perp:SOL-PERP"`); the router does not.
    pub has_id: bool,
    /// Most blocks of this kind in one script (`None` for no limit).
    pub max_count: Option<usize>,
    /// Its statements.
    pub statements: &'static [StatementSchema],
    /// Names an `@invariant` may use besides parameters: runtime state the templates keep,
    /// with their types.
    pub state_names: &'static [(&'static str, ValueType)],
    /// One paragraph for SPEC.md.
    pub doc: &'static str,
}

impl BlockSchema {
    /// The statement opened by `keyword`.
    pub fn statement(&self, keyword: &str) -> Option<&'static StatementSchema> {
        self.statements.iter().find(|s| s.keyword == keyword)
    }
}

/// The schema of `kind`.
pub fn block_schema(kind: BlockKind) -> &'static BlockSchema {
    SCHEMA
        .iter()
        .find(|b| b.kind == kind)
        .expect("every block kind has a schema")
}

const fn required(name: &'static str, ty: ValueType, doc: &'static str) -> ArgSchema {
    ArgSchema {
        name,
        ty,
        presence: Presence::Required,
        positional: false,
        doc,
    }
}

const fn optional(name: &'static str, ty: ValueType, doc: &'static str) -> ArgSchema {
    ArgSchema {
        name,
        ty,
        presence: Presence::Optional,
        positional: false,
        doc,
    }
}

const fn defaulted(
    name: &'static str,
    ty: ValueType,
    default: DefaultValue,
    doc: &'static str,
) -> ArgSchema {
    ArgSchema {
        name,
        ty,
        presence: Presence::Default(default),
        positional: false,
        doc,
    }
}

const fn positional(name: &'static str, ty: ValueType, doc: &'static str) -> ArgSchema {
    ArgSchema {
        name,
        ty,
        presence: Presence::Required,
        positional: true,
        doc,
    }
}

const fn statement(
    keyword: &'static str,
    occurrence: Occurrence,
    args: &'static [ArgSchema],
    doc: &'static str,
) -> StatementSchema {
    StatementSchema {
        keyword,
        occurrence,
        applies_to: Structures::ALL,
        args,
        doc,
    }
}

const fn market_statement(
    keyword: &'static str,
    occurrence: Occurrence,
    applies_to: Structures,
    args: &'static [ArgSchema],
    doc: &'static str,
) -> StatementSchema {
    StatementSchema {
        keyword,
        occurrence,
        applies_to,
        args,
        doc,
    }
}

const fn int(min: u128, max: u128) -> ValueType {
    ValueType::Int { min, max }
}
const fn amount(min: u128) -> ValueType {
    ValueType::Amount {
        min,
        max: AMOUNT_MAX,
    }
}
const fn ms(min: u128, max: u128) -> ValueType {
    ValueType::Ms { min, max }
}
const fn bps(min: u128, max: u128) -> ValueType {
    ValueType::Bps { min, max }
}

const U64_MAX: u128 = u64::MAX as u128;
const DAY_MS: u128 = 86_400_000;
const PPM: ValueType = ValueType::Ppm;
const WEIGHT: ValueType = int(1, PPM_ONE);

use DefaultValue::{Bool as DBool, Choice as DChoice, Int as DInt};
use Occurrence::{Implicit, Optional, Repeated, Required};

/// Every block kind's schema.
pub static SCHEMA: &[BlockSchema] = &[
    BlockSchema {
        kind: BlockKind::Router,
        has_id: false,
        max_count: Some(1),
        doc: "The router: collateral vault, escrows per (user, slab, asset), capabilities, portfolio margin and liquidation coordination. At most one per script.",
        state_names: &[
            ("cap.remaining", amount(0)),
            ("cap.amount_max", amount(0)),
            ("escrow.balance", amount(0)),
            ("vault.balance", amount(0)),
            ("vault.total_pledged", amount(0)),
            ("portfolio.im", amount(0)),
            ("portfolio.mm", amount(0)),
        ],
        statements: &[
            statement(
                "COLLATERAL",
                Required,
                &[
                    required(
                        "asset",
                        ValueType::Asset,
                        "collateral asset symbol, e.g. `USDC`",
                    ),
                    required(
                        "vault_cap",
                        amount(1),
                        "most collateral the vault may hold, base units",
                    ),
                ],
                "The collateral asset and the vault's cap.",
            ),
            statement(
                "PORTFOLIO_MARGIN",
                Optional,
                &[
                    required(
                        "model",
                        ValueType::Choice(&["cross_alpha", "isolated"]),
                        "margin model across slabs",
                    ),
                    optional(
                        "correl_matrix",
                        ValueType::Str,
                        "name of the correlation table the `CORRELATION` statements define",
                    ),
                ],
                "How the router nets margin across slabs.",
            ),
            statement(
                "CORRELATION",
                Repeated {
                    max: CORRELATIONS_MAX,
                },
                &[
                    required(
                        "feed_a",
                        ValueType::BlockRef(BlockKind::Oracle),
                        "one feed of the pair",
                    ),
                    required(
                        "feed_b",
                        ValueType::BlockRef(BlockKind::Oracle),
                        "the other feed, not `feed_a`",
                    ),
                    required(
                        "alpha_bps",
                        bps(1, 10_000),
                        "share of the smaller opposite net margin the pair offsets",
                    ),
                ],
                "A pair of feeds whose opposite nets offset under `cross_alpha` (the correlation table).",
            ),
            statement(
                "CAP_TTL",
                Required,
                &[required(
                    "ms",
                    ms(1, CAP_TTL_MS_MAX),
                    "lifetime of a capability minted for a commit",
                )],
                "Upper bound of every capability's lifetime (at most 120 s).",
            ),
            statement(
                "RESERVATION_BATCH",
                Implicit,
                &[defaulted(
                    "ms",
                    ms(1, 1_000),
                    DInt(ROUTER_BATCH_DEFAULT_MS),
                    "batch window in which reservations are collected",
                )],
                "The router's batch window; slabs must match it within 10 ms.",
            ),
            statement(
                "CAP",
                Repeated { max: 16 },
                &[
                    required("asset", ValueType::Asset, "asset the capability debits"),
                    required(
                        "amount_max",
                        amount(1),
                        "most a capability may debit, base units (u128)",
                    ),
                    defaulted(
                        "ttl_ms",
                        ms(1, CAP_TTL_MS_MAX),
                        DefaultValue::Router {
                            keyword: "CAP_TTL",
                            arg: "ms",
                            fallback: CAP_TTL_MS_MAX,
                        },
                        "lifetime, at most the router's `CAP_TTL`",
                    ),
                    defaulted(
                        "scope",
                        ValueType::Choice(&["escrow", "liquidation"]),
                        DChoice("escrow"),
                        "what the capability may be spent on",
                    ),
                    optional(
                        "route",
                        ValueType::RouteId,
                        "the route this capability serves, from `route_id(…)`",
                    ),
                ],
                "A capability template: bounded u128 amount and TTL per (user, slab, asset).",
            ),
            statement(
                "LIQUIDATION",
                Implicit,
                &[
                    defaulted(
                        "band_bps",
                        bps(1, 2_000),
                        DInt(200),
                        "hard-liquidation price band around the mark",
                    ),
                    defaulted(
                        "preliq_band_bps",
                        bps(1, 2_000),
                        DInt(100),
                        "pre-liquidation band, at most `band_bps`",
                    ),
                    defaulted(
                        "preliq_buffer",
                        amount(0),
                        DInt(10_000_000),
                        "health below which pre-liquidation starts",
                    ),
                    defaulted(
                        "grace_ms",
                        ms(0, 600_000),
                        DInt(0),
                        "time between pre-liquidation and sweeps",
                    ),
                ],
                "Liquidation coordination across slabs.",
            ),
            statement(
                "ESCROW",
                Implicit,
                &[
                    defaulted(
                        "lifetime_ms",
                        ms(1_000, DAY_MS),
                        DInt(3_600_000),
                        "idle time after which an empty escrow record is reclaimed",
                    ),
                    defaulted(
                        "sweep",
                        ValueType::Bool,
                        DBool(true),
                        "whether idle escrows are swept back to the vault",
                    ),
                ],
                "Escrow lifetimes.",
            ),
            statement(
                "FUNDING",
                Implicit,
                &[defaulted(
                    "netting",
                    ValueType::Bool,
                    DBool(true),
                    "net funding cash flows per portfolio",
                )],
                "Router-side funding settlement.",
            ),
        ],
    },
    BlockSchema {
        kind: BlockKind::Slab,
        has_id: true,
        max_count: None,
        doc: "One perpetual-futures order book shard of at most 10 MB: matching, fees, local risk, anti-toxicity, funding and pool sizes.",
        state_names: &[
            ("qty", int(0, U64_MAX)),
            ("reserved_qty", int(0, U64_MAX)),
            ("order.qty", int(0, U64_MAX)),
            ("order.reserved_qty", int(0, U64_MAX)),
            ("reservation.qty", int(0, U64_MAX)),
            ("reservation.max_charge", amount(0)),
            ("instrument.index_price", int(0, U64_MAX)),
            ("account.im", amount(0)),
            ("account.mm", amount(0)),
        ],
        statements: &[
            statement(
                "MAKER_CLASS",
                Repeated { max: 2 },
                &[
                    positional(
                        "class",
                        ValueType::Choice(&["DLP", "REG"]),
                        "designated LPs post live; regular makers wait a batch",
                    ),
                    required(
                        "allowance",
                        amount(0),
                        "most collateral the class may quote against",
                    ),
                ],
                "A maker class and its allowance.",
            ),
            statement(
                "MATCHING",
                Implicit,
                &[
                    defaulted("fifo", ValueType::Bool, DBool(true), "price-time priority"),
                    defaulted(
                        "pending_promotion",
                        ValueType::Bool,
                        DBool(true),
                        "promote pending orders at each batch open",
                    ),
                ],
                "Matching rules.",
            ),
            statement(
                "FEE",
                Required,
                &[
                    required(
                        "maker_bps",
                        bps(0, 1_000),
                        "maker fee, under the governance cap",
                    ),
                    required(
                        "taker_bps",
                        bps(0, 1_000),
                        "taker fee, under the governance cap",
                    ),
                    defaulted(
                        "rebate_delay_ms",
                        ms(0, 60_000),
                        DInt(100),
                        "minimum resting time before a maker earns its rebate",
                    ),
                    defaulted(
                        "rebate_bps",
                        bps(0, 1_000),
                        DInt(0),
                        "maker rebate, paid from the taker fee; at most `taker_bps`",
                    ),
                ],
                "Fees.",
            ),
            statement(
                "RISK",
                Required,
                &[
                    required(
                        "imr_bps",
                        bps(1, 10_000),
                        "initial margin ratio; must exceed `mmr_bps`",
                    ),
                    required("mmr_bps", bps(1, 10_000), "maintenance margin ratio"),
                ],
                "Local margin requirements.",
            ),
            statement(
                "ANTI_TOXICITY",
                Implicit,
                &[
                    defaulted(
                        "kill_band_bps",
                        bps(0, 10_000),
                        DInt(100),
                        "reject commits when the mark moved more than this since reserve (0 disables)",
                    ),
                    defaulted(
                        "jit_penalty",
                        ValueType::Bool,
                        DBool(true),
                        "no rebate for orders placed after the batch opened",
                    ),
                    defaulted(
                        "arg_tax_bps",
                        bps(0, 10_000),
                        DInt(50),
                        "aggressor round-trip tax",
                    ),
                    defaulted(
                        "freeze_levels",
                        int(0, 32),
                        DInt(3),
                        "top-of-book levels frozen at batch open",
                    ),
                ],
                "Anti-toxicity knobs.",
            ),
            statement(
                "BATCH_WINDOW",
                Implicit,
                &[defaulted(
                    "ms",
                    ms(1, 1_000),
                    DefaultValue::Router {
                        keyword: "RESERVATION_BATCH",
                        arg: "ms",
                        fallback: ROUTER_BATCH_DEFAULT_MS,
                    },
                    "the slab's batch window",
                )],
                "The slab's batch window; within 10 ms of the router's.",
            ),
            statement(
                "INSTRUMENT",
                Repeated { max: 32 },
                &[
                    positional(
                        "symbol",
                        ValueType::Str,
                        "contract symbol, e.g. \"SOL-PERP\"",
                    ),
                    required(
                        "oracle",
                        ValueType::BlockRef(BlockKind::Oracle),
                        "the oracle feed that marks it",
                    ),
                    required("tick", int(1, U64_MAX), "price increment"),
                    required("lot", int(1, U64_MAX), "quantity increment"),
                    required(
                        "price_max",
                        int(1, U64_MAX),
                        "largest price the book accepts",
                    ),
                    required("qty_max", int(1, U64_MAX), "largest order quantity"),
                    defaulted(
                        "contract_size",
                        int(1, U64_MAX),
                        DInt(1),
                        "underlying units per contract",
                    ),
                ],
                "An instrument traded on the slab.",
            ),
            statement(
                "FUNDING",
                Implicit,
                &[
                    defaulted(
                        "interval_ms",
                        ms(1_000, DAY_MS),
                        DInt(3_600_000),
                        "funding is applied exactly once per interval",
                    ),
                    defaulted(
                        "rate_cap_bps",
                        bps(0, 10_000),
                        DInt(100),
                        "largest funding rate per interval",
                    ),
                ],
                "Funding cadence.",
            ),
            statement(
                "LIQUIDATION",
                Implicit,
                &[
                    defaulted(
                        "policy",
                        ValueType::Choice(&["partial", "full"]),
                        DChoice("partial"),
                        "close only the deficit, or the whole position",
                    ),
                    defaulted(
                        "band_bps",
                        bps(1, 2_000),
                        DInt(200),
                        "liquidation fills stay within this band of the mark",
                    ),
                ],
                "Slab-side liquidation policy.",
            ),
            statement(
                "POOLS",
                Implicit,
                &[
                    defaulted(
                        "accounts",
                        int(1, 1_000_000),
                        DInt(5_000),
                        "account records",
                    ),
                    defaulted("orders", int(1, 1_000_000), DInt(24_000), "resting orders"),
                    defaulted(
                        "positions",
                        int(1, 1_000_000),
                        DInt(24_000),
                        "open positions",
                    ),
                    defaulted(
                        "reservations",
                        int(1, 1_000_000),
                        DInt(4_000),
                        "live reservations",
                    ),
                    defaulted(
                        "slices",
                        int(1, 1_000_000),
                        DInt(16_000),
                        "reservation slices",
                    ),
                    defaulted(
                        "trades",
                        int(1, 1_000_000),
                        DInt(10_000),
                        "trade prints kept in the ring",
                    ),
                    defaulted(
                        "aggressor",
                        int(1, 1_000_000),
                        DInt(5_000),
                        "aggressor-ledger entries",
                    ),
                ],
                "Pool capacities; the compiler's layout must fit them in 10 MB.",
            ),
        ],
    },
    BlockSchema {
        kind: BlockKind::Oracle,
        has_id: true,
        max_count: None,
        doc: "One price feed: signed updates from registered keys, heartbeat and staleness by batch time, the kill-band reference, mark and funding feeds.",
        state_names: &[
            ("price", int(0, U64_MAX)),
            ("age_ms", ms(0, U64_MAX)),
            ("signer_count", int(0, 16)),
        ],
        statements: &[
            statement(
                "HEARTBEAT",
                Required,
                &[required(
                    "ms",
                    ms(1, 3_600_000),
                    "expected time between updates",
                )],
                "Expected update cadence.",
            ),
            statement(
                "STALENESS",
                Implicit,
                &[defaulted(
                    "ms",
                    ms(1, DAY_MS),
                    DInt(5_000),
                    "a price older than this (batch time) is stale; at least the heartbeat",
                )],
                "When a price becomes unusable.",
            ),
            statement(
                "KILL_BAND_SYNC",
                Optional,
                &[required(
                    "router_ref",
                    ValueType::BlockRef(BlockKind::Router),
                    "the router whose kill band reads this feed",
                )],
                "Makes this feed the kill-band reference price of a router.",
            ),
            statement(
                "SIGNERS",
                Implicit,
                &[
                    defaulted("quorum", int(1, 16), DInt(1), "signatures an update needs"),
                    defaulted(
                        "keys_max",
                        int(1, 16),
                        DInt(4),
                        "most keys that may be registered for the feed",
                    ),
                ],
                "Keys registered per feed sign updates.",
            ),
            statement(
                "PRICE",
                Implicit,
                &[
                    defaulted(
                        "decimals",
                        int(0, 18),
                        DInt(6),
                        "fixed-point decimals of the price",
                    ),
                    defaulted("min", int(1, U64_MAX), DInt(1), "smallest accepted price"),
                    defaulted(
                        "max",
                        int(1, U64_MAX),
                        DInt(1_000_000_000_000),
                        "largest accepted price",
                    ),
                ],
                "Price format and bounds.",
            ),
            statement(
                "FEEDS",
                Implicit,
                &[
                    defaulted("mark", ValueType::Bool, DBool(true), "publish a mark price"),
                    defaulted(
                        "funding",
                        ValueType::Bool,
                        DBool(true),
                        "publish the funding index",
                    ),
                ],
                "Which derived feeds the oracle program maintains.",
            ),
        ],
    },
    BlockSchema {
        kind: BlockKind::Market,
        has_id: true,
        max_count: None,
        doc: "One LMSR prediction market: binary, multi-outcome, joint-outcome world table over binary events, or gaming market.",
        state_names: &[
            ("escrow", amount(0)),
            ("subsidy", amount(0)),
            ("payout_total", amount(0)),
            ("fees", amount(0)),
        ],
        statements: &[
            market_statement(
                "STRUCTURE",
                Required,
                Structures::ALL,
                &[
                    required(
                        "kind",
                        ValueType::Choice(&["binary", "multi", "joint", "gaming"]),
                        "market structure",
                    ),
                    defaulted(
                        "large_world_table",
                        ValueType::Bool,
                        DBool(false),
                        "allow 11 or 12 events (2^N worlds cost gas)",
                    ),
                ],
                "The market's structure.",
            ),
            market_statement(
                "OUTCOME",
                Repeated { max: OUTCOMES_MAX },
                Structures::MULTI.or(Structures::GAMING),
                &[positional("label", ValueType::Str, "outcome name")],
                "One mutually exclusive outcome (3 to 10).",
            ),
            market_statement(
                "EVENT",
                Repeated { max: 64 },
                Structures::JOINT,
                &[
                    positional("label", ValueType::Str, "event name"),
                    optional(
                        "oracle",
                        ValueType::BlockRef(BlockKind::Oracle),
                        "feed that resolves this event",
                    ),
                ],
                "One binary event of a joint-outcome market (10 by default, 12 at most).",
            ),
            market_statement(
                "LIQUIDITY",
                Required,
                Structures::ALL,
                &[
                    optional("b", amount(1), "LMSR liquidity parameter, base units"),
                    optional(
                        "funding",
                        amount(1),
                        "instead of `b`: b = funding / ln(worlds), so a uniform market's worst-case loss is the funding (Gnosis)",
                    ),
                ],
                "LMSR liquidity: `b`, or the `funding` it derives from.",
            ),
            market_statement(
                "PRIOR",
                Implicit,
                Structures::ALL,
                &[
                    defaulted(
                        "kind",
                        ValueType::Choice(&["uniform", "table", "naive_bayes"]),
                        DChoice("uniform"),
                        "initial probabilities",
                    ),
                    optional(
                        "weights",
                        ValueType::List {
                            element: &WEIGHT,
                            min_len: 2,
                            max_len: 4096,
                        },
                        "`table`: one weight per world or outcome",
                    ),
                    optional("driver_ppm", PPM, "`naive_bayes`: P(driver)"),
                    optional(
                        "yes_if_driver_ppm",
                        ValueType::List {
                            element: &PPM,
                            min_len: 1,
                            max_len: 12,
                        },
                        "`naive_bayes`: P(event | driver), per event",
                    ),
                    optional(
                        "yes_if_not_driver_ppm",
                        ValueType::List {
                            element: &PPM,
                            min_len: 1,
                            max_len: 12,
                        },
                        "`naive_bayes`: P(event | not driver), per event",
                    ),
                ],
                "The prior: uniform, an explicit table, or a naive-Bayes latent driver (joint markets).",
            ),
            market_statement(
                "FEE",
                Implicit,
                Structures::ALL,
                &[
                    defaulted(
                        "trade_bps",
                        bps(0, 1_000),
                        DInt(0),
                        "fee on each trade, under the governance cap",
                    ),
                    defaulted(
                        "lp_share_bps",
                        bps(0, 10_000),
                        DInt(10_000),
                        "share of fees paid to liquidity providers",
                    ),
                ],
                "Trading fees.",
            ),
            market_statement(
                "RESOLUTION",
                Required,
                Structures::ALL,
                &[required(
                    "oracle",
                    ValueType::BlockRef(BlockKind::Oracle),
                    "the feed that reports the outcome",
                )],
                "Where the outcome comes from.",
            ),
            market_statement(
                "CLOSE",
                Required,
                Structures::ALL,
                &[required(
                    "at_ms",
                    ValueType::Timestamp,
                    "trading stops at this rollup time",
                )],
                "Close time.",
            ),
            market_statement(
                "GAS",
                Implicit,
                Structures::ALL,
                &[defaulted(
                    "budget",
                    // Up to the rollup's block gas limit: a joint market's calls grow with its
                    // 2^N worlds (each world's exponential is ~118,000 gas of microcode).
                    int(10_000, 100_000_000),
                    DInt(100_000_000),
                    "gas budget of one market call (the compiler refuses a market whose calls may exceed it)",
                )],
                "Per-call gas budget.",
            ),
            market_statement(
                "TICK",
                Required,
                Structures::GAMING,
                &[required(
                    "ms",
                    ms(100, 3_600_000),
                    "length of one order-book batch",
                )],
                "Gaming markets clear their book once per tick.",
            ),
            market_statement(
                "BOOK",
                Implicit,
                Structures::GAMING,
                &[
                    defaulted(
                        "cross_match",
                        ValueType::Bool,
                        DBool(true),
                        "match YES buys against NO buys by minting sets",
                    ),
                    defaulted(
                        "auto_fill",
                        ValueType::Bool,
                        DBool(true),
                        "route the residual imbalance to the LMSR",
                    ),
                    defaulted(
                        "pro_rata",
                        ValueType::Bool,
                        DBool(true),
                        "ration the marginal tick pro rata",
                    ),
                ],
                "Per-outcome YES/NO book behaviour.",
            ),
            market_statement(
                "STAGE",
                Repeated { max: 9 },
                Structures::GAMING,
                &[
                    required("at_ms", ValueType::Timestamp, "when this stage resolves"),
                    required("eliminate", int(1, 9), "outcomes eliminated at this stage"),
                ],
                "A resolution stage that eliminates outcomes and renormalises the rest.",
            ),
        ],
    },
];
