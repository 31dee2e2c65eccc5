//! A JSON-RPC client of a node (what `curve bench` and the tests use).

use std::time::Duration;

use anyhow::{Context, Result};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A client of one node's RPC endpoint.
#[derive(Clone, Debug)]
pub struct Client {
    url: String,
    http: HttpClient,
}

impl Client {
    /// A client of `url` (`http://host:port`).
    pub fn new(url: &str) -> Result<Client> {
        let http = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .max_request_size(32 << 20)
            .max_response_size(32 << 20)
            .build(url)
            .with_context(|| format!("RPC client for {url}"))?;
        Ok(Client {
            url: url.to_string(),
            http,
        })
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with positional `params`.
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: Vec<Value>) -> Result<T> {
        let mut array = ArrayParams::new();
        for param in params {
            array.insert(param).expect("a JSON value serialises");
        }
        self.http
            .request(method, array)
            .await
            .with_context(|| format!("{method} at {}", self.url))
    }

    /// `curve_status`.
    pub async fn status(&self) -> Result<Value> {
        self.call("curve_status", Vec::new()).await
    }

    /// `curve_sendTransaction`: the transaction's hash.
    pub async fn send(&self, tx: &[u8]) -> Result<String> {
        self.call("curve_sendTransaction", vec![Value::from(hex::encode(tx))])
            .await
    }

    /// `curve_sendTransactions`: per transaction `{hash}` or `{error}`.
    pub async fn send_many(&self, txs: &[Vec<u8>]) -> Result<Vec<Value>> {
        let txs: Vec<Value> = txs.iter().map(|tx| Value::from(hex::encode(tx))).collect();
        self.call("curve_sendTransactions", vec![Value::from(txs)])
            .await
    }

    /// `curve_getBlock`.
    pub async fn block(&self, height: u64) -> Result<Value> {
        self.call("curve_getBlock", vec![Value::from(height)]).await
    }

    /// `curve_getTransaction`.
    pub async fn transaction(&self, hash: &str) -> Result<Value> {
        self.call("curve_getTransaction", vec![Value::from(hash)])
            .await
    }
}
