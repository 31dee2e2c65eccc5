//! Accounts. Every one is a PDA whose bump is stored in it, so later instructions re-derive
//! the address with one hash instead of searching for the bump.

use anchor_lang::prelude::*;

/// The most signatures a quorum may need: `post_batch` with five signatures, a compute-unit
/// limit and a priority fee still fits one 1,232-byte transaction (asserted by a test; each
/// signature costs 110 bytes — key, signature, offsets — so six would not fit with the fee).
pub const MAX_QUORUM: usize = 5;
/// The largest committee: the biggest `n` whose smallest quorum, ⌊2n/3⌋ + 1, is at most
/// [`MAX_QUORUM`] (7 gives 5; 8 would need 6).
pub const MAX_COMMITTEE: usize = 7;
/// The deepest payout tree a batch may anchor: a `withdraw` with a proof this long, plus a
/// compute-budget instruction, still fits one 1,232-byte transaction (asserted by a test), so
/// every anchored payout can be paid. 2^20 = 1,048,576 payouts per batch.
pub const MAX_PAYOUT_DEPTH: u32 = 20;
/// Recent anchored roots kept in the config (a ring).
pub const RECENT_ROOTS: usize = 16;
/// Public inputs of an invariant certificate: VERSION, H_code, H_conditions, H_params.
pub const PUBLIC_INPUTS: usize = 4;

/// `["config"]`: the chain's settings and its anchored tip.
#[account]
#[derive(InitSpace, Debug)]
pub struct Config {
    /// PDA bump.
    pub bump: u8,
    /// The vault's PDA bump.
    pub vault_bump: u8,
    /// Who may pause, rotate the committee, register keys and programs.
    pub governance: Pubkey,
    /// The rollup's chain id (inside every signed payload's domain tag).
    pub chain_id: u64,
    /// Fixed at initialisation: whether development verifying keys are accepted.
    pub dev_mode: bool,
    /// Whether user-facing instructions are refused.
    pub paused: bool,
    /// The collateral mint (SPL Token).
    pub mint: Pubkey,
    /// The vault token account.
    pub vault: Pubkey,
    /// Slots a batch must age before its payouts are paid (governance's window to pause).
    pub withdrawal_delay_slots: u64,
    /// The committee's Ed25519 keys.
    #[max_len(MAX_COMMITTEE)]
    pub committee: Vec<[u8; 32]>,
    /// Distinct member signatures a batch needs.
    pub quorum: u8,
    /// Incremented by every rotation (recorded in batches).
    pub committee_epoch: u64,
    /// The rollup's genesis state root (what a revocation to height 0 returns to).
    pub genesis_root: [u8; 32],
    /// Height of the latest anchored batch (0: only the genesis root). Batch records above it
    /// were revoked and pay nothing; the next `post_batch` overwrites them.
    pub latest_height: u64,
    /// State root after the latest anchored batch.
    pub latest_root: [u8; 32],
    /// The most recent anchored roots, oldest first (the oldest dropped when full).
    #[max_len(RECENT_ROOTS)]
    pub recent_roots: Vec<RecentRoot>,
    /// The next deposit's sequence number.
    pub next_deposit: u64,
}

/// One entry of the config's ring of recent roots.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct RecentRoot {
    /// Its batch height.
    pub height: u64,
    /// The state root.
    pub state_root: [u8; 32],
    /// The slot it was anchored in.
    pub slot: u64,
}

/// `["batch", height (u64 LE)]`: an anchored batch header and what has been paid from it.
#[account]
#[derive(InitSpace, Debug)]
pub struct BatchRecord {
    /// PDA bump.
    pub bump: u8,
    /// The header the committee signed.
    pub header: Header,
    /// Sum paid so far (never above the header's `withdrawal_total`).
    pub withdrawn: u128,
    /// Solana slot it was anchored in (the withdrawal delay counts from here).
    pub posted_slot: u64,
    /// The committee epoch that signed it.
    pub committee_epoch: u64,
}

/// `["vk", vk_hash]`: a Groth16 verifying key in the `alt_bn128` layout.
#[account]
#[derive(InitSpace, Debug)]
pub struct VerifyingKeyAccount {
    /// PDA bump.
    pub bump: u8,
    /// SHA-256 of the arkworks-compressed key (the circuits' name for it).
    pub vk_hash: [u8; 32],
    /// Whether it is a published development key (accepted in dev mode only).
    pub dev: bool,
    /// The key.
    pub key: VerifyingKeyBytes,
}

