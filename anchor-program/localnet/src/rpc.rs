//! The Solana JSON-RPC methods the rollup's clients call, over the [`Chain`], with the
//! cluster's parameter shapes (positional arguments, an optional trailing config object),
//! encodings (base58 and base64 transactions; `UiAccount` encodings) and error shapes (the
//! codes and data of `solana_rpc_client_api::custom_error`, so an unmodified client reads a
//! preflight failure as a `TransactionError`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine as _;
use bincode::Options as _;
use jsonrpc_core::{Error, IoHandler, Params, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use solana_account::Account;
use solana_account_decoder::{UiAccount, UiAccountEncoding, encode_ui_account};
use solana_commitment_config::CommitmentLevel;
use solana_hash::Hash;
use solana_message::Message;
use solana_pubkey::Pubkey;
use solana_rpc_client_api::config::{
    RpcAccountInfoConfig, RpcContextConfig, RpcProgramAccountsConfig, RpcRequestAirdropConfig,
    RpcSendTransactionConfig, RpcSignatureStatusConfig, RpcSimulateTransactionConfig,
};
use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_rpc_client_api::filter::RpcFilterType;
use solana_rpc_client_api::response::{
    OptionalContext, Response, RpcBlockhash, RpcKeyedAccount, RpcResponseContext,
    RpcSimulateTransactionResult,
};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_status_client_types::{
    TransactionConfirmationStatus, TransactionStatus, UiTransactionEncoding,
    UiTransactionReturnData,
};

use crate::chain::Chain;

/// The version a client sees: a Solana version (clients parse it as semver) whose build
/// metadata says what this is.
pub const SOLANA_CORE: &str = "3.1.12+curve-solana-localnet";
/// What `getVersion` and the banner say this endpoint is.
pub const STAND_IN: &str = "a local stand-in for a Solana cluster: solana-program-test's bank \
     with curve_anchor loaded natively (no validator, no SBF VM, no compute-unit metering)";

/// A transaction's wire size limit (a packet).
const PACKET_DATA_SIZE: usize = 1232;
/// The longest encodings of a packet, checked before decoding (base58 decodes in quadratic
/// time: a long string must not cost the server minutes), as a cluster checks them.
const MAX_BASE58_SIZE: usize = 1683;
const MAX_BASE64_SIZE: usize = 1644;
/// The largest account size whose rent is asked: 10 MiB, the protocol's account limit.
const MAX_ACCOUNT_SIZE: usize = 10 * 1024 * 1024;
/// The most keys of one `getMultipleAccounts`, as a cluster.
const MAX_MULTIPLE_ACCOUNTS: usize = 100;
/// The most signatures of one `getSignatureStatuses`, as a cluster.
const MAX_SIGNATURE_STATUSES: usize = 256;
/// The largest airdrop: 10,000 SOL.
const MAX_AIRDROP_LAMPORTS: u64 = 10_000 * 1_000_000_000;
/// base58 account data longer than this is refused, as a cluster refuses it.
const MAX_BASE58_BYTES: usize = 128;

/// The handler with every method registered.
pub fn handler(chain: Arc<Chain>) -> IoHandler {
    let mut io = IoHandler::new();
    let methods = Methods {
        chain,
        airdrops: Arc::new(AtomicU32::new(0)),
    };
    macro_rules! register {
        ($($name:literal => $method:ident),* $(,)?) => {$(
            let m = methods.clone();
            io.add_method($name, move |params: Params| {
                let m = m.clone();
                async move { m.$method(args(params)?).await }
            });
        )*};
    }
    register! {
        "getHealth" => get_health,
        "getVersion" => get_version,
        "getSlot" => get_slot,
        "getBlockHeight" => get_block_height,
        "getLatestBlockhash" => get_latest_blockhash,
        "isBlockhashValid" => is_blockhash_valid,
        "getBalance" => get_balance,
        "getMinimumBalanceForRentExemption" => get_minimum_balance_for_rent_exemption,
        "getAccountInfo" => get_account_info,
        "getMultipleAccounts" => get_multiple_accounts,
        "getProgramAccounts" => get_program_accounts,
        "requestAirdrop" => request_airdrop,
        "sendTransaction" => send_transaction,
        "simulateTransaction" => simulate_transaction,
        "getSignatureStatuses" => get_signature_statuses,
    }
    io
}

/// A method's positional arguments.
fn args(params: Params) -> Result<Vec<Value>, Error> {
    match params {
        Params::None => Ok(Vec::new()),
        Params::Array(values) => Ok(values),
        Params::Map(_) => Err(Error::invalid_params("expected an array of parameters")),
    }
}

/// Argument `index` (`name` in errors), required.
fn arg<T: DeserializeOwned>(args: &[Value], index: usize, name: &str) -> Result<T, Error> {
    let value = args
        .get(index)
        .ok_or_else(|| Error::invalid_params(format!("missing parameter {index} ({name})")))?;
    serde_json::from_value(value.clone())
        .map_err(|e| Error::invalid_params(format!("parameter {index} ({name}): {e}")))
}

/// Argument `index`, optional: missing or `null` is `None`.
fn opt<T: DeserializeOwned>(args: &[Value], index: usize, name: &str) -> Result<Option<T>, Error> {
    match args.get(index) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => arg(args, index, name).map(Some),
    }
}

