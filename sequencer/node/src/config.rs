//! `node.toml`: what one node needs to join its chain, checked in full before anything starts.
//!
//! ```toml
//! chain_id = 0xC0FFEE
//! consensus_key = "keys/node0.consensus.json"   # relative to this file
//! network_key = "keys/node0.network.json"
//! data_dir = "data/node0"
//! listen = "/ip4/127.0.0.1/tcp/7100"
//! rpc = "127.0.0.1:8100"
//!
//! [genesis]
//! governance = "<hex public key>"
//!
//! [[committee]]                                  # every member, this node included, in order
//! consensus = "<hex public key>"
//! network = "<hex public key>"
//! address = "/ip4/127.0.0.1/tcp/7100"
//! ```
//!
//! Optional tables: `[timeouts]` (`base_ms`, `max_ms`, `idle_block_ms`), `[blocks]` (`max_txs`,
//! `max_bytes`, `interval_ms`),
//! `[mempool]` (`transactions`, `bytes`, `per_sender`, `nonce_window`), `[rpc_limits]`
//! (`requests_per_second`, `burst`, `max_body_bytes`, `admin_token`), `[storage]`
//! (`checkpoint_every`, `retain_blocks`), `[bench]` (`consensus_only`), `[execution]`
//! (`engine = "jit"` or `"interpreter"`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// A parsed and checked `node.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The chain id every signature and frame is bound to.
    pub chain_id: u64,
    /// The consensus key file (Solana JSON).
    pub consensus_key: PathBuf,
    /// The network key file (Solana JSON).
    pub network_key: PathBuf,
    /// Where RocksDB lives.
    pub data_dir: PathBuf,
    /// The libp2p listen address.
    pub listen: String,
    /// The JSON-RPC (and `/health`, `/metrics`) socket address.
    pub rpc: String,
    /// Genesis parameters of the rollup state.
    pub genesis: Genesis,
    /// Every member, in replica order.
    pub committee: Vec<Member>,
    /// View timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Block limits.
    #[serde(default)]
    pub blocks: Blocks,
    /// Mempool limits.
    #[serde(default)]
    pub mempool: MempoolLimits,
    /// RPC limits.
    #[serde(default)]
    pub rpc_limits: RpcLimits,
    /// Checkpoints and pruning.
    #[serde(default)]
    pub storage: StorageSettings,
    /// Benchmark modes.
    #[serde(default)]
    pub bench: BenchSettings,
    /// How decided blocks are executed.
    #[serde(default)]
    pub execution: ExecutionSettings,
}

/// How decided blocks are executed: a local choice, not part of the chain's state. Every node
/// computes the same receipts and roots whichever engine it runs.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutionSettings {
    /// The CurveVM engine: `"jit"` (the default: Cranelift-compiled code, compiled at a
    /// program's first call) or `"interpreter"` (the reference).
    #[serde(deserialize_with = "engine_by_name")]
    pub engine: curve_runtime::ExecutionEngine,
}

fn engine_by_name<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<curve_runtime::ExecutionEngine, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.parse().map_err(serde::de::Error::custom)
}

/// Benchmark modes (never on a real chain).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BenchSettings {
    /// Order opaque payloads and execute nothing: consensus alone (see `curve_node::opaque`).
    pub consensus_only: bool,
}

/// Checkpoints served to peers that fell behind, and how many decided blocks are kept.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// Capture the state every this many heights; once anchored, it is the checkpoint served to
    /// peers that state-sync.
    pub checkpoint_every: u64,
    /// Decided blocks kept below the decided height (0: keep every block). Blocks above the
    /// newest checkpoint are always kept, so a peer that installs it can fetch the rest.
    pub retain_blocks: u64,
}

impl Default for StorageSettings {
    fn default() -> StorageSettings {
        StorageSettings {
            checkpoint_every: 1_000,
            retain_blocks: 2_000,
        }
    }
}

/// Genesis of the rollup state (equal on every node, or the roots differ at height 1).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The governance key (hex).
    pub governance: String,
    /// Accept development certificate keys (never on a real chain).
    #[serde(default)]
    pub dev_mode: bool,
    /// The certificate verifying key of each size class programs may be deployed in: class
    /// name (`16x16`, `64x64`, `256x256`) to the key's compressed bytes in hex. A class with
    /// no key admits no program until governance sets one (`SetVerifyingKey`).
    #[serde(default)]
    pub verifying_keys: BTreeMap<String, String>,
}

/// One committee member.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Consensus public key (hex).
    pub consensus: String,
    /// Network public key (hex); its peer id is what the transport admits.
    pub network: String,
    /// Its libp2p address.
    pub address: String,
}

