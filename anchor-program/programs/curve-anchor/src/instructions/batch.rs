//! `post_batch`: the committee-signed state-root chain.

use crate::committee::check_quorum;
use crate::error::CurveError;
use crate::events::BatchPosted;
use crate::state::{BatchRecord, Config, MAX_PAYOUT_DEPTH, RECENT_ROOTS, RecentRoot, SignedHeader};
use anchor_lang::prelude::*;
use curve_formats::batch::BatchHeader;
use curve_formats::domain::{Kind, TAG_LEN, Tag};
use solana_instructions_sysvar::{load_current_index_checked, load_instruction_at_checked};

/// The ed25519 signature-verification program.
pub const ED25519_PROGRAM_ID: Pubkey = pubkey!("Ed25519SigVerify111111111111111111111111111");
/// The instructions sysvar.
pub const INSTRUCTIONS_SYSVAR_ID: Pubkey = pubkey!("Sysvar1nstructions1111111111111111111111111");

/// `post_batch` accounts.
#[derive(Accounts)]
#[instruction(payload: SignedHeader)]
pub struct PostBatch<'info> {
    /// Whoever posts (pays for the batch record); the committee's signatures authorise.
    #[account(mut)]
    pub poster: Signer<'info>,
    /// The config.
    #[account(mut, seeds = [b"config"], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    /// The batch's record, `["batch", height]`: created, or — when a revocation left a record
    /// above the tip at this height — overwritten (the height is always `latest + 1`, so an
    /// existing record here is a revoked one).
    #[account(
        init_if_needed,
        payer = poster,
        space = 8 + BatchRecord::INIT_SPACE,
        seeds = [b"batch", payload.header.height.to_le_bytes().as_ref()],
        bump,
    )]
    pub batch: Box<Account<'info, BatchRecord>>,
    /// CHECK: the instructions sysvar (address checked), read for the ed25519 instruction.
    #[account(address = INSTRUCTIONS_SYSVAR_ID)]
    pub instructions: UncheckedAccount<'info>,
    /// The system program.
    pub system_program: Program<'info, System>,
}

/// Anchors the next batch.
pub fn post_batch_handler(ctx: Context<PostBatch>, payload: SignedHeader) -> Result<()> {
    let config = &ctx.accounts.config;
    require!(!config.paused, CurveError::Paused);
    let header = BatchHeader::from(payload.header);
    // The bytes the committee signs; the payload's tag must be their first TAG_LEN.
    let message = Tag::new(Kind::BatchHeader, config.chain_id).message(&header);
    require!(
        message[..TAG_LEN] == payload.tag,
        CurveError::WrongPayloadTag
    );
    require!(
        Some(header.height) == config.latest_height.checked_add(1),
        CurveError::HeightOutOfOrder
    );
    require!(
        header.prev_root == config.latest_root,
        CurveError::PrevRootMismatch
    );
    require!(
        curve_formats::merkle::depth(header.withdrawal_count) <= MAX_PAYOUT_DEPTH,
        CurveError::PayoutTreeTooDeep
    );

    let sysvar = ctx.accounts.instructions.to_account_info();
    let current = load_current_index_checked(&sysvar)?;
    let ed25519_index = current
        .checked_sub(1)
        .ok_or(error!(CurveError::MissingSignatureInstruction))?;
    let ed25519 = load_instruction_at_checked(ed25519_index as usize, &sysvar)?;
    require_keys_eq!(
        ed25519.program_id,
        ED25519_PROGRAM_ID,
        CurveError::MissingSignatureInstruction
    );
    let signers = check_quorum(
        &ed25519.data,
        ed25519_index,
        &message,
        &config.committee,
        config.quorum,
        |index| {
            load_instruction_at_checked(index as usize, &sysvar)
                .map(|ix| ix.data)
                .map_err(|_| error!(CurveError::MalformedSignatureInstruction))
        },
    )?;

    let slot = Clock::get()?.slot;
    let epoch = config.committee_epoch;
    let batch = &mut ctx.accounts.batch;
    batch.bump = ctx.bumps.batch;
    batch.header = payload.header;
    batch.withdrawn = 0;
    batch.posted_slot = slot;
    batch.committee_epoch = epoch;

    let config = &mut ctx.accounts.config;
    config.latest_height = header.height;
    config.latest_root = header.state_root;
    let entry = RecentRoot {
        height: header.height,
        state_root: header.state_root,
        slot,
    };
    // Oldest first; a revocation drops the entries above its height from the end.
    if config.recent_roots.len() == RECENT_ROOTS {
        config.recent_roots.remove(0);
    }
    config.recent_roots.push(entry);
    emit!(BatchPosted {
        height: header.height,
        state_root: header.state_root,
        withdrawal_root: header.withdrawal_root,
        withdrawal_total: header.withdrawal_total,
        signers,
    });
    Ok(())
}
