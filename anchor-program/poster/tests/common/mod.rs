//! What the poster's tests do on the Solana side, as a user would with the client crates:
//! keys, transactions, the program initialised, token accounts, deposits and withdrawals.

#![allow(dead_code)]

use anchor_lang::{AccountDeserialize, InstructionData, ToAccountMetas};
use curve_anchor::{InitializeArgs, WithdrawArgs};
use curve_batch_poster::{batch_address, config_address, deposit_address};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;
use solana_transaction::{Instruction, Transaction};

pub const SOL: u64 = 1_000_000_000;
/// SPL sizes: a mint and a token account.
const MINT_LEN: u64 = 82;
const TOKEN_ACCOUNT_LEN: u64 = 165;

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
    let blockhash = client
        .get_latest_blockhash()
        .await
        .map_err(|e| e.to_string())?;
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
        .map_err(|e| e.to_string())
}

/// Funds `who` with 100 SOL.
pub async fn airdrop(client: &RpcClient, who: &Pubkey) {
    let signature = client
        .request_airdrop(who, 100 * SOL)
        .await
        .expect("airdrop");
    client
        .confirm_transaction_with_commitment(&signature, CommitmentConfig::processed())
        .await
        .expect("lands");
}

/// The collateral mint (`key("mint")`, 6 decimals, `payer` its authority).
pub fn mint() -> Pubkey {
    key("mint").pubkey()
}

/// The vault's token account.
pub fn vault() -> Pubkey {
    Pubkey::find_program_address(&[b"vault"], &curve_anchor::ID).0
}

/// The program initialised on the endpoint: the mint, governance, the committee.
pub async fn deploy(
    client: &RpcClient,
    payer: &Keypair,
    committee: &[[u8; 32]],
    chain_id: u64,
    genesis_root: [u8; 32],
    withdrawal_delay_slots: u64,
) {
    airdrop(client, &payer.pubkey()).await;
    airdrop(client, &key("governance").pubkey()).await;
    let mint = key("mint");
    let rent = client
        .get_minimum_balance_for_rent_exemption(MINT_LEN as usize)
        .await
        .expect("rent");
    let create = solana_system_interface::instruction::create_account(
        &payer.pubkey(),
        &mint.pubkey(),
        rent,
        MINT_LEN,
        &spl_token_interface::ID,
    );
    let init = spl_token_interface::instruction::initialize_mint2(
        &spl_token_interface::ID,
        &mint.pubkey(),
        &payer.pubkey(),
        None,
        6,
    )
    .expect("an instruction");
    send(client, &[create, init], &[payer, &mint]).await;
    let governance = key("governance");
    let quorum = committee.len() - (committee.len() - 1) / 3;
    let initialize = Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::Initialize {
            payer: payer.pubkey(),
            governance: governance.pubkey(),
            config: config_address(),
            mint: mint.pubkey(),
            vault: vault(),
            token_program: spl_token_interface::ID,
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::Initialize {
            args: InitializeArgs {
                chain_id,
                dev_mode: true,
                withdrawal_delay_slots,
                genesis_root,
                committee: committee.to_vec(),
                quorum: quorum as u8,
            },
        }
        .data(),
    };
    send(client, &[initialize], &[payer, &governance]).await;
}

/// A token account of the mint for `owner` (the address `account`), holding `amount` minted
/// by `payer` (the mint's authority).
pub async fn token_account(
    client: &RpcClient,
    payer: &Keypair,
    account: &Keypair,
    owner: &Pubkey,
    amount: u64,
) {
    let rent = client
        .get_minimum_balance_for_rent_exemption(TOKEN_ACCOUNT_LEN as usize)
        .await
        .expect("rent");
    let mut instructions = vec![
        solana_system_interface::instruction::create_account(
            &payer.pubkey(),
            &account.pubkey(),
            rent,
            TOKEN_ACCOUNT_LEN,
            &spl_token_interface::ID,
        ),
        spl_token_interface::instruction::initialize_account3(
            &spl_token_interface::ID,
            &account.pubkey(),
            &mint(),
            owner,
        )
        .expect("an instruction"),
    ];
    if amount > 0 {
        instructions.push(
            spl_token_interface::instruction::mint_to(
                &spl_token_interface::ID,
                &mint(),
                &account.pubkey(),
                &payer.pubkey(),
                &[],
                amount,
            )
            .expect("an instruction"),
        );
    }
    send(client, &instructions, &[payer, account]).await;
}

/// A token account's balance.
pub async fn balance(client: &RpcClient, account: &Pubkey) -> u64 {
    let account = client
        .get_account_with_commitment(account, CommitmentConfig::processed())
        .await
        .expect("answers")
        .value
        .expect("a token account");
    anchor_spl::token::TokenAccount::try_deserialize(&mut account.data.as_slice())
        .expect("a token account")
        .amount
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
    let instruction = Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::Deposit {
            depositor: depositor.pubkey(),
            config: config_address(),
            record: deposit_address(sequence),
            source: *source,
            vault: vault(),
            token_program: spl_token_interface::ID,
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::Deposit { amount, recipient }.data(),
    };
    send(client, &[instruction], &[depositor]).await;
}

/// The program's `withdraw` of one payout leaf into `recipient_token`, paid by `payer`.
pub async fn withdraw(
    client: &RpcClient,
    payer: &Keypair,
    recipient_token: &Pubkey,
    args: WithdrawArgs,
) -> Result<(), String> {
    let nullifier = Pubkey::find_program_address(
        &[
            b"nullifier",
            &args.height.to_le_bytes(),
            &args.index.to_le_bytes(),
        ],
        &curve_anchor::ID,
    )
    .0;
    let instruction = Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::Withdraw {
            payer: payer.pubkey(),
            config: config_address(),
            batch: batch_address(args.height),
            nullifier,
            vault: vault(),
            recipient_token: *recipient_token,
            token_program: spl_token_interface::ID,
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::Withdraw { args }.data(),
    };
    try_send(client, &[instruction], &[payer]).await
}
