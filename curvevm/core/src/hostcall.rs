//! The host-call ABI, one table: every host function's id, name, capability, register
//! convention and gas formula, plus the capabilities a module declares and the refusal codes a
//! host traps with.
//!
//! A host call is `call` to `HOST_CALL_BASE + id`. Both engines run it the same way, through
//! [`host_step`]: the BRANCH costs its one gas like any instruction; then the capability must be
//! among the module's declared ones (else the call traps with [`Refusal::CapabilityDenied`]);
//! then the formula's gas is charged (out of gas takes precedence over everything the host could
//! say); then the host runs and may refuse with a code. Arguments are in `r1..=r6`, results come
//! back in `r1`/`r2`; no other register and not the carry flag changes.
//!
//! Buffers are passed as *pointers*: `(segment selector << 32) | word address`. Bytes are packed
//! eight to a word, little-endian; a 32-byte hash is four words.

use core::fmt;

use crate::interp::{Host, Registers};
use crate::memory::Memory;
use crate::trap::TrapKind;

/// A right a module must declare before its code may use a family of host calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Capability {
    /// Move funds between a user's vault balance and an escrow (router only).
    VaultWrite = 0,
    /// Read the escrow of (user, calling slab, asset).
    EscrowRead = 1,
    /// Debit an escrow through a cap scoped to (user, calling slab, asset).
    EscrowDebit = 2,
    /// Mint and burn caps (router only).
    CapAdmin = 3,
    /// Read the rollup clock (batch time and height).
    Clock = 4,
    /// Append to the event log.
    Events = 5,
    /// SHA-256.
    Sha256 = 6,
    /// Poseidon over BN254.
    Poseidon = 7,
    /// Merkle inclusion checks.
    Merkle = 8,
    /// Ed25519 signature checks.
    Ed25519 = 9,
    /// Call another program's entrypoint (`invoke`).
    Invoke = 10,
}

impl Capability {
    /// Every capability, by bit.
    pub const ALL: [Capability; 11] = [
        Capability::VaultWrite,
        Capability::EscrowRead,
        Capability::EscrowDebit,
        Capability::CapAdmin,
        Capability::Clock,
        Capability::Events,
        Capability::Sha256,
        Capability::Poseidon,
        Capability::Merkle,
        Capability::Ed25519,
        Capability::Invoke,
    ];

    /// Its name in assembly and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Capability::VaultWrite => "vault_write",
            Capability::EscrowRead => "escrow_read",
            Capability::EscrowDebit => "escrow_debit",
            Capability::CapAdmin => "cap_admin",
            Capability::Clock => "clock",
            Capability::Events => "events",
            Capability::Sha256 => "sha256",
            Capability::Poseidon => "poseidon",
            Capability::Merkle => "merkle",
            Capability::Ed25519 => "ed25519",
            Capability::Invoke => "invoke",
        }
    }

    /// The capability called `name`.
    pub fn from_name(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Its bit in a [`CapabilitySet`].
    pub const fn bit(self) -> u32 {
        1 << self as u8
    }
}

/// A set of capabilities (the module field `capabilities`); unknown bits are invalid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CapabilitySet(pub u32);

impl CapabilitySet {
    /// Every defined bit.
    pub const VALID_BITS: u32 = (1 << Capability::ALL.len()) - 1;
    /// The empty set.
    pub const EMPTY: CapabilitySet = CapabilitySet(0);

    /// The set of `capabilities`.
    pub fn of(capabilities: &[Capability]) -> CapabilitySet {
        CapabilitySet(capabilities.iter().fold(0, |bits, c| bits | c.bit()))
    }

    /// Whether it holds `capability`.
    pub const fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }

    /// Whether every member is also in `other`.
    pub const fn is_subset(self, other: CapabilitySet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Members in bit order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl fmt::Display for CapabilitySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Capability::name).collect();
        write!(f, "{{{}}}", names.join(", "))
    }
}