/// A verifying key for the certificate's four public inputs, big-endian `alt_bn128` layout
/// (G1 `x ‖ y`, G2 `x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0`), as `curve prove` writes `vk.alt_bn128`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyingKeyBytes {
    /// α (G1).
    pub alpha: [u8; 64],
    /// β (G2).
    pub beta: [u8; 128],
    /// γ (G2).
    pub gamma: [u8; 128],
    /// δ (G2).
    pub delta: [u8; 128],
    /// IC\[0..=4\] (G1).
    pub ic: [[u8; 64]; PUBLIC_INPUTS + 1],
}

// `#[derive(InitSpace)]` sizes an array of arrays as if it held one byte per outer element
// (anchor-lang 1.2.2 counted 68 bytes for `[[u8; 64]; 5]`), so the size is written out; a test
// checks every account's space against its largest serialisation.
impl Space for VerifyingKeyBytes {
    const INIT_SPACE: usize = 64 + 3 * 128 + (PUBLIC_INPUTS + 1) * 64;
}

/// `["program", code_hash, h_params]`: an approved CurveVM program and its verified
/// certificate (one per template and parameter table).
#[account]
#[derive(InitSpace, Debug)]
pub struct ProgramRecord {
    /// PDA bump.
    pub bump: u8,
    /// The certificate's statement and the program's names.
    pub hashes: ProgramHashes,
    /// SHA-256 of the certificate proof (`proof.alt_bn128`).
    pub proof_hash: [u8; 32],
    /// The verifying key it was checked with.
    pub vk_hash: [u8; 32],
    /// Slot of registration.
    pub registered_slot: u64,
}

/// What a program registration names.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct ProgramHashes {
    /// SHA-256 of the module bytes (`program.cvmb`): how the rollup names the program.
    pub code_hash: [u8; 32],
    /// The interface descriptor hash.
    pub descriptor_hash: [u8; 32],
    /// The state layout hash.
    pub layout_hash: [u8; 32],
    /// Poseidon hash of the condition rows (public input 2).
    pub h_conditions: [u8; 32],
    /// Poseidon hash of the parameter table (public input 3).
    pub h_params: [u8; 32],
}

/// `["deposit", sequence (u64 LE)]`: one deposit, for the committee to attest.
#[account]
#[derive(InitSpace, Debug)]
pub struct DepositAccount {
    /// PDA bump.
    pub bump: u8,
    /// The vault's deposit counter.
    pub sequence: u64,
    /// Who paid.
    pub depositor: Pubkey,
    /// The rollup account credited.
    pub recipient: [u8; 32],
    /// Collateral base units.
    pub amount: u64,
    /// Slot of the deposit.
    pub slot: u64,
}

impl DepositAccount {
    /// The record the committee attests and the rollup credits once
    /// (`curve_formats::deposit`).
    pub fn record(&self, chain_id: u64) -> curve_formats::deposit::DepositRecord {
        curve_formats::deposit::DepositRecord {
            chain_id,
            sequence: self.sequence,
            depositor: self.depositor.to_bytes(),
            recipient: self.recipient,
            amount: self.amount,
            slot: self.slot,
        }
    }
}

/// `["nullifier", height (u64 LE), index (u32 LE)]`: exists once a payout leaf was paid.
#[account]
#[derive(InitSpace, Debug)]
pub struct Nullifier {
    /// PDA bump.
    pub bump: u8,
    /// Amount paid.
    pub amount: u64,
    /// Slot of payment.
    pub slot: u64,
}

/// The signed `post_batch` payload: `Tag(BatchHeader, chain id) ‖ header`, exactly the bytes
/// the committee signs (`curve_formats::batch::BatchHeader`; borsh and the canonical encoding
/// agree on these fixed-width fields). The ed25519 instruction's signatures point at these bytes
/// inside the `post_batch` instruction, so they cross the wire once.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedHeader {
    /// `"CURV" ‖ kind 2 ‖ version 1 (u16 LE) ‖ chain id (u64 LE)`.
    pub tag: [u8; 15],
    /// The header.
    pub header: Header,
}

/// `curve_formats::batch::BatchHeader` field by field.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct Header {
    /// Height.
    pub height: u64,
    /// State root before.
    pub prev_root: [u8; 32],
    /// State root after.
    pub state_root: [u8; 32],
    /// Transactions root.
    pub transactions_root: [u8; 32],
    /// Payout tree root.
    pub withdrawal_root: [u8; 32],
    /// Payout leaves.
    pub withdrawal_count: u64,
    /// Payout sum.
    pub withdrawal_total: u128,
    /// Rollup time.
    pub timestamp_ms: u64,
}

