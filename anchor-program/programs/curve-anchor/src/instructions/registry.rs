//! The registry: verifying keys and approved programs with on-chain certificate checks.

use crate::certificate::{is_degenerate, is_dev_key, shares_dev_element, verify, vk_hash};
use crate::error::CurveError;
use crate::events::ProgramRegistered;
use crate::state::{Config, ProgramHashes, ProgramRecord, VerifyingKeyAccount, VerifyingKeyBytes};
use anchor_lang::prelude::*;
use sha2::{Digest, Sha256};

/// `register_vk` accounts.
#[derive(Accounts)]
#[instruction(vk_hash: [u8; 32])]
pub struct RegisterVk<'info> {
    /// The governance authority (pays for the key's account).
    #[account(mut)]
    pub governance: Signer<'info>,
    /// The config.
    #[account(
        seeds = [b"config"],
        bump = config.bump,
        constraint = config.governance == governance.key() @ CurveError::NotGovernance,
    )]
    pub config: Box<Account<'info, Config>>,
    /// The key's account, `["vk", vk_hash]`.
    #[account(
        init,
        payer = governance,
        space = 8 + VerifyingKeyAccount::INIT_SPACE,
        seeds = [b"vk", vk_hash.as_ref()],
        bump,
    )]
    pub vk: Box<Account<'info, VerifyingKeyAccount>>,
    /// The system program.
    pub system_program: Program<'info, System>,
}

/// Stores a verifying key under its hash, refusing forgeable keys and, outside development
/// mode, development keys and keys built from their elements.
pub fn register_vk_handler(
    ctx: Context<RegisterVk>,
    named: [u8; 32],
    key: VerifyingKeyBytes,
) -> Result<()> {
    let config = &ctx.accounts.config;
    require!(!config.paused, CurveError::Paused);
    let hash = vk_hash(&key);
    require!(hash == named, CurveError::VerifyingKeyHashMismatch);
    require!(!is_degenerate(&key), CurveError::DegenerateVerifyingKey);
    let dev = is_dev_key(&hash);
    require!(!dev || config.dev_mode, CurveError::DevKeyRefused);
    // A permuted or partly replaced development key keeps a trapdoor anyone can compute; in
    // development mode it is accepted (as development keys are) and marked as one.
    let dev_elements = shares_dev_element(&key);
    require!(
        !dev_elements || config.dev_mode,
        CurveError::DevelopmentKeyElement
    );
    let dev = dev || dev_elements;
    let vk = &mut ctx.accounts.vk;
    vk.bump = ctx.bumps.vk;
    vk.vk_hash = hash;
    vk.dev = dev;
    vk.key = key;
    Ok(())
}

/// `register_program` accounts.
#[derive(Accounts)]
#[instruction(hashes: ProgramHashes)]
pub struct RegisterProgram<'info> {
    /// The governance authority (pays for the record).
    #[account(mut)]
    pub governance: Signer<'info>,
    /// The config.
    #[account(
        seeds = [b"config"],
        bump = config.bump,
        constraint = config.governance == governance.key() @ CurveError::NotGovernance,
    )]
    pub config: Box<Account<'info, Config>>,
    /// The verifying key the certificate is checked with.
    #[account(seeds = [b"vk", vk.vk_hash.as_ref()], bump = vk.bump)]
    pub vk: Box<Account<'info, VerifyingKeyAccount>>,
    /// The program's record, `["program", code_hash, h_params]`: programs of one template
    /// share their code and differ in their parameters.
    #[account(
        init,
        payer = governance,
        space = 8 + ProgramRecord::INIT_SPACE,
        seeds = [b"program", hashes.code_hash.as_ref(), hashes.h_params.as_ref()],
        bump,
    )]
    pub program: Box<Account<'info, ProgramRecord>>,
    /// The system program.
    pub system_program: Program<'info, System>,
}

/// Approves a program once its certificate verifies for exactly these hashes.
pub fn register_program_handler(
    ctx: Context<RegisterProgram>,
    hashes: ProgramHashes,
    proof: [u8; 256],
) -> Result<()> {
    let config = &ctx.accounts.config;
    require!(!config.paused, CurveError::Paused);
    let vk = &ctx.accounts.vk;
    require!(!vk.dev || config.dev_mode, CurveError::DevKeyRefused);
    verify(&vk.key, &hashes, &proof)?;
    let record = &mut ctx.accounts.program;
    record.bump = ctx.bumps.program;
    record.hashes = hashes;
    record.proof_hash = Sha256::digest(proof).into();
    record.vk_hash = vk.vk_hash;
    record.registered_slot = Clock::get()?.slot;
    emit!(ProgramRegistered {
        code_hash: hashes.code_hash,
        vk_hash: vk.vk_hash,
    });
    Ok(())
}