fn pubkey(text: &str) -> Result<Pubkey, Error> {
    text.parse()
        .map_err(|_| Error::invalid_params(format!("invalid pubkey: {text}")))
}

fn internal(what: impl std::fmt::Display) -> Error {
    Error {
        code: jsonrpc_core::ErrorCode::InternalError,
        message: what.to_string(),
        data: None,
    }
}

fn json<T: Serialize>(value: T) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(internal)
}

/// The methods, sharing the chain.
#[derive(Clone)]
struct Methods {
    chain: Arc<Chain>,
    /// Makes every airdrop's message distinct (two equal airdrops in one slot would otherwise
    /// be one transaction).
    airdrops: Arc<AtomicU32>,
}

impl Methods {
    async fn context(&self) -> Result<RpcResponseContext, Error> {
        let slot = self.chain.slot().await.map_err(internal)?;
        Ok(RpcResponseContext::new(slot))
    }

    async fn with_context<T: Serialize>(&self, value: T) -> Result<Value, Error> {
        json(Response {
            context: self.context().await?,
            value,
        })
    }

    async fn get_health(&self, _: Vec<Value>) -> Result<Value, Error> {
        Ok(Value::from("ok"))
    }

    async fn get_version(&self, _: Vec<Value>) -> Result<Value, Error> {
        Ok(serde_json::json!({
            "solana-core": SOLANA_CORE,
            "feature-set": Value::Null,
            "curve-solana-localnet": STAND_IN,
        }))
    }

    async fn get_slot(&self, args: Vec<Value>) -> Result<Value, Error> {
        opt::<RpcContextConfig>(&args, 0, "config")?;
        json(self.chain.slot().await.map_err(internal)?)
    }

    async fn get_block_height(&self, args: Vec<Value>) -> Result<Value, Error> {
        opt::<RpcContextConfig>(&args, 0, "config")?;
        let height = self.chain.banks().await.get_root_block_height().await;
        json(height.map_err(internal)?)
    }

    async fn get_latest_blockhash(&self, args: Vec<Value>) -> Result<Value, Error> {
        opt::<RpcContextConfig>(&args, 0, "config")?;
        let (blockhash, last_valid_block_height) = self.latest_blockhash().await?;
        self.with_context(RpcBlockhash {
            blockhash: blockhash.to_string(),
            last_valid_block_height,
        })
        .await
    }

    async fn latest_blockhash(&self) -> Result<(Hash, u64), Error> {
        let latest = self
            .chain
            .banks()
            .await
            .get_latest_blockhash_with_commitment(CommitmentLevel::Processed)
            .await
            .map_err(internal)?;
        latest.ok_or_else(|| internal("the bank has no blockhash"))
    }

    async fn is_blockhash_valid(&self, args: Vec<Value>) -> Result<Value, Error> {
        let text: String = arg(&args, 0, "blockhash")?;
        opt::<RpcContextConfig>(&args, 1, "config")?;
        let blockhash: Hash = text
            .parse()
            .map_err(|_| Error::invalid_params(format!("invalid blockhash: {text}")))?;
        // The bank prices a message only under a blockhash it still accepts.
        let message =
            Message::new_with_blockhash(&[], Some(&self.chain.faucet().pubkey()), &blockhash);
        let fee = self.chain.banks().await.get_fee_for_message(message).await;
        self.with_context(fee.map_err(internal)?.is_some()).await
    }

    async fn get_balance(&self, args: Vec<Value>) -> Result<Value, Error> {
        let address = pubkey(&arg::<String>(&args, 0, "pubkey")?)?;
        opt::<RpcContextConfig>(&args, 1, "config")?;
        let lamports = self.chain.banks().await.get_balance(address).await;
        self.with_context(lamports.map_err(internal)?).await
    }

