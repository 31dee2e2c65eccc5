//! Interfaces (CPI descriptors): what a caller must know to call a program — each entrypoint's
//! argument and return layout in words, the capability handles it takes, and the accounts it
//! reads or writes.
//!
//! An interface belongs to a template, not to a parameter set: every SLAB has the same
//! interface whatever its fees or pool sizes. Its **descriptor hash** is SHA-256 over
//! [`Interface::canonical_text`], the same bytes the manifest, the rollup's registry and the
//! generated client bindings ([`crate::bindings`]) carry; a client bound to one hash refuses a
//! program that reports another.
//!
//! Words are little-endian u64; a `u128` is two words, low first; an `i64` is its two's
//! complement; a 32-byte value is four words, first bytes first.

use std::fmt::Write as _;

/// The descriptor format tag, first line of the canonical text.
pub const FORMAT: &str = "curve-descriptor/1";

/// The type of one argument or return field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// One word.
    U64,
    /// One word, two's complement.
    I64,
    /// Two words, low first.
    U128,
    /// Two words, low first, two's complement.
    I128,
    /// 32 bytes in four words (a public key, a hash, a commitment).
    Bytes32,
    /// 64 bytes in eight words (an Ed25519 signature).
    Signature,
    /// A capability handle: the id of a cap the router minted; the host checks its scope.
    Cap,
}

impl FieldType {
    /// Words one value takes.
    pub const fn words(self) -> u16 {
        match self {
            FieldType::U64 | FieldType::I64 | FieldType::Cap => 1,
            FieldType::U128 | FieldType::I128 => 2,
            FieldType::Bytes32 => 4,
            FieldType::Signature => 8,
        }
    }

    /// Its name in descriptors.
    pub const fn name(self) -> &'static str {
        match self {
            FieldType::U64 => "u64",
            FieldType::I64 => "i64",
            FieldType::U128 => "u128",
            FieldType::I128 => "i128",
            FieldType::Bytes32 => "bytes32",
            FieldType::Signature => "signature",
            FieldType::Cap => "cap",
        }
    }
}

/// One argument or return field: a scalar, or a fixed-length array of `count` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Name (snake case).
    pub name: &'static str,
    /// Element type.
    pub ty: FieldType,
    /// 1 for a scalar, else the array length.
    pub count: u16,
}

impl Field {
    /// Words the field takes.
    pub const fn words(&self) -> u16 {
        self.ty.words() * self.count
    }
}

const fn scalar(name: &'static str, ty: FieldType) -> Field {
    Field { name, ty, count: 1 }
}

const fn array(name: &'static str, ty: FieldType, count: u16) -> Field {
    Field { name, ty, count }
}

/// How an entrypoint touches an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and written.
    Write,
}

impl Access {
    /// Its name in descriptors and manifests.
    pub const fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// An account an entrypoint touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// What it is, e.g. `slab` or `escrow(user, slab, collateral)`.
    pub name: &'static str,
    /// Read or write.
    pub access: Access,
}

const fn reads(name: &'static str) -> Account {
    Account {
        name,
        access: Access::Read,
    }
}

const fn writes(name: &'static str) -> Account {
    Account {
        name,
        access: Access::Write,
    }
}

/// One entrypoint's descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Entrypoint name, as in the module.
    pub name: &'static str,
    /// One line on what it does.
    pub doc: &'static str,
    /// Arguments, in word order.
    pub args: &'static [Field],
    /// Return values, in word order.
    pub returns: &'static [Field],
    /// Accounts it reads or writes.
    pub accounts: &'static [Account],
}

/// Words a list of fields takes.
pub fn total_words(fields: &[Field]) -> u16 {
    fields.iter().map(Field::words).sum()
}

impl Entry {
    /// Argument words.
    pub fn arg_words(&self) -> u16 {
        total_words(self.args)
    }

    /// Return words.
    pub fn return_words(&self) -> u16 {
        total_words(self.returns)
    }

