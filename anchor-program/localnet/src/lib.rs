//! `curve-solana-localnet`: a **local stand-in** for a Solana cluster. solana-program-test's
//! bank, with the `curve_anchor` program loaded natively, served over HTTP as the Solana
//! JSON-RPC methods the rollup's clients call (getLatestBlockhash, sendTransaction,
//! getSignatureStatuses, simulateTransaction, getAccountInfo, getMultipleAccounts,
//! getProgramAccounts, getSlot, getBalance, getMinimumBalanceForRentExemption, requestAirdrop,
//! getVersion, getHealth, and isBlockhashValid and getBlockHeight, which the client's
//! confirmation loop uses), with the cluster's encodings and error shapes, so that the client
//! code a user runs against a real cluster is the code that runs here. Slots advance on a clock.
//!
//! It lives in the Anchor workspace so the node's workspace never links the Solana runtime.
//! What it is not: a validator (no gossip, no vote, no SBF VM, no compute-unit metering);
//! `getVersion` and the banner say so.

pub mod chain;
pub mod http;
pub mod rpc;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use solana_pubkey::Pubkey;
use solana_signer::Signer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use chain::Chain;

/// A running endpoint; dropping it stops the server and the slot clock.
pub struct Localnet {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The chain behind it.
    pub chain: Arc<Chain>,
    tasks: Vec<JoinHandle<()>>,
}

impl Localnet {
    /// Starts the bank, the slot clock (one slot per `slot_ms`) and the server on `listen`.
    pub async fn start(listen: SocketAddr, slot_ms: u64) -> std::io::Result<Localnet> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let chain = Arc::new(Chain::start().await);
        let io = Arc::new(rpc::handler(chain.clone()));
        let server = tokio::spawn(http::serve(listener, io));
        let clock = {
            let chain = chain.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(Duration::from_millis(slot_ms.max(1)));
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    if let Err(e) = chain.advance_slot().await {
                        eprintln!("curve-solana-localnet: the slot clock stopped: {e}");
                        return;
                    }
                }
            })
        };
        Ok(Localnet {
            addr,
            chain,
            tasks: vec![server, clock],
        })
    }

    /// The JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The faucet's address (it pays `requestAirdrop`).
    pub fn faucet(&self) -> Pubkey {
        self.chain.faucet().pubkey()
    }

    /// What the binary prints when it starts.
    pub fn banner(&self) -> String {
        format!(
            "curve-solana-localnet: {}\n  JSON-RPC  {}\n  health    {}/health\n  program   curve_anchor {} (native)\n  faucet    {}\n",
            rpc::STAND_IN,
            self.url(),
            self.url(),
            curve_anchor::ID,
            self.faucet()
        )
    }
}

impl Drop for Localnet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
