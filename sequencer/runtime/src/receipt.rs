//! What executing one transaction did.

use curve_formats::merkle::Hash;
use curvevm_host::Event;

use crate::state::ProgramId;

/// The outcome of one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// SHA-256 of the signed transaction bytes.
    pub tx_hash: Hash,
    /// The action's name (`malformed` when the bytes did not decode).
    pub action: &'static str,
    /// Committed, reverted or rejected.
    pub status: Status,
    /// Gas charged (zero when rejected).
    pub gas_used: u64,
    /// Fee charged in collateral base units (zero when rejected).
    pub fee: u128,
    /// The entrypoint's return words (calls).
    pub returns: Vec<u64>,
    /// Events the transaction logged (committed calls only).
    pub events: Vec<Event>,
    /// The program a deploy created.
    pub program: Option<ProgramId>,
}

/// How a transaction ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Its effects are in the state; nonce and fee taken.
    Committed,
    /// The program trapped: its effects were undone; nonce and fee taken.
    Reverted(Revert),
    /// Refused before it ran: nothing changed, not even the nonce.
    Rejected(Rejection),
}

impl Status {
    /// `committed`, `reverted` or `rejected`.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Committed => "committed",
            Status::Reverted(_) => "reverted",
            Status::Rejected(_) => "rejected",
        }
    }
}

/// Where and why a program trapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revert {
    /// The trap (`abort with code 4 at instruction 310`).
    pub trap: String,
    /// The trap's kind name (`abort`, `out_of_gas`, `host`…).
    pub kind: &'static str,
    /// The instruction.
    pub pc: u32,
    /// The script location from the program's manifest, when its source map covers the pc.
    pub location: Option<String>,
}

/// Why a transaction was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The bytes are not a signed transaction.
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// Signed for another chain.
    #[error("signed for chain {found:#x}, this chain is {expected:#x}")]
    WrongChain {
        /// This chain.
        expected: u64,
        /// The transaction's.
        found: u64,
    },
    /// The signature does not verify under the sender's key.
    #[error("the signature does not verify under the sender's key")]
    BadSignature,
    /// Not the sender's next nonce.
    #[error("nonce {found}, the sender's next nonce is {expected}")]
    BadNonce {
        /// The account's next nonce.
        expected: u64,
        /// The transaction's.
        found: u64,
    },
    /// The gas limit is above the block gas limit.
    #[error("gas limit {limit} is above the block gas limit {max}")]
    GasAboveBlockLimit {
        /// The transaction's.
        limit: u64,
        /// The protocol's.
        max: u64,
    },
    /// The batch's gas is used up.
    #[error("gas limit {limit} is above the {left} gas left in this batch")]
    BlockGasExhausted {
        /// The transaction's.
        limit: u64,
        /// Left in the batch.
        left: u64,
    },
    /// The gas limit does not cover the action's fixed cost.
    #[error("gas limit {limit} is below the action's intrinsic gas {intrinsic}")]
    GasBelowIntrinsic {
        /// The transaction's.
        limit: u64,
        /// Needed before anything runs.
        intrinsic: u64,
    },
    /// The vault cannot cover the amount plus the most the fee can be.
    #[error("needs {needed} (amount plus gas limit × fee per gas), the vault holds {available}")]
    InsufficientBalance {
        /// Needed.
        needed: u128,
        /// Held.
        available: u128,
    },
    /// No program with this id.
    #[error("no program {0}")]
    UnknownProgram(ProgramId),
    /// The program has no such entrypoint.
    #[error("program {program} has no entrypoint `{entry}`")]
    UnknownEntry {
        /// The program.
        program: ProgramId,
        /// The name.
        entry: String,
    },
    /// The entrypoint is called only through a system action.
    #[error("entrypoint `{entry}` of program {program} is called only by {action}")]
    ReservedEntry {
        /// The program.
        program: ProgramId,
        /// The name.
        entry: String,
        /// The action that calls it.
        action: &'static str,
    },
    /// The entrypoint is not called from a transaction (`registry::DIRECT_CALL_RULES`).
    #[error("entrypoint `{entry}` of program {program} is called only through invoke ({rule})")]
    InvokeOnly {
        /// The program.
        program: ProgramId,
        /// The name.
        entry: String,
        /// Who does call it.
        rule: &'static str,
    },
    /// An argument that must be the sender's user id is not.
    #[error("argument `{arg}` of `{entry}` must be the sender's user id ({sender}), found {found}")]
    NotSender {
        /// The entrypoint.
        entry: String,
        /// The argument.
        arg: &'static str,
        /// The sender's user id (0: the sender has no account yet).
        sender: u64,
        /// The argument's value.
        found: u64,
    },
    /// The arguments do not match the entrypoint's descriptor.
    #[error("{0}")]
    BadArguments(String),
    /// A governance action from another key.
    #[error("`{0}` is a governance action; the sender is not the governance key")]
    NotGovernance(&'static str),
    /// A deploy or upgrade failed its checks.
    #[error("deploy refused: {0}")]
    Deploy(String),
    /// A deposit credit failed its checks.
    #[error("deposit refused: {0}")]
    Deposit(String),
    /// The call's access list is not canonical, names an unknown program, or leaves out a
    /// program the call's views map.
    #[error("access list: {0}")]
    Access(String),
    /// Any other invalid request (zero amounts, bad committee, …).
    #[error("{0}")]
    Invalid(String),
}
