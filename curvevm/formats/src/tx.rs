//! Rollup transactions (version 1): what a user signs, the sequencer orders and the runtime
//! executes.
//!
//! A signed transaction is `Tag(Transaction, chain id) ‖ body ‖ signature[64]`, where the
//! signature is Ed25519 by `body.sender` over `Tag ‖ body` ([`Transaction::signing_message`]).
//! The tag puts the chain id under the signature, so a transaction signed for one chain is
//! refused on every other.
//!
//! Body: sender [32] ‖ nonce u64 ‖ gas_limit u64 ‖ fee_per_gas u64 ‖ action. An action is a
//! one-byte discriminant and its fields (see [`Action`]); arguments of a program call are typed
//! values ([`Arg`]) that the runtime checks field by field against the program's descriptor.
//!
//! Every variable-length field has a bound ([`limits`]) checked while decoding, before
//! anything is allocated beyond it.

use crate::deposit::DepositRecord;
use crate::domain::{Kind, TAG_LEN, Tag};
use crate::encoding::{
    Decode, DecodeError, DecodeErrorKind, Encode, Reader, decode_seq, encode_seq,
};
use alloc::string::String;
use alloc::vec::Vec;

/// Bounds on the variable-length fields of a transaction.
pub mod limits {
    /// Longest entrypoint or template name (the VM's own bound).
    pub const NAME_BYTES: u32 = 32;
    /// Most top-level arguments of a call.
    pub const ARGS: u32 = 64;
    /// Most values in one array argument (the VM passes at most 256 argument words).
    pub const ARRAY_VALUES: u32 = 256;
    /// Largest module in a deploy or upgrade.
    pub const MODULE_BYTES: u32 = 1 << 20;
    /// Largest parameter table in bytes (the VM's 65,536 words).
    pub const PARAMS_BYTES: u32 = 65_536 * 8;
    /// Largest certificate proof (a compressed Groth16 proof is 128 bytes).
    pub const PROOF_BYTES: u32 = 1024;
    /// Largest manifest (JSON; the runtime keeps its source map for trap locations). A SLAB's,
    /// with its per-step gas table, is ~270 KiB since funding and liquidation.
    pub const MANIFEST_BYTES: u32 = 512 * 1024;
    /// Largest verifying key in a governance action.
    pub const VK_BYTES: u32 = 4096;
    /// Largest signed transaction: a deploy with the largest module, parameter table, proof
    /// and manifest, plus 4 KiB for everything else (far more than the fixed fields take).
    pub const TRANSACTION_BYTES: u32 =
        MODULE_BYTES + PARAMS_BYTES + PROOF_BYTES + MANIFEST_BYTES + 4096;
    /// Most committee members (and attestation signatures).
    pub const COMMITTEE: u32 = 64;
    /// Most programs in a call's access list.
    pub const ACCESS: u32 = 16;
    /// Most views a program binds (the VM's eight).
    pub const VIEWS: u32 = 8;
}

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// An Ed25519 public key: how accounts are named.
pub type PublicKey = [u8; 32];

/// An Ed25519 signature.
pub type Signature = [u8; SIGNATURE_LEN];

/// One typed argument value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// `u64` (tag 0).
    U64(u64),
    /// `i64` (tag 1).
    I64(i64),
    /// `u128` (tag 2).
    U128(u128),
    /// `i128` (tag 3).
    I128(i128),
    /// `bytes32` (tag 4).
    Bytes32([u8; 32]),
    /// `signature` (tag 5).
    Signature(Signature),
    /// `cap`: a capability handle (tag 6).
    Cap(u64),
}

impl Value {
    /// The descriptor type name of the value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::U128(_) => "u128",
            Value::I128(_) => "i128",
            Value::Bytes32(_) => "bytes32",
            Value::Signature(_) => "signature",
            Value::Cap(_) => "cap",
        }
    }

    /// Appends the value's VM words: little-endian u64 words, a 128-bit value low word first,
    /// byte strings eight bytes per word, first bytes first.
    pub fn push_words(&self, out: &mut Vec<u64>) {
        fn bytes(bytes: &[u8], out: &mut Vec<u64>) {
            out.extend(crate::encoding::le_words(bytes).expect("32 and 64 bytes are whole words"));
        }
        match *self {
            Value::U64(v) | Value::Cap(v) => out.push(v),
            Value::I64(v) => out.push(v as u64),
            Value::U128(v) => out.extend([v as u64, (v >> 64) as u64]),
            Value::I128(v) => out.extend([v as u64, ((v as u128) >> 64) as u64]),
            Value::Bytes32(b) => bytes(&b, out),
            Value::Signature(b) => bytes(&b, out),
        }
    }
}