    /// The capability handles among its arguments.
    pub fn cap_handles(&self) -> impl Iterator<Item = &'static Field> {
        self.args.iter().filter(|f| f.ty == FieldType::Cap)
    }
}

/// A template's interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The template (`slab`, `market`, `oracle`).
    pub template: &'static str,
    /// What the program is.
    pub doc: &'static str,
    /// Entrypoints, in module order.
    pub entries: &'static [Entry],
    /// The abort codes its programs trap with, by name (`ABORT n` in a receipt): part of what a
    /// client decodes, not of the descriptor hash.
    pub abort_codes: &'static [(u8, &'static str)],
}

impl Interface {
    /// The name of abort code `code`, if the interface names it.
    pub fn abort_name(&self, code: u8) -> Option<&'static str> {
        self.abort_codes
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, name)| *name)
    }
}

impl Interface {
    /// The canonical text the descriptor hash is taken over: one line per entrypoint, field and
    /// account, in declaration order. Docs are not part of it.
    pub fn canonical_text(&self) -> String {
        let mut text = format!("{FORMAT} {}\n", self.template);
        for entry in self.entries {
            let _ = writeln!(
                text,
                "entry {} args {} returns {}",
                entry.name,
                entry.arg_words(),
                entry.return_words()
            );
            for (kind, fields) in [("arg", entry.args), ("ret", entry.returns)] {
                for field in fields {
                    let _ = writeln!(
                        text,
                        "  {kind} {} {} {}",
                        field.name,
                        field.ty.name(),
                        field.count
                    );
                }
            }
            for account in entry.accounts {
                let _ = writeln!(text, "  account {} {}", account.access.name(), account.name);
            }
        }
        text
    }

    /// The descriptor hash: `SHA-256(Tag(Descriptor, ANY_CHAIN) ‖ canonical text)`.
    pub fn hash(&self) -> [u8; 32] {
        curve_formats::Tag::new(
            curve_formats::Kind::Descriptor,
            curve_formats::domain::ANY_CHAIN,
        )
        .digest(self.canonical_text().as_bytes())
    }

    /// The entry called `name`.
    pub fn entry(&self, name: &str) -> Option<&'static Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Whether `module` implements exactly this interface (names, order and word counts), and
    /// the first difference when it does not.
    pub fn check_module(&self, module: &curvevm::Module) -> Result<(), String> {
        if module.entries.len() != self.entries.len() {
            return Err(format!(
                "the module has {} entrypoints; the `{}` interface declares {}",
                module.entries.len(),
                self.template,
                self.entries.len()
            ));
        }
        for (entry, declared) in module.entries.iter().zip(self.entries) {
            let expected = (declared.name, declared.arg_words(), declared.return_words());
            if (entry.name.as_str(), entry.args, entry.ret) != expected {
                return Err(format!(
                    "entry `{}` takes {} and returns {} words; the interface declares `{}` with {} and {}",
                    entry.name, entry.args, entry.ret, expected.0, expected.1, expected.2
                ));
            }
        }
        Ok(())
    }
}

use FieldType::{Bytes32, Cap, I128, Signature, U64, U128};

const SLAB_STATE: Account = writes("slab");
const SLAB_READ: Account = reads("slab");
const ESCROW_DEBIT: Account = writes("escrow(user, slab, collateral) via cap");
const ORACLE_READ: Account = reads("oracle(instrument)");
const CLOCK: Account = reads("clock");

