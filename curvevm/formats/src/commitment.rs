//! Reservation commitments (version 1), the commit-reveal of a slab's `reserve` and `commit`
//! (percolator M6): a taker commits at reserve time to
//!
//! `SHA-256(Tag(ReserveCommitment, chain) ‖ side (u8) ‖ route_id ‖ instrument ‖ qty ‖ limit_px ‖ salt)`
//!
//! with every integer `u64` little-endian and the salt 32 bytes, 80 bytes in all, and opens it
//! at commit with the salt. The side byte right after the 15-byte tag puts every later field on
//! a word boundary, so the slab's bytecode writes the message as ten words ([`message_words`])
//! and hashes it with the `sha256` host call; a 32-byte digest is four words, word `k` being bytes
//! `8k..8k + 8` little-endian ([`digest_words`]), as the host call writes it.

use crate::domain::{Kind, TAG_LEN, Tag};
use crate::encoding::Encode;
use alloc::vec::Vec;

/// Bytes of a reveal message.
pub const MESSAGE_BYTES: usize = TAG_LEN + 1 + 4 * 8 + 32;
/// Words of a reveal message.
pub const MESSAGE_WORDS: usize = MESSAGE_BYTES / 8;

/// What a reservation commits to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reveal {
    /// The chain the reservation is made on.
    pub chain_id: u64,
    /// The router's route id.
    pub route_id: u64,
    /// The instrument index.
    pub instrument: u64,
    /// 0 buys, 1 sells.
    pub side: u8,
    /// The quantity asked for.
    pub qty: u64,
    /// The limit price.
    pub limit_px: u64,
    /// The secret opened at commit.
    pub salt: [u8; 32],
}

impl Reveal {
    /// The 80-byte message.
    pub fn message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MESSAGE_BYTES);
        Tag::new(Kind::ReserveCommitment, self.chain_id).encode(&mut out);
        out.push(self.side);
        for field in [self.route_id, self.instrument, self.qty, self.limit_px] {
            out.extend_from_slice(&field.to_le_bytes());
        }
        out.extend_from_slice(&self.salt);
        out
    }

    /// The message as the ten words a slab writes (each eight bytes little-endian).
    pub fn message_words(&self) -> [u64; MESSAGE_WORDS] {
        let bytes = self.message();
        let mut words = [0u64; MESSAGE_WORDS];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        }
        words
    }

    /// The commitment: SHA-256 of the message.
    pub fn commitment(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        Sha256::digest(self.message()).into()
    }
}

/// Word 0 of a message on chain `chain_id` without its last byte: `"CURV" ‖ kind ‖ version`
/// and the chain id's low byte in the top byte.
pub fn message_word0(chain_id: u64) -> u64 {
    message_prefix() | (chain_id << 56)
}

/// The tag's first seven bytes (`"CURV" ‖ kind ‖ version`) as the low bytes of a word.
pub fn message_prefix() -> u64 {
    let mut bytes = Vec::with_capacity(TAG_LEN);
    Tag::new(Kind::ReserveCommitment, 0).encode(&mut bytes);
    let mut word = [0u8; 8];
    word[..7].copy_from_slice(&bytes[..7]);
    u64::from_le_bytes(word)
}

/// A 32-byte digest or salt as four little-endian words.
pub fn digest_words(bytes: &[u8; 32]) -> [u64; 4] {
    let mut words = [0u64; 4];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        *word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
    }
    words
}

/// Four words as the 32 bytes they stand for (the inverse of [`digest_words`]).
pub fn words_bytes(words: &[u64; 4]) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reveal() -> Reveal {
        Reveal {
            chain_id: 0x0102_0304_0506_0708,
            route_id: 7,
            instrument: 2,
            side: 1,
            qty: 15,
            limit_px: 15_020,
            salt: [0xAB; 32],
        }
    }

    #[test]
    fn the_message_is_eighty_bytes_with_every_field_on_a_word_boundary() {
        let r = reveal();
        let bytes = r.message();
        assert_eq!(bytes.len(), MESSAGE_BYTES);
        assert_eq!(&bytes[..4], b"CURV");
        assert_eq!(bytes[4], Kind::ReserveCommitment as u8);
        assert_eq!(&bytes[7..15], &r.chain_id.to_le_bytes());
        assert_eq!(bytes[15], 1);
        assert_eq!(&bytes[16..24], &7u64.to_le_bytes());
        assert_eq!(&bytes[40..48], &15_020u64.to_le_bytes());
        assert_eq!(&bytes[48..], &[0xAB; 32]);
        let words = r.message_words();
        assert_eq!(words[0], message_word0(r.chain_id));
        assert_eq!(words[1], (r.chain_id >> 8) | (1 << 56));
        assert_eq!(words[2], 7);
    }

    #[test]
    fn any_changed_field_changes_the_commitment() {
        let base = reveal();
        let mut changed = [base; 7];
        changed[0].chain_id += 1;
        changed[1].route_id += 1;
        changed[2].instrument += 1;
        changed[3].side = 0;
        changed[4].qty += 1;
        changed[5].limit_px += 1;
        changed[6].salt[31] ^= 1;
        for other in changed {
            assert_ne!(other.commitment(), base.commitment(), "{other:?}");
        }
        assert_eq!(
            words_bytes(&digest_words(&base.commitment())),
            base.commitment()
        );
    }
}
