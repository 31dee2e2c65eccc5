//! Every refusal has its own code (6000 + its position), so a client or a test can tell exactly
//! which rule an input broke. Codes are part of the interface: new ones go at the end.

use anchor_lang::prelude::*;

/// Why the program refused an instruction.
#[error_code]
pub enum CurveError {
    /// 6000
    #[msg("the program is paused by governance")]
    Paused,
    /// 6001
    #[msg("the signer is not the governance authority")]
    NotGovernance,
    /// 6002
    #[msg("a committee needs between 1 and MAX_COMMITTEE members")]
    CommitteeSize,
    /// 6003
    #[msg("the same key appears twice in the committee")]
    DuplicateCommitteeKey,
    /// 6004
    #[msg("the quorum must be at least floor(2n/3)+1 and at most n and MAX_QUORUM")]
    InvalidQuorum,
    /// 6005
    #[msg("the batch height is not the latest height + 1")]
    HeightOutOfOrder,
    /// 6006
    #[msg("the batch's prev_root is not the latest anchored root")]
    PrevRootMismatch,
    /// 6007
    #[msg("the signed payload's domain tag is not Tag(BatchHeader, this chain)")]
    WrongPayloadTag,
    /// 6008
    #[msg("no ed25519 program instruction precedes post_batch")]
    MissingSignatureInstruction,
    /// 6009
    #[msg("the ed25519 instruction's data is malformed")]
    MalformedSignatureInstruction,
    /// 6010
    #[msg("an ed25519 signature covers other bytes than this post_batch payload")]
    SignatureOverOtherPayload,
    /// 6011
    #[msg("an ed25519 signature or key lies outside the ed25519 instruction itself")]
    OffsetsOutsideInstruction,
    /// 6012
    #[msg("a committee member signed twice")]
    DuplicateSigner,
    /// 6013
    #[msg("a signer is not a committee member")]
    NotCommitteeMember,
    /// 6014
    #[msg("fewer distinct committee signatures than the quorum")]
    QuorumNotReached,
    /// 6015
    #[msg("development verifying keys are refused outside development mode")]
    DevKeyRefused,
    /// 6016
    #[msg(
        "the verifying key is degenerate (delta = ±gamma, or an identity point): anyone could forge proofs"
    )]
    DegenerateVerifyingKey,
    /// 6017
    #[msg("the verifying key's hash is not the one named")]
    VerifyingKeyHashMismatch,
    /// 6018
    #[msg("the certificate does not verify for these hashes under this key")]
    CertificateInvalid,
    /// 6019
    #[msg("the Merkle proof does not lead to the batch's withdrawal root")]
    InvalidMerkleProof,
    /// 6020
    #[msg("this payout leaf was already withdrawn")]
    AlreadyWithdrawn,
    /// 6021
    #[msg("paying this leaf would exceed the batch's declared withdrawal total")]
    AboveBatchTotal,
    /// 6022
    #[msg("the batch is younger than the withdrawal delay")]
    WithdrawalDelay,
    /// 6023
    #[msg("the token account is not of the vault's collateral mint")]
    WrongMint,
    /// 6024
    #[msg("the recipient token account is not owned by the leaf's recipient")]
    RecipientMismatch,
    /// 6025
    #[msg("the amount does not fit an SPL amount (u64)")]
    AmountTooLarge,
    /// 6026
    #[msg("the collateral mint must be an SPL Token mint (Token-2022 is refused)")]
    UnsupportedMint,
    /// 6027
    #[msg("the amount must be positive")]
    ZeroAmount,
    /// 6028
    #[msg("the payout origin must be 0 (withdrawal, zero id) or 1 (settlement)")]
    InvalidOrigin,
    /// 6029
    #[msg("the withdrawal delay must be at least one slot")]
    InvalidDelay,
    /// 6030
    #[msg(
        "the payout tree is deeper than MAX_PAYOUT_DEPTH: its proofs would not fit a transaction"
    )]
    PayoutTreeTooDeep,
    /// 6031
    #[msg("governance cannot be handed to the default (all-zero) key: nobody could sign for it")]
    InvalidGovernance,
    /// 6032
    #[msg("the batch was revoked: its height is above the anchored tip")]
    BatchRevoked,
    /// 6033
    #[msg("only batches still inside their withdrawal delay can be revoked")]
    RevocationTooLate,
    /// 6034
    #[msg("the revocation must go back below the anchored tip, to an anchored height")]
    InvalidRevocation,
    /// 6035
    #[msg("the verifying key shares an element with a development key: its trapdoor is public")]
    DevelopmentKeyElement,
}
