//! Probe templates: small programs that exercise program composition on a development chain —
//! a `probe_reader` (slab role) that reads an oracle's state through a mapped view, a
//! `probe_caller` (router role) that invokes oracles and readers, and a `probe_writer` (router
//! role) that writes a reader's state through a writable view. They are not products: the
//! runtime admits them only in dev mode, where tests, `curve sim` scenarios and the composition
//! example use them until the SLAB and ROUTER templates compose the same way.
//!
//! - `probe_reader.mark() -> (price, publish_ms)`: the oracle's last price and its publish time,
//!   read from `view0` (the oracle's state, mapped read-only) without a call.
//! - `probe_reader.probe_bump(n) -> (total)`: adds `n` to its own counter.
//! - `probe_reader.probe_call(program, oracle) -> (status, detail)`: invokes
//!   `read_oracle(oracle)` of `program` (a `probe_caller`) — re-entrant when that caller is
//!   already running, and refused inside when the oracle is the one this reader maps.
//! - `probe_caller.read_oracle(oracle) -> (status, detail, price)`: invokes the oracle's `read`.
//! - `probe_caller.funding_of(oracle) -> (status, detail)`: invokes the oracle's `funding`,
//!   which the registry lets only slabs call.
//! - `probe_caller.bump_then(reader, n, trap) -> (status, detail, total)`: invokes
//!   `probe_bump(n)`, counts the call in its own state, then aborts with code 9 if `trap ≠ 0`.
//! - `probe_caller.relay(reader, target, oracle) -> (status, detail, inner status, inner
//!   detail)`: invokes `probe_call(target, oracle)` of the reader.
//! - `probe_caller.mark_of(reader) -> (status, detail, price, publish_ms)`: invokes `mark`, so
//!   the reader's view is mapped for an invoked call.
//!
//! - `probe_writer.poke(n)`: writes `n` to word 0 of `view0`, a writable view of a reader's
//!   state (its counter); `poke_then(n, trap)` does the same and then aborts with code 9 if
//!   `trap ≠ 0`.
//!
//! - `probe_router.take(slab, route_id, user, instrument, side, qty, limit_px, ttl_ms,
//!   commitment) -> (status, detail, hold_id, filled_qty, vwap_px, worst_px, max_charge,
//!   expiry_ms, book_seqno)`: invokes the slab's `reserve` for `user` (the sender: the runtime
//!   binds it).
//! - `probe_router.settle(slab, user, hold_id, amount, salt) -> (status, detail, filled_qty,
//!   avg_px, total_fee, total_debit)`: pledges `amount` of the user's vault into its escrow
//!   with the slab, mints a cap for exactly that, invokes the slab's `commit` with it, then
//!   burns the cap and releases what the commit did not take (all of it when the commit
//!   failed, whose status and detail it returns). The ROUTER template's job (seed 002 §2), done
//!   the simplest way until it exists: no margin of its own, no multi-slab route.
//! - `probe_router.drop(slab, hold_id) -> (status, detail, released_qty)`: invokes the slab's
//!   `cancel` (of any hold: the probe keeps no record of whose — the ROUTER template will).
//!
//! Each pins its callees' interface hashes as constants of its parameter table.

use curve_ir::ir::{Addr, Cond, FunctionBuilder, Invoke, Program, Rvalue, Ty};
use curve_ir::lower;
use curvescript_syntax::Span;
use curvevm::hostcall::{Capability, CapabilitySet, id};
use curvevm::isa::Segment;
use curvevm::module::ViewDecl;

use crate::abi::{self, Access, Account, Entry, Field, FieldType, Interface};
use crate::templates::{DEFAULT_GAS_BUDGET, Template, largest_gas_bound, oracle};
use crate::{Artifact, ParamSlot, Region};

/// The most gas a probe lets one callee use.
pub const CALLEE_GAS: u64 = 100_000;

/// Abort code of `bump_then` when asked to trap.
pub const TRAP_CODE: u8 = 9;

