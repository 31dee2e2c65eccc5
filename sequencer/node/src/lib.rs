//! The sequencer node: the consensus core and the rollup runtime in one networked process that
//! survives kill -9, catches up, and serves clients.
//!
//! - [`config`]: `node.toml`, checked in full before anything starts.
//! - [`net`]: libp2p (TCP, Noise, Yamux, request-response frames), committee allow-list,
//!   chain id and version in the protocol name, bounded frames and queues, redial with back-off.
//! - [`driver`]: the tokio task that steps the core and carries out its actions in order
//!   (persist before send; execute decided blocks; attest; halt loudly on divergence).
//! - RocksDB through `curve-store`: the runtime's state, the consensus records, the node's
//!   [`index`]; the data directory is bound to its chain.
//! - [`rpc`]: JSON-RPC, `/health`, Prometheus `/metrics` ([`metrics`]).
//! - [`deposits`]: Solana deposit records attested by every member and credited once.
//!
//! [`run`] wires them together; `curve node --config node.toml` calls it.

pub mod batches;
pub mod book;
pub mod client;
pub mod config;
pub mod dashboard;
pub mod deposits;
pub mod driver;
pub mod frame;
pub mod fuzz;
pub mod guard;
pub mod index;
pub mod load;
pub mod metrics;
pub mod net;
pub mod opaque;
pub mod rpc;
pub mod sync;

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use curve_consensus::{Committee, ConsensusKey, Core, Ed25519Verifier};
use curve_formats::certificate::SizeClass;
use curve_formats::encoding::{Decode, Encode};
use curve_formats::tx::SignedTransaction;
use curve_runtime::{Runtime, Storage};
use curve_store::RocksStorage;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc};

use crate::config::{NodeConfig, hex32, read_key_file};
use crate::driver::Driver;
use crate::metrics::Metrics;

/// The rollup genesis every member computes from the shared configuration.
pub fn runtime_config(config: &NodeConfig) -> Result<curve_runtime::Config> {
    let committee = config.consensus_keys();
    let faults = (committee.len() - 1) / 3;
    Ok(curve_runtime::Config {
        chain_id: config.chain_id,
        governance: hex32(&config.genesis.governance, "genesis.governance")?,
        quorum: (committee.len() - faults) as u16,
        committee,
        dev_mode: config.genesis.dev_mode,
        verifying_keys: genesis_verifying_keys(config)?,
    })
}

/// `[genesis.verifying_keys]` as the runtime lists them: by ascending size class.
fn genesis_verifying_keys(config: &NodeConfig) -> Result<Vec<(u8, Vec<u8>)>> {
    let mut keys = Vec::new();
    for (name, key) in &config.genesis.verifying_keys {
        let class = SizeClass::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = SizeClass::ALL.iter().map(|c| c.name()).collect();
            anyhow!(
                "genesis.verifying_keys: no size class `{name}` (classes: {})",
                names.join(", ")
            )
        })?;
        let bytes =
            hex::decode(key).with_context(|| format!("genesis.verifying_keys.{name}: not hex"))?;
        keys.push((curve_runtime::templates::class_index(class), bytes));
    }
    keys.sort_by_key(|(class, _)| *class);
    Ok(keys)
}

