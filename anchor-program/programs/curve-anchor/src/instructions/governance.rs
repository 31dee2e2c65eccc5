//! Governance: pause, committee rotation, handing over the authority.

use crate::committee::check_committee;
use crate::error::CurveError;
use crate::events::{CommitteeRotated, PauseChanged};
use crate::state::Config;
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