/// Why a host refused a call: the `code` of [`TrapKind::Host`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Refusal {
    /// The module did not declare the call's capability.
    CapabilityDenied = 1,
    /// A pointer outside its segment, into an unknown segment, or a write to a read-only one.
    BadPointer = 2,
    /// A length or count outside the function's bounds.
    BadLength = 3,
    /// A 32-byte value that is not a canonical BN254 field element.
    BadFieldElement = 4,
    /// No cap with that id.
    UnknownCap = 5,
    /// The cap expired (`now > expiry`) or was burned.
    CapExpired = 6,
    /// The cap names another (user, slab, asset).
    CapScope = 7,
    /// The amount exceeds the cap's remaining allowance.
    CapRemaining = 8,
    /// The amount exceeds the escrow balance.
    EscrowBalance = 9,
    /// The amount exceeds the vault balance.
    VaultBalance = 10,
    /// A balance would exceed `u128::MAX`.
    BalanceOverflow = 11,
    /// The call's event log is full.
    EventLogFull = 12,
    /// `invoke`: no program with that id.
    UnknownProgram = 13,
    /// `invoke`: the callee has no entrypoint with that index.
    UnknownEntry = 14,
    /// `invoke`: the argument count is not the entrypoint's.
    ArgumentCount = 15,
    /// `invoke`: the callee's interface (descriptor) hash is not the one the caller expects.
    InterfaceMismatch = 16,
    /// `invoke`: the call would nest deeper than [`MAX_INVOKE_DEPTH`].
    InvokeDepth = 17,
    /// `invoke`: the callee is already running (no program is invoked while on the call stack).
    Reentrancy = 18,
    /// `invoke`: the registry does not let the caller's role call that entrypoint.
    InvokeDenied = 19,
    /// `invoke`: the callee declares a writable view (only an outermost call may map one).
    CalleeViews = 20,
    /// `invoke`: the program is not in the transaction's access list.
    UndeclaredProgram = 21,
    /// `invoke`: the callee's state, or the state one of its views maps, is in use by the
    /// running call tree (mapped as a view, or the program is running).
    ProgramInUse = 22,
}

impl Refusal {
    /// Every refusal.
    pub const ALL: [Refusal; 22] = [
        Refusal::CapabilityDenied,
        Refusal::BadPointer,
        Refusal::BadLength,
        Refusal::BadFieldElement,
        Refusal::UnknownCap,
        Refusal::CapExpired,
        Refusal::CapScope,
        Refusal::CapRemaining,
        Refusal::EscrowBalance,
        Refusal::VaultBalance,
        Refusal::BalanceOverflow,
        Refusal::EventLogFull,
        Refusal::UnknownProgram,
        Refusal::UnknownEntry,
        Refusal::ArgumentCount,
        Refusal::InterfaceMismatch,
        Refusal::InvokeDepth,
        Refusal::Reentrancy,
        Refusal::InvokeDenied,
        Refusal::CalleeViews,
        Refusal::UndeclaredProgram,
        Refusal::ProgramInUse,
    ];

