//! `curve-batch-poster`: the BatchPoster. It reads the committee's anchor certificates from a
//! sequencer node and posts each as `post_batch` to the Anchor program — one ed25519
//! instruction carrying a quorum of the committee's signatures over the `post_batch` payload,
//! then `post_batch` itself — in height order, through the Solana client crates.
//!
//! It keeps no state of its own: every round starts from the program's tip (the `Config`
//! account's latest height and root), so a restarted poster resumes exactly where the chain
//! is, never posts a height twice (the program refuses anything but `tip + 1`, and the poster
//! asks for nothing else) and never skips one. A certificate that does not extend the anchored
//! root, or whose signatures do not verify against the program's committee, is refused here,
//! loudly, before anything is sent.

pub mod certificate;
pub mod source;

use std::time::Duration;

use anchor_lang::{AccountDeserialize, AnchorSerialize, InstructionData, ToAccountMetas};
use curve_anchor::{Config, SignedHeader};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::{Instruction, Transaction};

pub use certificate::Certificate;
pub use source::{NodeRpc, Source};

/// Where the signed bytes sit inside the `post_batch` instruction: after Anchor's 8-byte
/// discriminator.
const PAYLOAD_OFFSET: u16 = 8;
/// The `post_batch` instruction's index in the transaction (after the compute budget and the
/// ed25519 instruction).
const POST_INDEX: u16 = 2;
/// Compute units asked for: the ed25519 checks are the precompile's; `post_batch` reads the
/// instructions sysvar and creates one record.
const COMPUTE_UNITS: u32 = 300_000;

/// Why a round stopped.
#[derive(Debug)]
pub enum PostError {
    /// The Solana endpoint (down, slow, or it refused the transaction).
    Solana(String),
    /// The node.
    Node(String),
    /// The program is not initialised at the endpoint.
    NoProgram,
    /// A certificate that must not be posted (it does not extend the anchored chain, or it
    /// lacks a quorum of signatures the program's committee made).
    Refused(String),
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::Solana(e) => write!(f, "solana: {e}"),
            PostError::Node(e) => write!(f, "{e}"),
            PostError::NoProgram => write!(f, "the Anchor program has no config account here"),
            PostError::Refused(e) => write!(f, "not posted: {e}"),
        }
    }
}

impl std::error::Error for PostError {}

/// The program's anchored tip and committee.
#[derive(Clone, Debug)]
pub struct Tip {
    /// The chain the program anchors.
    pub chain_id: u64,
    /// The last anchored height (0: only the genesis root).
    pub height: u64,
    /// The last anchored state root.
    pub root: [u8; 32],
    /// The committee's keys, by replica id.
    pub committee: Vec<[u8; 32]>,
    /// Signatures a batch needs.
    pub quorum: u8,
}

/// The program's config PDA.
pub fn config_address() -> Pubkey {
    Pubkey::find_program_address(&[b"config"], &curve_anchor::ID).0
}

/// A batch record's PDA.
pub fn batch_address(height: u64) -> Pubkey {
    Pubkey::find_program_address(&[b"batch", &height.to_le_bytes()], &curve_anchor::ID).0
}

/// The poster: a Solana endpoint, the key that pays, and a certificate source.
pub struct Poster<S> {
    solana: RpcClient,
    payer: Keypair,
    source: S,
    posted: u64,
}

impl<S: Source> Poster<S> {
    /// A poster sending to `solana_url` at `commitment`, paying with `payer`.
    pub fn new(
        solana_url: String,
        commitment: CommitmentConfig,
        payer: Keypair,
        source: S,
    ) -> Self {
        Poster {
            solana: RpcClient::new_with_commitment(solana_url, commitment),
            payer,
            source,
            posted: 0,
        }
    }

    /// Batches this poster has posted.
    pub fn posted(&self) -> u64 {
        self.posted
    }

    /// The program's tip, read from its config account.
    pub async fn tip(&self) -> Result<Tip, PostError> {
        let address = config_address();
        let account = self
            .solana
            .get_account_with_commitment(&address, self.solana.commitment())
            .await
            .map_err(|e| PostError::Solana(e.to_string()))?
            .value
            .ok_or(PostError::NoProgram)?;
        let config = Config::try_deserialize(&mut account.data.as_slice())
            .map_err(|e| PostError::Solana(format!("the config account: {e}")))?;
        Ok(Tip {
            chain_id: config.chain_id,
            height: config.latest_height,
            root: config.latest_root,
            committee: config.committee,
            quorum: config.quorum,
        })
    }

