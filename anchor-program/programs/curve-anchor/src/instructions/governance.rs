//! Governance: pause, committee rotation, handing over the authority.

use crate::committee::check_committee;
use crate::error::CurveError;
use crate::events::{BatchesRevoked, CommitteeRotated, PauseChanged};
use crate::state::{BatchRecord, Config};
use anchor_lang::prelude::*;

/// Accounts of every governance instruction that touches only the config.
#[derive(Accounts)]
pub struct Govern<'info> {
    /// The governance authority.
    pub governance: Signer<'info>,
    /// The config.
    #[account(
        mut,
        seeds = [b"config"],
        bump = config.bump,
        constraint = config.governance == governance.key() @ CurveError::NotGovernance,
    )]
    pub config: Box<Account<'info, Config>>,
}

/// Pauses or resumes.
pub fn set_paused_handler(ctx: Context<Govern>, paused: bool) -> Result<()> {
    ctx.accounts.config.paused = paused;
    emit!(PauseChanged { paused });
    Ok(())
}

/// Replaces the committee. Batches already anchored stay anchored; the next one needs the new
/// committee's quorum.
pub fn rotate_committee_handler(
    ctx: Context<Govern>,
    committee: Vec<[u8; 32]>,
    quorum: u8,
) -> Result<()> {
    check_committee(&committee, quorum)?;
    let config = &mut ctx.accounts.config;
    config.committee = committee;
    config.quorum = quorum;
    config.committee_epoch += 1;
    emit!(CommitteeRotated {
        epoch: config.committee_epoch,
        members: config.committee.len() as u8,
        quorum,
    });
    Ok(())
}

/// Hands governance to `governance`.
pub fn set_governance_handler(ctx: Context<Govern>, governance: Pubkey) -> Result<()> {
    require_keys_neq!(governance, Pubkey::default(), CurveError::InvalidGovernance);
    ctx.accounts.config.governance = governance;
    Ok(())
}

/// `revoke_batches` accounts.
#[derive(Accounts)]
#[instruction(to_height: u64)]
pub struct RevokeBatches<'info> {
    /// The governance authority.
    pub governance: Signer<'info>,
    /// The config.
    #[account(
        mut,
        seeds = [b"config"],
        bump = config.bump,
        constraint = config.governance == governance.key() @ CurveError::NotGovernance,
    )]
    pub config: Box<Account<'info, Config>>,
    /// The first revoked batch, `["batch", to_height + 1]` (whose delay must still run).
    #[account(
        seeds = [b"batch", to_height.checked_add(1).ok_or(error!(CurveError::InvalidRevocation))?.to_le_bytes().as_ref()],
        bump = first_revoked.bump,
    )]
    pub first_revoked: Box<Account<'info, BatchRecord>>,
    /// The batch the chain returns to, `["batch", to_height]`; absent when returning to the
    /// genesis root (height 0).
    #[account(seeds = [b"batch", to_height.to_le_bytes().as_ref()], bump = kept.bump)]
    pub kept: Option<Box<Account<'info, BatchRecord>>>,
}

/// Fraud recovery: revokes every anchored batch above `to_height`, which must all still be in
/// their withdrawal delay (so none has paid anything). The tip returns to the root anchored at
/// `to_height`; the revoked records pay nothing (`withdraw` refuses heights above the tip) and
/// the next `post_batch` at each height overwrites them. A dishonest quorum's batch can thus be
/// undone by governance (typically with a committee rotation) before its payouts are final.
pub fn revoke_batches_handler(ctx: Context<RevokeBatches>, to_height: u64) -> Result<()> {
    let config = &ctx.accounts.config;
    require!(
        to_height < config.latest_height,
        CurveError::InvalidRevocation
    );
    let first = &ctx.accounts.first_revoked;
    require!(
        first.header.height == to_height + 1,
        CurveError::InvalidRevocation
    );
    // Later batches were posted later, so if the first revoked batch is still in its delay,
    // every revoked one is.
    let now = Clock::get()?.slot;
    require!(
        now < first
            .posted_slot
            .saturating_add(config.withdrawal_delay_slots),
        CurveError::RevocationTooLate
    );
    let root = match (&ctx.accounts.kept, to_height) {
        (None, 0) => config.genesis_root,
        (Some(kept), height) if height > 0 && kept.header.height == height => {
            kept.header.state_root
        }
        _ => return err!(CurveError::InvalidRevocation),
    };
    let revoked_from = config.latest_height;
    let config = &mut ctx.accounts.config;
    config.latest_height = to_height;
    config.latest_root = root;
    config
        .recent_roots
        .retain(|entry| entry.height <= to_height);
    emit!(BatchesRevoked {
        from_height: to_height + 1,
        to_height: revoked_from,
        root,
    });
    Ok(())
}