/// The perpetuals slab (percolator §3.3 and the plan's return values). Users and accounts are
/// rollup user ids; instruments are indices into the slab's `INSTRUMENT` list; sides are
/// 0 = buy, 1 = sell; prices are in ticks of the instrument's quote scale.
pub static SLAB: Interface = Interface {
    template: "slab",
    abort_codes: &crate::templates::slab::code::NAMES,
    doc: "A perpetual-futures order book shard: reservations, commits, maker orders, batches, liquidations.",
    entries: &[
        Entry {
            name: "reserve",
            doc: "Walks the contra book up to `limit_px` and holds up to `qty` for a route; nothing fills yet.",
            args: &[
                scalar("route_id", U64),
                scalar("user", U64),
                scalar("instrument", U64),
                scalar("side", U64),
                scalar("qty", U64),
                scalar("limit_px", U64),
                scalar("ttl_ms", U64),
                scalar("commitment", Bytes32),
            ],
            returns: &[
                scalar("hold_id", U64),
                scalar("filled_qty", U64),
                scalar("vwap_px", U64),
                scalar("worst_px", U64),
                scalar("max_charge", U128),
                scalar("expiry_ms", U64),
                scalar("book_seqno", U64),
            ],
            accounts: &[SLAB_STATE, ORACLE_READ, CLOCK],
        },
        Entry {
            name: "commit",
            doc: "Executes a hold at the makers' prices and debits the taker through the cap, at most the hold's max_charge: its margin shortfall (margin 0), or only what the fill realised when the router margins the account (margin 1).",
            args: &[
                scalar("hold_id", U64),
                scalar("cap", Cap),
                scalar("salt", Bytes32),
                scalar("margin", U64),
            ],
            returns: &[
                scalar("filled_qty", U64),
                scalar("avg_px", U64),
                scalar("total_fee", U128),
                scalar("total_debit", U128),
            ],
            accounts: &[SLAB_STATE, ESCROW_DEBIT, ORACLE_READ, CLOCK],
        },
        Entry {
            name: "cancel",
            doc: "Releases a hold's reserved quantity; idempotent refusal once committed.",
            args: &[scalar("hold_id", U64)],
            returns: &[scalar("released_qty", U64)],
            accounts: &[SLAB_STATE],
        },
        Entry {
            name: "place_order",
            doc: "Rests a maker order: live for designated LPs, pending until the next batch for regular makers.",
            args: &[
                scalar("user", U64),
                scalar("instrument", U64),
                scalar("side", U64),
                scalar("price", U64),
                scalar("qty", U64),
            ],
            returns: &[scalar("order_id", U64)],
            accounts: &[SLAB_STATE, CLOCK],
        },
        Entry {
            name: "cancel_order",
            doc: "Removes a resting order's unreserved quantity.",
            args: &[scalar("user", U64), scalar("order_id", U64)],
            returns: &[scalar("cancelled_qty", U64)],
            accounts: &[SLAB_STATE],
        },
        Entry {
            name: "batch_open",
            doc: "Opens the next batch of an instrument: promotes pending orders, freezes the top levels, applies funding when due.",
            args: &[scalar("instrument", U64)],
            returns: &[
                scalar("epoch", U64),
                scalar("promoted", U64),
                scalar("released_holds", U64),
            ],
            accounts: &[SLAB_STATE, ORACLE_READ, CLOCK],
        },
        Entry {
            name: "liquidation_call",
            doc: "Closes a user's position in an instrument against live depth within the band around the mark until its maintenance margin covers the deficit, and takes what the closing realised through the cap, at most the escrow; the router only.",
            args: &[
                scalar("user", U64),
                scalar("instrument", U64),
                scalar("deficit", U128),
                scalar("band_bps", U64),
                scalar("cap", Cap),
            ],
            returns: &[
                scalar("residual", U128),
                scalar("closed_qty", U64),
                scalar("debit", U128),
            ],
            accounts: &[SLAB_STATE, ESCROW_DEBIT, ORACLE_READ, CLOCK],
        },
        Entry {
            name: "account",
            doc: "A user's margin view on this slab: cash, initial and maintenance margin.",
            args: &[scalar("user", U64)],
            returns: &[scalar("cash", I128), scalar("im", U128), scalar("mm", U128)],
            accounts: &[SLAB_READ, ORACLE_READ],
        },
        Entry {
            name: "set_maker_class",
            doc: "Makes a user a designated LP (class 1) or a regular maker (class 0); governance only.",
            args: &[scalar("user", U64), scalar("class", U64)],
            returns: &[],
            accounts: &[SLAB_STATE],
        },
        Entry {
            name: "exposure",
            doc: "A user's account equity, IM and MM with one position's own signed IM and MM and its feed's key: what a router nets across slabs.",
            args: &[scalar("user", U64), scalar("instrument", U64)],
            returns: &[
                scalar("equity", I128),
                scalar("im", U128),
                scalar("mm", U128),
                scalar("im_pos", I128),
                scalar("mm_pos", I128),
                scalar("oracle_key", U64),
                scalar("open", U64),
            ],
            accounts: &[SLAB_READ, ORACLE_READ],
        },
        Entry {
            name: "band",
            doc: "A live hold's reserve-time mark, the mark now, and whether a commit now passes the kill band: the router's pre-check.",
            args: &[scalar("hold_id", U64)],
            returns: &[
                scalar("mark_px", U64),
                scalar("mark", U64),
                scalar("within", U64),
            ],
            accounts: &[SLAB_READ, ORACLE_READ],
        },
        Entry {
            name: "set_fee_caps",
            doc: "Sets the maker and taker fee caps every commit re-checks; governance only.",
            args: &[scalar("maker_bps_max", U64), scalar("taker_bps_max", U64)],
            returns: &[],
            accounts: &[SLAB_STATE],
        },
        Entry {
            name: "apply_funding",
            doc: "Moves an instrument's funding index once per interval by the premium of the slab's trades over the oracle's time-weighted index, capped; a no-op later in the same interval. Anyone may call it.",
            args: &[scalar("instrument", U64)],
            returns: &[scalar("cum_funding", I128), scalar("intervals", U64)],
            accounts: &[SLAB_STATE, ORACLE_READ, CLOCK],
        },
        Entry {
            name: "cover_bad_debt",
            doc: "Moves insurance into a liquidated account's negative cash, at most what it owes; governance only (the one path out of insurance).",
            args: &[scalar("user", U64), scalar("amount", U128)],
            returns: &[scalar("covered", U128)],
            accounts: &[SLAB_STATE],
        },
    ],
};

