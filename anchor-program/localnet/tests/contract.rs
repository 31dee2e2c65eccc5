//! Contract tests: an unmodified Solana RPC client (`solana-rpc-client`'s nonblocking
//! `RpcClient`, the crate a user's code runs against a real cluster) against the local
//! endpoint, one test per method, plus the refusals a cluster gives (preflight failures as
//! `TransactionError`s, bad signatures, bad encodings, unknown methods, oversized bodies).
//! Every expected figure is the cluster's, not read back from the endpoint: rent from the
//! protocol's constants, balances from the amounts sent.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use curve_solana_localnet::Localnet;
use serde_json::{Value, json};
use solana_account::Account;
use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::client_error::ErrorKind;
use solana_rpc_client_api::config::{
    RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcSimulateTransactionConfig,
};
use solana_rpc_client_api::filter::{Memcmp, RpcFilterType};
use solana_rpc_client_api::request::{RpcError, RpcRequest};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

/// One slot per 50 ms: fast enough for tests that wait on the clock.
const SLOT_MS: u64 = 50;
const SOL: u64 = 1_000_000_000;

async fn start() -> (Localnet, RpcClient) {
    let localnet = Localnet::start("127.0.0.1:0".parse().expect("an address"), SLOT_MS)
        .await
        .expect("serves");
    let client = RpcClient::new_with_commitment(localnet.url(), CommitmentConfig::confirmed());
    (localnet, client)
}

/// A key of its own for each use (deterministic: tests print nothing random).
fn key(label: &str) -> Keypair {
    let mut seed = [0u8; 32];
    for (i, b) in label.bytes().enumerate() {
        seed[i % 32] = seed[i % 32].wrapping_mul(31).wrapping_add(b);
    }
    Keypair::new_from_array(seed)
}

/// Waits for `signature` to reach a status (the endpoint processes at once; the loop only
/// bounds a broken endpoint).
async fn status(client: &RpcClient, signature: &Signature) -> Result<(), TransactionError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let statuses = client
            .get_signature_statuses(&[*signature])
            .await
            .expect("statuses");
        if let Some(status) = &statuses.value[0] {
            return status.status.clone();
        }
        assert!(Instant::now() < deadline, "{signature}: no status");
        tokio::task::yield_now().await;
    }
}

async fn funded(client: &RpcClient, label: &str, lamports: u64) -> Keypair {
    let owner = key(label);
    let signature = client
        .request_airdrop(&owner.pubkey(), lamports)
        .await
        .expect("airdrop");
    status(client, &signature).await.expect("the airdrop lands");
    owner
}

fn transfer(from: &Keypair, to: &Pubkey, lamports: u64, blockhash: Hash) -> Transaction {
    Transaction::new_signed_with_payer(
        &[solana_system_interface::instruction::transfer(
            &from.pubkey(),
            to,
            lamports,
        )],
        Some(&from.pubkey()),
        &[from],
        blockhash,
    )
}