    /// Its code.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// Stable snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::CapabilityDenied => "capability_denied",
            Refusal::BadPointer => "bad_pointer",
            Refusal::BadLength => "bad_length",
            Refusal::BadFieldElement => "bad_field_element",
            Refusal::UnknownCap => "unknown_cap",
            Refusal::CapExpired => "cap_expired",
            Refusal::CapScope => "cap_scope",
            Refusal::CapRemaining => "cap_remaining",
            Refusal::EscrowBalance => "escrow_balance",
            Refusal::VaultBalance => "vault_balance",
            Refusal::BalanceOverflow => "balance_overflow",
            Refusal::EventLogFull => "event_log_full",
            Refusal::UnknownProgram => "unknown_program",
            Refusal::UnknownEntry => "unknown_entry",
            Refusal::ArgumentCount => "argument_count",
            Refusal::InterfaceMismatch => "interface_mismatch",
            Refusal::InvokeDepth => "invoke_depth",
            Refusal::Reentrancy => "reentrancy",
            Refusal::InvokeDenied => "invoke_denied",
            Refusal::CalleeViews => "callee_views",
            Refusal::UndeclaredProgram => "undeclared_program",
            Refusal::ProgramInUse => "program_in_use",
        }
    }

    /// The refusal with `code`.
    pub fn from_code(code: u32) -> Option<Refusal> {
        Refusal::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// How many units a call's variable gas is charged for, read from an argument register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Units {
    /// No variable part.
    None,
    /// `⌈r / divisor⌉` (bytes to blocks, elements to permutations).
    Ceil {
        /// The register.
        reg: u8,
        /// Units per charged unit.
        divisor: u64,
    },
    /// `⌈log2 r⌉`: the depth of a Merkle tree of `r` leaves.
    Log2 {
        /// The register.
        reg: u8,
    },
}

/// `base + per × units`, saturating (a cost past the gas limit traps out of gas).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GasFormula {
    /// Fixed part (beyond the BRANCH's own gas).
    pub base: u64,
    /// Cost per unit.
    pub per: u64,
    /// The unit count.
    pub units: Units,
}

impl GasFormula {
    /// The cost for these registers.
    pub fn cost(&self, registers: &Registers) -> u64 {
        let units = match self.units {
            Units::None => 0,
            Units::Ceil { reg, divisor } => registers[usize::from(reg)].div_ceil(divisor),
            Units::Log2 { reg } => {
                let n = registers[usize::from(reg)];
                if n <= 1 {
                    0
                } else {
                    u64::from(64 - (n - 1).leading_zeros())
                }
            }
        };
        self.base.saturating_add(self.per.saturating_mul(units))
    }

    /// The formula as text (`120 + 40 × ⌈r2 / 64⌉`).
    pub fn describe(&self) -> String {
        match self.units {
            Units::None => self.base.to_string(),
            Units::Ceil { reg, divisor: 1 } => format!("{} + {} × r{reg}", self.base, self.per),
            Units::Ceil { reg, divisor } => {
                format!("{} + {} × ⌈r{reg} / {divisor}⌉", self.base, self.per)
            }
            Units::Log2 { reg } => format!("{} + {} × ⌈log2 r{reg}⌉", self.base, self.per),
        }
    }
}

/// One host function.
#[derive(Clone, Copy, Debug)]
pub struct HostFunction {
    /// Id (`call HOST_CALL_BASE + id`).
    pub id: u16,
    /// Name in assembly (`host sha256`).
    pub name: &'static str,
    /// The capability it needs.
    pub capability: Capability,
    /// Gas beyond the BRANCH's one.
    pub gas: GasFormula,
    /// Arguments.
    pub args: &'static str,
    /// Results.
    pub results: &'static str,
    /// What it does and when it refuses.
    pub doc: &'static str,
}

/// Host function ids.
pub mod id {
    /// `clock`.
    pub const CLOCK: u16 = 0;
    /// `event`.
    pub const EVENT: u16 = 1;
    /// `sha256`.
    pub const SHA256: u16 = 2;
    /// `poseidon`.
    pub const POSEIDON: u16 = 3;
    /// `merkle_verify`.
    pub const MERKLE_VERIFY: u16 = 4;
    /// `ed25519_verify`.
    pub const ED25519_VERIFY: u16 = 5;
    /// `escrow_read`.
    pub const ESCROW_READ: u16 = 6;
    /// `safe_debit`.
    pub const SAFE_DEBIT: u16 = 7;
    /// `cap_mint`.
    pub const CAP_MINT: u16 = 8;
    /// `cap_burn`.
    pub const CAP_BURN: u16 = 9;
    /// `vault_pledge`.
    pub const VAULT_PLEDGE: u16 = 10;
    /// `vault_release`.
    pub const VAULT_RELEASE: u16 = 11;
    /// `invoke`.
    pub const INVOKE: u16 = 12;
    /// `vault_read`.
    pub const VAULT_READ: u16 = 13;
}

