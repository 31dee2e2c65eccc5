//! Ed25519 verification of many signatures at once, with one rule for every verifier: a
//! signature counts as valid exactly when `verify_strict` accepts it.
//!
//! One batch check (`ed25519_dalek::verify_batch`, deterministic: its weights come from a
//! transcript of the batch, not from a random source) costs about half of checking each
//! signature alone; when it fails, every signature is checked alone so that one bad signature
//! refuses only itself. Callers refuse weak (small-order) keys before they get here, so a
//! signature valid alone is valid in a batch: the mempool's admission and the runtime's
//! execution never disagree on a transaction.

use alloc::vec;
use alloc::vec::Vec;

pub use ed25519_dalek::{Signature, VerifyingKey};

/// Whether each `signatures[i]` signs `messages[i]` under `keys[i]` (none of them weak).
pub fn verify_each(
    messages: &[&[u8]],
    signatures: &[Signature],
    keys: &[VerifyingKey],
) -> Vec<bool> {
    debug_assert!(messages.len() == signatures.len() && keys.len() == signatures.len());
    if messages.is_empty() {
        return Vec::new();
    }
    if ed25519_dalek::verify_batch(messages, signatures, keys).is_ok() {
        return vec![true; messages.len()];
    }
    keys.iter()
        .zip(messages.iter().zip(signatures))
        .map(|(key, (message, signature))| key.verify_strict(message, signature).is_ok())
        .collect()
}
