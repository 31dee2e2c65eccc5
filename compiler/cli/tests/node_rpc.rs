//! A node's client surface over real HTTP: JSON-RPC methods, `/health`, `/metrics`, refusals
//! of bad input with their codes, the admin token, the data directory's chain binding, and
//! `curve localnet` leaving no child behind after SIGINT.

mod cluster;

use std::io::Read;
use std::time::Duration;

use cluster::{Cluster, http, key, seed};
use curve_formats::encoding::Encode;
use curve_node::load;
use serde_json::{Value, json};
use sha2::Digest;

fn rpc(port: u16, method: &str, params: Value) -> Value {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, body) = http(port, "POST", "/", request.to_string().as_bytes());
    assert_eq!(status, 200, "{method}: HTTP {status} {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method}: {e}: {body}"))
}

fn error_code(response: &Value) -> i64 {
    response["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected an error: {response}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_health_and_metrics_answer_over_http() {
    let seed = seed();
    let cluster = Cluster::start(seed, 4, 200);
    cluster.wait_height(0, 1).await;
    let port = cluster.rpc_ports[0];

    let (status, body) = http(port, "GET", "/health", b"");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "ok"
    );

    let account = key(seed, "account");
    let tx = load::deposit(
        cluster.chain_id,
        1,
        &account,
        0,
        5_000,
        &cluster.attesters(),
    );
    let sent = rpc(port, "curve_sendTransaction", json!([hex::encode(&tx)]));
    let hash = sent["result"].as_str().expect("a hash").to_string();
    let receipt = cluster.wait_executed(0, &hash).await;
    assert_eq!(receipt["status"], "committed", "{receipt}");

    let found = rpc(port, "curve_getTransaction", json!([hash]))["result"].clone();
    let height = found["height"].as_u64().expect("executed at a height");
    let block = rpc(port, "curve_getBlock", json!([height]))["result"].clone();
    assert_eq!(
        block["receipts"][found["index"].as_u64().unwrap() as usize]["tx_hash"],
        hash
    );
    assert_eq!(block["header"]["height"], height);
    assert!(rpc(port, "curve_getBlock", json!([u64::MAX]))["result"].is_null());

    let account_key = hex::encode(account.verifying_key().as_bytes());
    let mut state = rpc(port, "curve_getAccount", json!([account_key]))["result"].clone();
    // Its user id is the ledger's dense id (ids start at 1).
    let user = state["user"].take();
    assert!(user.as_u64().is_some_and(|id| id >= 1), "{user}");
    assert_eq!(
        state,
        json!({"user": null, "nonce": 1, "balance": "5000", "exists": true})
    );

    // The account's inclusion proof checks against the root the node reports with it.
    let key_bytes = curve_runtime::Key::Account(account.verifying_key().to_bytes()).to_bytes();
    let proof = rpc(port, "curve_getStateProof", json!([hex::encode(key_bytes)]))["result"].clone();
    let root: [u8; 32] = hex::decode(proof["state_root"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let state_proof = curve_runtime::StateProof {
        leaf: hex::decode(proof["leaf"].as_str().unwrap()).unwrap(),
        count: proof["count"].as_u64().unwrap(),
        tree_root: hex::decode(proof["tree_root"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
        proof: curve_formats::encoding::Decode::from_bytes(
            &hex::decode(proof["proof"].as_str().unwrap()).unwrap(),
        )
        .expect("a Merkle proof"),
    };
    state_proof.verify(&root).expect("the proof holds");

    // The committee anchors every height it executes.
    let anchor = cluster
        .wait("an anchor certificate", || async {
            let found = rpc(port, "curve_getAnchorCertificate", json!([height]))["result"].clone();
            (!found.is_null()).then_some(found)
        })
        .await;
    assert_eq!(anchor["header"], block["header"]);
    assert!(
        anchor["signatures"].as_array().unwrap().len() >= 3,
        "a quorum signed: {anchor}"
    );

    let (status, metrics) = http(port, "GET", "/metrics", b"");
    assert_eq!(status, 200);
    for name in [
        "curve_view ",
        "curve_decided_height ",
        "curve_executed_height ",
        "curve_mempool_transactions ",
        "curve_peers ",
        "curve_finality_executed_seconds_bucket",
        "curve_persist_seconds_count",
    ] {
        assert!(metrics.contains(name), "no {name} in\n{metrics}");
    }
    assert!(
        metrics.contains("curve_transactions_admitted_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("curve_finality_executed_seconds_count 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_code_and_changes_nothing() {
    let seed = seed();
    let limits = "requests_per_second = 50\nburst = 60\nmax_body_bytes = 65536";
    let mut cluster = Cluster::with(
        seed,
        4,
        200,
        cluster::Extra {
            rpc_limits: limits,
            ..Default::default()
        },
    );
    for i in 0..4 {
        cluster.start_node(i);
    }
    cluster.wait_height(0, 1).await;
    let port = cluster.rpc_ports[0];
    let chain = cluster.chain_id;
    let account = key(seed, "account");
    let attesters = cluster.attesters();

    // Not JSON; too large; unknown method; parameters that are not hex.
    let (status, body) = http(port, "POST", "/", b"{not json");
    assert_eq!(status, 200);
    assert_eq!(error_code(&serde_json::from_str(&body).unwrap()), -32700);
    let (status, _) = http(port, "POST", "/", &vec![b' '; 70_000]);
    assert_eq!(status, 413);
    assert_eq!(error_code(&rpc(port, "curve_nothing", json!([]))), -32601);
    assert_eq!(
        error_code(&rpc(port, "curve_sendTransaction", json!(["zz"]))),
        -32602
    );
    assert_eq!(
        error_code(&rpc(port, "curve_getBlock", json!(["one"]))),
        -32602
    );

    // Transactions: bytes that do not decode, a bad signature, another chain, a nonce gap
    // past the window, then a replay of an executed one.
    let refused = |tx: Vec<u8>| {
        let response = rpc(port, "curve_sendTransaction", json!([hex::encode(tx)]));
        assert_eq!(error_code(&response), -32010, "{response}");
        response["error"]["data"]["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(refused(vec![1, 2, 3]).starts_with("malformed"));
    let mut forged = load::deposit(chain, 1, &account, 0, 5, &attesters);
    *forged.last_mut().unwrap() ^= 1;
    assert!(refused(forged).contains("signature"));
    let other_chain = load::deposit(chain + 1, 1, &account, 0, 5, &attesters);
    assert!(refused(other_chain).contains("chain"));
    let gapped = load::transfer(chain, &account, 1_000, [7; 32], 1);
    assert!(refused(gapped).contains("above"));
    let tx = load::deposit(chain, 1, &account, 0, 5, &attesters);
    let hash = rpc(port, "curve_sendTransaction", json!([hex::encode(&tx)]))["result"]
        .as_str()
        .unwrap()
        .to_string();
    cluster.wait_executed(0, &hash).await;
    let root_before = rpc(
        port,
        "curve_getAccount",
        json!([hex::encode(account.verifying_key().as_bytes())]),
    );
    assert!(refused(tx).contains("below"), "a replay is stale");
    let root_after = rpc(
        port,
        "curve_getAccount",
        json!([hex::encode(account.verifying_key().as_bytes())]),
    );
    assert_eq!(root_before["result"], root_after["result"]);

    // Admin methods need the token.
    assert_eq!(
        error_code(&rpc(port, "admin_shutdown", json!(["wrong"]))),
        -32001
    );

    // Over the rate: HTTP 429 (the burst of 60 runs out well within 200 requests).
    let limited = (0..200)
        .map(|_| {
            http(
                port,
                "POST",
                "/",
                br#"{"jsonrpc":"2.0","id":1,"method":"curve_status","params":[]}"#,
            )
            .0
        })
        .filter(|&status| status == 429)
        .count();
    assert!(limited > 0, "no request of 200 was rate limited");

    // The right token stops the node cleanly.
    tokio::time::sleep(Duration::from_millis(100)).await; // let the bucket refill one token
    let stopped = rpc(port, "admin_shutdown", json!(["token0"]));
    assert_eq!(stopped["result"], true, "{stopped}");
    assert!(cluster.wait_exit(0).success());

    // The same data directory under another chain id is refused, with the reason.
    let config = cluster.node_dir(0).join("node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        &format!("chain_id = {chain}"),
        &format!("chain_id = {}", chain + 1),
    );
    std::fs::write(&config, text).unwrap();
    cluster.start_node(0);
    let status = cluster.wait_exit(0);
    assert!(!status.success());
    let log = std::fs::read_to_string(cluster.log(0)).unwrap();
    assert!(log.contains("belongs to chain"), "{log}");
}

#[test]
fn localnet_leaves_no_child_after_sigint_and_restarts_from_its_data() {
    let seed = seed();
    let dir = tempfile::tempdir().unwrap();
    // Eight consecutive free ports (four p2p, four RPC), the first run from a seeded start.
    let base = (0..1_000u64)
        .map(|i| (20_000 + (seed + i * 8) % 20_000) as u16)
        .find(|&base| {
            let bound: Vec<_> = (0..8)
                .map_while(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).ok())
                .collect();
            bound.len() == 8
        })
        .expect("eight consecutive free ports");
    let (p2p, rpc_port) = (base, base + 4);
    let start = |dir: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_curve"))
            .args(["localnet", "--nodes", "4", "--base-timeout-ms", "300"])
            .arg("--dir")
            .arg(dir)
            .args([
                "--p2p-port",
                &p2p.to_string(),
                "--rpc-port",
                &rpc_port.to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn curve localnet")
    };
    let height = |port: u16| -> Option<u64> {
        let status = br#"{"jsonrpc":"2.0","id":1,"method":"curve_status","params":[]}"#;
        let (_, body) = cluster::try_http(port, "POST", "/", status)?;
        let json: Value = serde_json::from_str(&body).ok()?;
        json["result"]["executed_height"].as_u64()
    };
    let wait_height = |at_least: u64| {
        let started = std::time::Instant::now();
        while (0..4).any(|i| height(rpc_port + i).is_none_or(|h| h < at_least)) {
            assert!(
                started.elapsed() < cluster::PATIENCE,
                "localnet made no progress"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        (0..4).filter_map(|i| height(rpc_port + i)).min().unwrap()
    };
    let interrupt = |child: &mut std::process::Child| -> String {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("SIGINT");
        let status = child.wait().expect("wait");
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(status.success(), "localnet exited with {status}: {out}");
        out
    };

    let mut localnet = start(dir.path());
    let reached = wait_height(3);
    let out = interrupt(&mut localnet);
    let pids: Vec<i32> = out
        .lines()
        .filter_map(|line| {
            line.rsplit_once(" pid ")
                .and_then(|(_, pid)| pid.trim().parse().ok())
        })
        .collect();
    assert_eq!(pids.len(), 4, "{out}");
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "node process {pid} outlived the localnet"
        );
    }
    // Restartable: the same command goes on from the stored heights.
    let mut localnet = start(dir.path());
    assert!(wait_height(reached + 1) > reached);
    let out = interrupt(&mut localnet);
    assert!(out.contains("restarting the localnet"), "{out}");
}

/// A 4-member consensus-only committee (300 ms base timeout), every member past height 2.
async fn consensus_only_cluster() -> Cluster {
    let mut cluster = Cluster::with(
        seed(),
        4,
        300,
        cluster::Extra {
            tables: "[bench]\nconsensus_only = true",
            ..Default::default()
        },
    );
    for i in 0..4 {
        cluster.start_node(i);
    }
    for i in 0..4 {
        cluster.wait_height(i, 2).await;
    }
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consensus_only_committee_orders_opaque_payloads_and_curve_bench_times_them() {
    let cluster = consensus_only_cluster().await;
    let port = cluster.rpc_ports[0];
    let refused = rpc(port, "curve_benchOpaque", json!([100, 4, 1]));
    assert_eq!(error_code(&refused), -32602, "a 4-byte payload: {refused}");

    let dir = cluster.dir.path().to_path_buf();
    let out = dir.join("bench.json");
    let bench = {
        let (dir, out) = (dir.clone(), out.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_curve"))
                .arg("bench")
                .arg("--localnet")
                .arg(&dir)
                .args(["--consensus-only", "--rate", "2000", "--duration", "2"])
                .args(["--size", "128", "--drain", "60", "--out"])
                .arg(&out)
                .output()
                .expect("run curve bench")
        })
        .await
        .unwrap()
    };
    assert!(
        bench.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&bench.stderr),
        cluster.logs()
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    eprintln!("{report:#}");
    // 2,000 a second for 2 s, split over four nodes: each generated 1,000, all decided.
    assert_eq!(report["generated"], 4_000, "{report}");
    assert_eq!(report["decided"], 4_000, "{report}");
    let p50 = report["finality_decided_ms"]["p50"].as_u64().expect("p50");
    let p99 = report["finality_decided_ms"]["p99"].as_u64().expect("p99");
    assert!(p50 <= p99, "{report}");
    // Every node orders every payload, its own and the others': a node may still be ordering
    // the last decided blocks when the run reports, so each is asked until it has (or patience
    // runs out).
    for i in 0..4 {
        let started = std::time::Instant::now();
        loop {
            let own = rpc(cluster.rpc_ports[i], "curve_benchReport", json!([]));
            if own["result"]["ordered"].as_u64().unwrap() >= 4_000 {
                break;
            }
            assert!(started.elapsed() < cluster::PATIENCE, "{own}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A consensus-only member votes only for blocks whose batches it holds, and fetches the ones
/// it lacks: with members 2 and 3 down, members 0 and 1 generate load no quorum can decide;
/// member 3, restarted with none of those batches, must ask the proposers for them before it
/// can vote, and only its votes complete a quorum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_consensus_only_member_fetches_the_batches_it_lacks_before_it_votes() {
    let mut cluster = consensus_only_cluster().await;
    cluster.kill(2);
    cluster.kill(3);
    let ports = cluster.rpc_ports.clone();
    let report = move |i: usize| rpc(ports[i], "curve_benchReport", json!([]))["result"].clone();
    for i in 0..2 {
        let started = rpc(
            cluster.rpc_ports[i],
            "curve_benchOpaque",
            json!([1_000, 128, 1]),
        );
        assert!(started.get("error").is_none(), "{started}");
    }
    cluster
        .wait("the load generated without a quorum", || async {
            (0..2).all(|i| report(i)["running"] == false).then_some(())
        })
        .await;
    for i in 0..2 {
        let before = report(i);
        assert_eq!(before["generated"], 1_000, "{before}");
        assert_eq!(before["decided"], 0, "no quorum without 2 and 3: {before}");
    }

    cluster.start_node(3);
    cluster
        .wait("every payload decided once member 3 is back", || async {
            (0..2).all(|i| report(i)["decided"] == 1_000).then_some(())
        })
        .await;
    let back = cluster
        .wait("member 3 ordering every payload", || async {
            let back = report(3);
            (back["ordered"].as_u64() == Some(2_000)).then_some(back)
        })
        .await;
    assert!(
        back["proposals_waited"].as_u64() > Some(0),
        "member 3 held none of the batches: {back}"
    );
}

/// Deposits as the committee credits them: a record handed to three members (their bridges)
/// while the member whose turn it is (sequence mod 4) is down is attested by the three,
/// credited once by the next member after the fallback delay, from that member's consensus
/// account; records of another chain or malformed ones are refused with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_handed_to_a_quorum_is_credited_once_even_with_its_member_down() {
    let seed = seed();
    let mut cluster = Cluster::start(seed, 4, 200);
    cluster.wait_height(0, 1).await;
    // Sequence 5: member 1's turn, then member 2's.
    let sequence = 5u64;
    cluster.kill(1);
    let recipient = key(seed, "depositor's rollup account");
    let record = curve_formats::deposit::DepositRecord {
        chain_id: cluster.chain_id,
        sequence,
        depositor: [3; 32],
        recipient: recipient.verifying_key().to_bytes(),
        amount: 7_000,
        slot: 40,
    };
    let observed = |i: usize, record: &curve_formats::deposit::DepositRecord| {
        rpc(
            cluster.rpc_ports[i],
            "curve_observeDeposit",
            json!([hex::encode(record.to_bytes())]),
        )
    };

    // Refusals first: another chain's record, and bytes that are not a record.
    let mut foreign = record;
    foreign.chain_id ^= 1;
    let refused = observed(0, &foreign);
    assert_eq!(error_code(&refused), -32602, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("chain"),
        "{refused}"
    );
    let garbage = rpc(
        cluster.rpc_ports[0],
        "curve_observeDeposit",
        json!(["00ff"]),
    );
    assert_eq!(error_code(&garbage), -32602, "{garbage}");

    let handed_at = std::time::Instant::now();
    for i in [0, 2, 3] {
        let answer = observed(i, &record);
        assert_eq!(answer["result"]["credited"], false, "{answer}");
    }
    let credited_height = cluster
        .wait("the deposit credited", || async {
            let client = cluster.client(0);
            let found: Value = client
                .call("curve_getDeposit", vec![json!(sequence)])
                .await
                .ok()?;
            if found["credited"] != true {
                return None;
            }
            client.status().await.ok()?["executed_height"].as_u64()
        })
        .await;
    assert!(
        handed_at.elapsed() >= curve_node::deposits::FALLBACK,
        "member 1 was down: the credit waited for the fallback"
    );
    let account = rpc(
        cluster.rpc_ports[0],
        "curve_getAccount",
        json!([hex::encode(recipient.verifying_key().to_bytes())]),
    );
    assert_eq!(account["result"]["balance"], "7000", "{account}");

    // Handing the record over again (once member 3 executed the credit too) changes nothing;
    // exactly one credit transaction, sent from member 2's consensus account.
    cluster.wait_height(3, credited_height).await;
    let again = observed(3, &record);
    assert_eq!(again["result"]["credited"], true, "{again}");
    let mut credits = Vec::new();
    for height in 1..=credited_height {
        let block = rpc(cluster.rpc_ports[0], "curve_getBlock", json!([height]))["result"].clone();
        for receipt in block["receipts"].as_array().into_iter().flatten() {
            if receipt["action"] == "credit_deposit" {
                credits.push(receipt["tx_hash"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(credits.len(), 1, "{credits:?}");
    let member2 = hex::encode(cluster.consensus[2].verifying_key().to_bytes());
    let sender = rpc(cluster.rpc_ports[0], "curve_getAccount", json!([member2]));
    assert_eq!(
        sender["result"]["nonce"], 1,
        "member 2 sent the credit: {sender}"
    );
}

/// `curve prove`'s output for the example oracle (development keys), kept beside the Anchor
/// program's tests.
fn oracle_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../anchor-program/programs/curve-anchor/tests/fixtures/oracle-pyth-SOLUSD")
}

fn deploy(cluster: &Cluster, dir: &std::path::Path, key: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_curve"))
        .arg("deploy")
        .arg(dir)
        .args(["--node", &cluster.rpc_url(0), "--key"])
        .arg(key)
        .output()
        .expect("curve runs")
}

/// `curve deploy` puts a proved block on a dev-mode chain, and `curve_getPrograms` gives its
/// certificate in the Anchor program's form: byte for byte the Solana-side files `curve prove`
/// wrote for it. A block whose certificate does not verify is rejected with the reason (exit
/// 1), and a directory missing a file is refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_program_is_served_with_its_certificate_in_the_anchor_programs_form() {
    let seed = seed();
    let fixture = oracle_fixture();
    let read = |file: &str| std::fs::read(fixture.join(file)).expect("a fixture file");
    let vk_alt_bn128 = read("vk.alt_bn128");
    let vk = curve_certificate::solana::vk_from_be(&vk_alt_bn128).expect("a key");
    let mut cluster = Cluster::with(
        seed,
        4,
        200,
        cluster::Extra {
            genesis: format!(
                "dev_mode = true\nverifying_keys = {{ \"16x16\" = \"{}\" }}",
                hex::encode(curve_certificate::keys::vk_bytes(&vk))
            ),
            ..Default::default()
        },
    );
    for i in 0..4 {
        cluster.start_node(i);
    }
    cluster.wait_height(0, 1).await;
    let deployer = cluster.dir.path().join("deployer.json");
    cluster::key_file(&deployer, &key(seed, "deployer"));

    // Refused before anything is sent: a block directory without its certificate.
    let partial = cluster.dir.path().join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    for file in ["manifest.json", "program.cvmb", "params.bin"] {
        std::fs::copy(fixture.join(file), partial.join(file)).unwrap();
    }
    let refused = deploy(&cluster, &partial, &deployer);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("certificate.proof"), "{stderr}");

    // Executed and rejected: the certificate of other parameters.
    let tampered = cluster.dir.path().join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    for file in ["manifest.json", "program.cvmb", "certificate.proof"] {
        std::fs::copy(fixture.join(file), tampered.join(file)).unwrap();
    }
    let mut params = read("params.bin");
    params[0] ^= 1; // heartbeat_ms 500 → 501: every condition still holds.
    std::fs::write(tampered.join("params.bin"), params).unwrap();
    let rejected = deploy(&cluster, &tampered, &deployer);
    assert_eq!(rejected.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&rejected.stderr);
    assert!(
        stderr.contains("rejected") && stderr.contains("certificate does not verify"),
        "{stderr}"
    );

    let deployed = deploy(&cluster, &fixture, &deployer);
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let stdout = String::from_utf8_lossy(&deployed.stdout);
    assert!(stdout.contains("program 1 at height"), "{stdout}");
    // The deploy returned once node 0 executed it; node 1, asked next, may be a step behind.
    let height: u64 = stdout
        .split("at height ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(|| panic!("no height in {stdout}"));
    cluster.wait_height(1, height).await;

    let programs = rpc(cluster.rpc_ports[1], "curve_getPrograms", json!([]));
    let programs = programs["result"].as_array().expect("a list").clone();
    assert_eq!(programs.len(), 1, "{programs:?}");
    let served = &programs[0];
    let manifest: Value = serde_json::from_slice(&read("manifest.json")).unwrap();
    let inputs = read("public_inputs.alt_bn128");
    let code_hash: [u8; 32] = sha2::Sha256::digest(read("program.cvmb")).into();
    assert_eq!(served["program"], 1);
    assert_eq!(served["template"], "oracle");
    assert_eq!(served["code_hash"], hex::encode(code_hash));
    assert_eq!(served["descriptor_hash"], manifest["descriptor"]["hash"]);
    assert_eq!(served["layout_hash"], manifest["layout"]["hash"]);
    assert_eq!(served["h_conditions"], hex::encode(&inputs[64..96]));
    assert_eq!(served["h_params"], hex::encode(&inputs[96..128]));
    assert_eq!(served["proof"], hex::encode(read("proof.alt_bn128")));
    assert_eq!(served["size_class"], "16x16");
    assert_eq!(
        served["vk_hash"],
        manifest["certificate"]["proof"]["vk_sha256"]
    );
    assert_eq!(served["vk"], hex::encode(&vk_alt_bn128));
    assert_eq!(served["block"], manifest["id"]);

    // Views: a read-only entry answers by name (nothing published yet: `read` says stale or
    // aborts, either way by name); an entry that writes, or a book of a non-slab, is refused.
    let port = cluster.rpc_ports[1];
    let read = rpc(port, "curve_call", json!([1, "read", []]));
    assert!(
        read["result"]["status"].is_u64() || read["error"]["message"].is_string(),
        "{read}"
    );
    for (method, params, says) in [
        (
            "curve_call",
            json!([1, "update", []]),
            "only an entry that reads",
        ),
        ("curve_call", json!([1, "read", [1]]), "takes 0 argument"),
        ("curve_call", json!([7, "read", []]), "no program 7"),
        ("curve_getBook", json!([1, 0]), "not a slab"),
    ] {
        let refused = rpc(port, method, json!(params));
        assert_eq!(error_code(&refused), -32602, "{method}: {refused}");
        let message = refused["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(says), "{method}: {refused}");
    }
    // The deploy was submitted to node 0: its finality sample is there, in milliseconds.
    let samples = rpc(cluster.rpc_ports[0], "curve_getFinality", json!([]));
    let samples = samples["result"].as_array().expect("samples").clone();
    assert!(!samples.is_empty(), "no finality sample");
    assert!(
        samples.iter().all(|s| s[0].is_u64() && s[1].is_u64()),
        "{samples:?}"
    );
    // The dashboard: one page, its script asking this node's RPC.
    let (status, page) = http(port, "GET", "/", b"");
    assert_eq!(status, 200);
    for needle in ["decided-height", "curve_getBook", "curve_call", "heatmap"] {
        assert!(page.contains(needle), "the dashboard lacks {needle}");
    }
}
