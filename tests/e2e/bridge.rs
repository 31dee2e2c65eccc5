//! The bridge end to end, across the two workspaces, started as a user starts it:
//! `curve localnet --solana local` runs four real sequencer nodes (the main workspace's `curve`
//! binary: libp2p, RocksDB, the runtime), the local Solana endpoint (`curve-solana-localnet`:
//! the Anchor program in the real bank) and a `curve-batch-poster` beside every node — member
//! 0's initialises the program, posts and watches deposits; the others only watch.
//!
//! - A user deposits on Solana; the members attest and the rollup credits it exactly once.
//! - The user withdraws on the rollup; `curve withdraw-proof` gives the leaf and path; once
//!   the batch is anchored and the delay has passed, the program pays it, and only once.
//! - At least 100 consecutive batches are anchored, with member 0's poster killed (SIGKILL)
//!   in the middle and restarted by `curve localnet`: every height once, each record holding
//!   the header the nodes executed.
//! - A program deployed with `curve deploy` is registered with the Anchor program by member
//!   0's bridge, its certificate verified on chain.
//! - A withdrawal proof for another batch, or for another amount, pays nothing.
//! - At the end the vault holds exactly the rollup's liabilities plus the anchored payouts
//!   not yet withdrawn.
//!
//! The `curve` binary is `$CURVE_BIN` (CI passes the one its build phase made) or, without
//! it, built here with cargo from the main workspace; the Solana-side binaries are this
//! workspace's, beside the test's poster binary.

// The Anchor workspace's test helpers (keys, token accounts, processes): these tests are built
// by its `curve-batch-poster` package, which has the Solana client crates.
#[path = "../../anchor-program/poster/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anchor_lang::AccountDeserialize;
use common::processes::{
    LocalnetPorts, Processes, bridge_pid, curve_bin, localnet_ports, seeded_dir, solana_bin,
    wait_for,
};
use common::{balance, deposit, key, token_account, vault, withdraw};
use curve_anchor::{BatchRecord, Config, ProgramHashes, ProgramRecord, WithdrawArgs};
use curve_batch_poster::{NodeRpc, batch_address, registry};
use curve_formats::encoding::Encode;
use curve_formats::tx::{Action, SignedTransaction, Transaction};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;

/// `curve localnet`'s default chain id.
const CHAIN_ID: u64 = 0xC0FFEE;
const NODES: usize = 4;
const DEPOSIT: u64 = 1_000_000;
const WITHDRAWAL: u64 = 400_000;
const DELAY_SLOTS: u64 = 10;
/// Batches anchored before the poster is killed, and in all.
const KILL_AT: u64 = 50;
const ANCHORED: u64 = 110;

/// `curve prove`'s output for the example oracle (development keys).
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../programs/curve-anchor/tests/fixtures/oracle-pyth-SOLUSD"
);

fn fixture(file: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURE).join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The names and statement `curve prove` wrote: the module's hash, the manifest's descriptor
/// and layout hashes, and public inputs 2 and 3 of `public_inputs.alt_bn128`.
fn fixture_hashes() -> ProgramHashes {
    let manifest: Value = serde_json::from_slice(&fixture("manifest.json")).expect("JSON");
    let inputs = fixture("public_inputs.alt_bn128");
    let input = |k: usize| -> [u8; 32] { inputs[32 * k..][..32].try_into().expect("32 bytes") };
    let named = |path: &str| -> [u8; 32] {
        let text = path
            .split('.')
            .try_fold(&manifest, |v, part| v.get(part))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("the manifest's {path}"));
        hex::decode(text)
            .expect("hex")
            .try_into()
            .expect("32 bytes")
    };
    ProgramHashes {
        code_hash: Sha256::digest(fixture("program.cvmb")).into(),
        descriptor_hash: named("descriptor.hash"),
        layout_hash: named("layout.hash"),
        h_conditions: input(2),
        h_params: input(3),
    }
}

async fn config(client: &RpcClient) -> Config {
    common::config(client).await.expect("the config")
}

