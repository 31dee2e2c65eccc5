//! What the poster's tests do on the Solana side, as a user would with the client crates:
//! keys, transactions, the program initialised, token accounts, deposits and withdrawals.

#![allow(dead_code)]

pub mod chain;
pub mod processes;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use curve_anchor::{Config, WithdrawArgs};
use curve_batch_poster::Poster;
use curve_batch_poster::genesis::{self, Genesis};
use curve_batch_poster::wallet;
pub use curve_batch_poster::wallet::{deposit_instruction, withdraw_instruction};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;
use solana_transaction::Instruction;

pub const SOL: u64 = 1_000_000_000;

/// A keypair derived from `label` (the same label, the same key).
pub fn key(label: &str) -> Keypair {
    let mut seed = [7u8; 32];
    for (i, b) in label.bytes().enumerate() {
        seed[i % 32] = seed[i % 32].wrapping_mul(31).wrapping_add(b);
    }
    Keypair::new_from_array(seed)
}

/// Signs `instructions` (the first signer pays) and waits until they land.
pub async fn send(client: &RpcClient, instructions: &[Instruction], signers: &[&Keypair]) {
    try_send(client, instructions, signers)
        .await
        .expect("lands");
}

/// [`send`], returning the refusal.
pub async fn try_send(
    client: &RpcClient,
    instructions: &[Instruction],
    signers: &[&Keypair],
) -> Result<(), String> {
    genesis::send(client, instructions, signers, "the transaction").await
}

/// Funds `who` with 100 SOL.
pub async fn airdrop(client: &RpcClient, who: &Pubkey) {
    genesis::airdrop(client, &[*who], 100 * SOL)
        .await
        .expect("airdrop");
}

/// The vault's token account.
pub fn vault() -> Pubkey {
    wallet::vault_address()
}

/// The program's config, once initialised.
pub async fn config(client: &RpcClient) -> Option<Config> {
    curve_batch_poster::genesis::config(client)
        .await
        .expect("answers")
}

/// The program initialised on the endpoint the way `curve localnet` has the poster do it
/// (a new mint, `payer` its authority; `key("governance")` governs); returns the mint.
pub async fn deploy(
    client: &RpcClient,
    payer: &Keypair,
    committee: &[[u8; 32]],
    chain_id: u64,
    genesis_root: [u8; 32],
    withdrawal_delay_slots: u64,
) -> Pubkey {
    let governance = key("governance");
    let funded = [payer.pubkey(), governance.pubkey()];
    genesis::airdrop(client, &funded, 100 * SOL)
        .await
        .expect("airdrops");
    let genesis = Genesis {
        chain_id,
        genesis_root: hex::encode(genesis_root),
        committee: committee.iter().map(hex::encode).collect(),
        quorum: (committee.len() - (committee.len() - 1) / 3) as u8,
        withdrawal_delay_slots,
        mint: None,
        dev_mode: true,
    };
    genesis::initialize(client, payer, &governance, &genesis)
        .await
        .expect("initialised")
}

/// A token account of `mint` for `owner` (the address `account`), holding `amount` minted
/// by `payer` (the mint's authority).
pub async fn token_account(
    client: &RpcClient,
    payer: &Keypair,
    account: &Keypair,
    mint: &Pubkey,
    owner: &Pubkey,
    amount: u64,
) {
    wallet::create_token_account(client, payer, account, mint, owner, amount)
        .await
        .expect("the token account lands");
}

/// A token account's balance.
pub async fn balance(client: &RpcClient, account: &Pubkey) -> u64 {
    wallet::token_balance(client, account)
        .await
        .expect("answers")
        .expect("a token account")
}

/// `depositor` moves `amount` from `source` into the vault for rollup account `recipient`, as
/// deposit `sequence` (the config's next).
pub async fn deposit(
    client: &RpcClient,
    depositor: &Keypair,
    source: &Pubkey,
    sequence: u64,
    amount: u64,
    recipient: [u8; 32],
) {
    let instruction = deposit_instruction(&depositor.pubkey(), source, sequence, amount, recipient);
    send(client, &[instruction], &[depositor]).await;
}

/// A local endpoint (slots of `slot_ms`) with the program initialised for the synthetic chain
/// ([`chain`]): its committee of 4 (`key("member i")`) and the poster's paying key.
pub struct Deployed {
    pub net: curve_solana_localnet::Localnet,
    pub client: RpcClient,
    pub members: Vec<Keypair>,
    pub payer: Keypair,
}

impl Deployed {
    pub async fn start(slot_ms: u64) -> Deployed {
        let net = curve_solana_localnet::Localnet::start(
            "127.0.0.1:0".parse().expect("an address"),
            slot_ms,
        )
        .await
        .expect("serves");
        let client = RpcClient::new_with_commitment(net.url(), CommitmentConfig::processed());
        let members: Vec<Keypair> = (0..4).map(|i| key(&format!("member {i}"))).collect();
        let committee: Vec<[u8; 32]> = members.iter().map(|m| m.pubkey().to_bytes()).collect();
        let payer = key("poster");
        deploy(
            &client,
            &payer,
            &committee,
            chain::CHAIN_ID,
            chain::GENESIS_ROOT,
            20,
        )
        .await;
        Deployed {
            net,
            client,
            members,
            payer,
        }
    }

    /// A poster on the endpoint over the synthetic chain, up to `available`.
    pub fn poster(&self, available: &Arc<AtomicU64>) -> Poster<chain::Committee> {
        Poster::new(
            self.net.url(),
            CommitmentConfig::processed(),
            self.payer.insecure_clone(),
            chain::Committee {
                members: self.members.iter().map(|m| m.insecure_clone()).collect(),
                available: available.clone(),
            },
        )
    }
}

/// The program's `withdraw` of one payout leaf into `recipient_token`, paid by `payer`.
pub async fn withdraw(
    client: &RpcClient,
    payer: &Keypair,
    recipient_token: &Pubkey,
    args: WithdrawArgs,
) -> Result<(), String> {
    wallet::withdraw(client, payer, recipient_token, args).await
}