/// Most words one event carries.
pub const MAX_EVENT_WORDS: u64 = 32;
/// Most events one call may log.
pub const MAX_EVENTS_PER_CALL: usize = 256;
/// Most bytes hashed or signed in one call.
pub const MAX_HASH_BYTES: u64 = 65_536;
/// Most field elements in one Poseidon call.
pub const MAX_POSEIDON_ELEMENTS: u64 = 16;
/// Most leaves a Merkle check accepts (depth ≤ 32).
pub const MAX_MERKLE_LEAVES: u64 = 1 << 32;
/// Longest cap lifetime: a longer TTL is clamped (percolator `MAX_CAP_TTL_MS`).
pub const MAX_CAP_TTL_MS: u64 = 120_000;
/// Most programs an `invoke` chain may nest below the outermost call (a protocol constant: the
/// compiler's static gas bound and every engine rely on it).
pub const MAX_INVOKE_DEPTH: usize = 4;

const fn fixed(base: u64) -> GasFormula {
    GasFormula {
        base,
        per: 0,
        units: Units::None,
    }
}

const fn per_ceil(base: u64, per: u64, reg: u8, divisor: u64) -> GasFormula {
    GasFormula {
        base,
        per,
        units: Units::Ceil { reg, divisor },
    }
}

/// The table. Gas constants come from the calibration in BENCHMARKS.md: each is the measured
/// nanoseconds of the call divided by the interpreter's nanoseconds per instruction, so that one
/// gas buys about the same machine time whatever it pays for.
pub const HOST_FUNCTIONS: [HostFunction; 14] = [
    HostFunction {
        id: id::CLOCK,
        name: "clock",
        capability: Capability::Clock,
        gas: fixed(5),
        args: "",
        results: "r1 = batch time (ms), r2 = batch height, r3 = chain id",
        doc: "The rollup clock: the time and height of the batch being executed, never the wall clock, \
              and the chain it belongs to (what signed messages a program builds are bound to).",
    },
    HostFunction {
        id: id::EVENT,
        name: "event",
        capability: Capability::Events,
        gas: per_ceil(120, 4, 3, 1),
        args: "r1 = topic, r2 = pointer, r3 = words (≤ 32)",
        results: "",
        doc: "Appends (topic, words) to the call's event log; refuses bad_length past 32 words or \
              event_log_full past 256 events.",
    },
    HostFunction {
        id: id::SHA256,
        name: "sha256",
        capability: Capability::Sha256,
        gas: per_ceil(45, 14, 2, 64),
        args: "r1 = source pointer, r2 = bytes (≤ 65,536), r3 = destination pointer (4 words)",
        results: "",
        doc: "SHA-256 of the first r2 bytes at r1, written as four words at r3.",
    },
    HostFunction {
        id: id::POSEIDON,
        name: "poseidon",
        capability: Capability::Poseidon,
        gas: per_ceil(22_000, 22_000, 2, 4),
        args: "r1 = source pointer, r2 = elements (1..=16, four words each), r3 = destination pointer",
        results: "",
        doc: "Poseidon (the formats crate's BN254 sponge, domain `Program`) of r2 field \
              elements; refuses bad_field_element for a non-canonical element.",
    },
    HostFunction {
        id: id::MERKLE_VERIFY,
        name: "merkle_verify",
        capability: Capability::Merkle,
        gas: GasFormula {
            base: 60,
            per: 52,
            units: Units::Log2 { reg: 3 },
        },
        args: "r1 = leaf hash pointer, r2 = index, r3 = leaf count (1..=2^32), r4 = proof pointer \
               (⌈log2 r3⌉ hashes), r5 = root pointer",
        results: "r1 = 1 if the leaf hash is at the index under the root, else 0",
        doc: "Checks a Merkle inclusion proof of the formats crate's tree (domain-separated \
              SHA-256, fixed-length proofs).",
    },
    HostFunction {
        id: id::ED25519_VERIFY,
        name: "ed25519_verify",
        capability: Capability::Ed25519,
        gas: per_ceil(17_000, 80, 4, 128),
        args: "r1 = public key pointer (4 words), r2 = signature pointer (8 words), r3 = message \
               pointer, r4 = message bytes (≤ 65,536)",
        results: "r1 = 1 if the signature is valid (strict verification), else 0",
        doc: "Ed25519 signature check (RFC 8032, strict: canonical encodings, no small-order keys).",
    },
    HostFunction {
        id: id::ESCROW_READ,
        name: "escrow_read",
        capability: Capability::EscrowRead,
        gas: fixed(6),
        args: "r1 = user, r2 = asset",
        results: "r1, r2 = balance (u128, low word first) of escrow (user, calling slab, asset)",
        doc: "Reads the calling slab's escrow for a user and asset; a slab never sees another's.",
    },
    HostFunction {
        id: id::SAFE_DEBIT,
        name: "safe_debit",
        capability: Capability::EscrowDebit,
        gas: fixed(17),
        args: "r1 = cap id, r2 = user, r3 = asset, r4, r5 = amount (u128)",
        results: "r1, r2 = the cap's remaining allowance after the debit",
        doc: "Moves the amount from escrow (user, calling slab, asset) to the slab's account. \
              Refuses, before any write: unknown_cap, cap_expired (now > expiry or burned), \
              cap_scope (the cap names another user, slab or asset), cap_remaining, escrow_balance.",
    },
    HostFunction {
        id: id::CAP_MINT,
        name: "cap_mint",
        capability: Capability::CapAdmin,
        gas: fixed(130),
        args: "r1 = user, r2 = slab, r3 = asset, r4, r5 = allowance (u128), r6 = ttl (ms)",
        results: "r1 = cap id",
        doc: "Mints a cap for (user, slab, asset) expiring at now + min(ttl, 120,000 ms).",
    },
    HostFunction {
        id: id::CAP_BURN,
        name: "cap_burn",
        capability: Capability::CapAdmin,
        gas: fixed(110),
        args: "r1 = cap id",
        results: "r1, r2 = the allowance left unused",
        doc: "Burns a cap; refuses unknown_cap, or cap_expired if already burned.",
    },
    HostFunction {
        id: id::VAULT_PLEDGE,
        name: "vault_pledge",
        capability: Capability::VaultWrite,
        gas: fixed(9),
        args: "r1 = user, r2 = slab, r3 = asset, r4, r5 = amount (u128)",
        results: "r1, r2 = the escrow balance after",
        doc: "Moves the amount from the user's vault balance into escrow (user, slab, asset); \
              refuses vault_balance or balance_overflow.",
    },
    HostFunction {
        id: id::VAULT_RELEASE,
        name: "vault_release",
        capability: Capability::VaultWrite,
        gas: fixed(9),
        args: "r1 = user, r2 = slab, r3 = asset, r4, r5 = amount (u128)",
        results: "r1, r2 = the escrow balance after",
        doc: "Moves the amount from escrow (user, slab, asset) back to the user's vault balance; \
              refuses escrow_balance or balance_overflow.",
    },
    HostFunction {
        id: id::INVOKE,
        name: "invoke",
        capability: Capability::Invoke,
        gas: per_ceil(70, 1, 4, 1),
        args: "r1 = program id, r2 = entrypoint index, r3 = arguments pointer, r4 = argument words, \
               r5 = return pointer (the entry's return words), r6 = expected interface hash pointer \
               (4 words), r7 = the most gas the callee may use",
        results: "r1 = 0 if the callee returned (its words at r5), else its trap class (1 out_of_gas, \
                  2 overflow, 3 out_of_bounds, 4 call_depth, 5 abort, 6 host); r2 = the abort code, \
                  or host id << 32 | refusal code, else 0",
        doc: "Runs another program's entrypoint in its own instance on the caller's engine, with \
              the least of the caller's remaining gas, r7 and the callee entry's budget; the gas it \
              uses is charged to the caller. A callee trap is returned as a code, its writes \
              undone; a callee that returned has its writes undone too if the caller later traps. \
              Refuses, before anything runs: unknown_program, unknown_entry, argument_count, \
              interface_mismatch, invoke_depth (deeper than 4), reentrancy (the callee is on the \
              call stack), invoke_denied (the registry's role rules), callee_views (a writable \
              view), undeclared_program (not in the access list), program_in_use (its state is \
              mapped by the running call tree), bad_pointer.",
    },
    HostFunction {
        id: id::VAULT_READ,
        name: "vault_read",
        capability: Capability::VaultWrite,
        gas: fixed(6),
        args: "r1 = user, r2 = asset",
        results: "r1, r2 = the user's vault balance of the asset (u128, low word first)",
        doc: "Reads a user's free collateral: what a router may pledge (a liquidation's \
              re-pledge, percolator §4.17).",
    },
];

