//! A synthetic rollup chain for the poster's tests and benchmarks: headers that chain by
//! root, and certificates its committee signs the way the nodes' execution attestations do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anchor_lang::AnchorSerialize;
use curve_anchor::{SignedHeader, WithdrawArgs};
use curve_batch_poster::{Certificate, PostError, Source, Tip, post_instructions};
use curve_formats::batch::BatchHeader;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::{Hash, Instruction, Transaction};

/// The synthetic chain's id.
pub const CHAIN_ID: u64 = 77;
/// Its genesis root.
pub const GENESIS_ROOT: [u8; 32] = [0x60; 32];

/// The state root after batch `h` of the test chain.
pub fn root(h: u64) -> [u8; 32] {
    if h == 0 {
        return GENESIS_ROOT;
    }
    let mut root = [0u8; 32];
    root[..8].copy_from_slice(&h.to_le_bytes());
    root[31] = 0xaa;
    root
}

/// The header of batch `h` of the test chain.
pub fn header(h: u64) -> BatchHeader {
    BatchHeader {
        height: h,
        prev_root: root(h - 1),
        state_root: root(h),
        transactions_root: [0x33; 32],
        withdrawal_root: [0; 32],
        withdrawal_count: 0,
        withdrawal_total: 0,
        timestamp_ms: 1_000 * h,
    }
}

/// The committee's certificates of the test chain, up to `available` (the node's progress):
/// replicas 0, 1 and 3 sign the `post_batch` payload, as their execution attestations do.
pub struct Committee {
    /// The members' keys, by replica index.
    pub members: Vec<Keypair>,
    /// The node's progress.
    pub available: Arc<AtomicU64>,
}

impl Source for Committee {
    async fn certificate(&self, height: u64) -> Result<Option<Certificate>, String> {
        if height > self.available.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let header = header(height);
        let mut bytes = Vec::new();
        SignedHeader::new(CHAIN_ID, &header)
            .serialize(&mut bytes)
            .expect("borsh writes to memory");
        let signatures = [0u16, 1, 3]
            .iter()
            .map(|&r| {
                (
                    r,
                    <[u8; 64]>::from(self.members[usize::from(r)].sign_message(&bytes)),
                )
            })
            .collect();
        Ok(Some(Certificate { header, signatures }))
    }
}

/// The wire size of a transaction (signatures included): a compact-u16 signature count (one
/// byte below 128), the signatures, the message.
pub fn wire_size(transaction: &Transaction) -> usize {
    1 + 64 * transaction.signatures.len() + transaction.message.serialize().len()
}

/// The signed `post_batch` transaction of batch 1 for a committee of `members` (the quorum
/// 2f + 1 signing), paid by `payer`.
pub fn post_transaction(members: usize, payer: &Keypair) -> Result<Transaction, PostError> {
    let keys: Vec<Keypair> = (0..members)
        .map(|i| crate::common::key(&format!("size member {i}")))
        .collect();
    let quorum = members - (members - 1) / 3;
    let tip = Tip {
        chain_id: CHAIN_ID,
        height: 0,
        root: GENESIS_ROOT,
        committee: keys.iter().map(|k| k.pubkey().to_bytes()).collect(),
        quorum: quorum as u8,
    };
    let header = header(1);
    let mut bytes = Vec::new();
    SignedHeader::new(CHAIN_ID, &header)
        .serialize(&mut bytes)
        .expect("borsh writes to memory");
    let certificate = Certificate {
        header,
        signatures: keys
            .iter()
            .take(quorum)
            .enumerate()
            .map(|(i, k)| (i as u16, <[u8; 64]>::from(k.sign_message(&bytes))))
            .collect(),
    };
    let instructions = post_instructions(&tip, &certificate, payer.pubkey())?;
    Ok(Transaction::new_signed_with_payer(
        &instructions,
        Some(&payer.pubkey()),
        &[payer],
        Hash::default(),
    ))
}

/// The size of each transaction the bridge and its users send.
pub fn transaction_sizes(payer: &Keypair) -> Vec<(String, usize)> {
    let mut sizes = Vec::new();
    for members in [4, 7] {
        let what = format!("post_batch, committee {members}");
        match post_transaction(members, payer) {
            Ok(transaction) => sizes.push((what, wire_size(&transaction))),
            Err(e) => panic!("{what}: {e}"),
        }
    }
    let signed = |instruction: Instruction| {
        wire_size(&Transaction::new_signed_with_payer(
            &[instruction],
            Some(&payer.pubkey()),
            &[payer],
            Hash::default(),
        ))
    };
    let account = Pubkey::new_from_array([9; 32]);
    sizes.push((
        "deposit".into(),
        signed(crate::common::deposit_instruction(
            &payer.pubkey(),
            &account,
            0,
            1,
            [1; 32],
        )),
    ));
    // A batch holds at most 2^16 payouts: proofs are at most 16 deep.
    for depth in [0usize, 8, 16] {
        let args = WithdrawArgs {
            height: 1,
            index: 0,
            recipient: account,
            amount: 1,
            origin: 0,
            origin_id: [0; 32],
            proof: vec![[7; 32]; depth],
        };
        sizes.push((
            format!("withdraw, proof depth {depth}"),
            signed(crate::common::withdraw_instruction(
                &payer.pubkey(),
                &account,
                args,
            )),
        ));
    }
    sizes
}
