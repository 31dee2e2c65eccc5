//! Oracle price updates (version 1): the bytes a feed's keys sign, and the feed tag.
//!
//! A feed is named by a string (`"pyth:SOLUSD"`); its **feed tag** is the first 8 bytes
//! (little-endian) of `SHA-256(Tag(OracleFeed, ANY_CHAIN) ‖ name)`. A price update is signed over
//! `Tag(OraclePrice, chain) ‖ feed tag ‖ price ‖ publish_ms` (all `u64` little-endian, 39 bytes):
//! a price signed for one feed or one chain verifies for no other. The ORACLE template builds
//! exactly these bytes in its scratch memory ([`message_words`] is that layout), with the chain id
//! from the `clock` host call and the feed tag from its parameter table, which the runtime checks
//! against the program's declared feed name at deploy.

use crate::domain::{ANY_CHAIN, Kind, TAG_LEN, Tag};
use crate::encoding::{Decode, DecodeError, Encode, Reader};
use alloc::vec::Vec;

/// Length of a signed price message.
pub const MESSAGE_BYTES: usize = TAG_LEN + 24;
/// Words that hold a message (the last byte of the last word is zero).
pub const MESSAGE_WORDS: usize = MESSAGE_BYTES.div_ceil(8);

/// The feed tag of the feed called `name`.
pub fn feed_tag(name: &str) -> u64 {
    let digest = Tag::new(Kind::OracleFeed, ANY_CHAIN).digest(name.as_bytes());
    let mut low = [0; 8];
    low.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(low)
}

/// One price of one feed at one time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceUpdate {
    /// The feed tag.
    pub feed: u64,
    /// The price, in the feed's decimals.
    pub price: u64,
    /// When the publisher observed it (unix ms).
    pub publish_ms: u64,
}

impl Encode for PriceUpdate {
    fn encode(&self, out: &mut Vec<u8>) {
        self.feed.encode(out);
        self.price.encode(out);
        self.publish_ms.encode(out);
    }
}

impl Decode for PriceUpdate {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PriceUpdate {
            feed: u64::decode(reader)?,
            price: u64::decode(reader)?,
            publish_ms: u64::decode(reader)?,
        })
    }
}

impl PriceUpdate {
    /// The bytes the feed's keys sign on `chain_id`.
    pub fn message(&self, chain_id: u64) -> Vec<u8> {
        Tag::new(Kind::OraclePrice, chain_id).message(self)
    }
}

/// [`PriceUpdate::message`] as the little-endian words the ORACLE template writes: the first
/// [`MESSAGE_BYTES`] bytes of these words are the message.
pub fn message_words(chain_id: u64, update: &PriceUpdate) -> [u64; MESSAGE_WORDS] {
    let mut bytes = update.message(chain_id);
    bytes.resize(MESSAGE_WORDS * 8, 0);
    let mut words = [0u64; MESSAGE_WORDS];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut le = [0; 8];
        le.copy_from_slice(chunk);
        *word = u64::from_le_bytes(le);
    }
    words
}

/// The first word of every price message on `chain_id` holds the tag's first 8 bytes:
/// `"CURV" ‖ kind ‖ version ‖ the chain id's low byte`. Its first seven bytes do not depend on the
/// chain; the template adds the chain id's bytes by shifting.
pub const fn message_prefix() -> u64 {
    let magic = u32::from_le_bytes(*b"CURV") as u64;
    magic | (Kind::OraclePrice as u64) << 32 | (crate::domain::FORMAT_VERSION as u64) << 40
}
