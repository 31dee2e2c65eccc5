//! CurveVM host calls: the only way a program reaches the world outside the VM.
//!
//! [`RollupHost`] implements every function of [`curvevm::hostcall::HOST_FUNCTIONS`] over a
//! [`Ledger`] (users' vault balances, escrows per (user, slab, asset), caps, slabs' settlement
//! accounts), the rollup [`Clock`] and an event log. The engines check a call's capability and
//! charge its gas before the host runs; the host then checks the call's *scope* — a slab reads
//! and debits only its own escrows, only through an unexpired cap naming exactly (user, this
//! slab, asset), never more than `min(cap.remaining, escrow.balance)` — and refuses with a
//! [`Refusal`] code before writing anything. Every change a call makes is undone if the call
//! traps, so a refused or trapped call leaves the ledger as it was.
//!
//! Which capabilities a program may declare depends on its [`Role`], checked by
//! [`RollupHost::load`]: only the router moves vault funds and mints caps; slabs read and debit
//! escrows; oracles and markets get the clock, events and the hash and signature checks.
//!
//! Domain logic (matching, margin, funding, LMSR pricing) is never a host call: it runs as
//! bytecode.

pub mod invoke;
pub mod ledger;

use std::sync::OnceLock;

use curvevm::hostcall::{
    self, Capability, CapabilitySet, MAX_EVENT_WORDS, MAX_EVENTS_PER_CALL, MAX_HASH_BYTES,
    MAX_MERKLE_LEAVES, MAX_POSEIDON_ELEMENTS, Refusal, id,
};
use curvevm::interp::Registers;
use curvevm::memory::{AccessError, Memory};
use curvevm::{Host, Module, Program, Segment, VerifyError};

pub use invoke::{Callee, InvokeHost, ProgramSet, Programs};
pub use ledger::{AssetId, Cap, CapId, Escrow, Ledger, LedgerKey, LedgerTotals, SlabId, UserId};

/// What a program is, which bounds the capabilities it may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The router: custody (vault ↔ escrow) and caps.
    Router,
    /// A perpetuals slab: its own escrows, through caps.
    Slab,
    /// An oracle: signature and hash checks.
    Oracle,
    /// A prediction market: its own escrows, through caps.
    Market,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Router, Role::Slab, Role::Oracle, Role::Market];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Router => "router",
            Role::Slab => "slab",
            Role::Oracle => "oracle",
            Role::Market => "market",
        }
    }

    /// The role called `name`.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The capabilities a program of this role may declare.
    pub fn grants(self) -> CapabilitySet {
        use Capability::*;
        let common = [Clock, Events, Sha256, Poseidon, Merkle, Ed25519];
        let extra: &[Capability] = match self {
            // The router moves custody and caps; it never debits an escrow itself (P4: it
            // credits and refunds through the vault calls).
            Role::Router => &[VaultWrite, CapAdmin, EscrowRead, Invoke],
            Role::Slab | Role::Market => &[EscrowRead, EscrowDebit, Invoke],
            // An oracle is a leaf: others read or call it, it calls nobody.
            Role::Oracle => &[],
        };
        CapabilitySet(CapabilitySet::of(&common).0 | CapabilitySet::of(extra).0)
    }
}

/// Why a module was not loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The module declares a capability its role may not have.
    CapabilityNotGranted {
        /// The capability.
        capability: Capability,
        /// The role.
        role: Role,
    },
    /// The verifier rejected it.
    Verify(VerifyError),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::CapabilityNotGranted { capability, role } => write!(
                f,
                "{} {} program may not declare the capability `{}` (granted: {})",
                if *role == Role::Oracle { "an" } else { "a" },
                role.name(),
                capability.name(),
                role.grants()
            ),
            LoadError::Verify(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

/// The rollup clock: the batch being executed, never the wall clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    /// Batch time in milliseconds.
    pub now_ms: u64,
    /// Batch height.
    pub height: u64,
    /// The chain the batch belongs to (what signed messages a program builds are bound to).
    pub chain_id: u64,
}

/// One logged event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The slab (or router, oracle, market id) that logged it.
    pub emitter: SlabId,
    /// Program-chosen topic.
    pub topic: u64,
    /// Payload.
    pub words: Vec<u64>,
}

/// Who is calling: the program's id (its slab id for slabs and markets) and role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The calling program's id; escrow calls are scoped to it.
    pub id: SlabId,
    /// Its role.
    pub role: Role,
}

/// The host: ledger, clock, events, and the calling program.
#[derive(Debug)]
pub struct RollupHost {
    /// Balances, escrows and caps.
    pub ledger: Ledger,
    /// The batch clock.
    pub clock: Clock,
    /// The program being called.
    pub caller: Caller,
    /// Events of committed calls, in order.
    pub events: Vec<Event>,
    /// Events of the open calls, outermost first.
    pending_events: Vec<Event>,
    /// Where each open nested call's events start in `pending_events`.
    event_marks: Vec<usize>,
}

