//! The rollup state as keyed entries: what the state tree hashes and the storage holds.
//!
//! Every piece of state is one entry `key → value`. Its leaf in the state tree is
//! `key bytes ‖ Option<value bytes>` (`None` once the entry is gone: the leaf keeps its index,
//! so deleting never moves another leaf). Keys encode their numbers big-endian, so storage
//! order is key order.
//!
//! | key | value |
//! |---|---|
//! | `Meta` | height, batch time, id counters, credited deposits, finalised withdrawals, fees |
//! | `Config` | chain id, governance key, committee and quorum, dev mode, verifying keys |
//! | `Account(public key)` | user id, nonce |
//! | `Vault(user, asset)`, `Escrow(user, slab, asset)`, `Cap(id)`, `NextCap`, `SlabAccount(slab, asset)` | the ledger's entries |
//! | `Program(id)` | the registry record: template, code/proof/descriptor/layout hashes, module, parameters, manifest, slab registration |
//! | `Page(program, segment, page)` | 128 words of a program's persistent memory |
//! | `Deposit(sequence)` | the nullifier of a credited Solana deposit |
//!
//! Portfolios are the router program's own memory (its pages), not a runtime entry.

use curve_formats::encoding::{
    Decode, DecodeError, DecodeErrorKind, Encode, Reader, decode_seq, encode_seq,
};
use curve_formats::tx::{PublicKey, decode_bytes, encode_bytes, limits};
use curvevm_host::{Cap, Escrow, LedgerKey, UserId};

/// The part of an entry's leaf after its key, also what the store keeps after the leaf index:
/// `0` once the entry is gone, `1 ‖ value bytes` while it exists.
pub(crate) fn entry_tail(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        None => vec![0],
        Some(value) => [&[1], value].concat(),
    }
}

/// What the store keeps under an entry's key: `leaf index u64 LE ‖ entry tail`. The batch
/// writer and the checkpoint's in-memory copy both build it here, so they cannot drift.
pub(crate) fn stored_value(index: u64, tail: &[u8]) -> Vec<u8> {
    [&index.to_le_bytes()[..], tail].concat()
}

/// Reads an [`entry_tail`]: `Some(None)` for a gone entry, `Some(Some(value))` for a present
/// one, `None` when the bytes are neither.
pub(crate) fn split_tail(tail: &[u8]) -> Option<Option<&[u8]>> {
    match tail {
        [0] => Some(None),
        [1, value @ ..] => Some(Some(value)),
        _ => None,
    }
}

/// A program's id (its slab id in the ledger).
pub type ProgramId = u64;

/// One state entry's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// Counters and totals.
    Meta,
    /// Chain configuration.
    Config,
    /// An account by its public key.
    Account(PublicKey),
    /// A ledger entry (vaults, escrows, caps, slab accounts).
    Ledger(LedgerKey),
    /// A deployed program's registry record.
    Program(ProgramId),
    /// A page of a program's persistent memory: (program, segment selector, page index).
    Page(ProgramId, u8, u32),
    /// A credited deposit's nullifier.
    Deposit(u64),
}

impl Encode for Key {
    fn encode(&self, out: &mut Vec<u8>) {
        let be = |out: &mut Vec<u8>, v: u64| out.extend_from_slice(&v.to_be_bytes());
        match *self {
            Key::Meta => out.push(0),
            Key::Config => out.push(1),
            Key::Account(key) => {
                out.push(2);
                out.extend_from_slice(&key);
            }
            Key::Ledger(LedgerKey::Vault(user, asset)) => {
                out.push(3);
                be(out, user);
                be(out, asset);
            }
            Key::Ledger(LedgerKey::Escrow(user, slab, asset)) => {
                out.push(4);
                be(out, user);
                be(out, slab);
                be(out, asset);
            }
            Key::Ledger(LedgerKey::Cap(id)) => {
                out.push(5);
                be(out, id);
            }
            Key::Ledger(LedgerKey::NextCap) => out.push(6),
            Key::Ledger(LedgerKey::Account(slab, asset)) => {
                out.push(7);
                be(out, slab);
                be(out, asset);
            }
            Key::Program(id) => {
                out.push(8);
                be(out, id);
            }
            Key::Page(program, segment, page) => {
                out.push(9);
                be(out, program);
                out.push(segment);
                out.extend_from_slice(&page.to_be_bytes());
            }
            Key::Deposit(sequence) => {
                out.push(10);
                be(out, sequence);
            }
        }
    }
}