/// The code of a JSON-RPC error the client returned.
fn rpc_code(kind: &ErrorKind) -> Option<i64> {
    match kind {
        ErrorKind::RpcError(RpcError::RpcResponseError { code, .. }) => Some(*code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_health_is_ok() {
    let (_net, client) = start().await;
    client.get_health().await.expect("healthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_version_is_a_solana_version_and_says_it_is_a_stand_in() {
    let (_net, client) = start().await;
    let version = client.get_version().await.expect("a version");
    assert!(version.solana_core.starts_with("3.1.12+"), "{version:?}");
    let raw: Value = client
        .send(RpcRequest::GetVersion, json!([]))
        .await
        .expect("a version");
    let said = raw["curve-solana-localnet"].as_str().unwrap_or_default();
    assert!(said.contains("local stand-in"), "{raw}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_slot_advances_on_the_clock() {
    let (_net, client) = start().await;
    let first = client.get_slot().await.expect("a slot");
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get_slot().await.expect("a slot") <= first {
        assert!(Instant::now() < deadline, "the slot never advanced");
        tokio::task::yield_now().await;
    }
    let height = client.get_block_height().await.expect("a height");
    assert!(height >= 1, "{height}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_latest_blockhash_is_valid_and_an_unknown_one_is_not() {
    let (_net, client) = start().await;
    let blockhash = client.get_latest_blockhash().await.expect("a blockhash");
    let processed = CommitmentConfig::processed();
    assert!(
        client
            .is_blockhash_valid(&blockhash, processed)
            .await
            .expect("answers")
    );
    let unknown = Hash::new_from_array([7; 32]);
    assert!(
        !client
            .is_blockhash_valid(&unknown, processed)
            .await
            .expect("answers")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_airdrop_pays_and_get_balance_shows_it() {
    let (_net, client) = start().await;
    let owner = funded(&client, "airdrop", 3 * SOL).await;
    assert_eq!(
        client
            .get_balance(&owner.pubkey())
            .await
            .expect("a balance"),
        3 * SOL
    );
    // Two equal airdrops are two payments.
    let again = client
        .request_airdrop(&owner.pubkey(), 3 * SOL)
        .await
        .expect("airdrop");
    status(&client, &again).await.expect("lands");
    assert_eq!(
        client
            .get_balance(&owner.pubkey())
            .await
            .expect("a balance"),
        6 * SOL
    );
    // An airdrop of nothing: invalid params (the client's helper reports any refused airdrop
    // as a rate limit, so the code is read from the plain request).
    client
        .request_airdrop(&owner.pubkey(), 0)
        .await
        .expect_err("0 lamports");
    let refused = client
        .send::<String>(
            RpcRequest::RequestAirdrop,
            json!([owner.pubkey().to_string(), 0]),
        )
        .await
        .expect_err("0 lamports");
    assert_eq!(rpc_code(refused.kind()), Some(-32602), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_minimum_balance_for_rent_exemption_is_the_protocols() {
    let (_net, client) = start().await;
    // (128 bytes of account overhead + data) × 3,480 lamports per byte-year × 2 years.
    for (size, lamports) in [(0, 890_880), (165, 2_039_280)] {
        let got = client
            .get_minimum_balance_for_rent_exemption(size)
            .await
            .expect("rent");
        assert_eq!(got, lamports, "{size} bytes");
    }
    // Past the 10 MiB account limit: invalid params, not an overflow.
    let err = client
        .get_minimum_balance_for_rent_exemption(usize::MAX / 2)
        .await
        .expect_err("refused");
    assert_eq!(rpc_code(err.kind()), Some(-32602), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_transaction_moves_lamports_and_get_signature_statuses_reports_it() {
    let (_net, client) = start().await;
    let payer = funded(&client, "sender", 2 * SOL).await;
    let to = key("recipient").pubkey();
    let blockhash = client.get_latest_blockhash().await.expect("a blockhash");
    let signature = client
        .send_transaction(&transfer(&payer, &to, SOL / 2, blockhash))
        .await
        .expect("sent");
    status(&client, &signature).await.expect("succeeds");
    assert_eq!(client.get_balance(&to).await.expect("a balance"), SOL / 2);
    // The payer paid the transfer and one signature's fee (5,000 lamports).
    let left = client
        .get_balance(&payer.pubkey())
        .await
        .expect("a balance");
    assert_eq!(left, 2 * SOL - SOL / 2 - 5_000);
    // The client's own confirmation loop (getSignatureStatuses, isBlockhashValid) works.
    let blockhash = client.get_latest_blockhash().await.expect("a blockhash");
    client
        .send_and_confirm_transaction(&transfer(&payer, &to, 1_000_000, blockhash))
        .await
        .expect("confirmed");
    assert_eq!(
        client.get_balance(&to).await.expect("a balance"),
        SOL / 2 + 1_000_000
    );
    let unknown = Signature::from([9u8; 64]);
    let statuses = client
        .get_signature_statuses(&[unknown])
        .await
        .expect("answers");
    assert_eq!(statuses.value, vec![None]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_transaction_refusals_have_the_clusters_shapes() {
    let (_net, client) = start().await;
    let payer = funded(&client, "poor", SOL).await;
    let to = key("nobody").pubkey();
    let blockhash = client.get_latest_blockhash().await.expect("a blockhash");
    // More than the balance: the preflight's simulation fails with the System program's
    // ResultWithNegativeLamports (custom error 1), as a TransactionError the client can read.
    let err = client
        .send_transaction(&transfer(&payer, &to, 5 * SOL, blockhash))
        .await
        .expect_err("refused");
    assert_eq!(rpc_code(err.kind()), Some(-32002), "{err}");
    assert_eq!(
        err.get_transaction_error(),
        Some(TransactionError::InstructionError(
            0,
            solana_instruction_error::InstructionError::Custom(1)
        ))
    );
    // A signature that does not match: -32003, nothing processed.
    let mut forged = transfer(&payer, &to, 1, blockhash);
    forged.signatures[0] = Signature::from([1u8; 64]);
    let err = client.send_transaction(&forged).await.expect_err("refused");
    assert_eq!(rpc_code(err.kind()), Some(-32003), "{err}");
    assert_eq!(client.get_balance(&to).await.expect("a balance"), 0);
    // Not a transaction at all, and an unknown method.
    let err = client
        .send::<String>(RpcRequest::SendTransaction, json!(["not base58 0OIl"]))
        .await
        .expect_err("refused");
    assert_eq!(rpc_code(err.kind()), Some(-32602), "{err}");
    let err = client
        .send::<Value>(
            RpcRequest::Custom {
                method: "getNothing",
            },
            json!([]),
        )
        .await
        .expect_err("refused");
    assert_eq!(rpc_code(err.kind()), Some(-32601), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_transaction_reports_without_changing_anything() {
    let (_net, client) = start().await;
    let payer = funded(&client, "simulator", SOL).await;
    let to = key("simulated").pubkey();
    let blockhash = client.get_latest_blockhash().await.expect("a blockhash");
    let ok = client
        .simulate_transaction(&transfer(&payer, &to, SOL / 4, blockhash))
        .await
        .expect("simulated");
    assert_eq!(ok.value.err, None);
    assert!(ok.value.logs.is_some_and(|logs| !logs.is_empty()));
    let failing = client
        .simulate_transaction(&transfer(&payer, &to, 2 * SOL, blockhash))
        .await
        .expect("simulated");
    assert!(failing.value.err.is_some(), "{failing:?}");
    assert_eq!(client.get_balance(&to).await.expect("a balance"), 0);
    assert_eq!(
        client
            .get_balance(&payer.pubkey())
            .await
            .expect("a balance"),
        SOL
    );
    // An old blockhash replaced: the simulation runs and names the replacement.
    let stale = transfer(&payer, &to, SOL / 4, Hash::new_from_array([3; 32]));
    let config = RpcSimulateTransactionConfig {
        replace_recent_blockhash: true,
        ..RpcSimulateTransactionConfig::default()
    };
    let replaced = client
        .simulate_transaction_with_config(&stale, config)
        .await
        .expect("simulated");
    assert_eq!(replaced.value.err, None);
    assert!(replaced.value.replacement_blockhash.is_some());
}

/// An account of `size` bytes owned by `curve_anchor`, made with the System program.
async fn program_account(client: &RpcClient, payer: &Keypair, label: &str, size: usize) -> Pubkey {
    let account = key(label);
    let rent = client
        .get_minimum_balance_for_rent_exemption(size)
        .await
        .expect("rent");
    let blockhash = client.get_latest_blockhash().await.expect("a blockhash");
    let create = solana_system_interface::instruction::create_account(
        &payer.pubkey(),
        &account.pubkey(),
        rent,
        size as u64,
        &curve_anchor::ID,
    );
    let transaction = Transaction::new_signed_with_payer(
        &[create],
        Some(&payer.pubkey()),
        &[payer, &account],
        blockhash,
    );
    client
        .send_and_confirm_transaction(&transaction)
        .await
        .expect("created");
    account.pubkey()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_account_info_encodes_as_the_cluster_does() {
    let (_net, client) = start().await;
    let payer = funded(&client, "accounts", SOL).await;
    let small = program_account(&client, &payer, "small", 40).await;
    let account: Account = client.get_account(&small).await.expect("an account");
    assert_eq!((account.owner, account.data.len()), (curve_anchor::ID, 40));
    assert_eq!(account.data, vec![0; 40]);
    // Missing: a value of null, which the client reads as None.
    let missing = key("missing").pubkey();
    let none = client
        .get_account_with_commitment(&missing, CommitmentConfig::confirmed())
        .await
        .expect("answers");
    assert!(none.value.is_none());
    // base58 (the default encoding) is refused past 128 bytes; base64 serves it.
    let large = program_account(&client, &payer, "large", 200).await;
    let err = client
        .send::<Value>(RpcRequest::GetAccountInfo, json!([large.to_string()]))
        .await
        .expect_err("base58 past 128 bytes");
    assert_eq!(rpc_code(err.kind()), Some(-32602), "{err}");
    let account = client.get_account(&large).await.expect("base64");
    assert_eq!(account.data.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_multiple_accounts_keeps_the_order_and_the_gaps() {
    let (_net, client) = start().await;
    let payer = funded(&client, "multiple", SOL).await;
    let missing = key("absent").pubkey();
    let got = client
        .get_multiple_accounts(&[payer.pubkey(), missing])
        .await
        .expect("answers");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].as_ref().map(|a| a.lamports), Some(SOL));
    assert!(got[1].is_none());
    let too_many = vec![missing; 101];
    let err = client
        .get_multiple_accounts(&too_many)
        .await
        .expect_err("refused");
    assert_eq!(rpc_code(err.kind()), Some(-32602), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_program_accounts_finds_the_programs_accounts_through_filters() {
    let (_net, client) = start().await;
    let payer = funded(&client, "program owner", SOL).await;
    let a = program_account(&client, &payer, "program a", 16).await;
    let b = program_account(&client, &payer, "program b", 24).await;
    let mut all: Vec<Pubkey> = client
        .get_program_accounts(&curve_anchor::ID)
        .await
        .expect("answers")
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    all.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(all, want);
    let config = |filters| RpcProgramAccountsConfig {
        filters: Some(filters),
        account_config: RpcAccountInfoConfig {
            encoding: Some(solana_account_decoder::UiAccountEncoding::Base64),
            ..RpcAccountInfoConfig::default()
        },
        ..RpcProgramAccountsConfig::default()
    };
    let sized = client
        .get_program_ui_accounts_with_config(
            &curve_anchor::ID,
            config(vec![RpcFilterType::DataSize(24)]),
        )
        .await
        .expect("answers");
    assert_eq!(sized.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![b]);
    let matching = RpcFilterType::Memcmp(Memcmp::new_raw_bytes(0, vec![0; 16]));
    let zeroes = client
        .get_program_ui_accounts_with_config(&curve_anchor::ID, config(vec![matching]))
        .await
        .expect("answers");
    assert_eq!(zeroes.len(), 2);
    let other = RpcFilterType::Memcmp(Memcmp::new_raw_bytes(0, vec![1]));
    let none = client
        .get_program_ui_accounts_with_config(&curve_anchor::ID, config(vec![other]))
        .await
        .expect("answers");
    assert!(none.is_empty());
}

/// Sends raw bytes over HTTP/1.1 and returns the status line and the body.
fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    stream.write_all(request).expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

fn post(body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_refuses_what_is_not_json_rpc() {
    let (net, _client) = start().await;
    let addr = net.addr;
    let answers = tokio::task::spawn_blocking(move || {
        let not_json = raw_http(addr, &post(b"{not json"));
        let too_large = raw_http(addr, &post(&vec![b' '; curve_solana_localnet::http::MAX_BODY + 1]));
        let health = raw_http(addr, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let batch = raw_http(
            addr,
            &post(br#"[{"jsonrpc":"2.0","id":1,"method":"getHealth"},{"jsonrpc":"2.0","id":2,"method":"getSlot"}]"#),
        );
        let calls: Vec<String> = (0..101)
            .map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"getHealth"}}"#))
            .collect();
        let oversized = raw_http(addr, &post(format!("[{}]", calls.join(",")).as_bytes()));
        (not_json, too_large, health, batch, oversized)
    })
    .await
    .expect("runs");
    let (not_json, too_large, health, batch, oversized) = answers;
    let oversized: Value = serde_json::from_str(&oversized.1).expect("a JSON-RPC error");
    assert_eq!(oversized["error"]["code"], -32600, "{oversized}");
    let parsed: Value = serde_json::from_str(&not_json.1).expect("a JSON-RPC error");
    assert_eq!(parsed["error"]["code"], -32700, "{not_json:?}");
    assert!(too_large.0.contains("413"), "{too_large:?}");
    assert_eq!((health.0.contains("200"), health.1.as_str()), (true, "ok"));
    let batch: Value = serde_json::from_str(&batch.1).expect("a batch answer");
    assert_eq!(batch.as_array().map(Vec::len), Some(2), "{batch}");
    assert_eq!(batch[0]["result"], "ok");
}

/// The binary: its banner names the endpoint and says what it is; it serves until SIGTERM and
/// then exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_until_sigterm() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_curve-solana-localnet"))
        .args(["--listen", "127.0.0.1:0", "--slot-ms", "50"])
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let banner: Vec<String> = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(5)
            .collect()
    })
    .await
    .expect("reads");
    assert!(banner[0].contains("local stand-in"), "{banner:?}");
    let url = banner
        .iter()
        .find_map(|line| line.trim().strip_prefix("JSON-RPC"))
        .map(str::trim)
        .expect("a JSON-RPC line")
        .to_string();
    RpcClient::new(url).get_health().await.expect("serves");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("waits")
        .expect("exits");
    assert!(exit.success(), "{exit:?}");
}

/// Executions (simulations and sends) while the slot clock turns every millisecond: the bank
/// deadlocks on a call concurrent with a slot change (an execution locks the program cache
/// and the forks, a signature status the commitment cache and the forks, in the opposite
/// order to the slot change), so the endpoint serialises them. The calls run on a
/// runtime of their own, so that a deadlock — which blocks that runtime's threads — fails
/// this test after a bound instead of hanging it.
#[test]
fn executions_racing_the_slot_clock_all_answer() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let _ = done.send(runtime.block_on(race()));
    });
    match finished.recv_timeout(Duration::from_secs(120)) {
        Ok(results) => assert!(results.iter().all(Result::is_ok), "{results:?}"),
        Err(_) => panic!("the endpoint deadlocked: 400 executions did not answer in 120 s"),
    }
}

/// 4 tasks × 100 executions (a send and its status for every four simulations), each with a
/// balance read, against a 1 ms slot clock.
async fn race() -> Vec<Result<(), String>> {
    let localnet = Localnet::start("127.0.0.1:0".parse().expect("an address"), 1)
        .await
        .expect("serves");
    let client = std::sync::Arc::new(RpcClient::new_with_commitment(
        localnet.url(),
        CommitmentConfig::processed(),
    ));
    let payer = std::sync::Arc::new(funded(&client, "racer", 10 * SOL).await);
    let mut calls = Vec::new();
    for task in 0..4u64 {
        let (client, payer) = (client.clone(), payer.clone());
        calls.push(tokio::spawn(async move {
            for i in 0..100 {
                let to = key(&format!("racer {task} {i}")).pubkey();
                let blockhash = client
                    .get_latest_blockhash()
                    .await
                    .map_err(|e| e.to_string())?;
                let transaction = transfer(&payer, &to, SOL / 100 + i, blockhash);
                let sent = if i % 4 == 0 {
                    match client.send_transaction(&transaction).await {
                        // A status read locks the commitment cache and then the forks.
                        Ok(signature) => client
                            .get_signature_statuses(&[signature])
                            .await
                            .map(|_| ()),
                        Err(e) => Err(e),
                    }
                } else {
                    client.simulate_transaction(&transaction).await.map(|_| ())
                };
                sent.map_err(|e| e.to_string())?;
                client.get_balance(&to).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        }));
    }
    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.map_err(|e| e.to_string()).and_then(|r| r));
    }
    results
}