const fn field(name: &'static str) -> Field {
    Field {
        name,
        ty: FieldType::U64,
        count: 1,
    }
}

const STATE: Account = Account {
    name: "slab",
    access: Access::Write,
};
const ORACLE_VIEW: Account = Account {
    name: "oracle(view0)",
    access: Access::Read,
};

/// `probe_reader`'s interface.
pub static READER: Interface = Interface {
    abort_codes: &[],
    template: "probe_reader",
    doc: "Development probe: reads an oracle through a view; a counter; a call back.",
    entries: &[
        Entry {
            name: "mark",
            doc: "The mapped oracle's price and publish time.",
            args: &[],
            returns: &[field("price"), field("publish_ms")],
            accounts: &[ORACLE_VIEW],
        },
        Entry {
            name: "probe_bump",
            doc: "Adds n to the counter.",
            args: &[field("n")],
            returns: &[field("total")],
            accounts: &[STATE],
        },
        Entry {
            name: "probe_call",
            doc: "Invokes read_oracle(oracle) of a probe_caller.",
            args: &[field("program"), field("oracle")],
            returns: &[field("status"), field("detail")],
            accounts: &[],
        },
    ],
};

/// `probe_caller`'s interface.
pub static CALLER: Interface = Interface {
    abort_codes: &[],
    template: "probe_caller",
    doc: "Development probe: invokes oracles and probe readers.",
    entries: &[
        Entry {
            name: "read_oracle",
            doc: "Invokes the oracle's read.",
            args: &[field("oracle")],
            returns: &[field("status"), field("detail"), field("price")],
            accounts: &[],
        },
        Entry {
            name: "funding_of",
            doc: "Invokes the oracle's funding (refused: routers may not).",
            args: &[field("oracle")],
            returns: &[field("status"), field("detail")],
            accounts: &[],
        },
        Entry {
            name: "bump_then",
            doc: "Invokes probe_bump(n), counts the call, aborts 9 if trap is not 0.",
            args: &[field("reader"), field("n"), field("trap")],
            returns: &[field("status"), field("detail"), field("total")],
            accounts: &[STATE],
        },
        Entry {
            name: "relay",
            doc: "Invokes the reader's probe_call(target, oracle).",
            args: &[field("reader"), field("target"), field("oracle")],
            returns: &[
                field("status"),
                field("detail"),
                field("inner_status"),
                field("inner_detail"),
            ],
            accounts: &[],
        },
        Entry {
            name: "mark_of",
            doc: "Invokes the reader's mark.",
            args: &[field("reader")],
            returns: &[
                field("status"),
                field("detail"),
                field("price"),
                field("publish_ms"),
            ],
            accounts: &[],
        },
    ],
};

const fn typed(name: &'static str, ty: FieldType) -> Field {
    Field { name, ty, count: 1 }
}

/// `probe_router`'s interface.
pub static ROUTER: Interface = Interface {
    abort_codes: &[],
    template: "probe_router",
    doc: "Development probe: reserves and commits on a slab for the sender, funding the commit through an escrow and a cap.",
    entries: &[
        Entry {
            name: "take",
            doc: "Invokes the slab's reserve for the sender.",
            args: &[
                field("slab"),
                field("route_id"),
                field("user"),
                field("instrument"),
                field("side"),
                field("qty"),
                field("limit_px"),
                field("ttl_ms"),
                typed("commitment", FieldType::Bytes32),
            ],
            returns: &[
                field("status"),
                field("detail"),
                field("hold_id"),
                field("filled_qty"),
                field("vwap_px"),
                field("worst_px"),
                typed("max_charge", FieldType::U128),
                field("expiry_ms"),
                field("book_seqno"),
            ],
            accounts: &[],
        },
        Entry {
            name: "settle",
            doc: "Pledges amount into the sender's escrow with the slab, mints a cap for it, invokes commit, burns the cap and releases the rest.",
            args: &[
                field("slab"),
                field("user"),
                field("hold_id"),
                typed("amount", FieldType::U128),
                typed("salt", FieldType::Bytes32),
            ],
            returns: &[
                field("status"),
                field("detail"),
                field("filled_qty"),
                field("avg_px"),
                typed("total_fee", FieldType::U128),
                typed("total_debit", FieldType::U128),
            ],
            accounts: &[],
        },
        Entry {
            name: "drop",
            doc: "Invokes the slab's cancel of a hold (any hold: a probe keeps no record of whose).",
            args: &[field("slab"), field("hold_id")],
            returns: &[field("status"), field("detail"), field("released_qty")],
            accounts: &[],
        },
    ],
};

