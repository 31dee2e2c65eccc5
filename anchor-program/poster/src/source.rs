//! A sequencer node's JSON-RPC: where certificates come from (`curve_getAnchorCertificate`) and
//! where deposit records go (`curve_observeDeposit`).

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};

use crate::certificate::Certificate;

/// A source of anchor certificates by height.
pub trait Source {
    /// The certificate at `height`, or `None` while there is none yet.
    fn certificate(
        &self,
        height: u64,
    ) -> impl Future<Output = Result<Option<Certificate>, String>> + Send;
}

/// The largest answer read from a node.
const MAX_ANSWER: usize = 1 << 20;

/// A sequencer node's JSON-RPC endpoint.
pub struct NodeRpc {
    url: String,
    client: reqwest::Client,
}

impl NodeRpc {
    /// The node at `url` (`http://host:port`).
    pub fn new(url: impl Into<String>) -> NodeRpc {
        // A node that accepts and never answers must not stall the poster.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        NodeRpc {
            url: url.into(),
            client,
        }
    }
}

impl NodeRpc {
    /// Calls `method` with `params`: its result, or the node's error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let request = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": method,
            "params": params,
        });
        let mut response = self
            .client
            .post(&self.url)
            .json(&request)
            .send()
            .await
            .map_err(|e| format!("node {}: {e}", self.url))?;
        // Every answer used here is a few kilobytes: read at most MAX_ANSWER.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("node {}: {e}", self.url))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER {
                return Err(format!(
                    "node {}: an answer over {MAX_ANSWER} bytes",
                    self.url
                ));
            }
        }
        let mut answer: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("node {}: not JSON: {e}", self.url))?;
        if let Some(error) = answer.get("error") {
            return Err(format!("node {}: {method}: {error}", self.url));
        }
        Ok(answer["result"].take())
    }
}

impl Source for NodeRpc {
    async fn certificate(&self, height: u64) -> Result<Option<Certificate>, String> {
        match self
            .call("curve_getAnchorCertificate", json!([height]))
            .await?
        {
            Value::Null => Ok(None),
            document => Certificate::from_json(&document)
                .map(Some)
                .map_err(|e| format!("node {} at height {height}: {e}", self.url)),
        }
    }
}

/// Several members' nodes as one source, the poster's own first. Each node forms anchor
/// certificates from the attestations it receives; one that missed a height's (an attestation
/// lost while a member restarted) never forms that one, and the program takes heights only in
/// order: a certificate the first node lacks is asked of the others. (Any node's is as good:
/// the poster checks its signatures against the program's committee before posting.)
pub struct Nodes(pub Vec<NodeRpc>);

impl Source for Nodes {
    async fn certificate(&self, height: u64) -> Result<Option<Certificate>, String> {
        let mut first_error = None;
        for node in &self.0 {
            match node.certificate(height).await {
                Ok(Some(certificate)) => return Ok(Some(certificate)),
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // Every node unreachable is an error; some answering "not yet" is a wait.
        match first_error {
            Some(e) if self.0.len() == 1 => Err(e),
            _ => Ok(None),
        }
    }
}
