//! The vault: deposits in, payouts out.

use crate::error::CurveError;
use crate::events::{Deposited, Withdrawn};
use crate::instructions::create_pda;
use crate::state::{BatchRecord, Config, DepositAccount, Nullifier};
use anchor_lang::prelude::*;
use anchor_spl::token::{self, Token, TokenAccount};
use curve_formats::leaf::{Origin, PayoutLeaf};
use curve_formats::merkle;

/// `deposit` accounts.
#[derive(Accounts)]
pub struct Deposit<'info> {
    /// Who pays the collateral (and the record's rent).
    #[account(mut)]
    pub depositor: Signer<'info>,
    /// The config (its deposit counter advances).
    #[account(mut, seeds = [b"config"], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    /// The deposit's record, `["deposit", sequence]`.
    #[account(
        init,
        payer = depositor,
        space = 8 + DepositAccount::INIT_SPACE,
        seeds = [b"deposit", config.next_deposit.to_le_bytes().as_ref()],
        bump,
    )]
    pub record: Box<Account<'info, DepositAccount>>,
    /// The depositor's token account.
    #[account(mut)]
    pub source: Box<Account<'info, TokenAccount>>,
    /// The vault.
    #[account(mut, address = config.vault)]
    pub vault: Box<Account<'info, TokenAccount>>,
    /// SPL Token.
    pub token_program: Program<'info, Token>,
    /// The system program.
    pub system_program: Program<'info, System>,
}

/// Moves `amount` into the vault and records it under the next sequence number.
pub fn deposit_handler(ctx: Context<Deposit>, amount: u64, recipient: [u8; 32]) -> Result<()> {
    let config = &ctx.accounts.config;
    require!(!config.paused, CurveError::Paused);
    require!(amount > 0, CurveError::ZeroAmount);
    require_keys_eq!(ctx.accounts.source.mint, config.mint, CurveError::WrongMint);
    token::transfer(
        CpiContext::new(
            token::ID,
            token::Transfer {
                from: ctx.accounts.source.to_account_info(),
                to: ctx.accounts.vault.to_account_info(),
                authority: ctx.accounts.depositor.to_account_info(),
            },
        ),
        amount,
    )?;
    let record = &mut ctx.accounts.record;
    record.bump = ctx.bumps.record;
    record.sequence = ctx.accounts.config.next_deposit;
    record.depositor = ctx.accounts.depositor.key();
    record.recipient = recipient;
    record.amount = amount;
    record.slot = Clock::get()?.slot;
    emit!(Deposited {
        sequence: record.sequence,
        depositor: record.depositor,
        recipient,
        amount,
    });
    ctx.accounts.config.next_deposit += 1;
    Ok(())
}

/// `withdraw` arguments: one payout leaf and its Merkle proof.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct WithdrawArgs {
    /// The anchored batch whose payout tree holds the leaf.
    pub height: u64,
    /// The leaf's index.
    pub index: u32,
    /// Who is paid: the owner of the recipient token account.
    pub recipient: Pubkey,
    /// How much.
    pub amount: u128,
    /// 0: a withdrawal (`origin_id` all zero); 1: a market settlement (`origin_id` = market id).
    pub origin: u8,
    /// The market id of a settlement.
    pub origin_id: [u8; 32],
    /// Sibling hashes, leaf level first.
    pub proof: Vec<[u8; 32]>,
}

/// `withdraw` accounts.
#[derive(Accounts)]
#[instruction(args: WithdrawArgs)]
pub struct Withdraw<'info> {
    /// Whoever submits (pays the nullifier's rent); the payout goes to the leaf's recipient.
    #[account(mut)]
    pub payer: Signer<'info>,
    /// The config.
    #[account(seeds = [b"config"], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    /// The batch.
    #[account(
        mut,
        seeds = [b"batch", args.height.to_le_bytes().as_ref()],
        bump = batch.bump,
    )]
    pub batch: Box<Account<'info, BatchRecord>>,
    /// CHECK: the leaf's nullifier `["nullifier", height, index]` (seeds checked), created here;
    /// an existing one means the leaf was paid.
    #[account(
        mut,
        seeds = [b"nullifier", args.height.to_le_bytes().as_ref(), args.index.to_le_bytes().as_ref()],
        bump,
    )]
    pub nullifier: UncheckedAccount<'info>,
    /// The vault.
    #[account(mut, address = config.vault)]
    pub vault: Box<Account<'info, TokenAccount>>,
    /// The recipient's token account.
    #[account(mut)]
    pub recipient_token: Box<Account<'info, TokenAccount>>,
    /// SPL Token.
    pub token_program: Program<'info, Token>,
    /// The system program.
    pub system_program: Program<'info, System>,
}