/// The host function with `id`.
pub fn function(id: u16) -> Option<&'static HostFunction> {
    HOST_FUNCTIONS.get(usize::from(id))
}

/// The host function called `name`.
pub fn by_name(name: &str) -> Option<&'static HostFunction> {
    HOST_FUNCTIONS.iter().find(|f| f.name == name)
}

/// One host call after its BRANCH has been paid for, exactly as both engines run it: capability
/// check, gas, then the host. `gas` is the remaining gas (zero after out of gas).
#[inline]
pub fn host_step(
    capabilities: CapabilitySet,
    host: &mut dyn Host,
    id: u16,
    registers: &mut Registers,
    memory: &mut Memory,
    gas: &mut u64,
) -> Result<(), TrapKind> {
    // The verifier admits only ids in the table; an id outside it holds no capability.
    let Some(function) = function(id).filter(|f| capabilities.contains(f.capability)) else {
        return Err(TrapKind::Host {
            id,
            code: Refusal::CapabilityDenied.code(),
        });
    };
    let cost = function.gas.cost(registers);
    if *gas < cost {
        *gas = 0;
        return Err(TrapKind::OutOfGas);
    }
    *gas -= cost;
    host.call(id, registers, memory, gas)
        .map_err(|code| TrapKind::Host { id, code })
}

