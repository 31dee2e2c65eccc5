//! Committee signatures on `post_batch`, checked through the ed25519 program.
//!
//! The runtime's ed25519 precompile verifies every signature listed in an ed25519 instruction
//! before any program runs, or fails the whole transaction. What it cannot know is *whose*
//! signatures and *over what*: this module reads the instruction that precedes `post_batch`
//! (through the instructions sysvar) and accepts it only if
//!
//! * its signatures and keys lie inside that ed25519 instruction itself (so the bytes read here
//!   are the bytes the precompile verified, not another instruction's),
//! * every signed message is exactly this `post_batch`'s payload,
//! * every key is a committee member, no member twice, and at least a quorum signed.

use crate::error::CurveError;
use anchor_lang::prelude::*;

/// Offsets header: count (u8) and one padding byte.
const HEADER: usize = 2;
/// One signature's offsets: seven little-endian u16.
const OFFSETS: usize = 14;
/// "This instruction" in an offsets' instruction-index field.
const THIS_INSTRUCTION: u16 = u16::MAX;

/// Where one signature's parts are, as the ed25519 program reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureOffsets {
    /// Offset of the 64-byte signature.
    pub signature_offset: u16,
    /// Instruction holding it.
    pub signature_instruction: u16,
    /// Offset of the 32-byte key.
    pub public_key_offset: u16,
    /// Instruction holding it.
    pub public_key_instruction: u16,
    /// Offset of the message.
    pub message_offset: u16,
    /// Its length.
    pub message_size: u16,
    /// Instruction holding it.
    pub message_instruction: u16,
}

/// Parses an ed25519 instruction's offsets table.
pub fn parse_offsets(data: &[u8]) -> Result<Vec<SignatureOffsets>> {
    let count = *data
        .first()
        .ok_or(error!(CurveError::MalformedSignatureInstruction))? as usize;
    let table_end = HEADER + count * OFFSETS;
    require!(
        count > 0 && data.len() >= table_end,
        CurveError::MalformedSignatureInstruction
    );
    let word = |at: usize| u16::from_le_bytes([data[at], data[at + 1]]);
    Ok((0..count)
        .map(|k| {
            let at = HEADER + k * OFFSETS;
            SignatureOffsets {
                signature_offset: word(at),
                signature_instruction: word(at + 2),
                public_key_offset: word(at + 4),
                public_key_instruction: word(at + 6),
                message_offset: word(at + 8),
                message_size: word(at + 10),
                message_instruction: word(at + 12),
            }
        })
        .collect())
}

/// `len` bytes at `offset` of `data`, or the error.
pub fn slice(data: &[u8], offset: u16, len: usize) -> Result<&[u8]> {
    let start = offset as usize;
    data.get(start..start + len)
        .ok_or(error!(CurveError::MalformedSignatureInstruction))
}

/// The distinct committee members who signed `payload`, checked against the quorum.
///
/// `ed25519_data` is the ed25519 instruction's data and `ed25519_index` its position in the
/// transaction; `message_of(index)` returns the data of instruction `index` (the payload is
/// normally inside `post_batch` itself, but may sit in any instruction). Each other instruction
/// is loaded once, however many signatures point into it.
pub fn check_quorum(
    ed25519_data: &[u8],
    ed25519_index: u16,
    payload: &[u8],
    committee: &[[u8; 32]],
    quorum: u8,
    mut message_of: impl FnMut(u16) -> Result<Vec<u8>>,
) -> Result<u64> {
    let mut signed = 0u64; // bit i: member i signed (MAX_COMMITTEE ≤ 64)
    let mut loaded: Vec<(u16, Vec<u8>)> = Vec::new();
    for entry in parse_offsets(ed25519_data)? {
        let here = |index: u16| index == THIS_INSTRUCTION || index == ed25519_index;
        require!(
            here(entry.signature_instruction) && here(entry.public_key_instruction),
            CurveError::OffsetsOutsideInstruction
        );
        slice(ed25519_data, entry.signature_offset, 64)?;
        let key: [u8; 32] = slice(ed25519_data, entry.public_key_offset, 32)?
            .try_into()
            .expect("32 bytes");
        let holder = if here(entry.message_instruction) {
            ed25519_data
        } else {
            let index = entry.message_instruction;
            let at = match loaded.iter().position(|(i, _)| *i == index) {
                Some(at) => at,
                None => {
                    loaded.push((index, message_of(index)?));
                    loaded.len() - 1
                }
            };
            &loaded[at].1
        };
        let message = slice(holder, entry.message_offset, entry.message_size as usize)?;
        require!(message == payload, CurveError::SignatureOverOtherPayload);
        let member = committee
            .iter()
            .position(|k| *k == key)
            .ok_or(error!(CurveError::NotCommitteeMember))?;
        require!(signed & (1 << member) == 0, CurveError::DuplicateSigner);
        signed |= 1 << member;
    }
    require!(
        signed.count_ones() >= u32::from(quorum),
        CurveError::QuorumNotReached
    );
    Ok(signed)
}

/// The smallest quorum a committee of `n` may have: more than two thirds.
pub fn min_quorum(n: usize) -> usize {
    2 * n / 3 + 1
}