    /// Posts the certificate of `tip + 1` when the node has it: `Some(height)` once it is
    /// anchored (by this poster, or by another that got there first), `None` when the node has
    /// nothing to post yet.
    pub async fn post_next(&mut self) -> Result<Option<u64>, PostError> {
        let tip = self.tip().await?;
        let height = tip.height + 1;
        let Some(certificate) = self
            .source
            .certificate(height)
            .await
            .map_err(PostError::Node)?
        else {
            return Ok(None);
        };
        let instructions = post_instructions(&tip, &certificate, self.payer.pubkey())?;
        let blockhash = self
            .solana
            .get_latest_blockhash()
            .await
            .map_err(|e| PostError::Solana(e.to_string()))?;
        let transaction = Transaction::new_signed_with_payer(
            &instructions,
            Some(&self.payer.pubkey()),
            &[&self.payer],
            blockhash,
        );
        match self.solana.send_and_confirm_transaction(&transaction).await {
            Ok(_) => {
                self.posted += 1;
                Ok(Some(height))
            }
            Err(e) => {
                // Refused because the height is no longer next (another poster, or an earlier
                // attempt of ours that landed): anchored all the same.
                if self.tip().await?.height >= height {
                    return Ok(Some(height));
                }
                Err(PostError::Solana(format!(
                    "post_batch at height {height}: {e}"
                )))
            }
        }
    }

    /// Posts every certificate the node has past the tip; returns how many heights were
    /// anchored.
    pub async fn post_available(&mut self) -> Result<u64, PostError> {
        let mut anchored = 0;
        while self.post_next().await?.is_some() {
            anchored += 1;
        }
        Ok(anchored)
    }

    /// Posts forever: every `idle` when there is nothing to post, backing off (doubling to
    /// 30 s) while the endpoint or the node fails; each failure is logged with its reason.
    pub async fn run(&mut self, idle: Duration) {
        let mut backoff = idle;
        loop {
            match self.post_available().await {
                Ok(_) => backoff = idle,
                Err(e) => {
                    eprintln!("curve-batch-poster: {e}; retrying in {backoff:?}");
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
            tokio::time::sleep(backoff).await;
        }
    }
}

/// The transaction's instructions for `certificate` on top of `tip`: a compute budget, the
/// ed25519 instruction with a quorum of verified signatures pointing into `post_batch`'s
/// payload, and `post_batch`.
pub fn post_instructions(
    tip: &Tip,
    certificate: &Certificate,
    poster: Pubkey,
) -> Result<Vec<Instruction>, PostError> {
    let header = &certificate.header;
    if header.height != tip.height + 1 || header.prev_root != tip.root {
        return Err(PostError::Refused(format!(
            "the certificate at height {} (previous root {}) does not extend the anchored tip {} (root {})",
            header.height,
            hex::encode(header.prev_root),
            tip.height,
            hex::encode(tip.root)
        )));
    }
    let payload = SignedHeader::new(tip.chain_id, header);
    let mut bytes = Vec::new();
    payload
        .serialize(&mut bytes)
        .map_err(|e| PostError::Refused(format!("the payload: {e}")))?;
    let mut signatures = Vec::new();
    for (replica, signature) in &certificate.signatures {
        let Some(key) = tip.committee.get(usize::from(*replica)) else {
            return Err(PostError::Refused(format!(
                "height {}: replica {replica} is not in the program's committee of {}",
                header.height,
                tip.committee.len()
            )));
        };
        if !Signature::from(*signature).verify(key, &bytes) {
            return Err(PostError::Refused(format!(
                "height {}: replica {replica}'s signature does not verify against the program's committee key",
                header.height
            )));
        }
        if signatures.len() < usize::from(tip.quorum) {
            signatures.push((*key, *signature));
        }
    }
    if signatures.len() < usize::from(tip.quorum) {
        return Err(PostError::Refused(format!(
            "height {}: {} signatures, the program needs {}",
            header.height,
            signatures.len(),
            tip.quorum
        )));
    }
    let post = Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::PostBatch {
            poster,
            config: config_address(),
            batch: batch_address(header.height),
            instructions: curve_anchor::INSTRUCTIONS_SYSVAR_ID,
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::PostBatch { payload }.data(),
    };
    Ok(vec![
        solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(
            COMPUTE_UNITS,
        ),
        ed25519_instruction(&signatures, bytes.len() as u16),
        post,
    ])
}

/// The ed25519 precompile's instruction: one offsets entry per signature, each over the
/// `message_len` payload bytes inside instruction [`POST_INDEX`], then the keys and signatures.
fn ed25519_instruction(signatures: &[([u8; 32], [u8; 64])], message_len: u16) -> Instruction {
    let table = 2 + 14 * signatures.len();
    let mut data = vec![signatures.len() as u8, 0];
    for k in 0..signatures.len() {
        let key_at = (table + 96 * k) as u16;
        // signature offset, its instruction (this one), key offset, its instruction, message
        // offset, size, its instruction.
        for word in [
            key_at + 32,
            u16::MAX,
            key_at,
            u16::MAX,
            PAYLOAD_OFFSET,
            message_len,
            POST_INDEX,
        ] {
            data.extend_from_slice(&word.to_le_bytes());
        }
    }
    for (key, signature) in signatures {
        data.extend_from_slice(key);
        data.extend_from_slice(signature);
    }
    Instruction {
        program_id: curve_anchor::ED25519_PROGRAM_ID,
        accounts: vec![],
        data,
    }
}
