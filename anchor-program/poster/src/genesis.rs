//! Initialising the Anchor program for a rollup: the genesis file `curve localnet` writes (the
//! chain id, the committee's consensus keys, the rollup's genesis state root) turned into the
//! program's `initialize`, with a new collateral mint when the file names none.
//!
//! Idempotent: a program already initialised for the same chain and genesis root is left as
//! it is; one initialised for another is refused with both named.

use std::path::Path;

use anchor_lang::{AccountDeserialize, InstructionData, ToAccountMetas};
use curve_anchor::{Config, InitializeArgs};
use serde::Deserialize;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;
use solana_transaction::{Instruction, Transaction};

use crate::config_address;

/// SPL sizes: a mint.
const MINT_LEN: usize = 82;
/// Decimals of a mint created here.
const DECIMALS: u8 = 6;

/// The genesis file: what the program is initialised with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The rollup's chain id.
    pub chain_id: u64,
    /// The rollup's state root before its first batch (hex).
    pub genesis_root: String,
    /// The committee's consensus public keys, by replica index (hex).
    pub committee: Vec<String>,
    /// Signatures a batch needs.
    pub quorum: u8,
    /// Slots between a batch's post and the first withdrawal from it.
    pub withdrawal_delay_slots: u64,
    /// The collateral mint (base58); a new one (6 decimals, the payer its authority) if absent.
    #[serde(default)]
    pub mint: Option<String>,
    /// Accept certificates of the rollup's dev-mode programs.
    #[serde(default)]
    pub dev_mode: bool,
}

fn hex32(text: &str, what: &str) -> Result<[u8; 32], String> {
    hex::decode(text)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| format!("{what}: not 32 bytes of hex: {text:?}"))
}

impl Genesis {
    /// Reads and checks a genesis file.
    pub fn load(path: &Path) -> Result<Genesis, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let genesis: Genesis =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        genesis
            .args()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(genesis)
    }

    /// The `initialize` arguments.
    pub fn args(&self) -> Result<InitializeArgs, String> {
        let committee = self
            .committee
            .iter()
            .enumerate()
            .map(|(i, key)| hex32(key, &format!("committee[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        if self.quorum == 0 || usize::from(self.quorum) > committee.len() {
            return Err(format!(
                "quorum {} for a committee of {}",
                self.quorum,
                committee.len()
            ));
        }
        Ok(InitializeArgs {
            chain_id: self.chain_id,
            dev_mode: self.dev_mode,
            withdrawal_delay_slots: self.withdrawal_delay_slots,
            genesis_root: hex32(&self.genesis_root, "genesis_root")?,
            committee,
            quorum: self.quorum,
        })
    }
}

/// Signs `instructions` (the first signer pays) with a fresh blockhash, sends them and waits
/// until they land at the client's commitment; the error says `what` failed.
pub async fn send(
    client: &RpcClient,
    instructions: &[Instruction],
    signers: &[&Keypair],
    what: &str,
) -> Result<(), String> {
    send_typed(client, instructions, signers)
        .await
        .map_err(|e| format!("{what}: {e}"))
}

/// [`send`] with the client's error, for callers that tell a refusal by the program from an
/// endpoint that failed.
pub async fn send_typed(
    client: &RpcClient,
    instructions: &[Instruction],
    signers: &[&Keypair],
) -> Result<(), solana_rpc_client_api::client_error::Error> {
    let blockhash = client.get_latest_blockhash().await?;
    let transaction = Transaction::new_signed_with_payer(
        instructions,
        Some(&signers[0].pubkey()),
        signers,
        blockhash,
    );
    client
        .send_and_confirm_transaction(&transaction)
        .await
        .map(drop)
}

/// The program's config, if it is initialised.
pub async fn config(client: &RpcClient) -> Result<Option<Config>, String> {
    let account = client
        .get_account_with_commitment(&config_address(), client.commitment())
        .await
        .map_err(|e| format!("solana: {e}"))?
        .value;
    account
        .map(|account| {
            Config::try_deserialize(&mut account.data.as_slice())
                .map_err(|e| format!("solana: the config account: {e}"))
        })
        .transpose()
}

/// Initialises the program from `genesis` (paid by `payer`, with `governance` as its
/// governance); returns the collateral mint. Nothing is sent when it is initialised already.
pub async fn initialize(
    client: &RpcClient,
    payer: &Keypair,
    governance: &Keypair,
    genesis: &Genesis,
) -> Result<Pubkey, String> {
    let args = genesis.args()?;
    if let Some(config) = config(client).await? {
        if config.chain_id != args.chain_id || config.genesis_root != args.genesis_root {
            return Err(format!(
                "the program is initialised for chain {:#x} (genesis root {}), the genesis file \
                 is chain {:#x} (genesis root {})",
                config.chain_id,
                hex::encode(config.genesis_root),
                args.chain_id,
                hex::encode(args.genesis_root)
            ));
        }
        return Ok(config.mint);
    }
    let mint = match &genesis.mint {
        Some(text) => text
            .parse::<Pubkey>()
            .map_err(|e| format!("mint {text:?}: {e}"))?,
        None => create_mint(client, payer).await?,
    };
    let initialize = Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::Initialize {
            payer: payer.pubkey(),
            governance: governance.pubkey(),
            config: config_address(),
            mint,
            vault: Pubkey::find_program_address(&[b"vault"], &curve_anchor::ID).0,
            token_program: spl_token_interface::ID,
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::Initialize { args }.data(),
    };
    send(client, &[initialize], &[payer, governance], "initialize").await?;
    Ok(mint)
}

/// A new mint whose authority is `payer`.
async fn create_mint(client: &RpcClient, payer: &Keypair) -> Result<Pubkey, String> {
    let mint = Keypair::new();
    let rent = client
        .get_minimum_balance_for_rent_exemption(MINT_LEN)
        .await
        .map_err(|e| format!("rent: {e}"))?;
    let create = solana_system_interface::instruction::create_account(
        &payer.pubkey(),
        &mint.pubkey(),
        rent,
        MINT_LEN as u64,
        &spl_token_interface::ID,
    );
    let init = spl_token_interface::instruction::initialize_mint2(
        &spl_token_interface::ID,
        &mint.pubkey(),
        &payer.pubkey(),
        None,
        DECIMALS,
    )
    .map_err(|e| format!("the mint: {e}"))?;
    send(client, &[create, init], &[payer, &mint], "the mint").await?;
    Ok(mint.pubkey())
}

/// Asks the endpoint's faucet for `lamports` to each of `keys` (a local endpoint or a test
/// cluster) and waits until they land.
pub async fn airdrop(client: &RpcClient, keys: &[Pubkey], lamports: u64) -> Result<(), String> {
    for key in keys {
        let signature = client
            .request_airdrop(key, lamports)
            .await
            .map_err(|e| format!("airdrop to {key}: {e}"))?;
        client
            .poll_for_signature_with_commitment(&signature, CommitmentConfig::processed())
            .await
            .map_err(|e| format!("airdrop to {key}: {e}"))?;
    }
    Ok(())
}