/// View timeouts.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// First view timeout.
    pub base_ms: u64,
    /// Back-off ceiling.
    pub max_ms: u64,
    /// How long an idle leader waits before proposing an empty block (0: at once). Default:
    /// a quarter of `base_ms`.
    #[serde(default)]
    pub idle_block_ms: Option<u64>,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            base_ms: 1_000,
            max_ms: 30_000,
            idle_block_ms: None,
        }
    }
}

impl Timeouts {
    /// The idle leader's wait in milliseconds.
    pub fn idle_block_ms(&self) -> u64 {
        self.idle_block_ms.unwrap_or(self.base_ms / 4)
    }
}

/// Block limits.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blocks {
    /// Most transactions per block.
    pub max_txs: usize,
    /// Most payload bytes per block.
    pub max_bytes: usize,
    /// How long a leader waits, from entering its view, for a block that is not full.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
}

fn default_interval_ms() -> u64 {
    20
}

impl Default for Blocks {
    fn default() -> Blocks {
        Blocks {
            max_txs: 4_096,
            max_bytes: 4 << 20,
            interval_ms: default_interval_ms(),
        }
    }
}

/// Mempool limits (see `curve_mempool::Limits`).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolLimits {
    /// Most transactions pooled.
    pub transactions: usize,
    /// Most bytes pooled.
    pub bytes: usize,
    /// Most transactions per sender.
    pub per_sender: usize,
    /// How far above its account nonce a sender may go.
    pub nonce_window: u64,
}

impl Default for MempoolLimits {
    fn default() -> MempoolLimits {
        let limits = curve_mempool::Limits::default();
        MempoolLimits {
            transactions: limits.transactions,
            bytes: limits.bytes,
            per_sender: limits.per_sender,
            nonce_window: limits.nonce_window,
        }
    }
}

/// RPC limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcLimits {
    /// Sustained requests per second per client address.
    pub requests_per_second: u32,
    /// Requests a client may burst above the rate.
    pub burst: u32,
    /// Largest request body.
    pub max_body_bytes: u32,
    /// The token admin methods need (`admin_*` are refused without one configured).
    pub admin_token: Option<String>,
}

impl Default for RpcLimits {
    fn default() -> RpcLimits {
        RpcLimits {
            requests_per_second: 20_000,
            burst: 40_000,
            max_body_bytes: 8 << 20,
            admin_token: None,
        }
    }
}

/// A 32-byte key in hex.
pub fn hex32(text: &str, what: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text.trim_start_matches("0x"))
        .with_context(|| format!("{what}: `{text}` is not hex"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("{what}: {} bytes, expected 32", b.len()))
}

/// Reads a Solana-style key file (`[64 numbers]`: secret seed ‖ public key) and returns the seed.
pub fn read_key_file(path: &Path) -> Result<[u8; 32]> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bytes: Vec<u8> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not a key file (a JSON array of 64 bytes)",
            path.display()
        )
    })?;
    let Ok(pair) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        bail!(
            "{}: {} bytes, a key file holds 64 (seed ‖ public key)",
            path.display(),
            bytes.len()
        );
    };
    let seed: [u8; 32] = pair[..32].try_into().expect("32 bytes");
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    if public.as_bytes() != &pair[32..] {
        bail!(
            "{}: the public half does not match the secret seed",
            path.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                "{} is readable by others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            );
        }
    }
    Ok(seed)
}