/// `probe_writer`'s interface.
pub static WRITER: Interface = Interface {
    abort_codes: &[],
    template: "probe_writer",
    doc: "Development probe: writes a reader's state through a writable view.",
    entries: &[
        Entry {
            name: "poke",
            doc: "Writes n to view0[0].",
            args: &[field("n")],
            returns: &[],
            accounts: &[READER_VIEW],
        },
        Entry {
            name: "poke_then",
            doc: "Writes n to view0[0], then aborts 9 if trap is not 0.",
            args: &[field("n"), field("trap")],
            returns: &[],
            accounts: &[READER_VIEW],
        },
    ],
};

const READER_VIEW: Account = Account {
    name: "probe_reader(view0)",
    access: Access::Write,
};

/// The index of `name` in `interface` (the callee's entry table has the interface's order).
pub(crate) fn entry_index(interface: &Interface, name: &str) -> u16 {
    interface
        .entries
        .iter()
        .position(|e| e.name == name)
        .expect("an interface entry") as u16
}

/// A hash as four parameter words, first bytes first.
fn hash_words(hash: [u8; 32]) -> Vec<u64> {
    hash.chunks(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().expect("8 bytes")))
        .collect()
}

/// Constants naming the pinned hashes' words: `(prefix_0 … prefix_3)`.
pub(crate) fn hash_constants(
    prefix: &'static [&'static str; 4],
    hash: [u8; 32],
) -> Vec<(&'static str, u64)> {
    prefix.iter().copied().zip(hash_words(hash)).collect()
}

const CALLER_HASH: [&str; 4] = ["caller_0", "caller_1", "caller_2", "caller_3"];
const ORACLE_HASH: [&str; 4] = ["oracle_0", "oracle_1", "oracle_2", "oracle_3"];
const READER_HASH: [&str; 4] = ["reader_0", "reader_1", "reader_2", "reader_3"];

/// Scratch words of the invoke buffers: return words land at 0…, arguments come from `args`.
const RETURN_BUFFER: u32 = 0;
const RETURN_WORDS: u32 = 5;

/// One invoke of `entry` of `interface` on the program in `args[0]`, arguments `args[1..]`
/// (`arg_words` of them), hash pinned at `params[hash_at..]`; stores status and detail in
/// `ret[0..2]` and returns nothing else.
fn invoke_step(
    b: &mut FunctionBuilder,
    interface: &Interface,
    entry: &str,
    arg_words: u16,
    hash_at: u32,
) {
    invoke_with(b, interface, entry, (Segment::Args, 1), arg_words, hash_at);
}

/// One invoke of `entry` of `interface` on the program in `args[0]`, `arg_words` arguments at
/// `args_at`, hash pinned at `params[hash_at..]`; stores status and detail in `ret[0..2]`; the
/// status.
fn invoke_with(
    b: &mut FunctionBuilder,
    interface: &Interface,
    entry: &str,
    args_at: (Segment, u32),
    arg_words: u16,
    hash_at: u32,
) -> curve_ir::ir::Var {
    let program = b.let_(
        "program",
        Ty::U64,
        Rvalue::Load(Addr::Fixed(Segment::Args, 0)),
    );
    let (status, detail) = invoke(b, interface, entry, program, (args_at, arg_words), hash_at);
    b.store(Addr::Fixed(Segment::Ret, 0), status);
    b.store(Addr::Fixed(Segment::Ret, 1), detail);
    status
}

