//! A running bank with the program, a mint, a governance key and a committee, plus helpers to
//! send instructions and check refusals.

#![allow(dead_code)]

use anchor_lang::prelude::{AccountInfo, Pubkey};
use anchor_lang::solana_program::entrypoint::ProgramResult;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::solana_program::instruction::error::InstructionError;
use anchor_lang::{AccountDeserialize, InstructionData, ToAccountMetas};
use curve_anchor::{Config, InitializeArgs, SignedHeader};
use curve_formats::batch::BatchHeader;
use solana_keypair::Keypair;
use solana_program_test::{BanksClientError, ProgramTest, ProgramTestContext, processor};
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

/// The chain id of every test deployment.
pub const CHAIN_ID: u64 = 77;
/// Withdrawal delay of the test deployments, in slots.
pub const DELAY: u64 = 20;
/// Decimals of the test mint.
pub const DECIMALS: u8 = 6;

/// Anchor's generated `entry` ties every borrow to one lifetime; the runtime's builtin
/// interface hands out four. The program keeps nothing past the call, so narrowing them to one
/// is sound (otter-sec/anchor#2738; ../shared/spec/solana-anchor.md §1.3).
fn process<'a, 'b, 'c, 'd>(
    id: &'a Pubkey,
    accounts: &'b [AccountInfo<'c>],
    data: &'d [u8],
) -> ProgramResult {
    let id: &'c Pubkey = unsafe { core::mem::transmute(id) };
    let accounts: &'c [AccountInfo<'c>] = unsafe { core::mem::transmute(accounts) };
    let data: &'c [u8] = unsafe { core::mem::transmute(data) };
    curve_anchor::entry(id, accounts, data)
}

/// A bank with the program loaded (natively, unless `SBF_OUT_DIR` names a compiled `.so`).
pub async fn bank() -> ProgramTestContext {
    let mut test = ProgramTest::default();
    test.add_program("curve_anchor", curve_anchor::ID, processor!(process));
    test.start_with_context().await
}

/// PDAs.
pub mod pda {
    use super::*;

    fn find(seeds: &[&[u8]]) -> Pubkey {
        Pubkey::find_program_address(seeds, &curve_anchor::ID).0
    }
    pub fn config() -> Pubkey {
        find(&[b"config"])
    }
    pub fn vault() -> Pubkey {
        find(&[b"vault"])
    }
    pub fn batch(height: u64) -> Pubkey {
        find(&[b"batch", &height.to_le_bytes()])
    }
    pub fn vk(hash: &[u8; 32]) -> Pubkey {
        find(&[b"vk", hash])
    }
    pub fn program(code_hash: &[u8; 32], h_params: &[u8; 32]) -> Pubkey {
        find(&[b"program", code_hash, h_params])
    }
    pub fn deposit(sequence: u64) -> Pubkey {
        find(&[b"deposit", &sequence.to_le_bytes()])
    }
    pub fn nullifier(height: u64, index: u32) -> Pubkey {
        find(&[b"nullifier", &height.to_le_bytes(), &index.to_le_bytes()])
    }
}

/// A test deployment.
pub struct Env {
    pub bank: ProgramTestContext,
    pub governance: Keypair,
    pub mint: Pubkey,
    pub mint_authority: Keypair,
    pub committee: Vec<Keypair>,
    /// Makes otherwise identical transactions distinct (the bank refuses replays).
    nonce: u32,
}

/// Deterministic keypairs: tests print nothing random.
pub fn keypair(label: &str) -> Keypair {
    use sha2::{Digest, Sha256};
    let seed: [u8; 32] = Sha256::digest(label.as_bytes()).into();
    Keypair::new_from_array(seed)
}

/// A committee of `n`.
pub fn committee(n: usize, label: &str) -> Vec<Keypair> {
    (0..n)
        .map(|i| keypair(&format!("{label} member {i}")))
        .collect()
}

/// The committee's keys as the program stores them.
pub fn keys(members: &[Keypair]) -> Vec<[u8; 32]> {
    members.iter().map(|k| k.pubkey().to_bytes()).collect()
}

/// The initialize arguments of the standard deployment.
pub fn init_args(members: &[Keypair], dev_mode: bool) -> InitializeArgs {
    InitializeArgs {
        chain_id: CHAIN_ID,
        dev_mode,
        withdrawal_delay_slots: DELAY,
        genesis_root: [0x60; 32],
        committee: keys(members),
        quorum: (2 * members.len() / 3 + 1) as u8,
    }
}