impl RollupHost {
    /// A host over `ledger` for `caller`.
    pub fn new(ledger: Ledger, clock: Clock, caller: Caller) -> RollupHost {
        RollupHost {
            ledger,
            clock,
            caller,
            events: Vec::new(),
            pending_events: Vec::new(),
            event_marks: Vec::new(),
        }
    }

    /// Checks the module's declared capabilities against `role`, then verifies it.
    pub fn load(module: Module, role: Role) -> Result<Program, LoadError> {
        if let Some(capability) = module
            .capabilities
            .iter()
            .find(|c| !role.grants().contains(*c))
        {
            return Err(LoadError::CapabilityNotGranted { capability, role });
        }
        Program::load(module, &|id| hostcall::function(id).is_some()).map_err(LoadError::Verify)
    }
}

/// The segment and word address a pointer names.
fn resolve(pointer: u64) -> Result<(Segment, u64), Refusal> {
    let (sel, address) = hostcall::split_pointer(pointer);
    let segment = u8::try_from(sel)
        .ok()
        .and_then(Segment::from_sel)
        .ok_or(Refusal::BadPointer)?;
    Ok((segment, address))
}

/// Reads `count` words at `pointer`.
fn read_words(memory: &Memory, pointer: u64, count: u64) -> Result<Vec<u64>, Refusal> {
    let (segment, address) = resolve(pointer)?;
    let words = memory.words(segment);
    let start = usize::try_from(address).map_err(|_| Refusal::BadPointer)?;
    let end = usize::try_from(count)
        .ok()
        .and_then(|count| start.checked_add(count))
        .filter(|&end| end <= words.len())
        .ok_or(Refusal::BadPointer)?;
    Ok(words[start..end].to_vec())
}

/// Reads `bytes` bytes packed little-endian eight to a word at `pointer`.
fn read_bytes(memory: &Memory, pointer: u64, bytes: u64) -> Result<Vec<u8>, Refusal> {
    let words = read_words(memory, pointer, bytes.div_ceil(8))?;
    let mut out: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    out.truncate(bytes as usize);
    Ok(out)
}

/// A 32-byte value at `pointer` (four words).
fn read_hash(memory: &Memory, pointer: u64) -> Result<[u8; 32], Refusal> {
    Ok(hash_of(&read_words(memory, pointer, 4)?))
}

/// Writes `values` at `pointer` through the journal, all or nothing.
fn write_words(memory: &mut Memory, pointer: u64, values: &[u64]) -> Result<(), Refusal> {
    let (segment, address) = resolve(pointer)?;
    // Check the whole range before the first write.
    let last = address + values.len() as u64 - 1;
    memory
        .read(segment, last)
        .map_err(|_| Refusal::BadPointer)?;
    for (offset, &value) in values.iter().enumerate() {
        memory
            .write(segment, address + offset as u64, value)
            .map_err(|error| match error {
                AccessError::OutOfBounds | AccessError::ReadOnly => Refusal::BadPointer,
            })?;
    }
    Ok(())
}

/// A 32-byte value as four little-endian words ([`hash_of`] inverts it).
fn hash_words(hash: &[u8; 32]) -> [u64; 4] {
    core::array::from_fn(|i| u64::from_le_bytes(hash[8 * i..8 * i + 8].try_into().expect("8")))
}

/// Four little-endian words as a 32-byte value.
fn hash_of(limbs: &[u64]) -> [u8; 32] {
    core::array::from_fn(|i| limbs[i / 8].to_le_bytes()[i % 8])
}

fn u128_of(low: u64, high: u64) -> u128 {
    u128::from(low) | (u128::from(high) << 64)
}

fn set_u128(registers: &mut Registers, value: u128) {
    registers[1] = value as u64;
    registers[2] = (value >> 64) as u64;
}

type Fr = ark_bn254::Fr;

fn poseidon_config() -> &'static curve_formats::poseidon::PoseidonConfig<Fr> {
    static CONFIG: OnceLock<curve_formats::poseidon::PoseidonConfig<Fr>> = OnceLock::new();
    CONFIG.get_or_init(curve_formats::poseidon::config)
}

/// A canonical field element from four little-endian limbs.
fn field_element(limbs: &[u64]) -> Result<Fr, Refusal> {
    use ark_ff::PrimeField;
    let limbs: [u64; 4] = limbs.try_into().map_err(|_| Refusal::BadLength)?;
    Fr::from_bigint(ark_ff::BigInt(limbs)).ok_or(Refusal::BadFieldElement)
}

