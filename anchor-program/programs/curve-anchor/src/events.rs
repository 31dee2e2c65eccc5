//! Events for indexers and the BatchPoster (`emit!` logs them as `Program data:` lines on
//! chain; natively they are not visible, so tests assert on accounts instead).

use anchor_lang::prelude::*;

/// A batch was anchored.
#[event]
pub struct BatchPosted {
    /// Its height.
    pub height: u64,
    /// The new state root.
    pub state_root: [u8; 32],
    /// Its payout tree root.
    pub withdrawal_root: [u8; 32],
    /// The declared payout sum.
    pub withdrawal_total: u128,
    /// The committee bitmap that signed (bit i: member i).
    pub signers: u64,
}

/// Collateral entered the vault.
#[event]
pub struct Deposited {
    /// The deposit's sequence number.
    pub sequence: u64,
    /// Who paid.
    pub depositor: Pubkey,
    /// The rollup account credited.
    pub recipient: [u8; 32],
    /// How much.
    pub amount: u64,
}

/// A payout leaf was paid.
#[event]
pub struct Withdrawn {
    /// The batch.
    pub height: u64,
    /// The leaf.
    pub index: u32,
    /// Who was paid.
    pub recipient: Pubkey,
    /// How much.
    pub amount: u64,
}

/// A program was approved.
#[event]
pub struct ProgramRegistered {
    /// SHA-256 of its module bytes.
    pub code_hash: [u8; 32],
    /// The key its certificate verified under.
    pub vk_hash: [u8; 32],
}

/// The committee changed.
#[event]
pub struct CommitteeRotated {
    /// The new epoch.
    pub epoch: u64,
    /// Its size.
    pub members: u8,
    /// Its quorum.
    pub quorum: u8,
}

/// The program was paused or resumed.
#[event]
pub struct PauseChanged {
    /// Whether it is now paused.
    pub paused: bool,
}

/// Batches above a height were revoked by governance.
#[event]
pub struct BatchesRevoked {
    /// The first revoked height.
    pub from_height: u64,
    /// The last revoked height (the tip before).
    pub to_height: u64,
    /// The root the chain returned to.
    pub root: [u8; 32],
}