/// Pays one payout leaf.
pub fn withdraw_handler(ctx: Context<Withdraw>, args: WithdrawArgs) -> Result<()> {
    let config = &ctx.accounts.config;
    let batch = &ctx.accounts.batch;
    require!(!config.paused, CurveError::Paused);
    // A record above the tip was revoked (or awaits overwriting by the chain that replaced it).
    require!(
        batch.header.height <= config.latest_height,
        CurveError::BatchRevoked
    );
    let now = Clock::get()?.slot;
    require!(
        now >= batch
            .posted_slot
            .saturating_add(config.withdrawal_delay_slots),
        CurveError::WithdrawalDelay
    );
    let origin =
        Origin::from_parts(args.origin, args.origin_id).ok_or(error!(CurveError::InvalidOrigin))?;
    let amount = u64::try_from(args.amount).map_err(|_| error!(CurveError::AmountTooLarge))?;
    let leaf = PayoutLeaf {
        chain_id: config.chain_id,
        batch_height: args.height,
        index: args.index,
        recipient: args.recipient.to_bytes(),
        amount: args.amount,
        origin,
    };
    merkle::verify(
        &batch.header.withdrawal_root,
        batch.header.withdrawal_count,
        u64::from(args.index),
        &leaf.to_leaf_bytes(),
        &args.proof,
    )
    .map_err(|_| error!(CurveError::InvalidMerkleProof))?;
    require!(
        *ctx.accounts.nullifier.owner != crate::ID,
        CurveError::AlreadyWithdrawn
    );
    let withdrawn = batch
        .withdrawn
        .checked_add(args.amount)
        .filter(|sum| *sum <= batch.header.withdrawal_total)
        .ok_or(error!(CurveError::AboveBatchTotal))?;
    let recipient_token = &ctx.accounts.recipient_token;
    require_keys_eq!(recipient_token.mint, config.mint, CurveError::WrongMint);
    require_keys_eq!(
        recipient_token.owner,
        args.recipient,
        CurveError::RecipientMismatch
    );

    let height = args.height.to_le_bytes();
    let index = args.index.to_le_bytes();
    let bump = [ctx.bumps.nullifier];
    let space = 8 + Nullifier::INIT_SPACE;
    create_pda(
        &ctx.accounts.payer.to_account_info(),
        &ctx.accounts.nullifier.to_account_info(),
        &ctx.accounts.system_program.to_account_info(),
        space,
        &crate::ID,
        &[b"nullifier", &height, &index, &bump],
    )?;
    let nullifier = Nullifier {
        bump: bump[0],
        amount,
        slot: now,
    };
    nullifier.try_serialize(&mut &mut ctx.accounts.nullifier.data.borrow_mut()[..])?;

    ctx.accounts.batch.withdrawn = withdrawn;
    let vault_bump = [config.vault_bump];
    let signer: &[&[&[u8]]] = &[&[b"vault", &vault_bump]];
    token::transfer(
        CpiContext::new_with_signer(
            token::ID,
            token::Transfer {
                from: ctx.accounts.vault.to_account_info(),
                to: ctx.accounts.recipient_token.to_account_info(),
                authority: ctx.accounts.vault.to_account_info(),
            },
            signer,
        ),
        amount,
    )?;
    emit!(Withdrawn {
        height: args.height,
        index: args.index,
        recipient: args.recipient,
        amount,
    });
    Ok(())
}