impl Env {
    /// A bank with a mint and keys, not yet initialised.
    pub async fn uninitialised() -> Env {
        let mut env = Env {
            bank: bank().await,
            governance: keypair("governance"),
            mint: Pubkey::default(),
            mint_authority: keypair("mint authority"),
            committee: committee(4, "committee"),
            nonce: 0,
        };
        let mint = env.create_mint(spl_token_interface::ID).await;
        env.mint = mint;
        let governance = env.governance.pubkey();
        env.fund(governance).await;
        env
    }

    /// The standard deployment: committee of 4 (quorum 3), development mode.
    pub async fn new() -> Env {
        Env::with(true).await
    }

    /// The standard deployment with `dev_mode`.
    pub async fn with(dev_mode: bool) -> Env {
        let mut env = Env::uninitialised().await;
        let args = init_args(&env.committee, dev_mode);
        let ix = env.initialize_ix(env.mint, args);
        let governance = env.governance.insecure_clone();
        env.send(&[ix], &[&governance]).await.expect("initialize");
        env
    }

    /// Gives `who` lamports to pay rent with.
    pub async fn fund(&mut self, who: Pubkey) {
        let ix = solana_system_interface::instruction::transfer(&self.payer(), &who, 1_000_000_000);
        self.send(&[ix], &[]).await.expect("fund");
    }

    /// Sends and expects a refusal by the runtime (not the program), `watched` unchanged.
    pub async fn refused_by_runtime(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
        watched: &[Pubkey],
    ) {
        let result = self.send_unchanged(instructions, signers, watched).await;
        assert!(result.is_err(), "expected a refusal");
        assert_eq!(
            custom_code(&result).filter(|c| *c >= 6000),
            None,
            "{result:?}"
        );
    }

    /// Sends, then checks that `watched` accounts are byte-for-byte as before.
    async fn send_unchanged(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
        watched: &[Pubkey],
    ) -> Result<(), BanksClientError> {
        let mut before = Vec::new();
        for address in watched {
            before.push(self.raw(*address).await);
        }
        let result = self.send(instructions, signers).await;
        for (address, was) in watched.iter().zip(before) {
            assert_eq!(
                self.raw(*address).await,
                was,
                "{address} changed: {result:?}"
            );
        }
        result
    }

    /// A new deterministic keypair.
    pub fn fresh(&mut self, what: &str) -> Keypair {
        self.nonce += 1;
        keypair(&format!("{what} {}", self.nonce))
    }

    pub fn payer(&self) -> Pubkey {
        self.bank.payer.pubkey()
    }

    /// Sends `instructions` signed by the payer and `signers`.
    pub async fn send(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), BanksClientError> {
        self.nonce += 1;
        let mut all = vec![
            solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(
                1_400_000 - self.nonce,
            ),
        ];
        all.extend_from_slice(instructions);
        let tx = self.transaction(&all, signers);
        self.bank.banks_client.process_transaction(tx).await
    }

    /// A signed transaction of exactly `instructions`.
    pub fn transaction(&self, instructions: &[Instruction], signers: &[&Keypair]) -> Transaction {
        let mut all: Vec<&Keypair> = vec![&self.bank.payer];
        all.extend_from_slice(signers);
        Transaction::new_signed_with_payer(
            instructions,
            Some(&self.payer()),
            &all,
            self.bank.last_blockhash,
        )
    }

    /// Raw account data (empty when absent) and lamports.
    pub async fn raw(&mut self, address: Pubkey) -> (Vec<u8>, u64) {
        self.bank
            .banks_client
            .get_account(address)
            .await
            .expect("bank answers")
            .map(|a| (a.data, a.lamports))
            .unwrap_or_default()
    }

    /// An Anchor account.
    pub async fn account<T: AccountDeserialize>(&mut self, address: Pubkey) -> T {
        let (data, _) = self.raw(address).await;
        T::try_deserialize(&mut &data[..]).expect("the account exists and deserializes")
    }

    pub async fn config(&mut self) -> Config {
        self.account(pda::config()).await
    }

    /// Sends and expects the program's error `code`, with `watched` accounts unchanged.
    pub async fn refused(
        &mut self,
        code: u32,
        instructions: &[Instruction],
        signers: &[&Keypair],
        watched: &[Pubkey],
    ) {
        let result = self.send_unchanged(instructions, signers, watched).await;
        assert_eq!(
            custom_code(&result),
            Some(code),
            "expected error {code}, got {result:?}"
        );
    }

    /// Advances the bank by `slots`.
    pub async fn advance(&mut self, slots: u64) {
        let now = self.slot().await;
        self.bank.warp_to_slot(now + slots).expect("warp");
    }

    pub async fn slot(&mut self) -> u64 {
        let clock: anchor_lang::prelude::Clock =
            self.bank.banks_client.get_sysvar().await.expect("clock");
        clock.slot
    }

    // --- SPL Token ---