async fn record(client: &RpcClient, height: u64) -> Option<BatchRecord> {
    let account = client
        .get_account_with_commitment(&batch_address(height), CommitmentConfig::processed())
        .await
        .expect("answers")
        .value?;
    Some(BatchRecord::try_deserialize(&mut account.data.as_slice()).expect("a record"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_anchor_credit_a_deposit_once_and_pay_a_withdrawal_once() {
    let (seed, dir) = seeded_dir("bridge");
    let curve = curve_bin();
    std::fs::create_dir_all(&dir).expect("a directory");

    // Four nodes, the local Solana endpoint and the bridges, as a user starts them.
    let LocalnetPorts {
        p2p,
        rpc,
        solana: solana_port,
    } = localnet_ports(NODES as u16, seed);
    let localnet_log = dir.join("localnet.log");
    let log = std::fs::File::create(&localnet_log).expect("a log");
    let processes = Processes(vec![
        Command::new(&curve)
            .arg("localnet")
            .arg("--dir")
            .arg(dir.join("localnet"))
            .args(["--nodes", &NODES.to_string()])
            .args([
                "--p2p-port",
                &p2p.to_string(),
                "--rpc-port",
                &rpc.to_string(),
            ])
            .args(["--base-timeout-ms", "400", "--engine", "interpreter"])
            .args([
                "--solana",
                "local",
                "--solana-port",
                &solana_port.to_string(),
            ])
            .arg("--solana-bin")
            .arg(solana_bin())
            .args(["--withdrawal-delay-slots", &DELAY_SLOTS.to_string()])
            .arg("--dev-mode")
            .stdout(log.try_clone().expect("a log"))
            .stderr(log)
            .spawn()
            .expect("curve localnet starts"),
    ]);
    let client = RpcClient::new_with_commitment(
        format!("http://127.0.0.1:{solana_port}"),
        CommitmentConfig::processed(),
    );
    let urls: Vec<String> = (0..NODES)
        .map(|i| format!("http://127.0.0.1:{}", rpc + i as u16))
        .collect();
    let node = &NodeRpc::new(urls[0].clone());

    // Bridge 0 initialised the program with the nodes' consensus keys and the rollup's
    // genesis root: the root the first anchored batch starts from.
    let initialised = wait_for(
        "the program initialised",
        Duration::from_secs(120),
        async || // The endpoint may not answer yet.
        curve_batch_poster::genesis::config(&client).await.ok().flatten(),
    )
    .await;
    let committee: Vec<[u8; 32]> = (0..NODES)
        .map(|i| {
            let path = dir.join(format!("localnet/keys/node{i}.consensus.json"));
            solana_keypair::read_keypair_file(&path)
                .expect("a key file")
                .pubkey()
                .to_bytes()
        })
        .collect();
    assert_eq!(initialised.committee, committee);
    assert_eq!((initialised.chain_id, initialised.quorum), (CHAIN_ID, 3));
    let first = wait_for(
        "the first anchored batch",
        Duration::from_secs(120),
        async || record(&client, 1).await,
    )
    .await;
    assert_eq!(first.header.prev_root, initialised.genesis_root);

    // A program deployed on the rollup is registered on Solana with its certificate, checked
    // there: the record holds what `curve prove` wrote for it (its Solana-side files).
    let deployed = Command::new(&curve)
        .arg("deploy")
        .arg(FIXTURE)
        .args(["--node", &urls[0], "--key"])
        .arg(dir.join("localnet/keys/governance.json"))
        .output()
        .expect("curve runs");
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let expected = fixture_hashes();
    let registered = wait_for(
        "the program registered on Solana",
        Duration::from_secs(60),
        async || {
            let address = registry::program_address(&expected.code_hash, &expected.h_params);
            let account = client
                .get_account_with_commitment(&address, CommitmentConfig::processed())
                .await
                .ok()?
                .value?;
            Some(ProgramRecord::try_deserialize(&mut account.data.as_slice()).expect("a record"))
        },
    )
    .await;
    assert_eq!(registered.hashes, expected);
    assert_eq!(
        registered.proof_hash,
        <[u8; 32]>::from(Sha256::digest(fixture("proof.alt_bn128")))
    );
    let manifest: Value = serde_json::from_slice(&fixture("manifest.json")).expect("JSON");
    assert_eq!(
        hex::encode(registered.vk_hash),
        manifest["certificate"]["proof"]["vk_sha256"]
            .as_str()
            .expect("the key's name")
    );
    // The poster's key is the new mint's authority.
    let payer = solana_keypair::read_keypair_file(dir.join("localnet/keys/poster.json"))
        .expect("the poster's key");
    let mint = initialised.mint;

    // A user deposits; the committee credits it on the rollup once.
    let user = key("user");
    let user_tokens = key("user tokens");
    common::airdrop(&client, &user.pubkey()).await;
    token_account(
        &client,
        &payer,
        &user_tokens,
        &mint,
        &user.pubkey(),
        DEPOSIT,
    )
    .await;
    let rollup_account = user.pubkey().to_bytes();
    deposit(
        &client,
        &user,
        &user_tokens.pubkey(),
        0,
        DEPOSIT,
        rollup_account,
    )
    .await;
    assert_eq!(balance(&client, &vault()).await, DEPOSIT);
    assert_eq!(balance(&client, &user_tokens.pubkey()).await, 0);
    wait_for(
        "the deposit credited",
        Duration::from_secs(60),
        async || {
            let found = node.call("curve_getDeposit", json!([0])).await.ok()?;
            found["credited"].as_bool().filter(|&c| c)
        },
    )
    .await;
    let account = node
        .call("curve_getAccount", json!([hex::encode(rollup_account)]))
        .await
        .expect("answers");
    assert_eq!(account["balance"], DEPOSIT.to_string(), "{account}");

    // The user withdraws part of it to their Solana key.
    let tx = Transaction {
        chain_id: CHAIN_ID,
        sender: rollup_account,
        nonce: 0,
        gas_limit: 100_000,
        fee_per_gas: 0,
        action: Action::Withdraw {
            amount: u128::from(WITHDRAWAL),
            recipient: user.pubkey().to_bytes(),
        },
    };
    let signature = <[u8; 64]>::from(user.sign_message(&tx.signing_message()));
    let bytes = SignedTransaction { tx, signature }.to_bytes();
    let hash = node
        .call("curve_sendTransaction", json!([hex::encode(bytes)]))
        .await
        .expect("admitted");
    let hash = hash.as_str().expect("a hash").to_string();
    wait_for(
        "the withdrawal executed at node 1 (asked for the proof)",
        Duration::from_secs(60),
        async || {
            let found = NodeRpc::new(urls[1].clone())
                .call("curve_getTransaction", json!([hash]))
                .await
                .ok()?;
            (found["state"] == "executed").then_some(())
        },
    )
    .await;
    let output = Command::new(&curve)
        .args(["withdraw-proof", "--node", &urls[1], "--tx", &hash])
        .output()
        .expect("curve runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let proof: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let paid_height = proof["height"].as_u64().expect("a height");
    assert_eq!(proof["amount"], WITHDRAWAL.to_string());
    assert_eq!(proof["recipient"], hex::encode(user.pubkey().to_bytes()));

    // The poster is killed mid-chain; `curve localnet` restarts it and it resumes at the
    // program's tip.
    wait_for(
        "the first batches anchored",
        Duration::from_secs(120),
        async || (config(&client).await.latest_height >= KILL_AT).then_some(()),
    )
    .await;
    let killed = bridge_pid(&localnet_log, 0).expect("bridge 0's pid");
    let status = Command::new("kill")
        .args(["-KILL", &killed.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let at_kill = config(&client).await.latest_height;
    let restarted = wait_for("bridge 0 restarted", Duration::from_secs(30), async || {
        bridge_pid(&localnet_log, 0).filter(|&pid| pid != killed)
    })
    .await;
    let target = ANCHORED.max(paid_height + 1);
    wait_for(
        "the later batches anchored",
        Duration::from_secs(180),
        async || (config(&client).await.latest_height >= target).then_some(()),
    )
    .await;
    println!("poster {killed} killed at tip {at_kill}; {restarted} anchored to {target}");

    // The payout, once the batch is anchored and the delay has passed: paid once. Another
    // batch's proof, or another amount, pays nothing.
    let posted_slot = record(&client, paid_height)
        .await
        .expect("anchored")
        .posted_slot;
    wait_for(
        "the withdrawal delay",
        Duration::from_secs(60),
        async || {
            let slot = client.get_slot().await.ok()?;
            (slot >= posted_slot + DELAY_SLOTS).then_some(())
        },
    )
    .await;
    let recipient_tokens = key("user payout tokens");
    token_account(&client, &payer, &recipient_tokens, &mint, &user.pubkey(), 0).await;
    let hex32 = |value: &Value| -> [u8; 32] {
        hex::decode(value.as_str().expect("hex"))
            .expect("hex")
            .try_into()
            .expect("32 bytes")
    };
    let args = WithdrawArgs {
        height: paid_height,
        index: proof["index"].as_u64().expect("an index") as u32,
        recipient: user.pubkey(),
        amount: u128::from(WITHDRAWAL),
        origin: proof["origin"].as_u64().expect("an origin") as u8,
        origin_id: hex32(&proof["origin_id"]),
        proof: proof["proof"]
            .as_array()
            .expect("a path")
            .iter()
            .map(hex32)
            .collect(),
    };
    let to = recipient_tokens.pubkey();
    let mut elsewhere = args.clone();
    elsewhere.height = paid_height + 1;
    let refused = withdraw(&client, &payer, &to, elsewhere).await;
    assert!(refused.is_err(), "another batch's proof: {refused:?}");
    let mut more = args.clone();
    more.amount += 1;
    let refused = withdraw(&client, &payer, &to, more).await;
    assert!(refused.is_err(), "another amount: {refused:?}");
    assert_eq!(balance(&client, &to).await, 0);
    withdraw(&client, &payer, &to, args.clone())
        .await
        .expect("paid");
    assert_eq!(balance(&client, &to).await, WITHDRAWAL);
    let again = withdraw(&client, &payer, &to, args).await;
    assert!(again.is_err(), "a leaf is paid once");
    assert_eq!(balance(&client, &to).await, WITHDRAWAL);

    // Every height anchored once, holding the header the nodes executed.
    let tip = config(&client).await.latest_height;
    let mut last_slot = 0;
    for height in 1..=tip {
        let anchored = record(&client, height)
            .await
            .unwrap_or_else(|| panic!("height {height} was skipped"));
        let block = node
            .call("curve_getBlock", json!([height]))
            .await
            .expect("answers");
        assert_eq!(
            hex::encode(anchored.header.state_root),
            block["header"]["state_root"].as_str().expect("a root"),
            "height {height}"
        );
        assert!(
            anchored.posted_slot >= last_slot,
            "height {height} out of order"
        );
        last_slot = anchored.posted_slot;
    }

    // Exactly one credit transaction reached the rollup.
    let status = node.call("curve_status", json!([])).await.expect("answers");
    let executed = status["executed_height"].as_u64().expect("a height");
    let mut credits = Vec::new();
    for height in 1..=executed {
        let block = node
            .call("curve_getBlock", json!([height]))
            .await
            .expect("answers");
        for receipt in block["receipts"].as_array().into_iter().flatten() {
            if receipt["action"] == "credit_deposit" {
                credits.push((height, receipt["status"].clone()));
            }
        }
    }
    assert_eq!(credits.len(), 1, "credit transactions: {credits:?}");
    assert_eq!(credits[0].1, "committed");

    // The vault holds the rollup's liabilities plus the anchored payouts not yet withdrawn
    // (every batch up to the status's height anchored first).
    wait_for(
        "the status's height anchored",
        Duration::from_secs(60),
        async || (config(&client).await.latest_height >= executed).then_some(()),
    )
    .await;
    let amount = |field: &str| -> u128 {
        status[field]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{field} in {status}"))
    };
    let liabilities = amount("deposits_credited") - amount("withdrawals_finalised");
    let mut unpaid = 0u128;
    for height in 1..=executed {
        let anchored = record(&client, height).await.expect("anchored");
        unpaid += anchored.header.withdrawal_total - anchored.withdrawn;
    }
    assert_eq!(liabilities, u128::from(DEPOSIT - WITHDRAWAL));
    assert_eq!(unpaid, 0, "the one payout was paid");
    assert_eq!(
        u128::from(balance(&client, &vault()).await),
        liabilities + unpaid
    );

    drop(processes);
    let _ = std::fs::remove_dir_all(&dir);
}
