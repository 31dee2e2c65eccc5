//! Deterministic identifiers, so that nobody hard-codes a number that must follow from names.
//!
//! `route_id(slabs…)` names an order route across slabs; `hold_id(slab, route, sequence)` names
//! one reservation. Both are the first 8 bytes (little-endian) of a SHA-256 over a versioned
//! domain tag and length-prefixed inputs, so no two input lists share an encoding.

use sha2::{Digest, Sha256};

const ROUTE_ID_TAG: &[u8] = b"curvescript/route_id/v1";
const HOLD_ID_TAG: &[u8] = b"curvescript/hold_id/v1";

fn digest_u64(tag: &[u8], parts: &[&[u8]]) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update((tag.len() as u64).to_le_bytes());
    hasher.update(tag);
    hasher.update((parts.len() as u64).to_le_bytes());
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// The id of the route through `slab_ids`, in order (a route is ordered: the router walks slabs
/// in this order).
pub fn route_id(slab_ids: &[&str]) -> u64 {
    let parts: Vec<&[u8]> = slab_ids.iter().map(|s| s.as_bytes()).collect();
    digest_u64(ROUTE_ID_TAG, &parts)
}

/// The id of the `sequence`-th reservation of `route` on `slab_id`.
pub fn hold_id(slab_id: &str, route: u64, sequence: u64) -> u64 {
    digest_u64(
        HOLD_ID_TAG,
        &[
            slab_id.as_bytes(),
            &route.to_le_bytes(),
            &sequence.to_le_bytes(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_separate_their_inputs() {
        assert_eq!(route_id(&["perp:SOL-PERP"]), route_id(&["perp:SOL-PERP"]));
        // Order matters, and the length prefix keeps ["ab", "c"] apart from ["a", "bc"].
        assert_ne!(route_id(&["a", "b"]), route_id(&["b", "a"]));
        assert_ne!(route_id(&["ab", "c"]), route_id(&["a", "bc"]));
        assert_ne!(hold_id("s", 1, 0), hold_id("s", 1, 1));
        assert_ne!(hold_id("s", 1, 0), hold_id("s", 2, 0));
    }

    #[test]
    fn route_id_matches_an_independent_sha256_layout() {
        // Recompute by hand: tag length, tag, count, then each part with its length.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(ROUTE_ID_TAG.len() as u64).to_le_bytes());
        bytes.extend_from_slice(ROUTE_ID_TAG);
        bytes.extend_from_slice(&1u64.to_le_bytes());
        bytes.extend_from_slice(&3u64.to_le_bytes());
        bytes.extend_from_slice(b"xyz");
        let digest = Sha256::digest(&bytes);
        let expected = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
        assert_eq!(route_id(&["xyz"]), expected);
    }
}