    async fn get_minimum_balance_for_rent_exemption(
        &self,
        args: Vec<Value>,
    ) -> Result<Value, Error> {
        let size: usize = arg(&args, 0, "data length")?;
        opt::<RpcContextConfig>(&args, 1, "config")?;
        if size > MAX_ACCOUNT_SIZE {
            return Err(Error::invalid_params(format!(
                "data length {size}: an account holds at most {MAX_ACCOUNT_SIZE} bytes"
            )));
        }
        let rent = self
            .chain
            .banks()
            .await
            .get_rent()
            .await
            .map_err(internal)?;
        json(rent.minimum_balance(size))
    }

    async fn account(&self, address: Pubkey) -> Result<Option<Account>, Error> {
        self.chain
            .banks()
            .await
            .get_account(address)
            .await
            .map_err(internal)
    }

    async fn get_account_info(&self, args: Vec<Value>) -> Result<Value, Error> {
        let address = pubkey(&arg::<String>(&args, 0, "pubkey")?)?;
        let config: RpcAccountInfoConfig = opt(&args, 1, "config")?.unwrap_or_default();
        let account = self.account(address).await?;
        let value = account.map(|a| encode(&address, &a, &config)).transpose()?;
        self.with_context(value).await
    }

    async fn get_multiple_accounts(&self, args: Vec<Value>) -> Result<Value, Error> {
        let keys: Vec<String> = arg(&args, 0, "pubkeys")?;
        if keys.len() > MAX_MULTIPLE_ACCOUNTS {
            return Err(Error::invalid_params(format!(
                "Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}"
            )));
        }
        let config: RpcAccountInfoConfig = opt(&args, 1, "config")?.unwrap_or_default();
        let mut value = Vec::with_capacity(keys.len());
        for key in &keys {
            let address = pubkey(key)?;
            let account = self.account(address).await?;
            value.push(account.map(|a| encode(&address, &a, &config)).transpose()?);
        }
        self.with_context(value).await
    }

    async fn get_program_accounts(&self, args: Vec<Value>) -> Result<Value, Error> {
        let program = pubkey(&arg::<String>(&args, 0, "program id")?)?;
        let config: RpcProgramAccountsConfig = opt(&args, 1, "config")?.unwrap_or_default();
        let filters = config.filters.unwrap_or_default();
        for filter in &filters {
            filter
                .verify()
                .map_err(|e| Error::invalid_params(format!("invalid filter: {e}")))?;
            if matches!(filter, RpcFilterType::TokenAccountState) {
                return Err(Error::invalid_params(
                    "the tokenAccountState filter is not served by curve-solana-localnet",
                ));
            }
        }
        let mut found = Vec::new();
        for address in self.chain.seen() {
            let Some(account) = self.account(address).await? else {
                continue;
            };
            let passes = filters.iter().all(|filter| match filter {
                RpcFilterType::DataSize(size) => account.data.len() as u64 == *size,
                RpcFilterType::Memcmp(memcmp) => memcmp.bytes_match(&account.data),
                RpcFilterType::TokenAccountState => false,
            });
            if account.owner == program && passes {
                found.push(RpcKeyedAccount {
                    pubkey: address.to_string(),
                    account: encode(&address, &account, &config.account_config)?,
                });
            }
        }
        if config.with_context.unwrap_or(false) {
            json(OptionalContext::Context(Response {
                context: self.context().await?,
                value: found,
            }))
        } else {
            json(OptionalContext::<Vec<RpcKeyedAccount>>::NoContext(found))
        }
    }

    async fn request_airdrop(&self, args: Vec<Value>) -> Result<Value, Error> {
        let to = pubkey(&arg::<String>(&args, 0, "pubkey")?)?;
        let lamports: u64 = arg(&args, 1, "lamports")?;
        opt::<RpcRequestAirdropConfig>(&args, 2, "config")?;
        if lamports == 0 || lamports > MAX_AIRDROP_LAMPORTS {
            return Err(Error::invalid_params(format!(
                "airdrop of {lamports} lamports: between 1 and {MAX_AIRDROP_LAMPORTS}"
            )));
        }
        let faucet = self.chain.faucet();
        let distinct = self.airdrops.fetch_add(1, Ordering::Relaxed);
        let instructions = [
            solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(
                200_000 - distinct % 100_000,
            ),
            solana_system_interface::instruction::transfer(&faucet.pubkey(), &to, lamports),
        ];
        let (blockhash, _) = self.latest_blockhash().await?;
        let transaction = Transaction::new_signed_with_payer(
            &instructions,
            Some(&faucet.pubkey()),
            &[faucet],
            blockhash,
        );
        let signature = transaction.signatures[0];
        let transaction = VersionedTransaction::from(transaction);
        let result = self.process(transaction).await?;
        result.map_err(|e| internal(format!("airdrop failed: {e}")))?;
        json(signature.to_string())
    }