    /// A mint of `token_program` (SPL Token or Token-2022) with this env's authority.
    pub async fn create_mint(&mut self, token_program: Pubkey) -> Pubkey {
        let mint = self.fresh("mint");
        let rent = self.rent(82).await;
        let mut init = spl_token_interface::instruction::initialize_mint2(
            &spl_token_interface::ID,
            &mint.pubkey(),
            &self.mint_authority.pubkey(),
            None,
            DECIMALS,
        )
        .expect("instruction");
        // Token-2022 reads the same instruction layout.
        init.program_id = token_program;
        let create = solana_system_interface::instruction::create_account(
            &self.payer(),
            &mint.pubkey(),
            rent,
            82,
            &token_program,
        );
        self.send(&[create, init], &[&mint]).await.expect("mint");
        mint.pubkey()
    }

    /// A token account of `mint` owned by `owner`.
    pub async fn token_account(&mut self, mint: Pubkey, owner: Pubkey) -> Pubkey {
        let account = self.fresh("token account");
        let rent = self.rent(165).await;
        let create = solana_system_interface::instruction::create_account(
            &self.payer(),
            &account.pubkey(),
            rent,
            165,
            &spl_token_interface::ID,
        );
        let init = spl_token_interface::instruction::initialize_account3(
            &spl_token_interface::ID,
            &account.pubkey(),
            &mint,
            &owner,
        )
        .expect("instruction");
        self.send(&[create, init], &[&account])
            .await
            .expect("token account");
        account.pubkey()
    }

    /// Mints `amount` of `mint` into `account`.
    pub async fn mint_to(&mut self, mint: Pubkey, account: Pubkey, amount: u64) {
        let ix = spl_token_interface::instruction::mint_to(
            &spl_token_interface::ID,
            &mint,
            &account,
            &self.mint_authority.pubkey(),
            &[],
            amount,
        )
        .expect("instruction");
        let authority = self.mint_authority.insecure_clone();
        self.send(&[ix], &[&authority]).await.expect("mint_to");
    }

    /// A token account's balance.
    pub async fn balance(&mut self, account: Pubkey) -> u64 {
        use solana_program_pack::Pack;
        let (data, _) = self.raw(account).await;
        spl_token_interface::state::Account::unpack(&data)
            .expect("a token account")
            .amount
    }

    async fn rent(&mut self, bytes: usize) -> u64 {
        let rent: anchor_lang::prelude::Rent =
            self.bank.banks_client.get_sysvar().await.expect("rent");
        rent.minimum_balance(bytes)
    }

    // --- Instructions ---

    pub fn initialize_ix(&self, mint: Pubkey, args: InitializeArgs) -> Instruction {
        Instruction {
            program_id: curve_anchor::ID,
            accounts: curve_anchor::accounts::Initialize {
                payer: self.payer(),
                governance: self.governance.pubkey(),
                config: pda::config(),
                mint,
                vault: pda::vault(),
                token_program: spl_token_interface::ID,
                system_program: anchor_lang::system_program::ID,
            }
            .to_account_metas(None),
            data: curve_anchor::instruction::Initialize { args }.data(),
        }
    }

    /// A governance instruction signed by `signer`.
    pub fn govern_ix(&self, signer: Pubkey, data: Vec<u8>) -> Instruction {
        Instruction {
            program_id: curve_anchor::ID,
            accounts: curve_anchor::accounts::Govern {
                governance: signer,
                config: pda::config(),
            }
            .to_account_metas(None),
            data,
        }
    }

    pub async fn set_paused(&mut self, paused: bool) {
        let ix = self.govern_ix(
            self.governance.pubkey(),
            curve_anchor::instruction::SetPaused { paused }.data(),
        );
        let governance = self.governance.insecure_clone();
        self.send(&[ix], &[&governance]).await.expect("set_paused");
    }
}