impl RollupHost {
    fn dispatch(
        &mut self,
        function: u16,
        r: &mut Registers,
        memory: &mut Memory,
    ) -> Result<(), Refusal> {
        let slab = self.caller.id;
        match function {
            id::CLOCK => {
                r[1] = self.clock.now_ms;
                r[2] = self.clock.height;
                r[3] = self.clock.chain_id;
            }
            id::EVENT => {
                if r[3] > MAX_EVENT_WORDS {
                    return Err(Refusal::BadLength);
                }
                if self.pending_events.len() >= MAX_EVENTS_PER_CALL {
                    return Err(Refusal::EventLogFull);
                }
                let words = read_words(memory, r[2], r[3])?;
                self.pending_events.push(Event {
                    emitter: slab,
                    topic: r[1],
                    words,
                });
            }
            id::SHA256 => {
                use sha2::Digest;
                if r[2] > MAX_HASH_BYTES {
                    return Err(Refusal::BadLength);
                }
                let input = read_bytes(memory, r[1], r[2])?;
                let digest: [u8; 32] = sha2::Sha256::digest(&input).into();
                write_words(memory, r[3], &hash_words(&digest))?;
            }
            id::POSEIDON => {
                if r[2] == 0 || r[2] > MAX_POSEIDON_ELEMENTS {
                    return Err(Refusal::BadLength);
                }
                let words = read_words(memory, r[1], 4 * r[2])?;
                let elements = words
                    .chunks(4)
                    .map(field_element)
                    .collect::<Result<Vec<Fr>, _>>()?;
                let hash = curve_formats::poseidon::hash_fields_with(
                    poseidon_config(),
                    curve_formats::poseidon::Domain::Program,
                    &elements,
                );
                let bytes = curve_formats::poseidon::to_bytes(&hash);
                write_words(memory, r[3], &hash_words(&bytes))?;
            }
            id::MERKLE_VERIFY => {
                let (index, count) = (r[2], r[3]);
                if count == 0 || count > MAX_MERKLE_LEAVES {
                    return Err(Refusal::BadLength);
                }
                let depth = u64::from(curve_formats::merkle::depth(count));
                let leaf = read_hash(memory, r[1])?;
                let root = read_hash(memory, r[5])?;
                let proof = read_words(memory, r[4], 4 * depth)?;
                let siblings: Vec<[u8; 32]> = proof.chunks(4).map(hash_of).collect();
                let ok = curve_formats::merkle::verify_hash(&root, count, index, leaf, &siblings)
                    .is_ok();
                r[1] = u64::from(ok);
            }
            id::ED25519_VERIFY => {
                if r[4] > MAX_HASH_BYTES {
                    return Err(Refusal::BadLength);
                }
                let key = read_hash(memory, r[1])?;
                let signature = read_bytes(memory, r[2], 64)?;
                let message = read_bytes(memory, r[3], r[4])?;
                let signature =
                    ed25519_dalek::Signature::from_bytes(&signature.try_into().expect("64 bytes"));
                let ok = ed25519_dalek::VerifyingKey::from_bytes(&key)
                    .is_ok_and(|key| key.verify_strict(&message, &signature).is_ok());
                r[1] = u64::from(ok);
            }
            id::ESCROW_READ => {
                let balance = self.ledger.escrow_balance(r[1], slab, r[2]);
                set_u128(r, balance);
            }
            id::VAULT_READ => {
                let balance = self.ledger.vault_balance(r[1], r[2]);
                set_u128(r, balance);
            }
            id::SAFE_DEBIT => {
                let remaining = self.ledger.safe_debit(
                    r[1],
                    r[2],
                    slab,
                    r[3],
                    u128_of(r[4], r[5]),
                    self.clock.now_ms,
                )?;
                set_u128(r, remaining);
            }
            id::CAP_MINT => {
                r[1] = self.ledger.mint_cap(
                    r[1],
                    r[2],
                    r[3],
                    u128_of(r[4], r[5]),
                    r[6],
                    self.clock.now_ms,
                );
            }
            id::CAP_BURN => {
                let remaining = self.ledger.burn_cap(r[1])?;
                set_u128(r, remaining);
            }
            id::VAULT_PLEDGE => {
                let balance = self.ledger.pledge(r[1], r[2], r[3], u128_of(r[4], r[5]))?;
                set_u128(r, balance);
            }
            id::VAULT_RELEASE => {
                let balance = self.ledger.release(r[1], r[2], r[3], u128_of(r[4], r[5]))?;
                set_u128(r, balance);
            }
            // Alone, the host knows no other program: `invoke` runs under an `InvokeHost`.
            id::INVOKE => return Err(Refusal::UnknownProgram),
            // The verifier admits only ids of the table, all handled above.
            _ => return Err(Refusal::CapabilityDenied),
        }
        Ok(())
    }
}

impl Host for RollupHost {
    fn provides(&self, id: u16) -> bool {
        hostcall::function(id).is_some()
    }

    fn call(
        &mut self,
        id: u16,
        registers: &mut Registers,
        memory: &mut Memory,
        _gas: &mut u64,
    ) -> Result<(), u32> {
        // Refusals leave registers as they were: results are written only on success.
        let mut scratch = *registers;
        self.dispatch(id, &mut scratch, memory)
            .map_err(Refusal::code)?;
        *registers = scratch;
        Ok(())
    }

    fn begin_call(&mut self) {
        self.ledger.begin_call();
        self.event_marks.push(self.pending_events.len());
    }

    fn end_call(&mut self, commit: bool) {
        self.ledger.end_call(commit);
        let mark = self.event_marks.pop().unwrap_or(0);
        if !commit {
            self.pending_events.truncate(mark);
        } else if self.event_marks.is_empty() {
            // The outermost call committed: its events and its callees' are final.
            self.events.append(&mut self.pending_events);
        }
    }
}
