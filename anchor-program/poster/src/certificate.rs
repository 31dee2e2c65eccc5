//! An anchor certificate as a node serves it (`curve_getAnchorCertificate`): the executed
//! batch's header in its canonical encoding (`encoded`, whose first bytes are the header) and
//! the committee's `(replica, signature)` pairs over the header's signed bytes.

use curve_formats::batch::BatchHeader;
use curve_formats::encoding::{Decode, Reader};
use serde_json::Value;

/// A batch header and a quorum of the committee's signatures over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The attested header.
    pub header: BatchHeader,
    /// `(replica, signature)`: a replica indexes the committee.
    pub signatures: Vec<(u16, [u8; 64])>,
}

/// What is wrong with a node's certificate document.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a malformed anchor certificate: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

impl Certificate {
    /// Reads the node's JSON document.
    pub fn from_json(document: &Value) -> Result<Certificate, Malformed> {
        let bad = |what: &str| Malformed(what.to_string());
        let encoded = document["encoded"]
            .as_str()
            .ok_or_else(|| bad("no `encoded` string"))?;
        let bytes = hex::decode(encoded).map_err(|e| Malformed(format!("`encoded`: {e}")))?;
        let header = BatchHeader::decode(&mut Reader::new(&bytes))
            .map_err(|e| Malformed(format!("the header in `encoded`: {e}")))?;
        let listed = document["signatures"]
            .as_array()
            .ok_or_else(|| bad("no `signatures` list"))?;
        let mut signatures = Vec::with_capacity(listed.len());
        for entry in listed {
            let replica = entry["replica"]
                .as_u64()
                .and_then(|r| u16::try_from(r).ok())
                .ok_or_else(|| bad("a signature without a replica id"))?;
            let signature = entry["signature"]
                .as_str()
                .and_then(|s| hex::decode(s).ok())
                .and_then(|s| <[u8; 64]>::try_from(s).ok())
                .ok_or_else(|| Malformed(format!("replica {replica}'s signature")))?;
            signatures.push((replica, signature));
        }
        Ok(Certificate { header, signatures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve_formats::encoding::Encode;
    use serde_json::json;

    fn header() -> BatchHeader {
        BatchHeader {
            height: 7,
            prev_root: [1; 32],
            state_root: [2; 32],
            transactions_root: [3; 32],
            withdrawal_root: [4; 32],
            withdrawal_count: 5,
            withdrawal_total: 6,
            timestamp_ms: 8,
        }
    }

    /// The node's document: the canonical encoding (the header, then the signer list) and the
    /// readable signatures.
    fn document() -> Value {
        let mut encoded = header().to_bytes();
        encoded.extend_from_slice(&[1, 0, 0, 0]);
        json!({
            "encoded": hex::encode(encoded),
            "signatures": [{"replica": 2, "signature": hex::encode([9u8; 64])}],
        })
    }

    #[test]
    fn a_nodes_document_reads_back_its_header_and_signatures() {
        let certificate = Certificate::from_json(&document()).expect("well formed");
        assert_eq!(certificate.header, header());
        assert_eq!(certificate.signatures, vec![(2, [9u8; 64])]);
    }

    #[test]
    fn malformed_documents_are_refused_with_what_is_wrong() {
        let cases: [(&str, Value, &str); 5] = [
            ("no encoding", json!({"signatures": []}), "`encoded`"),
            (
                "bad hex",
                json!({"encoded": "zz", "signatures": []}),
                "`encoded`",
            ),
            (
                "short header",
                json!({"encoded": "0102", "signatures": []}),
                "header",
            ),
            (
                "no signatures",
                {
                    let mut d = document();
                    d["signatures"] = Value::Null;
                    d
                },
                "`signatures`",
            ),
            (
                "short signature",
                {
                    let mut d = document();
                    d["signatures"][0]["signature"] = json!("abcd");
                    d
                },
                "replica 2",
            ),
        ];
        for (name, document, says) in cases {
            let error = Certificate::from_json(&document).expect_err(name);
            assert!(error.to_string().contains(says), "{name}: {error}");
        }
    }
}
