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
//!
//! The same binary is each committee member's deposit watcher ([`deposits`],
//! `--watch-deposits`): every member runs one beside its node; one of them also posts.

pub mod certificate;
pub mod deposits;
pub mod genesis;
pub mod registry;
pub mod source;
pub mod wallet;

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
pub use deposits::{DepositWatcher, deposit_address};
pub use registry::Registrar;
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
    /// The last transaction sent whose outcome is unknown: a retry of its height resends it
    /// (same signature: it lands at most once) while its blockhash lives, so a lost answer
    /// does not make the poster pay for a second post of one height.
    in_flight: Option<(u64, Transaction)>,
    /// The highest tip seen: a tip that goes back (governance revoked batches) stops the
    /// poster instead of re-posting what was revoked.
    highest_tip: u64,
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
            in_flight: None,
            highest_tip: 0,
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
        if tip.height < self.highest_tip {
            return Err(PostError::Refused(format!(
                "the program's tip went back from {} to {} (revoked batches?): not re-posting them; restart the poster once governance has settled the chain",
                self.highest_tip, tip.height
            )));
        }
        self.highest_tip = tip.height;
        let height = tip.height + 1;
        let Some(certificate) = self
            .source
            .certificate(height)
            .await
            .map_err(PostError::Node)?
        else {
            return Ok(None);
        };
        let transaction = self.transaction_for(&tip, &certificate).await?;
        match self.solana.send_and_confirm_transaction(&transaction).await {
            Ok(_) => {
                self.in_flight = None;
                self.posted += 1;
                Ok(Some(height))
            }
            Err(e) => {
                let error = format!("post_batch at height {height}: {e}");
                // Refused because the height is no longer next (another poster, or an earlier
                // attempt of ours that landed): anchored all the same.
                match self.tip().await {
                    Ok(now) if now.height >= height => {
                        self.in_flight = None;
                        Ok(Some(height))
                    }
                    Ok(_) => Err(PostError::Solana(error)),
                    Err(tip) => Err(PostError::Solana(format!("{error}; then the tip: {tip}"))),
                }
            }
        }
    }

    /// The signed transaction for `certificate`: the one already in flight for its height
    /// while that one's blockhash is valid, else a new one (then in flight).
    async fn transaction_for(
        &mut self,
        tip: &Tip,
        certificate: &Certificate,
    ) -> Result<Transaction, PostError> {
        let height = certificate.header.height;
        if let Some((at, sent)) = &self.in_flight
            && *at == height
        {
            let valid = self
                .solana
                .is_blockhash_valid(
                    &sent.message.recent_blockhash,
                    CommitmentConfig::processed(),
                )
                .await
                .map_err(|e| PostError::Solana(e.to_string()))?;
            if valid {
                return Ok(sent.clone());
            }
        }
        let instructions = post_instructions(tip, certificate, self.payer.pubkey())?;
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
        self.in_flight = Some((height, transaction.clone()));
        Ok(transaction)
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

    /// Posts forever (see [`repeat`]).
    pub async fn run(&mut self, idle: Duration) {
        repeat("post", idle, async || {
            self.post_available()
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await
    }
}

/// Runs `round` forever: every `idle` after a round that worked, backing off (from 100 ms,
/// doubling to 10 s) while rounds fail; each failure is logged with its reason and the wait
/// that follows.
pub async fn repeat(
    what: &str,
    idle: Duration,
    mut round: impl AsyncFnMut() -> Result<(), String>,
) {
    const FIRST: Duration = Duration::from_millis(100);
    const LONGEST: Duration = Duration::from_secs(10);
    let mut backoff = FIRST;
    loop {
        let wait = match round().await {
            Ok(()) => {
                backoff = FIRST;
                idle
            }
            Err(e) => {
                let wait = backoff;
                eprintln!("curve-batch-poster: {what}: {e}; retrying in {wait:?}");
                backoff = (backoff * 2).min(LONGEST);
                wait
            }
        };
        tokio::time::sleep(wait).await;
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
    // A quorum of good signatures is enough: a bad, foreign or repeated one is left out (and
    // named if the good ones fall short), never sent — the program would refuse the lot.
    let mut signatures: Vec<([u8; 32], [u8; 64])> = Vec::new();
    let mut left_out = Vec::new();
    for (replica, signature) in &certificate.signatures {
        let Some(key) = tip.committee.get(usize::from(*replica)) else {
            left_out.push(format!(
                "replica {replica} is not in the program's committee of {}",
                tip.committee.len()
            ));
            continue;
        };
        if signatures.iter().any(|(k, _)| k == key) {
            left_out.push(format!("replica {replica} signed twice"));
        } else if !Signature::from(*signature).verify(key, &bytes) {
            left_out.push(format!(
                "replica {replica}'s signature does not verify against the program's committee key"
            ));
        } else if signatures.len() < usize::from(tip.quorum) {
            signatures.push((*key, *signature));
        }
    }
    if signatures.len() < usize::from(tip.quorum) {
        let why = if left_out.is_empty() {
            String::new()
        } else {
            format!(" ({})", left_out.join("; "))
        };
        return Err(PostError::Refused(format!(
            "height {}: {} good signatures, the program needs {}{why}",
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