impl Encode for Value {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::U64(v) => {
                out.push(0);
                v.encode(out);
            }
            Value::I64(v) => {
                out.push(1);
                (*v as u64).encode(out);
            }
            Value::U128(v) => {
                out.push(2);
                v.encode(out);
            }
            Value::I128(v) => {
                out.push(3);
                (*v as u128).encode(out);
            }
            Value::Bytes32(v) => {
                out.push(4);
                v.encode(out);
            }
            Value::Signature(v) => {
                out.push(5);
                v.encode(out);
            }
            Value::Cap(v) => {
                out.push(6);
                v.encode(out);
            }
        }
    }
}

impl Decode for Value {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = reader.offset();
        Ok(match u8::decode(reader)? {
            0 => Value::U64(u64::decode(reader)?),
            1 => Value::I64(u64::decode(reader)? as i64),
            2 => Value::U128(u128::decode(reader)?),
            3 => Value::I128(u128::decode(reader)? as i128),
            4 => Value::Bytes32(reader.array()?),
            5 => Value::Signature(reader.array()?),
            6 => Value::Cap(u64::decode(reader)?),
            other => return Err(discriminant(at, other)),
        })
    }
}

/// One argument: a scalar, or the values of an array field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A scalar field (tag 0).
    One(Value),
    /// An array field, every element given (tag 1).
    Many(Vec<Value>),
}

impl Encode for Arg {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Arg::One(value) => {
                out.push(0);
                value.encode(out);
            }
            Arg::Many(values) => {
                out.push(1);
                encode_seq(values, out);
            }
        }
    }
}

impl Decode for Arg {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = reader.offset();
        Ok(match u8::decode(reader)? {
            0 => Arg::One(Value::decode(reader)?),
            1 => Arg::Many(decode_seq(reader, limits::ARRAY_VALUES)?),
            other => return Err(discriminant(at, other)),
        })
    }
}

/// The code a deploy or upgrade loads: the compiler's output for one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramImage {
    /// The template (`oracle`, `slab`, `market`, `router`).
    pub template: String,
    /// `program.cvmb`: the module bytes.
    pub module: Vec<u8>,
    /// `params.bin`: the parameter table, little-endian words.
    pub params: Vec<u8>,
    /// `certificate.proof`: the compressed Groth16 certificate.
    pub proof: Vec<u8>,
    /// `manifest.json`: kept for its source map (trap locations); its hashes are checked
    /// against the ones the runtime recomputes.
    pub manifest: Vec<u8>,
}

impl Encode for ProgramImage {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_name(&self.template, out);
        encode_bytes(&self.module, out);
        encode_bytes(&self.params, out);
        encode_bytes(&self.proof, out);
        encode_bytes(&self.manifest, out);
    }
}

impl Decode for ProgramImage {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ProgramImage {
            template: decode_name(reader)?,
            module: decode_bytes(reader, limits::MODULE_BYTES)?,
            params: decode_bytes(reader, limits::PARAMS_BYTES)?,
            proof: decode_bytes(reader, limits::PROOF_BYTES)?,
            manifest: decode_bytes(reader, limits::MANIFEST_BYTES)?,
        })
    }
}

/// One committee member's signature over a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitteeSignature {
    /// The member's index in the committee.
    pub member: u16,
    /// Its Ed25519 signature.
    pub signature: Signature,
}

impl Encode for CommitteeSignature {
    fn encode(&self, out: &mut Vec<u8>) {
        self.member.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for CommitteeSignature {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CommitteeSignature {
            member: u16::decode(reader)?,
            signature: reader.array()?,
        })
    }
}

/// What a transaction does. The discriminants are part of the format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Moves collateral from the sender's vault to `to`'s (0).
    Transfer {
        /// The recipient account.
        to: PublicKey,
        /// Amount in collateral base units.
        amount: u128,
    },
    /// Calls a program's entrypoint (1).
    Call {
        /// The program id.
        program: u64,
        /// The entrypoint.
        entry: String,
        /// One argument per descriptor field.
        args: Vec<Arg>,
        /// The other programs the call may reach (invoke, or map as a view), strictly
        /// ascending; the runtime refuses a call that would touch one not listed.
        access: Vec<u64>,
    },
    /// Deploys a compiled block with its certificate (2).
    Deploy(ProgramImage),
    /// Replaces a program's code and parameters under the same layout (3, governance).
    Upgrade {
        /// The program id.
        program: u64,
        /// The new image.
        image: ProgramImage,
    },
    /// Adds a deployed slab to the router's registry (4, governance).
    RegisterSlab {
        /// The program id.
        program: u64,
    },
    /// Credits a Solana deposit attested by the committee (5).
    CreditDeposit {
        /// The deposit record.
        record: DepositRecord,
        /// Committee signatures over the record.
        attestations: Vec<CommitteeSignature>,
    },
    /// Moves collateral from the vault into this batch's withdrawal tree (6).
    Withdraw {
        /// Amount in collateral base units.
        amount: u128,
        /// The Solana account paid.
        recipient: PublicKey,
    },
    /// Registers a signing key of an oracle feed (7, governance).
    RegisterOracleKey {
        /// The oracle program.
        program: u64,
        /// The Ed25519 key.
        key: PublicKey,
    },
    /// Sets the verifying key of a certificate size class (8, governance).
    SetVerifyingKey {
        /// The size class (`SizeClass` discriminant: 0 = 16×16, 1 = 64×64, 2 = 256×256).
        class: u8,
        /// The compressed arkworks verifying key.
        vk: Vec<u8>,
    },
    /// Replaces the committee that attests deposits (9, governance).
    RotateCommittee {
        /// Members' Ed25519 keys, distinct.
        keys: Vec<PublicKey>,
        /// Signatures needed.
        quorum: u16,
    },
    /// Hands governance to another key (10, governance).
    SetGovernance {
        /// The new governance key.
        key: PublicKey,
    },
    /// Binds a program's declared views to the programs whose state they map, one per view
    /// in order (11, governance).
    BindViews {
        /// The program that declares the views.
        program: u64,
        /// The mapped programs.
        views: Vec<u64>,
    },
}

