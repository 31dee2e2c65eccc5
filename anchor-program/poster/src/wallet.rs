//! A rollup user's side of the Anchor program, through the Solana client crates: collateral
//! token accounts, `deposit` (collateral into the vault, credited on the rollup once the
//! committee attests it), `withdraw` (a payout leaf of an anchored batch, with the proof `curve
//! withdraw-proof` prints) and the program's state as a user audits it (the anchored tip, the
//! vault, the anchored payouts not yet withdrawn). `curve-solana-wallet` is its command line.

use anchor_lang::{AccountDeserialize, Discriminator, InstructionData, ToAccountMetas};
use curve_anchor::{BatchRecord, ProgramRecord, WithdrawArgs};
use serde_json::Value;
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_keypair::Keypair;
use solana_program_pack::Pack;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
use solana_rpc_client_api::filter::{Memcmp, RpcFilterType};
use solana_signer::Signer;
use solana_transaction::Instruction;

use crate::genesis::{config, send};
use crate::{batch_address, config_address, deposit_address};

/// The vault's token account, `["vault"]`.
pub fn vault_address() -> Pubkey {
    Pubkey::find_program_address(&[b"vault"], &curve_anchor::ID).0
}

/// A payout leaf's nullifier, `["nullifier", height, index]`.
pub fn nullifier_address(height: u64, index: u32) -> Pubkey {
    Pubkey::find_program_address(
        &[b"nullifier", &height.to_le_bytes(), &index.to_le_bytes()],
        &curve_anchor::ID,
    )
    .0
}

/// Instructions creating token account `account` of `mint` for `owner`, paid by `payer`, with
/// `amount` minted into it by `payer` as the mint's authority (none when `amount` is 0).
pub fn token_account_instructions(
    payer: &Pubkey,
    account: &Pubkey,
    rent: u64,
    mint: &Pubkey,
    owner: &Pubkey,
    amount: u64,
) -> Result<Vec<Instruction>, String> {
    let token = spl_token_interface::ID;
    let mut instructions = vec![
        solana_system_interface::instruction::create_account(
            payer,
            account,
            rent,
            spl_token_interface::state::Account::LEN as u64,
            &token,
        ),
        spl_token_interface::instruction::initialize_account3(&token, account, mint, owner)
            .map_err(|e| format!("initialize_account3: {e}"))?,
    ];
    if amount > 0 {
        instructions.push(
            spl_token_interface::instruction::mint_to(&token, mint, account, payer, &[], amount)
                .map_err(|e| format!("mint_to: {e}"))?,
        );
    }
    Ok(instructions)
}

/// Creates token account `account` (see [`token_account_instructions`]) and waits until it
/// lands.
pub async fn create_token_account(
    client: &RpcClient,
    payer: &Keypair,
    account: &Keypair,
    mint: &Pubkey,
    owner: &Pubkey,
    amount: u64,
) -> Result<(), String> {
    let rent = client
        .get_minimum_balance_for_rent_exemption(spl_token_interface::state::Account::LEN)
        .await
        .map_err(|e| format!("rent: {e}"))?;
    let instructions = token_account_instructions(
        &payer.pubkey(),
        &account.pubkey(),
        rent,
        mint,
        owner,
        amount,
    )?;
    send(
        client,
        &instructions,
        &[payer, account],
        "the token account",
    )
    .await
}

/// A token account's balance (None: no such account).
pub async fn token_balance(client: &RpcClient, account: &Pubkey) -> Result<Option<u64>, String> {
    let found = client
        .get_account_with_commitment(account, client.commitment())
        .await
        .map_err(|e| format!("solana: {e}"))?
        .value;
    found
        .map(|account| {
            spl_token_interface::state::Account::unpack(&account.data)
                .map(|token| token.amount)
                .map_err(|e| format!("not a token account: {e}"))
        })
        .transpose()
}

/// The program's `deposit`: `amount` from `source` (owned by `depositor`) into the vault, for
/// rollup account `recipient`, as deposit `sequence` (the config's `next_deposit`).
pub fn deposit_instruction(
    depositor: &Pubkey,
    source: &Pubkey,
    sequence: u64,
    amount: u64,
    recipient: [u8; 32],
) -> Instruction {
    Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::Deposit {
            depositor: *depositor,
            config: config_address(),
            record: deposit_address(sequence),
            source: *source,
            vault: vault_address(),
            token_program: spl_token_interface::ID,
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::Deposit { amount, recipient }.data(),
    }
}

/// Deposits `amount` from `source` for `recipient` at the config's next sequence; returns the
/// sequence. (Two depositors racing for one sequence: the loser's transaction is refused, and
/// it is sent again with the next.)
pub async fn deposit(
    client: &RpcClient,
    depositor: &Keypair,
    source: &Pubkey,
    amount: u64,
    recipient: [u8; 32],
) -> Result<u64, String> {
    let sequence = config(client)
        .await?
        .ok_or("the Anchor program is not initialised at this endpoint")?
        .next_deposit;
    let instruction = deposit_instruction(&depositor.pubkey(), source, sequence, amount, recipient);
    send(client, &[instruction], &[depositor], "deposit").await?;
    Ok(sequence)
}