const MARKET_STATE: Account = writes("market");
const MARKET_READ: Account = reads("market");
const RESOLUTION_ORACLE: Account = reads("oracle(resolution)");

/// LMSR prediction markets (binary, multi-outcome, joint, gaming). An outcome set (a basket) is
/// two masks: over events in a binary or joint market, where a world belongs to it when every bit
/// of `yes_mask` is set in it and no bit of `no_mask` is (a marginal, a slice or a corner); over
/// outcomes in a multi-outcome market, where it is the outcomes whose bit `yes_mask` sets. Shares
/// and collateral are u128 base units (`templates/market/README.md`).
pub static MARKET: Interface = Interface {
    abort_codes: &crate::templates::market::code::NAMES,
    template: "market",
    doc: "An LMSR prediction market with an optional per-tick book; resolution by oracle and stage schedule.",
    entries: &[
        Entry {
            name: "open",
            doc: "Opens the market once: the prior's shares and the subsidy (its worst-case loss), debited from `funder` through the cap.",
            args: &[scalar("cap", Cap), scalar("funder", U64)],
            returns: &[scalar("subsidy", U128)],
            accounts: &[MARKET_STATE, ESCROW_DEBIT],
        },
        Entry {
            name: "buy",
            doc: "Buys `shares` of the outcome set from the LMSR, debiting at most `max_cost` through the cap.",
            args: &[
                scalar("cap", Cap),
                scalar("user", U64),
                scalar("yes_mask", U64),
                scalar("no_mask", U64),
                scalar("shares", U128),
                scalar("max_cost", U128),
            ],
            returns: &[scalar("cost", U128)],
            accounts: &[MARKET_STATE, ESCROW_DEBIT, CLOCK],
        },
        Entry {
            name: "spend",
            doc: "Buys as many shares of the outcome set as `amount` pays for, fee included (at least `min_shares`), debiting the cost (at most `amount`) through the cap.",
            args: &[
                scalar("cap", Cap),
                scalar("user", U64),
                scalar("yes_mask", U64),
                scalar("no_mask", U64),
                scalar("amount", U128),
                scalar("min_shares", U128),
            ],
            returns: &[scalar("shares", U128), scalar("cost", U128)],
            accounts: &[MARKET_STATE, ESCROW_DEBIT, CLOCK],
        },
        Entry {
            name: "sell",
            doc: "Sells shares the user holds back to the LMSR for at least `min_proceeds`.",
            args: &[
                scalar("user", U64),
                scalar("yes_mask", U64),
                scalar("no_mask", U64),
                scalar("shares", U128),
                scalar("min_proceeds", U128),
            ],
            returns: &[scalar("proceeds", U128)],
            accounts: &[MARKET_STATE, CLOCK],
        },
        Entry {
            name: "quote",
            doc: "What buying `shares` of the outcome set would cost (fee included) and its current price in parts per million; no state change.",
            args: &[
                scalar("yes_mask", U64),
                scalar("no_mask", U64),
                scalar("shares", U128),
            ],
            returns: &[scalar("cost", U128), scalar("price_ppm", U64)],
            accounts: &[MARKET_READ],
        },
        Entry {
            name: "position",
            doc: "A user's shares of one world and cash from sales.",
            args: &[scalar("user", U64), scalar("world", U64)],
            returns: &[scalar("holding", U128), scalar("cash", U128)],
            accounts: &[MARKET_READ],
        },
        Entry {
            name: "summary",
            doc: "A user's holdings in their simplest form: 1 with the basket (a slice, or a set of outcomes) when they hold one amount of exactly its worlds, 2 otherwise (with the largest holding), 0 when none; and how many worlds they hold.",
            args: &[scalar("user", U64)],
            returns: &[
                scalar("form", U64),
                scalar("yes_mask", U64),
                scalar("no_mask", U64),
                scalar("amount", U128),
                scalar("worlds", U64),
            ],
            accounts: &[MARKET_READ],
        },
        Entry {
            name: "place_order",
            doc: "Rests a limit order in an outcome's YES/NO book for the next tick (gaming markets).",
            args: &[
                scalar("cap", Cap),
                scalar("user", U64),
                scalar("outcome", U64),
                scalar("side", U64),
                scalar("price_ppm", U64),
                scalar("shares", U128),
            ],
            returns: &[scalar("order_id", U64)],
            accounts: &[MARKET_STATE, ESCROW_DEBIT, CLOCK],
        },
        Entry {
            name: "cancel_order",
            doc: "Withdraws a resting order before its tick clears.",
            args: &[scalar("user", U64), scalar("order_id", U64)],
            returns: &[scalar("refund", U128)],
            accounts: &[MARKET_STATE],
        },
        Entry {
            name: "clear_tick",
            doc: "Clears the current tick's books: cross-matching, auto-fill against the LMSR, pro-rata rationing.",
            args: &[],
            returns: &[scalar("fills", U64), scalar("volume", U128)],
            accounts: &[MARKET_STATE, CLOCK],
        },
        Entry {
            name: "eliminate",
            doc: "Applies the next due `STAGE`: eliminates its outcomes and renormalises the survivors.",
            args: &[],
            returns: &[scalar("stage", U64), scalar("survivors", U64)],
            accounts: &[MARKET_STATE, RESOLUTION_ORACLE, CLOCK],
        },
        Entry {
            name: "resolve",
            doc: "Fixes the winning world from the resolution oracle after `CLOSE`.",
            args: &[scalar("world", U64)],
            returns: &[scalar("payout_total", U128)],
            accounts: &[MARKET_STATE, RESOLUTION_ORACLE, CLOCK],
        },
        Entry {
            name: "redeem",
            doc: "Pays a user's winning shares into a settlement leaf once resolved.",
            args: &[scalar("user", U64)],
            returns: &[scalar("payout", U128)],
            accounts: &[MARKET_STATE],
        },
    ],
};