impl SignedHeader {
    /// The payload of `post_batch` for `header` on chain `chain_id`: what a poster sends and
    /// the committee signs.
    pub fn new(chain_id: u64, header: &curve_formats::batch::BatchHeader) -> Self {
        use curve_formats::domain::{Kind, Tag};
        use curve_formats::encoding::Encode;
        let mut tag = Vec::with_capacity(curve_formats::domain::TAG_LEN);
        Tag::new(Kind::BatchHeader, chain_id).encode(&mut tag);
        SignedHeader {
            tag: tag.try_into().expect("a domain tag is 15 bytes"),
            header: Header::from(*header),
        }
    }
}

impl From<curve_formats::batch::BatchHeader> for Header {
    fn from(h: curve_formats::batch::BatchHeader) -> Self {
        Header {
            height: h.height,
            prev_root: h.prev_root,
            state_root: h.state_root,
            transactions_root: h.transactions_root,
            withdrawal_root: h.withdrawal_root,
            withdrawal_count: h.withdrawal_count,
            withdrawal_total: h.withdrawal_total,
            timestamp_ms: h.timestamp_ms,
        }
    }
}

impl From<Header> for curve_formats::batch::BatchHeader {
    fn from(h: Header) -> Self {
        curve_formats::batch::BatchHeader {
            height: h.height,
            prev_root: h.prev_root,
            state_root: h.state_root,
            transactions_root: h.transactions_root,
            withdrawal_root: h.withdrawal_root,
            withdrawal_count: h.withdrawal_count,
            withdrawal_total: h.withdrawal_total,
            timestamp_ms: h.timestamp_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serialized<T: AnchorSerialize>(value: &T) -> usize {
        let mut bytes = Vec::new();
        value.serialize(&mut bytes).expect("borsh writes to memory");
        bytes.len()
    }

    #[test]
    fn every_account_fits_its_space_when_full() {
        let root = RecentRoot {
            height: 1,
            state_root: [1; 32],
            slot: 1,
        };
        let config = Config {
            bump: 1,
            vault_bump: 1,
            governance: Pubkey::default(),
            chain_id: 1,
            dev_mode: true,
            paused: false,
            mint: Pubkey::default(),
            vault: Pubkey::default(),
            withdrawal_delay_slots: 1,
            committee: vec![[7; 32]; MAX_COMMITTEE],
            quorum: 5,
            committee_epoch: 0,
            genesis_root: [0; 32],
            latest_height: 0,
            latest_root: [0; 32],
            recent_roots: vec![root; RECENT_ROOTS],
            next_deposit: 0,
        };
        assert_eq!(serialized(&config), Config::INIT_SPACE);
        let key = VerifyingKeyBytes {
            alpha: [1; 64],
            beta: [2; 128],
            gamma: [3; 128],
            delta: [4; 128],
            ic: [[5; 64]; PUBLIC_INPUTS + 1],
        };
        assert_eq!(serialized(&key), VerifyingKeyBytes::INIT_SPACE);
        let vk = VerifyingKeyAccount {
            bump: 1,
            vk_hash: [0; 32],
            dev: true,
            key,
        };
        assert_eq!(serialized(&vk), VerifyingKeyAccount::INIT_SPACE);
        let hashes = ProgramHashes {
            code_hash: [0; 32],
            descriptor_hash: [0; 32],
            layout_hash: [0; 32],
            h_conditions: [0; 32],
            h_params: [0; 32],
        };
        let record = ProgramRecord {
            bump: 1,
            hashes,
            proof_hash: [0; 32],
            vk_hash: [0; 32],
            registered_slot: 0,
        };
        assert_eq!(serialized(&record), ProgramRecord::INIT_SPACE);
        let header = Header {
            height: 1,
            prev_root: [0; 32],
            state_root: [0; 32],
            transactions_root: [0; 32],
            withdrawal_root: [0; 32],
            withdrawal_count: 0,
            withdrawal_total: 0,
            timestamp_ms: 0,
        };
        let batch = BatchRecord {
            bump: 1,
            header,
            withdrawn: 0,
            posted_slot: 0,
            committee_epoch: 0,
        };
        assert_eq!(serialized(&batch), BatchRecord::INIT_SPACE);
    }
}