/// A 32-byte hash written as hex in a fixture's JSON.
pub fn hex32(value: &serde_json::Value) -> [u8; 32] {
    hex::decode(value.as_str().expect("a hex string"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// A transaction's size on the wire: compact-u16 signature count, signatures, message.
pub fn wire_size(tx: &Transaction) -> usize {
    assert!(tx.signatures.len() < 128, "one-byte compact length");
    1 + 64 * tx.signatures.len() + tx.message_data().len()
}

/// The program's custom error code of a failed transaction.
pub fn custom_code(result: &Result<(), BanksClientError>) -> Option<u32> {
    match result {
        Err(BanksClientError::TransactionError(TransactionError::InstructionError(
            _,
            InstructionError::Custom(code),
        )))
        | Err(BanksClientError::SimulationError {
            err: TransactionError::InstructionError(_, InstructionError::Custom(code)),
            ..
        }) => Some(*code),
        _ => None,
    }
}

// --- Batches ---

/// A header on top of `config`'s tip.
pub fn next_header(
    config: &Config,
    withdrawal_root: [u8; 32],
    count: u64,
    total: u128,
) -> BatchHeader {
    BatchHeader {
        height: config.latest_height + 1,
        prev_root: config.latest_root,
        state_root: [config.latest_height as u8 + 0x71; 32],
        transactions_root: [0x33; 32],
        withdrawal_root,
        withdrawal_count: count,
        withdrawal_total: total,
        timestamp_ms: 1_000 * (config.latest_height + 1),
    }
}

/// The bytes the committee signs for `payload`.
pub fn signed_bytes(payload: &SignedHeader) -> Vec<u8> {
    use anchor_lang::AnchorSerialize;
    let mut bytes = Vec::new();
    payload
        .serialize(&mut bytes)
        .expect("borsh writes to memory");
    bytes
}

/// Where the signed bytes sit inside the `post_batch` instruction: after the discriminator.
pub const PAYLOAD_OFFSET: u16 = 8;

/// An ed25519 instruction listing `(key, signature)` pairs, each over `message_len` bytes at
/// `message_offset` of instruction `message_index` (`u16::MAX`: inline `inline_message`).
pub fn ed25519_ix(
    signatures: &[([u8; 32], [u8; 64])],
    message_index: u16,
    message_offset: u16,
    message_len: u16,
    inline_message: &[u8],
) -> Instruction {
    let table = 2 + 14 * signatures.len();
    let inline_at = (table + 96 * signatures.len()) as u16;
    let mut data = vec![signatures.len() as u8, 0];
    for k in 0..signatures.len() {
        let key_at = (table + 96 * k) as u16;
        let (message_at, size) = if message_index == u16::MAX {
            (inline_at, inline_message.len() as u16)
        } else {
            (message_offset, message_len)
        };
        for word in [
            key_at + 32,
            u16::MAX,
            key_at,
            u16::MAX,
            message_at,
            size,
            message_index,
        ] {
            data.extend_from_slice(&word.to_le_bytes());
        }
    }
    for (key, signature) in signatures {
        data.extend_from_slice(key);
        data.extend_from_slice(signature);
    }
    data.extend_from_slice(inline_message);
    Instruction {
        program_id: curve_anchor::ED25519_PROGRAM_ID,
        accounts: vec![],
        data,
    }
}

/// `(key, signature over message)` by each of `signers`.
pub fn sign(signers: &[&Keypair], message: &[u8]) -> Vec<([u8; 32], [u8; 64])> {
    signers
        .iter()
        .map(|k| {
            let signature: [u8; 64] = k.sign_message(message).into();
            (k.pubkey().to_bytes(), signature)
        })
        .collect()
}

impl Env {
    pub fn post_batch_ix(&self, payload: SignedHeader) -> Instruction {
        let height = payload.header.height;
        Instruction {
            program_id: curve_anchor::ID,
            accounts: curve_anchor::accounts::PostBatch {
                poster: self.payer(),
                config: pda::config(),
                batch: pda::batch(height),
                instructions: curve_anchor::INSTRUCTIONS_SYSVAR_ID,
                system_program: anchor_lang::system_program::ID,
            }
            .to_account_metas(None),
            data: curve_anchor::instruction::PostBatch { payload }.data(),
        }
    }

    /// The two instructions of a batch signed by `signers`, the signatures pointing into the
    /// `post_batch` instruction at `post_index` of the transaction.
    pub fn signed_batch(
        &self,
        payload: SignedHeader,
        signers: &[&Keypair],
        post_index: u16,
    ) -> [Instruction; 2] {
        let bytes = signed_bytes(&payload);
        let signatures = sign(signers, &bytes);
        [
            ed25519_ix(
                &signatures,
                post_index,
                PAYLOAD_OFFSET,
                bytes.len() as u16,
                &[],
            ),
            self.post_batch_ix(payload),
        ]
    }

    /// Posts the next batch signed by the first `quorum` members.
    pub async fn post(
        &mut self,
        withdrawal_root: [u8; 32],
        count: u64,
        total: u128,
    ) -> BatchHeader {
        let config = self.config().await;
        let header = next_header(&config, withdrawal_root, count, total);
        let members: Vec<Keypair> = self.committee.iter().map(|k| k.insecure_clone()).collect();
        let signers: Vec<&Keypair> = members.iter().take(config.quorum as usize).collect();
        // Index 0 is `send`'s compute-budget instruction.
        let ixs = self.signed_batch(SignedHeader::new(CHAIN_ID, &header), &signers, 2);
        self.send(&ixs, &[]).await.expect("post_batch");
        header
    }
}