/// The program's `withdraw` of one payout leaf into `recipient_token`, paid by `payer`.
pub fn withdraw_instruction(
    payer: &Pubkey,
    recipient_token: &Pubkey,
    args: WithdrawArgs,
) -> Instruction {
    Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::Withdraw {
            payer: *payer,
            config: config_address(),
            batch: batch_address(args.height),
            nullifier: nullifier_address(args.height, args.index),
            vault: vault_address(),
            recipient_token: *recipient_token,
            token_program: spl_token_interface::ID,
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::Withdraw { args }.data(),
    }
}

fn hex32(value: &Value, what: &str) -> Result<[u8; 32], String> {
    value
        .as_str()
        .and_then(|text| hex::decode(text).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| format!("the proof's `{what}` is not 32 bytes of hex"))
}

/// The `withdraw` arguments of a proof as `curve withdraw-proof` prints it (and
/// `curve_getWithdrawalProof` answers).
pub fn withdraw_args(proof: &Value) -> Result<WithdrawArgs, String> {
    let number = |what: &str| {
        proof[what]
            .as_u64()
            .ok_or_else(|| format!("the proof has no `{what}`"))
    };
    let amount = proof["amount"]
        .as_str()
        .and_then(|text| text.parse::<u128>().ok())
        .ok_or("the proof's `amount` is not a decimal string")?;
    let path = proof["proof"]
        .as_array()
        .ok_or("the proof has no `proof` path")?;
    Ok(WithdrawArgs {
        height: number("height")?,
        index: u32::try_from(number("index")?).map_err(|_| "the proof's `index` is too large")?,
        recipient: Pubkey::new_from_array(hex32(&proof["recipient"], "recipient")?),
        amount,
        origin: u8::try_from(number("origin")?).map_err(|_| "the proof's `origin` is too large")?,
        origin_id: hex32(&proof["origin_id"], "origin_id")?,
        proof: path
            .iter()
            .map(|sibling| hex32(sibling, "proof"))
            .collect::<Result<_, _>>()?,
    })
}

/// Pays one payout leaf into `recipient_token` (paid for by `payer`) and waits until it lands.
pub async fn withdraw(
    client: &RpcClient,
    payer: &Keypair,
    recipient_token: &Pubkey,
    args: WithdrawArgs,
) -> Result<(), String> {
    let instruction = withdraw_instruction(&payer.pubkey(), recipient_token, args);
    send(client, &[instruction], &[payer], "withdraw").await
}

/// What a user audits: the anchored tip, the vault, and the anchored payouts not yet paid.
#[derive(Debug)]
pub struct Audit {
    /// The last anchored height.
    pub anchored_height: u64,
    /// Deposits recorded (the next deposit's sequence).
    pub deposits: u64,
    /// The vault's balance.
    pub vault: u64,
    /// Σ over anchored batches of `withdrawal_total − withdrawn`.
    pub unpaid: u128,
    /// The collateral mint.
    pub mint: Pubkey,
    /// The approved programs' records, by address.
    pub programs: Vec<ProgramRecord>,
}

/// Every `ProgramRecord` account of the program.
pub async fn program_records(client: &RpcClient) -> Result<Vec<ProgramRecord>, String> {
    let config = RpcProgramAccountsConfig {
        filters: Some(vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
            0,
            ProgramRecord::DISCRIMINATOR.to_vec(),
        ))]),
        account_config: RpcAccountInfoConfig {
            encoding: Some(UiAccountEncoding::Base64),
            commitment: Some(client.commitment()),
            ..RpcAccountInfoConfig::default()
        },
        ..RpcProgramAccountsConfig::default()
    };
    let accounts = client
        .get_program_ui_accounts_with_config(&curve_anchor::ID, config)
        .await
        .map_err(|e| format!("solana: {e}"))?;
    accounts
        .into_iter()
        .map(|(address, account)| {
            let data = account
                .data
                .decode()
                .ok_or_else(|| format!("account {address}: undecodable data"))?;
            ProgramRecord::try_deserialize(&mut data.as_slice())
                .map_err(|e| format!("account {address}: {e}"))
        })
        .collect()
}

/// Reads [`Audit`]: the config, the vault, and every batch record from height 1 to the tip.
pub async fn audit(client: &RpcClient) -> Result<Audit, String> {
    let config = config(client)
        .await?
        .ok_or("the Anchor program is not initialised at this endpoint")?;
    let vault = token_balance(client, &vault_address())
        .await?
        .ok_or("the vault has no token account")?;
    let mut unpaid = 0u128;
    let heights: Vec<u64> = (1..=config.latest_height).collect();
    // getMultipleAccounts takes at most 100 addresses a call.
    for chunk in heights.chunks(100) {
        let addresses: Vec<Pubkey> = chunk.iter().map(|&h| batch_address(h)).collect();
        let accounts = client
            .get_multiple_accounts_with_commitment(&addresses, client.commitment())
            .await
            .map_err(|e| format!("solana: {e}"))?
            .value;
        for (height, account) in chunk.iter().zip(accounts) {
            let account =
                account.ok_or_else(|| format!("no record of anchored height {height}"))?;
            let record = BatchRecord::try_deserialize(&mut account.data.as_slice())
                .map_err(|e| format!("the record of height {height}: {e}"))?;
            unpaid += record.header.withdrawal_total - record.withdrawn;
        }
    }
    Ok(Audit {
        anchored_height: config.latest_height,
        deposits: config.next_deposit,
        vault,
        unpaid,
        mint: config.mint,
        programs: program_records(client).await?,
    })
}