    /// Processes a transaction with no slot boundary in between; remembers its addresses
    /// when the bank took it.
    async fn process(
        &self,
        transaction: VersionedTransaction,
    ) -> Result<Result<(), solana_transaction_error::TransactionError>, Error> {
        let keys = transaction.message.static_account_keys().to_vec();
        let outcome = self
            .chain
            .banks()
            .await
            .process_transaction_with_metadata(transaction)
            .await
            .map_err(internal)?;
        if outcome.metadata.is_some() {
            self.chain.note(&keys);
        }
        Ok(outcome.result)
    }

    async fn send_transaction(&self, args: Vec<Value>) -> Result<Value, Error> {
        let data: String = arg(&args, 0, "transaction")?;
        let config: RpcSendTransactionConfig = opt(&args, 1, "config")?.unwrap_or_default();
        let encoding = config.encoding.unwrap_or(UiTransactionEncoding::Base58);
        let transaction = decode_transaction(&data, encoding)?;
        verify_signatures(&transaction)?;
        let signature = transaction.signatures[0];
        if !config.skip_preflight {
            let result = self.simulate(transaction.clone()).await?;
            if let Some(err) = &result.err {
                return Err(RpcCustomError::SendTransactionPreflightFailure {
                    message: format!("Transaction simulation failed: {err}"),
                    result,
                }
                .into());
            }
        }
        // Without preflight a transaction the bank refuses is dropped, as a cluster drops it:
        // its status stays unknown.
        let _ = self.process(transaction).await?;
        json(signature.to_string())
    }

    async fn simulate(
        &self,
        transaction: VersionedTransaction,
    ) -> Result<RpcSimulateTransactionResult, Error> {
        let simulated = self
            .chain
            .banks()
            .await
            .simulate_transaction(transaction)
            .await
            .map_err(internal)?;
        let err = match simulated.result {
            Some(Ok(())) => None,
            Some(Err(e)) => Some(e.into()),
            None => return Err(internal("the bank did not simulate the transaction")),
        };
        let details = simulated.simulation_details;
        Ok(RpcSimulateTransactionResult {
            err,
            logs: details.as_ref().map(|d| d.logs.clone()),
            accounts: None,
            units_consumed: details.as_ref().map(|d| d.units_consumed),
            loaded_accounts_data_size: details.as_ref().map(|d| d.loaded_accounts_data_size),
            return_data: details
                .as_ref()
                .and_then(|d| d.return_data.clone())
                .map(UiTransactionReturnData::from),
            inner_instructions: None,
            replacement_blockhash: None,
            fee: None,
            pre_balances: None,
            post_balances: None,
            pre_token_balances: None,
            post_token_balances: None,
            loaded_addresses: None,
        })
    }

    async fn simulate_transaction(&self, args: Vec<Value>) -> Result<Value, Error> {
        let data: String = arg(&args, 0, "transaction")?;
        let config: RpcSimulateTransactionConfig = opt(&args, 1, "config")?.unwrap_or_default();
        if config.accounts.is_some() {
            return Err(Error::invalid_params(
                "simulateTransaction `accounts` is not served by curve-solana-localnet (the \
                 bank's simulation does not return the accounts after it)",
            ));
        }
        if config.sig_verify && config.replace_recent_blockhash {
            return Err(Error::invalid_params(
                "sigVerify may not be used with replaceRecentBlockhash",
            ));
        }
        let encoding = config.encoding.unwrap_or(UiTransactionEncoding::Base58);
        let mut transaction = decode_transaction(&data, encoding)?;
        if config.sig_verify {
            verify_signatures(&transaction)?;
        }
        let mut replacement = None;
        if config.replace_recent_blockhash {
            let (blockhash, last_valid_block_height) = self.latest_blockhash().await?;
            transaction.message.set_recent_blockhash(blockhash);
            replacement = Some(RpcBlockhash {
                blockhash: blockhash.to_string(),
                last_valid_block_height,
            });
        }
        let mut result = self.simulate(transaction).await?;
        result.replacement_blockhash = replacement;
        self.with_context(result).await
    }