const ROUTER_STATE: Account = writes("router");
const VAULT: Account = writes("vault(user, collateral)");
const LEG_SLABS: Account = writes("slab (each leg) and its oracles");
const ROUTER_READ: Account = reads("router");
const PORTFOLIO_SLABS: Account = reads("slab (each of the user's portfolio) and its oracles");
const TRADED_MARKET: Account = writes("market");

/// The ROUTER template (see `templates/router/README.md`): the slab registry and atomic
/// multi-slab routes funded through escrows and capabilities.
pub static ROUTER: Interface = Interface {
    abort_codes: &crate::templates::router::code::NAMES,
    template: "router",
    doc: "The router: slab registry, atomic routes across slabs and LMSR market trades, funded from the user's vault through escrows and capabilities.",
    entries: &[
        Entry {
            name: "list_slab",
            doc: "Lists (or reactivates) a slab a route may reach; governance only.",
            args: &[scalar("slab", U64)],
            returns: &[scalar("index", U64)],
            accounts: &[ROUTER_STATE],
        },
        Entry {
            name: "delist_slab",
            doc: "Stops routing to a slab (positions on it are untouched); governance only.",
            args: &[scalar("slab", U64)],
            returns: &[scalar("index", U64)],
            accounts: &[ROUTER_STATE],
        },
        Entry {
            name: "set_max_exposure",
            doc: "Sets a listed slab's exposure cap (E-max): the most contracts the router's users may hold open on it through routes (0: no cap); a cap below the open interest refuses only growth. Governance only.",
            args: &[scalar("slab", U64), scalar("max_qty", U64)],
            returns: &[scalar("index", U64)],
            accounts: &[ROUTER_STATE],
        },
        Entry {
            name: "slab_exposure",
            doc: "A listed slab's exposure cap and the open interest the router's routes hold on it.",
            args: &[scalar("slab", U64)],
            returns: &[scalar("max_exposure", U64), scalar("open_qty", U64)],
            accounts: &[ROUTER_READ],
        },
        Entry {
            name: "route",
            doc: "Buys (side 0) or sells (side 1) exactly `qty` across up to three listed slabs (0: unused) within `limit_px`, best-priced slab first (within each slab's exposure cap), all or nothing; each leg funded from the user's vault through an escrow and a cap.",
            args: &[
                scalar("user", U64),
                scalar("route_id", U64),
                scalar("instrument", U64),
                scalar("side", U64),
                scalar("qty", U64),
                scalar("limit_px", U64),
                scalar("slab_a", U64),
                scalar("slab_b", U64),
                scalar("slab_c", U64),
            ],
            returns: &[
                scalar("filled_qty", U64),
                scalar("notional", U128),
                scalar("total_debit", U128),
                scalar("legs", U64),
            ],
            accounts: &[ROUTER_STATE, VAULT, LEG_SLABS, PORTFOLIO_SLABS],
        },
        Entry {
            name: "route_reserve",
            doc: "Reserves a route as `route` would fill it (same legs, limit and exposure caps) and funds every leg's escrow and cap, to commit in a later transaction before the caps expire; one pending route per user.",
            args: &[
                scalar("user", U64),
                scalar("route_id", U64),
                scalar("instrument", U64),
                scalar("side", U64),
                scalar("qty", U64),
                scalar("limit_px", U64),
                scalar("slab_a", U64),
                scalar("slab_b", U64),
                scalar("slab_c", U64),
            ],
            returns: &[
                scalar("filled_qty", U64),
                scalar("legs", U64),
                scalar("expiry_ms", U64),
            ],
            accounts: &[ROUTER_STATE, VAULT, LEG_SLABS],
        },
        Entry {
            name: "route_commit",
            doc: "Commits the user's pending route through the caps its reservation minted, all or nothing, then brings the margin lock to the portfolio's initial margin; refused after the caps' expiry.",
            args: &[scalar("user", U64), scalar("route_id", U64)],
            returns: &[
                scalar("filled_qty", U64),
                scalar("notional", U128),
                scalar("total_debit", U128),
                scalar("legs", U64),
            ],
            accounts: &[ROUTER_STATE, VAULT, LEG_SLABS, PORTFOLIO_SLABS],
        },
        Entry {
            name: "route_sweep",
            doc: "After a pending route's caps expired, cancels its holds, releases its escrows back to the user's vault and burns its caps; anyone may call it.",
            args: &[scalar("user", U64), scalar("route_id", U64)],
            returns: &[scalar("released", U128), scalar("legs", U64)],
            accounts: &[ROUTER_STATE, VAULT, LEG_SLABS],
        },
        Entry {
            name: "margin",
            doc: "A user's portfolio margin at the router: equity (the margin lock plus every portfolio slab's equity), initial and maintenance margin of the router's model, and the lock.",
            args: &[scalar("user", U64)],
            returns: &[
                scalar("equity", I128),
                scalar("im", U128),
                scalar("mm", U128),
                scalar("locked", U128),
            ],
            accounts: &[ROUTER_READ, PORTFOLIO_SLABS],
        },
        Entry {
            name: "sync_margin",
            doc: "Recomputes a user's portfolio margin without a trade and brings the margin lock to what initial margin requires: released when marks moved for the user, pledged from the vault when against.",
            args: &[scalar("user", U64)],
            returns: &[scalar("locked", U128)],
            accounts: &[ROUTER_STATE, VAULT, PORTFOLIO_SLABS],
        },
        Entry {
            name: "liquidate",
            doc: "A keeper's call on an account below the pre-liquidation buffer: re-pledges free collateral first (saved), waits out the grace window, then has the slabs close the legs the netted deficit needs within the band; status 3 and nothing changed on a healthy account.",
            args: &[scalar("user", U64)],
            returns: &[
                scalar("status", U64),
                scalar("health", I128),
                scalar("residual", U128),
            ],
            accounts: &[ROUTER_STATE, VAULT, PORTFOLIO_SLABS],
        },
        Entry {
            name: "market_open",
            doc: "Opens an LMSR market with `funder`'s collateral: pledges `amount`, lets the market's `open` take its subsidy through a cap, releases the rest.",
            args: &[
                scalar("funder", U64),
                scalar("market", U64),
                scalar("amount", U128),
            ],
            returns: &[scalar("subsidy", U128)],
            accounts: &[VAULT, TRADED_MARKET],
        },
        Entry {
            name: "market_buy",
            doc: "Buys `shares` of an outcome set (`yes_mask`, `no_mask`) from an LMSR market for at most `max_cost`, taken from the user's vault through a cap; a market's refusal aborts with its code plus 128.",
            args: &[
                scalar("user", U64),
                scalar("market", U64),
                scalar("yes_mask", U64),
                scalar("no_mask", U64),
                scalar("shares", U128),
                scalar("max_cost", U128),
            ],
            returns: &[scalar("cost", U128)],
            accounts: &[VAULT, TRADED_MARKET],
        },
        Entry {
            name: "market_spend",
            doc: "Buys as many shares of an outcome set as `amount` pays for (at least `min_shares`), taken from the user's vault through a cap; a market's refusal aborts with its code plus 128.",
            args: &[
                scalar("user", U64),
                scalar("market", U64),
                scalar("yes_mask", U64),
                scalar("no_mask", U64),
                scalar("amount", U128),
                scalar("min_shares", U128),
            ],
            returns: &[scalar("shares", U128), scalar("cost", U128)],
            accounts: &[VAULT, TRADED_MARKET],
        },
    ],
};

