//! The pinned golden vectors (`vectors/v1.txt`, written by this crate's tests) for the crates
//! that must produce or check the same bytes elsewhere: the consensus core signs what the Anchor
//! program verifies, and both test that against one vector.

use alloc::vec::Vec;

/// The vectors file: one `name: lowercase hex` line per vector.
pub const V1: &str = include_str!("../vectors/v1.txt");

/// The bytes of the vector `name` in [`V1`]; `None` when there is no such line or it is not
/// hex.
pub fn v1(name: &str) -> Option<Vec<u8>> {
    let hex = V1.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(": "))
    })?;
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