    async fn get_signature_statuses(&self, args: Vec<Value>) -> Result<Value, Error> {
        let texts: Vec<String> = arg(&args, 0, "signatures")?;
        opt::<RpcSignatureStatusConfig>(&args, 1, "config")?;
        if texts.len() > MAX_SIGNATURE_STATUSES {
            return Err(Error::invalid_params(format!(
                "Too many inputs provided; max {MAX_SIGNATURE_STATUSES}"
            )));
        }
        let signatures = texts
            .iter()
            .map(|t| {
                t.parse::<Signature>()
                    .map_err(|_| Error::invalid_params(format!("invalid signature: {t}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let statuses = self
            .chain
            .banks()
            .await
            .get_transaction_statuses(signatures)
            .await
            .map_err(internal)?;
        let value: Vec<Option<TransactionStatus>> = statuses
            .into_iter()
            .map(|status| {
                status.map(|s| TransactionStatus {
                    slot: s.slot,
                    confirmations: s.confirmations,
                    status: s.err.clone().map_or(Ok(()), Err),
                    err: s.err,
                    confirmation_status: s.confirmation_status.map(confirmation),
                })
            })
            .collect();
        self.with_context(value).await
    }
}

/// The bank's confirmation level as the RPC types spell it.
fn confirmation(
    status: solana_banks_interface::TransactionConfirmationStatus,
) -> TransactionConfirmationStatus {
    use solana_banks_interface::TransactionConfirmationStatus as Banks;
    match status {
        Banks::Processed => TransactionConfirmationStatus::Processed,
        Banks::Confirmed => TransactionConfirmationStatus::Confirmed,
        Banks::Finalized => TransactionConfirmationStatus::Finalized,
    }
}

/// An account in the requested encoding (base58 by default, refused past 128 bytes as a
/// cluster refuses it; `jsonParsed` falls back to base64: nothing here is parsable).
fn encode(
    address: &Pubkey,
    account: &Account,
    config: &RpcAccountInfoConfig,
) -> Result<UiAccount, Error> {
    let encoding = config.encoding.unwrap_or(UiAccountEncoding::Binary);
    if matches!(
        encoding,
        UiAccountEncoding::Binary | UiAccountEncoding::Base58
    ) {
        let len = config.data_slice.map_or(account.data.len(), |s| {
            s.length.min(account.data.len().saturating_sub(s.offset))
        });
        if len > MAX_BASE58_BYTES {
            return Err(Error::invalid_params(format!(
                "Encoded binary (base 58) data should be less than {MAX_BASE58_BYTES} bytes, please use Base64 encoding."
            )));
        }
    }
    Ok(encode_ui_account(
        address,
        account,
        encoding,
        None,
        config.data_slice,
    ))
}

/// A wire transaction: base58 or base64, at most a packet, well-formed (anything else is an
/// invalid-params error, never a panic: `tests/decode.rs`).
pub fn decode_transaction(
    data: &str,
    encoding: UiTransactionEncoding,
) -> Result<VersionedTransaction, Error> {
    let limit = match encoding {
        UiTransactionEncoding::Base58 => MAX_BASE58_SIZE,
        _ => MAX_BASE64_SIZE,
    };
    if data.len() > limit {
        return Err(Error::invalid_params(format!(
            "{encoding} encoded transaction too large: {} bytes (max: encoded/raw {limit}/{PACKET_DATA_SIZE})",
            data.len()
        )));
    }
    let bytes = match encoding {
        UiTransactionEncoding::Base58 => bs58::decode(data)
            .into_vec()
            .map_err(|e| Error::invalid_params(format!("invalid base58 encoding: {e}")))?,
        UiTransactionEncoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| Error::invalid_params(format!("invalid base64 encoding: {e}")))?,
        other => {
            return Err(Error::invalid_params(format!(
                "unsupported encoding: {other}. Supported encodings: base58, base64"
            )));
        }
    };
    if bytes.len() > PACKET_DATA_SIZE {
        return Err(Error::invalid_params(format!(
            "decoded too large: {} bytes (max: {PACKET_DATA_SIZE} bytes)",
            bytes.len()
        )));
    }
    // As a cluster reads it: a size limit, fixed-width integers, trailing bytes ignored.
    let transaction: VersionedTransaction = bincode::options()
        .with_limit(PACKET_DATA_SIZE as u64)
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .deserialize_from(&bytes[..])
        .map_err(|e| Error::invalid_params(format!("failed to deserialize transaction: {e}")))?;
    transaction
        .sanitize()
        .map_err(|e| Error::invalid_params(format!("invalid transaction: {e}")))?;
    Ok(transaction)
}

fn verify_signatures(transaction: &VersionedTransaction) -> Result<(), Error> {
    if transaction.verify_with_results().iter().all(|ok| *ok) {
        Ok(())
    } else {
        Err(RpcCustomError::TransactionSignatureVerificationFailure.into())
    }
}