const FEED_STATE: Account = writes("oracle");
const FEED_READ: Account = reads("oracle");

/// The ORACLE template (see [`crate::templates::oracle`]).
pub static ORACLE: Interface = Interface {
    abort_codes: &[],
    template: "oracle",
    doc: "One price feed: signed updates, heartbeat and staleness by batch time, kill-band reference, mark and funding.",
    entries: &[
        Entry {
            name: "register_key",
            doc: "Registers an Ed25519 public key of the feed, up to `SIGNERS keys_max`.",
            args: &[scalar("key", Bytes32)],
            returns: &[],
            accounts: &[FEED_STATE],
        },
        Entry {
            name: "update",
            doc: "Accepts a price signed by `count` distinct registered keys (indices increasing), at least the quorum valid.",
            args: &[
                scalar("price", U64),
                scalar("publish_ms", U64),
                scalar("count", U64),
                array("key_index", U64, 16),
                array("signatures", Signature, 16),
            ],
            returns: &[],
            accounts: &[FEED_STATE, CLOCK],
        },
        Entry {
            name: "read",
            doc: "The last price with its age and status (0 fresh, 1 heartbeat missed, 2 stale) by batch time.",
            args: &[],
            returns: &[
                scalar("price", U64),
                scalar("publish_ms", U64),
                scalar("age_ms", U64),
                scalar("status", U64),
                scalar("mark", U64),
            ],
            accounts: &[FEED_READ, CLOCK],
        },
        Entry {
            name: "price",
            doc: "The price; aborts when stale.",
            args: &[],
            returns: &[scalar("price", U64)],
            accounts: &[FEED_READ, CLOCK],
        },
        Entry {
            name: "reference",
            doc: "The kill-band reference price and mark; aborts when the heartbeat is missed.",
            args: &[],
            returns: &[scalar("price", U64), scalar("mark", U64)],
            accounts: &[FEED_READ, CLOCK],
        },
        Entry {
            name: "funding",
            doc: "The funding accumulator Σ price × ms, its time, and the price.",
            args: &[],
            returns: &[
                scalar("cum_price_ms", U128),
                scalar("cum_ms", U64),
                scalar("price", U64),
            ],
            accounts: &[FEED_READ, CLOCK],
        },
    ],
};

