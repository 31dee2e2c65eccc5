//! `initialize`: the config and the vault, once per deployment.

use crate::committee::check_committee;
use crate::error::CurveError;
use crate::instructions::create_pda;
use crate::state::{Config, RECENT_ROOTS, RecentRoot};
use anchor_lang::prelude::*;
use anchor_spl::token::{self, Mint, Token, TokenAccount};

/// `initialize` arguments.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct InitializeArgs {
    /// The rollup's chain id.
    pub chain_id: u64,
    /// Whether development verifying keys are accepted (fixed for the deployment).
    pub dev_mode: bool,
    /// Slots between a batch's anchoring and its first payout.
    pub withdrawal_delay_slots: u64,
    /// The rollup's state root at height 0.
    pub genesis_root: [u8; 32],
    /// The committee's Ed25519 keys.
    pub committee: Vec<[u8; 32]>,
    /// Signatures a batch needs.
    pub quorum: u8,
}

/// `initialize` accounts.
#[derive(Accounts)]
pub struct Initialize<'info> {
    /// Pays for the accounts.
    #[account(mut)]
    pub payer: Signer<'info>,
    /// The governance authority, consenting.
    pub governance: Signer<'info>,
    /// The config.
    #[account(init, payer = payer, space = 8 + Config::INIT_SPACE, seeds = [b"config"], bump)]
    pub config: Box<Account<'info, Config>>,
    /// CHECK: the collateral mint; its owner (SPL Token, not Token-2022) is checked by the
    /// handler so that a refusal carries the program's own error code.
    pub mint: UncheckedAccount<'info>,
    /// CHECK: the vault token account `["vault"]`, created by the handler once the mint is
    /// known to be an SPL Token mint.
    #[account(mut, seeds = [b"vault"], bump)]
    pub vault: UncheckedAccount<'info>,
    /// SPL Token.
    pub token_program: Program<'info, Token>,
    /// The system program.
    pub system_program: Program<'info, System>,
}

/// Creates the config and the vault.
pub fn handler(ctx: Context<Initialize>, args: InitializeArgs) -> Result<()> {
    require!(
        *ctx.accounts.mint.owner == token::ID,
        CurveError::UnsupportedMint
    );
    Mint::try_deserialize(&mut &ctx.accounts.mint.data.borrow()[..])
        .map_err(|_| error!(CurveError::UnsupportedMint))?;
    check_committee(&args.committee, args.quorum)?;
    require!(args.withdrawal_delay_slots > 0, CurveError::InvalidDelay);

    let vault_bump = ctx.bumps.vault;
    let accounts = &ctx.accounts;
    create_pda(
        &accounts.payer.to_account_info(),
        &accounts.vault.to_account_info(),
        &accounts.system_program.to_account_info(),
        TokenAccount::LEN,
        &token::ID,
        &[b"vault", &[vault_bump]],
    )?;
    token::initialize_account3(CpiContext::new(
        token::ID,
        token::InitializeAccount3 {
            account: accounts.vault.to_account_info(),
            mint: accounts.mint.to_account_info(),
            authority: accounts.vault.to_account_info(),
        },
    ))?;

    let slot = Clock::get()?.slot;
    let config = &mut ctx.accounts.config;
    config.bump = ctx.bumps.config;
    config.vault_bump = vault_bump;
    config.governance = ctx.accounts.governance.key();
    config.chain_id = args.chain_id;
    config.dev_mode = args.dev_mode;
    config.paused = false;
    config.mint = ctx.accounts.mint.key();
    config.vault = ctx.accounts.vault.key();
    config.withdrawal_delay_slots = args.withdrawal_delay_slots;
    config.committee = args.committee;
    config.quorum = args.quorum;
    config.committee_epoch = 0;
    config.genesis_root = args.genesis_root;
    config.latest_height = 0;
    config.latest_root = args.genesis_root;
    config.recent_roots = Vec::with_capacity(RECENT_ROOTS);
    config.recent_roots.push(RecentRoot {
        height: 0,
        state_root: args.genesis_root,
        slot,
    });
    config.next_deposit = 0;
    Ok(())
}