/// Runs a node until `shutdown` resolves (or an `admin_shutdown`), or until it must halt.
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    let consensus_seed = read_key_file(&config.consensus_key)?;
    let network_seed = read_key_file(&config.network_key)?;
    let key = ConsensusKey::from_seed(&consensus_seed);
    let keys = config.consensus_keys();
    let me = keys
        .iter()
        .position(|k| *k == key.public())
        .ok_or_else(|| {
            anyhow!(
                "the consensus key {} is not in the committee",
                hex::encode(key.public())
            )
        })? as u16;
    let network_public = net::keypair(network_seed).public().to_peer_id();
    let listed = net::peer_id(&hex32(
        &config.committee[usize::from(me)].network,
        "network",
    )?)
    .map_err(|e| anyhow!(e))?;
    if network_public != listed {
        anyhow::bail!(
            "the network key is not committee[{me}].network (peer id {network_public}, listed {listed})"
        );
    }
    let committee = Committee::new(&keys).context("committee")?;

    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let store = RocksStorage::open(&config.data_dir.join("db"))?;
    let genesis_config = runtime_config(&config)?;
    index::check_identity(
        &store,
        config.chain_id,
        &Sha256::digest(genesis_config.to_bytes()).into(),
    )?;
    // The state is derived from synced decided blocks: its writes need no fsync of their own.
    let state_store = store.clone().without_state_sync();
    let mut runtime = if store.entries()?.is_empty() {
        Runtime::genesis(genesis_config, state_store)?
    } else {
        Runtime::open(state_store)?
    };
    runtime.set_engine(config.execution.engine);
    let records = store
        .records(config.chain_id)
        .context("reading the consensus records")?;
    let guard = guard::SafetyGuard::open(&config.data_dir)?;
    guard.check(records.iter().find_map(|record| match record {
        curve_consensus::Record::Safety(state) => Some(state),
        _ => None,
    }))?;
    let mut core_config = curve_consensus::Config::new(config.chain_id, committee, me);
    core_config.base_timeout_ms = config.timeouts.base_ms;
    core_config.max_timeout_ms = config.timeouts.max_ms;
    core_config.max_block_txs = config.blocks.max_txs;
    core_config.max_block_bytes = config.blocks.max_bytes;
    // A leader packs no more gas than a batch has: what would not fit waits for the next block
    // instead of being refused by the runtime.
    core_config.max_block_gas = curve_runtime::protocol::BLOCK_GAS_LIMIT;
    core_config.gas_of =
        |bytes| SignedTransaction::from_bytes(bytes).map_or(0, |signed| signed.tx.gas_limit);
    // The pool admitted it, so the core must order it: a deploy carries a whole program.
    core_config.max_tx_bytes = curve_formats::tx::limits::TRANSACTION_BYTES as usize;
    core_config.idle_block_delay_ms = config.timeouts.idle_block_ms();
    core_config.block_interval_ms = config.blocks.interval_ms;
    // A consensus-only node executes nothing: its executor is wherever consensus decided.
    let executed = if config.bench.consensus_only {
        records
            .iter()
            .find_map(|record| match record {
                curve_consensus::Record::Decided { height, .. } => Some(*height),
                _ => None,
            })
            .unwrap_or(0)
    } else {
        runtime.meta().height
    };
    let (core, initial) = Core::restore(
        core_config,
        key.clone(),
        Box::new(Ed25519Verifier),
        records,
        executed,
        driver::now_ms(),
    )
    .context("restoring consensus state")?;
    tracing::info!(
        replica = me,
        executed = runtime.meta().height,
        decided = core.status().decided_height,
        view = core.status().view,
        root = %hex::encode(runtime.root()),
        "state restored"
    );

    let mut peers = Vec::new();
    for (replica, member) in config.committee.iter().enumerate() {
        if replica == usize::from(me) {
            continue;
        }
        peers.push(net::Peer {
            replica: replica as u16,
            id: net::peer_id(&hex32(&member.network, "network")?).map_err(|e| anyhow!(e))?,
            address: member.address.parse()?,
        });
    }
    let (net, events) = net::start(net::NetConfig {
        chain_id: config.chain_id,
        key: net::keypair(network_seed),
        listen: config.listen.parse()?,
        peers,
    })?;

    let metrics = Arc::new(Metrics::new());
    let limits = curve_mempool::Limits {
        transactions: config.mempool.transactions,
        bytes: config.mempool.bytes,
        per_sender: config.mempool.per_sender,
        nonce_window: config.mempool.nonce_window,
    };
    let mempool = curve_mempool::Mempool::new(config.chain_id, limits);
    let (requests_tx, requests) = mpsc::channel(4_096);
    let admin = Arc::new(Notify::new());
    let listener = tokio::net::TcpListener::bind(&config.rpc)
        .await
        .with_context(|| format!("cannot bind the RPC address {}", config.rpc))?;
    tracing::info!(rpc = %listener.local_addr()?, "JSON-RPC, /health and /metrics");
    let module = rpc::module(
        requests_tx.clone(),
        store.clone(),
        config.rpc_limits.admin_token.clone(),
        admin.clone(),
    )?;
    let rpc_stop = Arc::new(Notify::new());
    let rpc_task = {
        let (limits, metrics, stop) =
            (config.rpc_limits.clone(), metrics.clone(), rpc_stop.clone());
        tokio::spawn(async move {
            rpc::serve(
                listener,
                module,
                &limits,
                metrics,
                requests_tx,
                async move { stop.notified().await },
            )
            .await
        })
    };
    let driver = Driver::new(
        core,
        runtime,
        store,
        guard,
        mempool,
        net,
        metrics,
        driver::DriverSettings {
            key,
            max_block_txs: config.blocks.max_txs,
            storage: config.storage,
            consensus_only: config.bench.consensus_only,
            credit_key: ed25519_dalek::SigningKey::from_bytes(&consensus_seed),
        },
    );
    let stop = async move {
        tokio::select! {
            () = shutdown => {}
            () = admin.notified() => {}
        }
    };
    let outcome = driver.run(initial, events, requests, stop).await;
    rpc_stop.notify_one();
    let _ = rpc_task.await;
    outcome
}