/// Checks a committee and quorum before they are stored.
pub fn check_committee(committee: &[[u8; 32]], quorum: u8) -> Result<()> {
    require!(
        !committee.is_empty() && committee.len() <= crate::state::MAX_COMMITTEE,
        CurveError::CommitteeSize
    );
    for (i, key) in committee.iter().enumerate() {
        require!(
            !committee[..i].contains(key),
            CurveError::DuplicateCommitteeKey
        );
    }
    let quorum = quorum as usize;
    require!(
        quorum >= min_quorum(committee.len())
            && quorum <= committee.len()
            && quorum <= crate::state::MAX_QUORUM,
        CurveError::InvalidQuorum
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the transaction carries, the parser answers without panicking, and an
        /// acceptance always means a quorum of distinct members over exactly the payload.
        #[test]
        fn arbitrary_signature_instructions_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..400),
            index in any::<u16>(),
            quorum in 1u8..4,
        ) {
            let committee = [[1; 32], [2; 32], [3; 32]];
            let other = data.clone();
            let result = check_quorum(&data, index, b"payload", &committee, quorum, |_| Ok(other.clone()));
            if let Ok(signed) = result {
                prop_assert!(signed.count_ones() >= u32::from(quorum));
                prop_assert!(signed < 1 << committee.len());
            }
        }
    }

    fn instruction(entries: &[([u8; 32], [u8; 64])], message: &[u8]) -> Vec<u8> {
        instruction_with(entries, message, THIS_INSTRUCTION)
    }

    /// Signatures over `message`, which sits in instruction `message_index` (inline when it is
    /// this instruction) at the offset it would have inline.
    fn instruction_with(
        entries: &[([u8; 32], [u8; 64])],
        message: &[u8],
        message_index: u16,
    ) -> Vec<u8> {
        let table = HEADER + entries.len() * OFFSETS;
        let mut data = vec![entries.len() as u8, 0];
        let message_at = table + entries.len() * 96;
        for k in 0..entries.len() {
            let key_at = (table + k * 96) as u16;
            for word in [
                key_at + 32,
                THIS_INSTRUCTION,
                key_at,
                THIS_INSTRUCTION,
                message_at as u16,
                message.len() as u16,
                message_index,
            ] {
                data.extend_from_slice(&word.to_le_bytes());
            }
        }
        for (key, signature) in entries {
            data.extend_from_slice(key);
            data.extend_from_slice(signature);
        }
        data.extend_from_slice(message);
        data
    }

    fn code(result: Result<u64>) -> u32 {
        match result {
            Err(Error::AnchorError(e)) => e.error_code_number,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn counts_distinct_members_against_the_quorum() {
        let committee = [[1; 32], [2; 32], [3; 32], [4; 32]];
        let data = instruction(
            &[([1; 32], [0; 64]), ([3; 32], [0; 64]), ([4; 32], [0; 64])],
            b"p",
        );
        let none = |_| -> Result<Vec<u8>> { unreachable!("the message is in the instruction") };
        assert_eq!(
            check_quorum(&data, 0, b"p", &committee, 3, none).unwrap(),
            0b1101
        );
        assert_eq!(
            code(check_quorum(&data, 0, b"p", &committee, 4, none)),
            6014
        );
        assert_eq!(
            code(check_quorum(&data, 0, b"q", &committee, 3, none)),
            6010
        );
        let twice = instruction(&[([1; 32], [0; 64]), ([1; 32], [0; 64])], b"p");
        assert_eq!(
            code(check_quorum(&twice, 0, b"p", &committee, 1, none)),
            6012
        );
        let outsider = instruction(&[([9; 32], [0; 64])], b"p");
        assert_eq!(
            code(check_quorum(&outsider, 0, b"p", &committee, 1, none)),
            6013
        );
    }

    #[test]
    fn another_instruction_holding_the_payload_is_loaded_once() {
        let committee = [[1; 32], [2; 32], [3; 32]];
        let entries = [([1; 32], [0; 64]), ([2; 32], [0; 64]), ([3; 32], [0; 64])];
        // Instruction 5 holds the same layout, payload included.
        let holder = instruction(&entries, b"p");
        let data = instruction_with(&entries, b"p", 5);
        let mut loads = 0;
        let message_of = |index: u16| {
            assert_eq!(index, 5);
            loads += 1;
            Ok(holder.clone())
        };
        assert_eq!(
            check_quorum(&data, 0, b"p", &committee, 3, message_of).unwrap(),
            0b111
        );
        assert_eq!(loads, 1);
    }

    #[test]
    fn refuses_truncated_tables_and_out_of_range_offsets() {
        let committee = [[1; 32]];
        let none = |_| -> Result<Vec<u8>> { Ok(vec![]) };
        let data = instruction(&[([1; 32], [0; 64])], b"p");
        for cut in 0..data.len() {
            assert!(check_quorum(&data[..cut], 0, b"p", &committee, 1, none).is_err());
        }
        assert_eq!(
            code(check_quorum(&[0, 0], 0, b"p", &committee, 1, none)),
            6009
        );
    }

    #[test]
    fn quorum_bounds_follow_two_thirds() {
        assert_eq!(
            (1..=8).map(min_quorum).collect::<Vec<_>>(),
            [1, 2, 3, 3, 4, 5, 5, 6]
        );
        assert!(check_committee(&[[1; 32], [2; 32], [3; 32], [4; 32]], 3).is_ok());
        assert!(check_committee(&[[1; 32], [2; 32], [3; 32], [4; 32]], 2).is_err());
        assert!(check_committee(&[[1; 32], [2; 32], [3; 32], [4; 32]], 5).is_err());
        assert!(check_committee(&[[1; 32], [1; 32]], 2).is_err());
        assert!(check_committee(&[], 0).is_err());
        let nine: [[u8; 32]; 9] = core::array::from_fn(|i| [i as u8 + 1; 32]);
        assert!(check_committee(&nine, 7).is_err());
    }
}