impl NodeConfig {
    /// Reads and checks `path`; relative paths inside are taken from its directory.
    pub fn load(path: &Path) -> Result<NodeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut config: NodeConfig =
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for file in [
            &mut config.consensus_key,
            &mut config.network_key,
            &mut config.data_dir,
        ] {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        config
            .check()
            .with_context(|| format!("{}", path.display()))?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        let n = self.committee.len();
        if n < 2 || n > curve_formats::tx::limits::COMMITTEE as usize {
            // One member would certify its own proposals inside one step, without end.
            bail!(
                "`committee` lists {n} members; a node runs in a committee of 2 to 64 (4 tolerates one fault)"
            );
        }
        for (i, member) in self.committee.iter().enumerate() {
            hex32(&member.consensus, &format!("committee[{i}].consensus"))?;
            hex32(&member.network, &format!("committee[{i}].network"))?;
            member
                .address
                .parse::<libp2p::Multiaddr>()
                .with_context(|| format!("committee[{i}].address `{}`", member.address))?;
        }
        hex32(&self.genesis.governance, "genesis.governance")?;
        self.listen
            .parse::<libp2p::Multiaddr>()
            .with_context(|| format!("listen `{}`", self.listen))?;
        self.rpc
            .parse::<std::net::SocketAddr>()
            .with_context(|| format!("rpc `{}` (expected host:port)", self.rpc))?;
        if self.timeouts.base_ms == 0 || self.timeouts.max_ms < self.timeouts.base_ms {
            bail!("timeouts: base_ms must be positive and at most max_ms");
        }
        if self.timeouts.idle_block_ms() * 2 > self.timeouts.base_ms {
            bail!(
                "timeouts: idle_block_ms {} must be at most half of base_ms {} (replicas would time out an idle leader)",
                self.timeouts.idle_block_ms(),
                self.timeouts.base_ms
            );
        }
        if self.blocks.interval_ms * 2 > self.timeouts.base_ms {
            bail!(
                "blocks: interval_ms {} must be at most half of timeouts.base_ms {}",
                self.blocks.interval_ms,
                self.timeouts.base_ms
            );
        }
        if self.storage.checkpoint_every == 0 {
            bail!("storage: checkpoint_every must be positive");
        }
        let least = 2 * crate::sync::PROBE_GAP;
        if self.storage.retain_blocks != 0 && self.storage.retain_blocks < least {
            // A peer further behind than the retained blocks must notice (its probe fires
            // PROBE_GAP heights behind) before it can no longer fetch.
            bail!(
                "storage: retain_blocks {} must be 0 (keep all) or at least {least}",
                self.storage.retain_blocks
            );
        }
        if self.blocks.max_txs == 0 {
            bail!("blocks: max_txs must be positive");
        }
        let largest = curve_formats::tx::limits::TRANSACTION_BYTES as usize + 4;
        if self.blocks.max_bytes < largest {
            // A pooled transaction no block can carry would stay pending for ever.
            bail!(
                "blocks.max_bytes {} must be at least {largest}: the largest transaction (a deploy) must fit one block",
                self.blocks.max_bytes
            );
        }
        if self.blocks.max_bytes + (64 << 10) > crate::net::MAX_FRAME {
            bail!(
                "blocks.max_bytes {} does not fit a network frame ({} bytes)",
                self.blocks.max_bytes,
                crate::net::MAX_FRAME
            );
        }
        Ok(())
    }

    /// The committee's consensus keys, in replica order.
    pub fn consensus_keys(&self) -> Vec<[u8; 32]> {
        self.committee
            .iter()
            .map(|m| hex32(&m.consensus, "consensus").expect("checked at load"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str, genesis: &str) -> Result<NodeConfig> {
        let member = |i: u8| {
            format!(
                "[[committee]]\nconsensus = \"{}\"\nnetwork = \"{}\"\naddress = \"/ip4/127.0.0.1/tcp/{}\"\n",
                hex::encode([i; 32]),
                hex::encode([i + 10; 32]),
                7100 + u16::from(i)
            )
        };
        let text = format!(
            "chain_id = 1\nconsensus_key = \"c.json\"\nnetwork_key = \"n.json\"\ndata_dir = \"data\"\n\
             listen = \"/ip4/127.0.0.1/tcp/7100\"\nrpc = \"127.0.0.1:8100\"\n{extra}\n\
             [genesis]\ngovernance = \"{}\"\n{genesis}\n{}{}",
            hex::encode([9; 32]),
            member(1),
            member(2)
        );
        let config: NodeConfig = toml::from_str(&text)?;
        config.check()?;
        Ok(config)
    }

    #[test]
    fn a_block_too_small_for_the_largest_transaction_is_refused() {
        config("", "").expect("the defaults hold");
        let error = config("[blocks]\nmax_txs = 10\nmax_bytes = 65536\n", "").unwrap_err();
        assert!(
            error.to_string().contains("the largest transaction"),
            "{error:#}"
        );
    }

    #[test]
    fn genesis_verifying_keys_are_listed_by_class_and_a_bad_class_is_named() {
        let config = config(
            "",
            "[genesis.verifying_keys]\n\"64x64\" = \"bb\"\n\"16x16\" = \"aa\"\n",
        )
        .expect("parses");
        assert_eq!(
            crate::genesis_verifying_keys(&config).unwrap(),
            vec![(0, vec![0xaa]), (1, vec![0xbb])]
        );
        let mut wrong = config.clone();
        wrong.genesis.verifying_keys = BTreeMap::from([("32x32".into(), "aa".into())]);
        let error = crate::genesis_verifying_keys(&wrong).unwrap_err();
        assert!(
            error.to_string().contains("no size class `32x32`"),
            "{error:#}"
        );
        wrong.genesis.verifying_keys = BTreeMap::from([("16x16".into(), "zz".into())]);
        let error = crate::genesis_verifying_keys(&wrong).unwrap_err();
        assert!(format!("{error:#}").contains("not hex"), "{error:#}");
    }
}