/// One invoke of `entry` of `interface` on `program`: `arg_words` arguments at `args_at`, the
/// returns at scratch word 0, the callee's interface hash pinned at `params[hash_at..]`, at
/// most the gas its template's calls need. Returns (status, detail).
pub(crate) fn invoke(
    b: &mut FunctionBuilder,
    interface: &Interface,
    entry: &str,
    program: curve_ir::ir::Var,
    (args_at, arg_words): ((Segment, u32), u16),
    hash_at: u32,
) -> (curve_ir::ir::Var, curve_ir::ir::Var) {
    let status = b.var("status", Ty::U64);
    let detail = b.var("detail", Ty::U64);
    let gas_max = match interface.template {
        "slab" => SLAB_CALL_GAS,
        "market" => MARKET_CALL_GAS,
        _ => CALLEE_GAS,
    };
    b.invoke(Invoke {
        program,
        entry: entry_index(interface, entry),
        args_at,
        arg_words,
        ret_at: (Segment::Scratch, RETURN_BUFFER),
        interface_at: (Segment::Params, hash_at),
        gas_max,
        status,
        detail,
    });
    (status, detail)
}

/// Copies `count` returned words from the buffer to `ret[2..]`.
fn copy_returns(b: &mut FunctionBuilder, count: u32) {
    for word in 0..count {
        let value = b.let_(
            "returned",
            Ty::U64,
            Rvalue::Load(Addr::Fixed(Segment::Scratch, RETURN_BUFFER + word)),
        );
        b.store(Addr::Fixed(Segment::Ret, 2 + word), value);
    }
}

/// The `probe_reader` program.
pub fn reader_program() -> Program {
    let mut mark = FunctionBuilder::new("mark", 0, 2);
    mark.at("probe_reader.mark/view", None);
    for (word, offset) in [oracle::state::PRICE, oracle::state::PUBLISH_MS]
        .into_iter()
        .enumerate()
    {
        let value = mark.let_(
            "oracle_word",
            Ty::U64,
            Rvalue::Load(Addr::Fixed(Segment::View(0), offset)),
        );
        mark.store(Addr::Fixed(Segment::Ret, word as u32), value);
    }

    let mut bump = FunctionBuilder::new("probe_bump", 1, 1);
    bump.at("probe_reader.probe_bump/count", None);
    let n = bump.let_("n", Ty::U64, Rvalue::Load(Addr::Fixed(Segment::Args, 0)));
    let total = bump.let_(
        "total",
        Ty::U64,
        Rvalue::Load(Addr::Fixed(Segment::Slab, 0)),
    );
    let total = bump.let_("total", Ty::U64, Rvalue::Add(total, n));
    bump.store(Addr::Fixed(Segment::Slab, 0), total);
    bump.store(Addr::Fixed(Segment::Ret, 0), total);

    let mut call = FunctionBuilder::new("probe_call", 2, 2);
    call.at("probe_reader.probe_call/invoke", None);
    invoke_step(&mut call, &CALLER, "read_oracle", 1, 0);

    Program {
        functions: vec![mark.finish(), bump.finish(), call.finish()],
        params: 4,
        slab: 1,
        scratch_reserved: RETURN_WORDS,
        capabilities: CapabilitySet::of(&[Capability::Invoke]),
        views: vec![ViewDecl {
            words: oracle::state::WORDS,
            writable: false,
        }],
        subroutines: Vec::new(),
    }
}

