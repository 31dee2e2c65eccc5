//! The CurveScript rollup's Solana program (Anchor): where custody lives and where the rollup's
//! state becomes final for the outside world.
//!
//! * **Registry**: governance registers Groth16 verifying keys (development keys, or keys sharing
//!   an element with one, only on a development deployment; a degenerate key never) and
//!   approves CurveVM programs; each approval verifies the program's invariant certificate on
//!   chain, with the public inputs rebuilt from the stored hashes — the program identity input
//!   computed from its code, descriptor and layout hashes, so those are what the proof is about.
//! * **State-root chain**: `post_batch` anchors batch `latest + 1` on top of the latest root,
//!   accepted only with a quorum of distinct committee Ed25519 signatures over
//!   `Tag(BatchHeader, chain) ‖ header`, checked by reading the ed25519 program's instruction
//!   through the instructions sysvar ([`committee`]).
//! * **Fraud recovery**: during a batch's withdrawal delay, governance can revoke it and every
//!   later batch (`revoke_batches`); the chain continues from the last kept root.
//! * **Vault**: an SPL Token account owned by a PDA; `deposit` records each deposit with a
//!   sequence number for the committee to attest (so the rollup credits it once); `withdraw`
//!   pays a payout leaf (`curve_formats::leaf`) proven against an anchored batch's withdrawal
//!   root (`curve_formats::merkle`), once per leaf, never beyond the batch's declared total and
//!   only after the withdrawal delay.
//!
//! The trust model is in the README. Every refusal has its own code ([`error::CurveError`]).

pub mod certificate;
pub mod committee;
pub mod error;
pub mod events;
pub mod instructions;
pub mod state;

use anchor_lang::prelude::*;

pub use instructions::*;
pub use state::*;

declare_id!("DV9gd843ZCuSAgJBpuWZ1nw1uRgiaWFbf91u9HMxJ3Ho");

/// The program's instructions.
#[program]
pub mod curve_anchor {
    use super::*;

    /// Creates the config and the vault. `dev_mode` is fixed here for the life of the deployment.
    pub fn initialize(ctx: Context<Initialize>, args: InitializeArgs) -> Result<()> {
        instructions::initialize::handler(ctx, args)
    }

    /// Governance: pauses or resumes deposits, withdrawals, batches and registrations.
    pub fn set_paused(ctx: Context<Govern>, paused: bool) -> Result<()> {
        instructions::governance::set_paused_handler(ctx, paused)
    }

    /// Governance: replaces the committee and its quorum.
    pub fn rotate_committee(
        ctx: Context<Govern>,
        committee: Vec<[u8; 32]>,
        quorum: u8,
    ) -> Result<()> {
        instructions::governance::rotate_committee_handler(ctx, committee, quorum)
    }

    /// Governance: hands governance to another key.
    pub fn set_governance(ctx: Context<Govern>, governance: Pubkey) -> Result<()> {
        instructions::governance::set_governance_handler(ctx, governance)
    }

    /// Governance: revokes every batch above `to_height` while still in its withdrawal delay;
    /// the tip returns to the root anchored at `to_height`.
    pub fn revoke_batches(ctx: Context<RevokeBatches>, to_height: u64) -> Result<()> {
        instructions::governance::revoke_batches_handler(ctx, to_height)
    }

    /// Governance: stores a certificate verifying key under its hash.
    pub fn register_vk(
        ctx: Context<RegisterVk>,
        vk_hash: [u8; 32],
        key: VerifyingKeyBytes,
    ) -> Result<()> {
        instructions::registry::register_vk_handler(ctx, vk_hash, key)
    }

    /// Governance: approves a CurveVM program after verifying its certificate on chain.
    pub fn register_program(
        ctx: Context<RegisterProgram>,
        hashes: ProgramHashes,
        proof: [u8; 256],
    ) -> Result<()> {
        instructions::registry::register_program_handler(ctx, hashes, proof)
    }

    /// Anchors the next batch, signed by a committee quorum (ed25519 instruction before it).
    pub fn post_batch(ctx: Context<PostBatch>, payload: SignedHeader) -> Result<()> {
        instructions::batch::post_batch_handler(ctx, payload)
    }

    /// Moves collateral into the vault and records the deposit for the rollup.
    pub fn deposit(ctx: Context<Deposit>, amount: u64, recipient: [u8; 32]) -> Result<()> {
        instructions::vault::deposit_handler(ctx, amount, recipient)
    }

    /// Pays a payout leaf of an anchored batch.
    pub fn withdraw(ctx: Context<Withdraw>, args: WithdrawArgs) -> Result<()> {
        instructions::vault::withdraw_handler(ctx, args)
    }
}