impl Action {
    /// The action's name, as receipts and the CLI print it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Transfer { .. } => "transfer",
            Action::Call { .. } => "call",
            Action::Deploy(_) => "deploy",
            Action::Upgrade { .. } => "upgrade",
            Action::RegisterSlab { .. } => "register_slab",
            Action::CreditDeposit { .. } => "credit_deposit",
            Action::Withdraw { .. } => "withdraw",
            Action::RegisterOracleKey { .. } => "register_oracle_key",
            Action::SetVerifyingKey { .. } => "set_verifying_key",
            Action::RotateCommittee { .. } => "rotate_committee",
            Action::SetGovernance { .. } => "set_governance",
            Action::BindViews { .. } => "bind_views",
        }
    }

    /// Whether only the governance key may send it.
    pub fn is_governance(&self) -> bool {
        matches!(
            self,
            Action::Upgrade { .. }
                | Action::RegisterSlab { .. }
                | Action::RegisterOracleKey { .. }
                | Action::SetVerifyingKey { .. }
                | Action::RotateCommittee { .. }
                | Action::SetGovernance { .. }
                | Action::BindViews { .. }
        )
    }
}

impl Encode for Action {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Action::Transfer { to, amount } => {
                out.push(0);
                to.encode(out);
                amount.encode(out);
            }
            Action::Call {
                program,
                entry,
                args,
                access,
            } => {
                out.push(1);
                program.encode(out);
                encode_name(entry, out);
                encode_seq(args, out);
                encode_seq(access, out);
            }
            Action::Deploy(image) => {
                out.push(2);
                image.encode(out);
            }
            Action::Upgrade { program, image } => {
                out.push(3);
                program.encode(out);
                image.encode(out);
            }
            Action::RegisterSlab { program } => {
                out.push(4);
                program.encode(out);
            }
            Action::CreditDeposit {
                record,
                attestations,
            } => {
                out.push(5);
                record.encode(out);
                encode_seq(attestations, out);
            }
            Action::Withdraw { amount, recipient } => {
                out.push(6);
                amount.encode(out);
                recipient.encode(out);
            }
            Action::RegisterOracleKey { program, key } => {
                out.push(7);
                program.encode(out);
                key.encode(out);
            }
            Action::SetVerifyingKey { class, vk } => {
                out.push(8);
                class.encode(out);
                encode_bytes(vk, out);
            }
            Action::RotateCommittee { keys, quorum } => {
                out.push(9);
                encode_seq(keys, out);
                quorum.encode(out);
            }
            Action::SetGovernance { key } => {
                out.push(10);
                key.encode(out);
            }
            Action::BindViews { program, views } => {
                out.push(11);
                program.encode(out);
                encode_seq(views, out);
            }
        }
    }
}

