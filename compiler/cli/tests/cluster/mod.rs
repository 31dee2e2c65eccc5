//! A committee of `curve node` OS processes on 127.0.0.1, each with RocksDB in its own temporary
//! directory: started, killed (SIGKILL), stopped (SIGTERM) and restarted by the tests, and asked
//! over JSON-RPC. Keys come from the test's seed (printed), so a failure replays.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use curve_node::client::Client;
use ed25519_dalek::SigningKey;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long any wait for the cluster may take before the test fails with the nodes' logs.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The seed: `CURVE_TEST_SEED` or the clock, printed either way.
pub fn seed() -> u64 {
    let seed = std::env::var("CURVE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("CURVE_TEST_SEED={seed}");
    seed
}

/// A key derived from the seed and a label.
pub fn key(seed: u64, label: &str) -> SigningKey {
    let digest: [u8; 32] = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(label.as_bytes())
        .finalize()
        .into();
    SigningKey::from_bytes(&digest)
}

pub fn key_file(path: &Path, key: &SigningKey) {
    let bytes: Vec<String> = key
        .to_bytes()
        .iter()
        .chain(key.verifying_key().as_bytes())
        .map(u8::to_string)
        .collect();
    std::fs::write(path, format!("[{}]", bytes.join(","))).expect("write a key file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// Free TCP ports on 127.0.0.1, below the kernel's ephemeral range (32768 and up on Linux):
/// a port found by binding port 0 is one the kernel also hands to outgoing connections, and
/// a node's dial could take it before the node that was told to listen there starts
/// ("Address already in use"). Each process starts at its own offset and never reuses a
/// port; each candidate is checked by binding it.
fn free_ports(count: usize) -> Vec<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(97) % SPAN;
    let mut ports = Vec::with_capacity(count);
    for _ in 0..SPAN {
        if ports.len() == count {
            break;
        }
        let port = (LOW + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    assert_eq!(ports.len(), count, "no free ports in {LOW}..{}", LOW + SPAN);
    ports
}

/// One HTTP/1.1 exchange with 127.0.0.1:`port` on a fresh connection: (status, body), or
/// `None` when nothing answers there.
pub fn try_http(port: u16, method: &str, path: &str, body: &[u8]) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
     Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    // A server may answer (413) and close before reading a huge body.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Some((status, body))
}

/// [`try_http`] to a server that must answer.
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    try_http(port, method, path, body)
        .unwrap_or_else(|| panic!("no HTTP answer from 127.0.0.1:{port}{path}"))
}

/// Lines added to every node's `node.toml`.
#[derive(Default)]
pub struct Extra {
    /// In `[rpc_limits]`.
    pub rpc_limits: &'static str,
    /// In `[timeouts]`.
    pub timeouts: &'static str,
    /// Whole tables (before `[genesis]`).
    pub tables: &'static str,
    /// In `[genesis]` (before the committee).
    pub genesis: String,
}

/// The running committee.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub chain_id: u64,
    pub consensus: Vec<SigningKey>,
    pub rpc_ports: Vec<u16>,
    pub children: Vec<Option<Child>>,
    pub base_timeout_ms: u64,
    pub p2p_ports: Vec<u16>,
}

impl Cluster {
    /// Writes configs and keys for `n` nodes (not started).
    pub fn new(seed: u64, n: usize, base_timeout_ms: u64) -> Cluster {
        Cluster::with(seed, n, base_timeout_ms, Extra::default())
    }

    /// [`Cluster::new`] with extra settings in every node's `node.toml`.
    pub fn with(seed: u64, n: usize, base_timeout_ms: u64, extra: Extra) -> Cluster {
        let Extra {
            rpc_limits: limits,
            timeouts,
            tables,
            genesis,
        } = extra;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let chain_id = 0xC0DE_0000 + (seed % 0xFFFF);
        let consensus: Vec<SigningKey> = (0..n)
            .map(|i| key(seed, &format!("consensus{i}")))
            .collect();
        let network: Vec<SigningKey> = (0..n).map(|i| key(seed, &format!("network{i}"))).collect();
        let ports = free_ports(2 * n);
        let (p2p_ports, rpc_ports) = ports.split_at(n);
        let governance = key(seed, "governance");
        let mut members = String::new();
        for i in 0..n {
            members.push_str(&format!(
                "\n[[committee]]\nconsensus = \"{}\"\nnetwork = \"{}\"\naddress = \"/ip4/127.0.0.1/tcp/{}\"\n",
                hex::encode(consensus[i].verifying_key().as_bytes()),
                hex::encode(network[i].verifying_key().as_bytes()),
                p2p_ports[i]
            ));
        }
        for i in 0..n {
            let node = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(&node).expect("mkdir");
            key_file(&node.join("consensus.json"), &consensus[i]);
            key_file(&node.join("network.json"), &network[i]);
            let text = format!(
                "chain_id = {chain_id}\nconsensus_key = \"consensus.json\"\nnetwork_key = \"network.json\"\n\
                 data_dir = \"data\"\nlisten = \"/ip4/127.0.0.1/tcp/{}\"\nrpc = \"127.0.0.1:{}\"\n\n\
                 [timeouts]\nbase_ms = {base_timeout_ms}\nmax_ms = {}\n{timeouts}\n\n\
                 [rpc_limits]\nadmin_token = \"token{i}\"\n{limits}\n\n{tables}\n\n\
                 [genesis]\ngovernance = \"{}\"\n{genesis}\n{members}",
                p2p_ports[i],
                rpc_ports[i],
                base_timeout_ms * 8,
                hex::encode(governance.verifying_key().as_bytes()),
            );
            std::fs::write(node.join("node.toml"), text).expect("write node.toml");
        }
        Cluster {
            dir,
            chain_id,
            consensus,
            rpc_ports: rpc_ports.to_vec(),
            children: (0..n).map(|_| None).collect(),
            base_timeout_ms,
            p2p_ports: p2p_ports.to_vec(),
        }
    }

    /// Configs written and every node started.
    pub fn start(seed: u64, n: usize, base_timeout_ms: u64) -> Cluster {
        let mut cluster = Cluster::new(seed, n, base_timeout_ms);
        for i in 0..n {
            cluster.start_node(i);
        }
        cluster
    }

    pub fn size(&self) -> usize {
        self.children.len()
    }

    pub fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node{i}"))
    }

    pub fn log(&self, i: usize) -> PathBuf {
        self.node_dir(i).join("node.log")
    }

    /// `curve node --config nodeI/node.toml`, logging to `nodeI/node.log` (appended).
    pub fn start_node(&mut self, i: usize) {
        assert!(self.children[i].is_none(), "node {i} is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(i))
            .expect("open the log");
        let child = Command::new(env!("CARGO_BIN_EXE_curve"))
            .arg("node")
            .arg("--config")
            .arg(self.node_dir(i).join("node.toml"))
            .arg("--log")
            .arg("info,curve_node=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("spawn curve node");
        self.children[i] = Some(child);
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill(&mut self, i: usize) {
        let mut child = self.children[i].take().expect("node is running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }

    /// Waits for node `i`'s process to exit by itself; its exit status.
    pub fn wait_exit(&mut self, i: usize) -> std::process::ExitStatus {
        let started = Instant::now();
        let child = self.children[i].as_mut().expect("node is running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.children[i] = None;
                return status;
            }
            if started.elapsed() > PATIENCE {
                panic!("node {i} did not exit\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn client(&self, i: usize) -> Client {
        Client::new(&format!("http://127.0.0.1:{}", self.rpc_ports[i])).expect("client")
    }

    pub fn rpc_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.rpc_ports[i])
    }

    /// The last lines of every node's log (for failure messages).
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for i in 0..self.size() {
            let text = std::fs::read_to_string(self.log(i)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            out.push_str(&format!("--- node {i} ---\n{}\n", tail.join("\n")));
        }
        out
    }

    /// Polls `check` until it returns `Some`, failing with the logs after [`PATIENCE`].
    pub async fn wait<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let started = Instant::now();
        loop {
            if let Some(value) = check().await {
                return value;
            }
            if started.elapsed() > PATIENCE {
                panic!("timed out waiting for {what}\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A node's status, or `None` while it does not answer.
    pub async fn status(&self, i: usize) -> Option<Value> {
        self.client(i).status().await.ok()
    }

    /// Waits until node `i` has executed `height` (and answers).
    pub async fn wait_height(&self, i: usize, height: u64) -> Value {
        self.wait(&format!("node {i} at height {height}"), || async move {
            self.status(i)
                .await
                .filter(|s| s["executed_height"].as_u64().unwrap_or(0) >= height)
        })
        .await
    }

    /// Waits until `hash` is executed as seen by node `i`; returns its receipt.
    pub async fn wait_executed(&self, i: usize, hash: &str) -> Value {
        let client = self.client(i);
        self.wait(&format!("transaction {hash} executed at node {i}"), || {
            let client = client.clone();
            async move {
                let found = client.transaction(hash).await.ok()?;
                (found["state"] == "executed").then(|| found["receipt"].clone())
            }
        })
        .await
    }

    /// Sends each `(node, transaction)` to its node; every one must be admitted. The hashes.
    pub async fn send_all(&self, transactions: Vec<(usize, Vec<u8>)>) -> Vec<String> {
        let mut hashes = Vec::new();
        for (node, tx) in transactions {
            let sent = self.client(node).send(&tx).await;
            hashes
                .push(sent.unwrap_or_else(|e| panic!("node {node} refused a transaction: {e:#}")));
        }
        hashes
    }

    /// Waits until node `i` executed every transaction of `hashes`, each committed.
    pub async fn assert_committed(&self, i: usize, hashes: &[String]) {
        for hash in hashes {
            let receipt = self.wait_executed(i, hash).await;
            assert_eq!(
                receipt["status"], "committed",
                "node {i}, {hash}: {receipt}"
            );
        }
    }

    /// A quorum of the committee's consensus keys, as deposit attesters.
    pub fn attesters(&self) -> Vec<(u16, &SigningKey)> {
        let quorum = self.size() - (self.size() - 1) / 3;
        self.consensus
            .iter()
            .enumerate()
            .take(quorum)
            .map(|(i, k)| (i as u16, k))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
