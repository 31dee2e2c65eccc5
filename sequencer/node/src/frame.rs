//! The node's frames: one kind byte, then a consensus message (`0 ‖ Message::to_wire`) or a
//! batch of forwarded transactions (`1 ‖ count u32 ‖ (length u32 ‖ bytes)…`).

use curve_consensus::Message;
use curve_formats::encoding::{DecodeError, Encode, Reader};

/// A consensus message.
pub const FRAME_CONSENSUS: u8 = 0;
/// Forwarded transactions.
pub const FRAME_TRANSACTIONS: u8 = 1;
/// Most transactions in one forwarding frame.
pub const FORWARD_BATCH: usize = 1_024;
/// Largest forwarded transaction.
pub const TRANSACTION_MAX: u32 = 1 << 20;

/// `0 ‖ message`.
pub fn consensus_frame(chain_id: u64, message: &Message) -> Vec<u8> {
    let mut frame = vec![FRAME_CONSENSUS];
    frame.extend_from_slice(&message.to_wire(chain_id));
    frame
}

/// `1 ‖ count u32 ‖ (length u32 ‖ bytes)…`.
pub fn encode_transactions(transactions: &[Vec<u8>]) -> Vec<u8> {
    let mut frame = vec![FRAME_TRANSACTIONS];
    (transactions.len() as u32).encode(&mut frame);
    for tx in transactions {
        curve_formats::tx::encode_bytes(tx, &mut frame);
    }
    frame
}

/// The transactions of a frame body (after the kind byte), refusing trailing bytes.
pub fn decode_transactions(body: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let mut reader = Reader::new(body);
    let count = reader.length(FORWARD_BATCH as u32)?;
    let mut transactions = Vec::with_capacity(count.min(FORWARD_BATCH));
    for _ in 0..count {
        transactions.push(curve_formats::tx::decode_bytes(
            &mut reader,
            TRANSACTION_MAX,
        )?);
    }
    reader.finish()?;
    Ok(transactions)
}