impl Decode for Key {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let be = |reader: &mut Reader<'_>| reader.array::<8>().map(u64::from_be_bytes);
        let at = reader.offset();
        Ok(match u8::decode(reader)? {
            0 => Key::Meta,
            1 => Key::Config,
            2 => Key::Account(reader.array()?),
            3 => Key::Ledger(LedgerKey::Vault(be(reader)?, be(reader)?)),
            4 => Key::Ledger(LedgerKey::Escrow(be(reader)?, be(reader)?, be(reader)?)),
            5 => Key::Ledger(LedgerKey::Cap(be(reader)?)),
            6 => Key::Ledger(LedgerKey::NextCap),
            7 => Key::Ledger(LedgerKey::Account(be(reader)?, be(reader)?)),
            8 => Key::Program(be(reader)?),
            9 => Key::Page(
                be(reader)?,
                u8::decode(reader)?,
                u32::from_be_bytes(reader.array()?),
            ),
            10 => Key::Deposit(be(reader)?),
            other => {
                return Err(DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::InvalidDiscriminant(other),
                });
            }
        })
    }
}

/// Counters and running totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Height of the last executed batch (0 at genesis).
    pub height: u64,
    /// Its time.
    pub timestamp_ms: u64,
    /// The id the next new account gets.
    pub next_user: UserId,
    /// The id the next deployed program gets.
    pub next_program: ProgramId,
    /// Σ credited deposits.
    pub deposits_credited: u128,
    /// Σ withdrawals moved into batch payout trees.
    pub withdrawals_finalised: u128,
    /// Fees collected (a ledger class).
    pub fees: u128,
}

impl Encode for Meta {
    fn encode(&self, out: &mut Vec<u8>) {
        self.height.encode(out);
        self.timestamp_ms.encode(out);
        self.next_user.encode(out);
        self.next_program.encode(out);
        self.deposits_credited.encode(out);
        self.withdrawals_finalised.encode(out);
        self.fees.encode(out);
    }
}

impl Decode for Meta {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Meta {
            height: u64::decode(reader)?,
            timestamp_ms: u64::decode(reader)?,
            next_user: u64::decode(reader)?,
            next_program: u64::decode(reader)?,
            deposits_credited: u128::decode(reader)?,
            withdrawals_finalised: u128::decode(reader)?,
            fees: u128::decode(reader)?,
        })
    }
}

/// The chain's configuration, set at genesis and changed only by governance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The chain id every transaction's tag must carry.
    pub chain_id: u64,
    /// The key that may send governance actions.
    pub governance: PublicKey,
    /// The committee that attests deposits (the sequencer's consensus committee).
    pub committee: Vec<PublicKey>,
    /// Distinct member signatures a deposit credit needs (2f + 1).
    pub quorum: u16,
    /// Whether development certificate keys are accepted (fixed at genesis).
    pub dev_mode: bool,
    /// Compressed verifying keys by size-class discriminant, ascending.
    pub verifying_keys: Vec<(u8, Vec<u8>)>,
}

impl Encode for Config {
    fn encode(&self, out: &mut Vec<u8>) {
        self.chain_id.encode(out);
        self.governance.encode(out);
        encode_seq(&self.committee, out);
        self.quorum.encode(out);
        self.dev_mode.encode(out);
        (self.verifying_keys.len() as u32).encode(out);
        for (class, vk) in &self.verifying_keys {
            class.encode(out);
            encode_bytes(vk, out);
        }
    }
}

impl Decode for Config {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let chain_id = u64::decode(reader)?;
        let governance = reader.array()?;
        let committee = decode_seq(reader, limits::COMMITTEE)?;
        let quorum = u16::decode(reader)?;
        let dev_mode = bool::decode(reader)?;
        let count = reader.length(8)?;
        let mut verifying_keys = Vec::with_capacity(count);
        for _ in 0..count {
            verifying_keys.push((u8::decode(reader)?, decode_bytes(reader, limits::VK_BYTES)?));
        }
        Ok(Config {
            chain_id,
            governance,
            committee,
            quorum,
            dev_mode,
            verifying_keys,
        })
    }
}

/// An account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// Its dense id in the ledger.
    pub user: UserId,
    /// The nonce its next transaction must carry.
    pub nonce: u64,
}

impl Encode for Account {
    fn encode(&self, out: &mut Vec<u8>) {
        self.user.encode(out);
        self.nonce.encode(out);
    }
}