impl Decode for Action {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = reader.offset();
        Ok(match u8::decode(reader)? {
            0 => Action::Transfer {
                to: reader.array()?,
                amount: u128::decode(reader)?,
            },
            1 => Action::Call {
                program: u64::decode(reader)?,
                entry: decode_name(reader)?,
                args: decode_seq(reader, limits::ARGS)?,
                access: decode_seq(reader, limits::ACCESS)?,
            },
            2 => Action::Deploy(ProgramImage::decode(reader)?),
            3 => Action::Upgrade {
                program: u64::decode(reader)?,
                image: ProgramImage::decode(reader)?,
            },
            4 => Action::RegisterSlab {
                program: u64::decode(reader)?,
            },
            5 => Action::CreditDeposit {
                record: DepositRecord::decode(reader)?,
                attestations: decode_seq(reader, limits::COMMITTEE)?,
            },
            6 => Action::Withdraw {
                amount: u128::decode(reader)?,
                recipient: reader.array()?,
            },
            7 => Action::RegisterOracleKey {
                program: u64::decode(reader)?,
                key: reader.array()?,
            },
            8 => Action::SetVerifyingKey {
                class: u8::decode(reader)?,
                vk: decode_bytes(reader, limits::VK_BYTES)?,
            },
            9 => Action::RotateCommittee {
                keys: decode_seq(reader, limits::COMMITTEE)?,
                quorum: u16::decode(reader)?,
            },
            10 => Action::SetGovernance {
                key: reader.array()?,
            },
            11 => Action::BindViews {
                program: u64::decode(reader)?,
                views: decode_seq(reader, limits::VIEWS)?,
            },
            other => return Err(discriminant(at, other)),
        })
    }
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The chain it is for (in the domain tag, under the signature).
    pub chain_id: u64,
    /// The signing account.
    pub sender: PublicKey,
    /// The sender's next nonce (replay protection).
    pub nonce: u64,
    /// Most gas it may use.
    pub gas_limit: u64,
    /// Collateral base units paid per unit of gas used.
    pub fee_per_gas: u64,
    /// What it does.
    pub action: Action,
}

impl Transaction {
    /// `Tag ‖ body`: the bytes the sender signs.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TAG_LEN + 128);
        self.encode(&mut out);
        out
    }

    fn decode_body(chain_id: u64, reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Transaction {
            chain_id,
            sender: reader.array()?,
            nonce: u64::decode(reader)?,
            gas_limit: u64::decode(reader)?,
            fee_per_gas: u64::decode(reader)?,
            action: Action::decode(reader)?,
        })
    }
}

impl Encode for Transaction {
    fn encode(&self, out: &mut Vec<u8>) {
        Tag::new(Kind::Transaction, self.chain_id).encode(out);
        self.sender.encode(out);
        self.nonce.encode(out);
        self.gas_limit.encode(out);
        self.fee_per_gas.encode(out);
        self.action.encode(out);
    }
}

impl Decode for Transaction {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = decode_tag(reader, Kind::Transaction)?;
        Transaction::decode_body(tag.chain_id, reader)
    }
}

/// A transaction with its sender's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTransaction {
    /// The transaction.
    pub tx: Transaction,
    /// Ed25519 by `tx.sender` over [`Transaction::signing_message`].
    pub signature: Signature,
}

impl Encode for SignedTransaction {
    fn encode(&self, out: &mut Vec<u8>) {
        self.tx.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for SignedTransaction {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedTransaction {
            tx: Transaction::decode(reader)?,
            signature: reader.array()?,
        })
    }
}

/// Reads a domain tag of `kind`, any chain (the caller compares the chain id and says why it
/// refuses one).
pub(crate) fn decode_tag(reader: &mut Reader<'_>, kind: Kind) -> Result<Tag, DecodeError> {
    let at = reader.offset();
    let tag = Tag::decode(reader)?;
    if tag.kind != kind {
        return Err(DecodeError {
            offset: at,
            kind: DecodeErrorKind::WrongKind {
                expected: kind as u8,
                found: tag.kind as u8,
            },
        });
    }
    Ok(tag)
}

fn discriminant(offset: usize, found: u8) -> DecodeError {
    DecodeError {
        offset,
        kind: DecodeErrorKind::InvalidDiscriminant(found),
    }
}

/// Encodes a byte string: `u32` length, then the bytes.
pub fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    let length = u32::try_from(bytes.len()).expect("byte strings are bounded far below 4 GiB");
    length.encode(out);
    out.extend_from_slice(bytes);
}

/// Decodes a byte string of at most `max` bytes.
pub fn decode_bytes(reader: &mut Reader<'_>, max: u32) -> Result<Vec<u8>, DecodeError> {
    let length = reader.length(max)?;
    Ok(reader.take(length)?.to_vec())
}

fn encode_name(name: &str, out: &mut Vec<u8>) {
    encode_bytes(name.as_bytes(), out);
}

/// A name: 1 to [`limits::NAME_BYTES`] bytes of `[a-z0-9_]`, as entrypoints and templates are
/// spelled (anything else could only ever fail to resolve, and would make receipts ambiguous).
fn decode_name(reader: &mut Reader<'_>) -> Result<String, DecodeError> {
    let at = reader.offset();
    let bytes = decode_bytes(reader, limits::NAME_BYTES)?;
    let valid = !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
    if !valid {
        return Err(DecodeError {
            offset: at,
            kind: DecodeErrorKind::InvalidName,
        });
    }
    Ok(bytes.into_iter().map(char::from).collect())
}
