//! Where certificates come from: a node's JSON-RPC (`curve_getAnchorCertificate`).

use std::future::Future;

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

/// A sequencer node's JSON-RPC endpoint.
pub struct NodeRpc {
    url: String,
    client: reqwest::Client,
}

impl NodeRpc {
    /// The node at `url` (`http://host:port`).
    pub fn new(url: impl Into<String>) -> NodeRpc {
        NodeRpc {
            url: url.into(),
            client: reqwest::Client::new(),
        }
    }
}

impl Source for NodeRpc {
    async fn certificate(&self, height: u64) -> Result<Option<Certificate>, String> {
        let request = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "curve_getAnchorCertificate",
            "params": [height],
        });
        let answer: Value = self
            .client
            .post(&self.url)
            .json(&request)
            .send()
            .await
            .map_err(|e| format!("node {}: {e}", self.url))?
            .json()
            .await
            .map_err(|e| format!("node {}: not JSON: {e}", self.url))?;
        if let Some(error) = answer.get("error") {
            return Err(format!("node {}: {error}", self.url));
        }
        match &answer["result"] {
            Value::Null => Ok(None),
            document => Certificate::from_json(document)
                .map(Some)
                .map_err(|e| format!("node {} at height {height}: {e}", self.url)),
        }
    }
}