impl Decode for Account {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Account {
            user: u64::decode(reader)?,
            nonce: u64::decode(reader)?,
        })
    }
}

/// A deployed program's registry record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramRecord {
    /// Its template.
    pub template: String,
    /// SHA-256 of the module bytes.
    pub code_hash: [u8; 32],
    /// The compressed Groth16 certificate the deploy was admitted with (the bridge registers
    /// it with the Anchor program; a state-synced node has it as every other node does).
    pub proof: Vec<u8>,
    /// The interface's descriptor hash.
    pub descriptor_hash: [u8; 32],
    /// The state layout hash (upgrades keep it).
    pub layout_hash: [u8; 32],
    /// The module bytes.
    pub module: Vec<u8>,
    /// The parameter table bytes.
    pub params: Vec<u8>,
    /// The manifest (for its source map).
    pub manifest: Vec<u8>,
    /// Whether the router's registry lists it (slabs).
    pub registered_slab: bool,
    /// The programs whose state its declared views map, one per view in order (empty until
    /// governance binds them).
    pub views: Vec<ProgramId>,
}

impl Encode for ProgramRecord {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_bytes(self.template.as_bytes(), out);
        self.code_hash.encode(out);
        encode_bytes(&self.proof, out);
        self.descriptor_hash.encode(out);
        self.layout_hash.encode(out);
        encode_bytes(&self.module, out);
        encode_bytes(&self.params, out);
        encode_bytes(&self.manifest, out);
        self.registered_slab.encode(out);
        encode_seq(&self.views, out);
    }
}

impl Decode for ProgramRecord {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = reader.offset();
        let template =
            String::from_utf8(decode_bytes(reader, limits::NAME_BYTES)?).map_err(|_| {
                DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::InvalidName,
                }
            })?;
        Ok(ProgramRecord {
            template,
            code_hash: reader.array()?,
            proof: decode_bytes(reader, limits::PROOF_BYTES)?,
            descriptor_hash: reader.array()?,
            layout_hash: reader.array()?,
            module: decode_bytes(reader, limits::MODULE_BYTES)?,
            params: decode_bytes(reader, limits::PARAMS_BYTES)?,
            manifest: decode_bytes(reader, limits::MANIFEST_BYTES)?,
            registered_slab: bool::decode(reader)?,
            views: decode_seq(reader, limits::VIEWS)?,
        })
    }
}

/// A credited deposit's nullifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepositNullifier {
    /// Who was credited.
    pub user: UserId,
    /// How much.
    pub amount: u64,
    /// The batch that credited it.
    pub height: u64,
}

impl Encode for DepositNullifier {
    fn encode(&self, out: &mut Vec<u8>) {
        self.user.encode(out);
        self.amount.encode(out);
        self.height.encode(out);
    }
}

impl Decode for DepositNullifier {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DepositNullifier {
            user: u64::decode(reader)?,
            amount: u64::decode(reader)?,
            height: u64::decode(reader)?,
        })
    }
}

/// Encodes a cap's fields.
pub(crate) fn encode_cap(cap: &Cap, out: &mut Vec<u8>) {
    cap.user.encode(out);
    cap.slab.encode(out);
    cap.asset.encode(out);
    cap.amount_max.encode(out);
    cap.remaining.encode(out);
    cap.expiry_ms.encode(out);
    cap.burned.encode(out);
    cap.nonce.encode(out);
}

/// Decodes a cap's fields.
pub(crate) fn decode_cap(reader: &mut Reader<'_>) -> Result<Cap, DecodeError> {
    Ok(Cap {
        user: u64::decode(reader)?,
        slab: u64::decode(reader)?,
        asset: u64::decode(reader)?,
        amount_max: u128::decode(reader)?,
        remaining: u128::decode(reader)?,
        expiry_ms: u64::decode(reader)?,
        burned: bool::decode(reader)?,
        nonce: u64::decode(reader)?,
    })
}

/// Encodes an escrow's fields.
pub(crate) fn encode_escrow(escrow: &Escrow, out: &mut Vec<u8>) {
    escrow.balance.encode(out);
    escrow.nonce.encode(out);
}

/// Decodes an escrow's fields.
pub(crate) fn decode_escrow(reader: &mut Reader<'_>) -> Result<Escrow, DecodeError> {
    Ok(Escrow {
        balance: u128::decode(reader)?,
        nonce: u64::decode(reader)?,
    })
}