/// Splits a pointer word into (segment selector, word address).
pub fn split_pointer(pointer: u64) -> (u64, u64) {
    (pointer >> 32, pointer & 0xFFFF_FFFF)
}

/// A pointer to `address` in `segment`.
pub fn pointer(segment: crate::isa::Segment, address: u32) -> u64 {
    (u64::from(segment.sel()) << 32) | u64::from(address)
}

/// SPEC.md's host-call, capability and refusal tables (Markdown), generated from the code.
pub fn spec_table() -> String {
    let mut out = String::from(
        "| id | name | capability | gas (beyond the BRANCH) | arguments | results |\n|---|---|---|---|---|---|\n",
    );
    for f in &HOST_FUNCTIONS {
        out.push_str(&format!(
            "| {} | `{}` | `{}` | {} | {} | {} |\n",
            f.id,
            f.name,
            f.capability.name(),
            f.gas.describe(),
            if f.args.is_empty() { "—" } else { f.args },
            if f.results.is_empty() {
                "—"
            } else {
                f.results
            },
        ));
    }
    out.push_str("\n| name | behaviour |\n|---|---|\n");
    for f in &HOST_FUNCTIONS {
        out.push_str(&format!("| `{}` | {} |\n", f.name, f.doc));
    }
    out.push_str("\n| refusal code | name |\n|---|---|\n");
    for r in Refusal::ALL {
        out.push_str(&format!("| {} | `{}` |\n", r.code(), r.name()));
    }
    out
}