/// The `probe_caller` program.
pub fn caller_program() -> Program {
    let mut read = FunctionBuilder::new("read_oracle", 1, 3);
    read.at("probe_caller.read_oracle/invoke", None);
    invoke_step(&mut read, &abi::ORACLE, "read", 0, 0);
    copy_returns(&mut read, 1);

    let mut funding = FunctionBuilder::new("funding_of", 1, 2);
    funding.at("probe_caller.funding_of/invoke", None);
    invoke_step(&mut funding, &abi::ORACLE, "funding", 0, 0);

    let mut bump = FunctionBuilder::new("bump_then", 3, 3);
    bump.at("probe_caller.bump_then/invoke", None);
    invoke_step(&mut bump, &READER, "probe_bump", 1, 4);
    copy_returns(&mut bump, 1);
    bump.at("probe_caller.bump_then/count", None);
    let one = bump.constant("one", 1);
    let calls = bump.let_(
        "calls",
        Ty::U64,
        Rvalue::Load(Addr::Fixed(Segment::Slab, 0)),
    );
    let calls = bump.let_("calls", Ty::U64, Rvalue::Add(calls, one));
    bump.store(Addr::Fixed(Segment::Slab, 0), calls);
    bump.at("probe_caller.bump_then/trap", None);
    let trap = bump.let_("trap", Ty::U64, Rvalue::Load(Addr::Fixed(Segment::Args, 2)));
    bump.guard(Cond::Zero(trap), TRAP_CODE, "trap = 0");

    let mut relay = FunctionBuilder::new("relay", 3, 4);
    relay.at("probe_caller.relay/invoke", None);
    invoke_step(&mut relay, &READER, "probe_call", 2, 4);
    copy_returns(&mut relay, 2);

    let mut mark = FunctionBuilder::new("mark_of", 1, 4);
    mark.at("probe_caller.mark_of/invoke", None);
    invoke_step(&mut mark, &READER, "mark", 0, 4);
    copy_returns(&mut mark, 2);

    Program {
        functions: vec![
            read.finish(),
            funding.finish(),
            bump.finish(),
            relay.finish(),
            mark.finish(),
        ],
        params: 8,
        slab: 1,
        scratch_reserved: RETURN_WORDS,
        capabilities: CapabilitySet::of(&[Capability::Invoke]),
        views: Vec::new(),
        subroutines: Vec::new(),
    }
}

/// The most gas `probe_router` lets the slab use (the slab's budget).
pub const SLAB_CALL_GAS: u64 = 300_000;

/// Where `settle` builds the commit's argument words in scratch (after the return buffer).
const COMMIT_ARGS: u32 = 8;

/// The most gas a router lets a market call use: the largest `GAS budget` a MARKET block may
/// declare (the host gives the callee the least of this, the caller's remaining gas and the
/// market entry's own budget, so a market of any size can be traded).
pub const MARKET_CALL_GAS: u64 = 100_000_000;