/// Every interface, in the order bindings are generated.
pub static ALL: [&Interface; 4] = [&ORACLE, &SLAB, &MARKET, &ROUTER];

/// The interface of `template`.
pub fn interface(template: &str) -> Option<&'static Interface> {
    ALL.iter().copied().find(|i| i.template == template)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_unique_per_entry_and_entries_per_interface() {
        for interface in ALL {
            let mut entries: Vec<_> = interface.entries.iter().map(|e| e.name).collect();
            entries.sort_unstable();
            entries.dedup();
            assert_eq!(
                entries.len(),
                interface.entries.len(),
                "{}",
                interface.template
            );
            for entry in interface.entries {
                for fields in [entry.args, entry.returns] {
                    let mut names: Vec<_> = fields.iter().map(|f| f.name).collect();
                    names.sort_unstable();
                    names.dedup();
                    assert_eq!(
                        names.len(),
                        fields.len(),
                        "{}.{}",
                        interface.template,
                        entry.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_hash_covers_layout_but_not_docs() {
        let mut entries = SLAB.entries.to_vec();
        entries[0].doc = "changed";
        let leaked: &'static [Entry] = Box::leak(entries.into_boxed_slice());
        let redocumented = Interface {
            entries: leaked,
            ..SLAB
        };
        assert_eq!(redocumented.hash(), SLAB.hash());
        let mut entries = SLAB.entries.to_vec();
        const RETYPED: &[Field] = &[scalar("hold_id", U64), scalar("cap", U64)];
        entries[1].args = RETYPED;
        let leaked: &'static [Entry] = Box::leak(entries.into_boxed_slice());
        let retyped = Interface {
            entries: leaked,
            ..SLAB
        };
        assert_ne!(retyped.hash(), SLAB.hash());
    }
}