/// Step names of one funded invoke: pledge, cap, release.
pub(crate) type FundedSteps = [&'static str; 3];
const SETTLE_STEPS: FundedSteps = [
    "probe_router.settle/pledge",
    "probe_router.settle/cap",
    "probe_router.settle/release",
];

/// A `u128` argument at words `at`, `at + 1`, as its two words.
fn arg_pair(b: &mut FunctionBuilder, name: &str, at: u32) -> [curve_ir::ir::Var; 2] {
    [
        b.let_(
            &format!("{name}_lo"),
            Ty::U64,
            Rvalue::Load(Addr::Fixed(Segment::Args, at)),
        ),
        b.let_(
            &format!("{name}_hi"),
            Ty::U64,
            Rvalue::Load(Addr::Fixed(Segment::Args, at + 1)),
        ),
    ]
}

/// Copies `count` argument words from `args[from..]` to `scratch[to..]`.
fn copy_args(b: &mut FunctionBuilder, from: u32, to: u32, count: u32) {
    for word in 0..count {
        let value = b.let_(
            "arg",
            Ty::U64,
            Rvalue::Load(Addr::Fixed(Segment::Args, from + word)),
        );
        b.store(Addr::Fixed(Segment::Scratch, to + word), value);
    }
}

/// The cap's lifetime in a funded leg: the host's longest, or a parameter slot's.
#[derive(Clone, Copy)]
pub(crate) enum CapTtl {
    /// 120,000 ms.
    Longest,
    /// The `u64` at this parameter slot.
    Param(u32),
}

/// The router's part of a debit through a cap: pledges `amount` of `user`'s vault into its
/// escrow with `program`, mints a cap for exactly that, runs `call` (which invokes the callee
/// with the cap and gives the status), then releases what the callee did not take — the `u128`
/// at return words `taken_at` when it succeeded, nothing when it failed — and burns the cap.
pub(crate) fn funded(
    b: &mut FunctionBuilder,
    [pledge, mint, release]: FundedSteps,
    (program, user): (curve_ir::ir::Var, curve_ir::ir::Var),
    amount: [curve_ir::ir::Var; 2],
    (taken_at, ttl): (u32, CapTtl),
    call: impl FnOnce(&mut FunctionBuilder, curve_ir::ir::Var) -> curve_ir::ir::Var,
) -> curve_ir::ir::Var {
    let cap = fund(b, [pledge, mint], (program, user), amount, ttl);
    let status = call(b, cap);
    b.at(release, None);
    let [amount_lo, amount_hi] = amount;
    let amount = b.let_("amount", Ty::U128, Rvalue::Join(amount_lo, amount_hi));
    release_untaken(b, (program, user), amount, (status, taken_at), cap);
    status
}

/// A funded leg's end: what the callee did not take of `amount` (a `u128`) back to the vault —
/// all of it when `status` says the call failed, else `amount` less the `u128` at return words
/// `taken_at` — and the cap burned.
pub(crate) fn release_untaken(
    b: &mut FunctionBuilder,
    (program, user): (curve_ir::ir::Var, curve_ir::ir::Var),
    amount: curve_ir::ir::Var,
    (status, taken_at): (curve_ir::ir::Var, u32),
    cap: curve_ir::ir::Var,
) {
    let nothing = b.constant("nothing", 0);
    let taken = b.let_("taken", Ty::U128, Rvalue::Join(nothing, nothing));
    b.if_(Cond::Zero(status), |b| {
        let lo = b.let_(
            "taken_lo",
            Ty::U64,
            Rvalue::Load(Addr::Fixed(Segment::Scratch, taken_at)),
        );
        let hi = b.let_(
            "taken_hi",
            Ty::U64,
            Rvalue::Load(Addr::Fixed(Segment::Scratch, taken_at + 1)),
        );
        b.assign(taken, Rvalue::Join(lo, hi));
    });
    let rest = b.let_("rest", Ty::U128, Rvalue::Sub(amount, taken));
    unfund(b, (program, user), rest, cap);
}

/// A funded leg's first half: `vault_pledge(user, program, 0, amount)` (step `pledge`) and
/// `cap_mint` for exactly that amount (step `mint`); the cap's id.
pub(crate) fn fund(
    b: &mut FunctionBuilder,
    [pledge, mint]: [&'static str; 2],
    (program, user): (curve_ir::ir::Var, curve_ir::ir::Var),
    [amount_lo, amount_hi]: [curve_ir::ir::Var; 2],
    ttl: CapTtl,
) -> curve_ir::ir::Var {
    b.at(pledge, None);
    let asset = b.constant("asset", 0);
    let escrow = [b.var("escrow_lo", Ty::U64), b.var("escrow_hi", Ty::U64)];
    b.host(
        id::VAULT_PLEDGE,
        &[user, program, asset, amount_lo, amount_hi],
        &escrow,
        0,
    );
    b.at(mint, None);
    let ttl = match ttl {
        CapTtl::Longest => b.constant("ttl_ms", 120_000),
        CapTtl::Param(slot) => b.load("ttl_ms", Addr::Fixed(Segment::Params, slot)),
    };
    let cap = b.var("cap", Ty::U64);
    b.host(
        id::CAP_MINT,
        &[user, program, asset, amount_lo, amount_hi, ttl],
        &[cap],
        0,
    );
    cap
}

/// A funded leg's second half: `vault_release(user, program, 0, rest)` (the `u128` the callee
/// did not take) and `cap_burn(cap)`.
pub(crate) fn unfund(
    b: &mut FunctionBuilder,
    (program, user): (curve_ir::ir::Var, curve_ir::ir::Var),
    rest: curve_ir::ir::Var,
    cap: curve_ir::ir::Var,
) {
    let asset = b.constant("asset", 0);
    let escrow = [b.var("escrow_lo", Ty::U64), b.var("escrow_hi", Ty::U64)];
    let rest_lo = b.let_("rest_lo", Ty::U64, Rvalue::Low(rest));
    let rest_hi = b.let_("rest_hi", Ty::U64, Rvalue::High(rest));
    b.host(
        id::VAULT_RELEASE,
        &[user, program, asset, rest_lo, rest_hi],
        &escrow,
        0,
    );
    let unused = [b.var("unused_lo", Ty::U64), b.var("unused_hi", Ty::U64)];
    b.host(id::CAP_BURN, &[cap], &unused, 0);
}

/// The `probe_router` program.
pub fn router_program() -> Program {
    let mut take = FunctionBuilder::new("take", 12, 10);
    take.at("probe_router.take/invoke", None);
    invoke_with(&mut take, &abi::SLAB, "reserve", (Segment::Args, 1), 11, 0);
    copy_returns(&mut take, 8);

    let mut settle = FunctionBuilder::new("settle", 9, 8);
    let b = &mut settle;
    let slab = b.let_("slab", Ty::U64, Rvalue::Load(Addr::Fixed(Segment::Args, 0)));
    let user = b.let_("user", Ty::U64, Rvalue::Load(Addr::Fixed(Segment::Args, 1)));
    let amount = arg_pair(b, "amount", 3);
    // The commit's debit is its return words 4 and 5.
    let status = funded(
        b,
        SETTLE_STEPS,
        (slab, user),
        amount,
        (4, CapTtl::Longest),
        |b, cap| {
            b.at("probe_router.settle/commit", None);
            let hold = b.let_(
                "hold_id",
                Ty::U64,
                Rvalue::Load(Addr::Fixed(Segment::Args, 2)),
            );
            b.store(Addr::Fixed(Segment::Scratch, COMMIT_ARGS), hold);
            b.store(Addr::Fixed(Segment::Scratch, COMMIT_ARGS + 1), cap);
            copy_args(b, 5, COMMIT_ARGS + 2, 4);
            // margin 0: the slab margins the probe's accounts itself.
            let slab_margined = b.constant("margin", 0);
            b.store(
                Addr::Fixed(Segment::Scratch, COMMIT_ARGS + 6),
                slab_margined,
            );
            invoke_with(
                b,
                &abi::SLAB,
                "commit",
                (Segment::Scratch, COMMIT_ARGS),
                7,
                0,
            )
        },
    );
    b.if_(Cond::Zero(status), |b| copy_returns(b, 6));

    let mut drop = FunctionBuilder::new("drop", 2, 3);
    drop.at("probe_router.drop/invoke", None);
    invoke_with(&mut drop, &abi::SLAB, "cancel", (Segment::Args, 1), 1, 0);
    copy_returns(&mut drop, 1);

    Program {
        functions: vec![take.finish(), settle.finish(), drop.finish()],
        params: 4,
        slab: 1,
        scratch_reserved: COMMIT_ARGS + 8,
        capabilities: CapabilitySet::of(&[
            Capability::Invoke,
            Capability::VaultWrite,
            Capability::CapAdmin,
        ]),
        views: Vec::new(),
        subroutines: Vec::new(),
    }
}

/// The `probe_writer` program.
pub fn writer_program() -> Program {
    let poke = |name: &str, trap: bool| {
        let mut b = FunctionBuilder::new(name, 1 + u16::from(trap), 0);
        b.step("probe_writer.poke/view", None, |b| {
            let n = b.load("n", Addr::Fixed(Segment::Args, 0));
            b.store(Addr::Fixed(Segment::View(0), 0), n);
        });
        if trap {
            b.step("probe_writer.poke/trap", None, |b| {
                let trap = b.load("trap", Addr::Fixed(Segment::Args, 1));
                b.guard(Cond::Zero(trap), TRAP_CODE, "trap = 0");
            });
        }
        b.finish()
    };
    Program {
        functions: vec![poke("poke", false), poke("poke_then", true)],
        params: 0,
        slab: 1,
        scratch_reserved: 0,
        capabilities: CapabilitySet::default(),
        views: vec![ViewDecl {
            words: 1,
            writable: true,
        }],
        subroutines: Vec::new(),
    }
}

fn template(
    name: &'static str,
    role: &'static str,
    interface: &'static Interface,
    program: &Program,
    constants: Vec<(&'static str, u64)>,
) -> Template {
    Template {
        name,
        role,
        interface,
        lowered: lower(program).expect("the probe templates lower"),
        param_names: constants.iter().map(|(name, _)| *name).collect(),
        conditions: Vec::new(),
        constants,
        derived: Vec::new(),
        layout: vec![Region {
            name: "counter",
            offset: 0,
            words: 1,
        }],
        shape: Vec::new(),
        gas_budget: DEFAULT_GAS_BUDGET,
    }
}

/// The `probe_reader` template (pins the caller's interface).
pub fn reader_template() -> Template {
    template(
        "probe_reader",
        "slab",
        &READER,
        &reader_program(),
        hash_constants(&CALLER_HASH, CALLER.hash()),
    )
}

/// The `probe_caller` template (pins the oracle's and the reader's interfaces).
pub fn caller_template() -> Template {
    let mut constants = hash_constants(&ORACLE_HASH, abi::ORACLE.hash());
    constants.extend(hash_constants(&READER_HASH, READER.hash()));
    template(
        "probe_caller",
        "router",
        &CALLER,
        &caller_program(),
        constants,
    )
}

/// The `probe_writer` template.
pub fn writer_template() -> Template {
    template(
        "probe_writer",
        "router",
        &WRITER,
        &writer_program(),
        Vec::new(),
    )
}

const SLAB_HASH: [&str; 4] = ["slab_0", "slab_1", "slab_2", "slab_3"];

/// The `probe_router` template (pins the slab's interface).
pub fn router_template() -> Template {
    let constants = hash_constants(&SLAB_HASH, abi::SLAB.hash());
    let mut template = template(
        "probe_router",
        "router",
        &ROUTER,
        &router_program(),
        constants,
    );
    // Its calls include the slab's (up to its budget): the largest entrypoint bound.
    template.gas_budget = largest_gas_bound(&template.lowered).max(DEFAULT_GAS_BUDGET);
    template
}

/// Every probe template.
pub fn templates() -> Vec<Template> {
    vec![
        reader_template(),
        caller_template(),
        writer_template(),
        router_template(),
    ]
}

/// The deployable artifact of a probe template (every parameter is a constant).
pub fn artifact(template: Template) -> Artifact {
    let program = match template.name {
        "probe_reader" => reader_program(),
        "probe_writer" => writer_program(),
        "probe_router" => router_program(),
        _ => caller_program(),
    };
    let kind = if template.role == "router" {
        curvescript_syntax::ast::BlockKind::Router
    } else {
        curvescript_syntax::ast::BlockKind::Slab
    };
    Artifact {
        kind,
        id: Some(template.name.to_string()),
        template: template.name,
        role: template.role,
        interface: template.interface,
        ir: program,
        params: template
            .constants
            .iter()
            .map(|&(name, value)| ParamSlot {
                name,
                keyword: "",
                arg: "",
                value,
                span: Span::default(),
            })
            .collect(),
        conditions: template.conditions,
        constants: template.constants,
        layout: template.layout,
        shape: template.shape,
        gas_budget: template.gas_budget,
        lowered: template.lowered,
        keyword_spans: Vec::new(),
        block_span: Span::default(),
    }
}
