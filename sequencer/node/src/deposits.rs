//! Deposits from Solana, credited once.
//!
//! Each committee member runs a bridge beside its node (`curve-batch-poster --watch-deposits`,
//! in the Anchor workspace) that reads the Anchor program's deposit records and hands each one
//! to its node (`curve_observeDeposit`). The node signs the record with its consensus key
//! (`Tag(DepositAttestation) ‖ record`, what the runtime checks) and sends the attestation to
//! the other members ([`FRAME_ATTESTATION`]); every member pools the attestations it hears,
//! each verified against the committee. Once a record holds a quorum, one member submits the
//! credit transaction — from its consensus key's rollup account, with no fee: the member the
//! sequence is assigned to (`sequence mod committee`), and after each [`FALLBACK`] without a
//! credit, the next member, so a member that is down delays a credit and never loses it.
//! The runtime refuses a second credit of a sequence, so a fallback racing a late first credit
//! costs a refused transaction, never a double credit.

use std::collections::BTreeMap;
use std::time::Duration;

use curve_formats::deposit::DepositRecord;
use curve_formats::encoding::{Decode, DecodeError, Encode, Reader};
use curve_formats::tx::{Action, CommitteeSignature, Transaction};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// A committee member's attestation of a deposit record.
pub const FRAME_ATTESTATION: u8 = 4;
/// Records pooled at once (a bridge hands over what the program recorded; past this, new
/// records wait for credits to make room).
pub const POOL_MAX: usize = 4_096;
/// How long a record may hold a quorum without a credit before the next member submits.
pub const FALLBACK: Duration = Duration::from_secs(5);
/// How long a submitted credit may stay unexecuted before this member submits again.
const PATIENCE: Duration = Duration::from_secs(10);

/// One member's signature over one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attestation {
    /// The record, as the Anchor program holds it.
    pub record: DepositRecord,
    /// The member's committee index.
    pub member: u16,
    /// Its signature over [`DepositRecord::attestation_message`].
    pub signature: [u8; 64],
}

impl Attestation {
    /// `4 ‖ record ‖ member u16 ‖ signature [64]`.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut frame = vec![FRAME_ATTESTATION];
        self.record.encode(&mut frame);
        self.member.encode(&mut frame);
        self.signature.encode(&mut frame);
        frame
    }

    /// A frame body (after the kind byte), refusing trailing bytes.
    pub fn decode_body(body: &[u8]) -> Result<Attestation, DecodeError> {
        let mut reader = Reader::new(body);
        let attestation = Attestation {
            record: DepositRecord::decode(&mut reader)?,
            member: u16::decode(&mut reader)?,
            signature: reader.array()?,
        };
        reader.finish()?;
        Ok(attestation)
    }
}

struct Pooled {
    record: DepositRecord,
    signatures: BTreeMap<u16, [u8; 64]>,
    quorum_since: Option<Instant>,
}

/// Attestations by record, until the record is credited.
#[derive(Default)]
pub struct DepositPool {
    /// By (sequence, hash of the record): members who sign different records under one
    /// sequence never add up to a quorum for either.
    records: BTreeMap<(u64, [u8; 32]), Pooled>,
    /// The nonce of this member's credit transaction not yet executed, and when it was sent.
    in_flight: Option<(u64, Instant)>,
}

impl DepositPool {
    /// Records pooled.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing is pooled.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Adds a verified attestation; returns how many members signed its record, or why it
    /// was not added.
    pub fn add(
        &mut self,
        attestation: Attestation,
        quorum: usize,
        now: Instant,
    ) -> Result<usize, String> {
        let key = (
            attestation.record.sequence,
            Sha256::digest(attestation.record.to_bytes()).into(),
        );
        if !self.records.contains_key(&key) && self.records.len() >= POOL_MAX {
            return Err(format!(
                "{POOL_MAX} deposit records await credits; record {} waits",
                attestation.record.sequence
            ));
        }
        let pooled = self.records.entry(key).or_insert_with(|| Pooled {
            record: attestation.record,
            signatures: BTreeMap::new(),
            quorum_since: None,
        });
        pooled
            .signatures
            .insert(attestation.member, attestation.signature);
        if pooled.signatures.len() >= quorum && pooled.quorum_since.is_none() {
            pooled.quorum_since = Some(now);
        }
        Ok(pooled.signatures.len())
    }

    /// Drops credited records; clears this member's credit in flight once its account's
    /// nonce moved past it (executed) or it waited longer than its patience.
    pub fn settle(&mut self, credited: impl Fn(u64) -> bool, account_nonce: u64, now: Instant) {
        self.records.retain(|(sequence, _), _| !credited(*sequence));
        if let Some((nonce, sent)) = self.in_flight
            && (account_nonce > nonce || now.duration_since(sent) > PATIENCE)
        {
            self.in_flight = None;
        }
    }

    /// The credit this member should submit now, if any: the lowest-sequence record with a
    /// quorum whose turn is this member's (see the module documentation), while no credit of
    /// this member is in flight. The attestations are the quorum of lowest member indices.
    pub fn due(
        &mut self,
        me: u16,
        members: u16,
        quorum: usize,
        now: Instant,
    ) -> Option<(DepositRecord, Vec<CommitteeSignature>)> {
        if self.in_flight.is_some() || members == 0 {
            return None;
        }
        self.records.values().find_map(|pooled| {
            let since = pooled.quorum_since?;
            let turns = (now.duration_since(since).as_millis() / FALLBACK.as_millis()) as u64;
            let turn = (pooled.record.sequence.wrapping_add(turns) % u64::from(members)) as u16;
            (turn == me).then(|| {
                let attestations = pooled
                    .signatures
                    .iter()
                    .take(quorum)
                    .map(|(&member, &signature)| CommitteeSignature { member, signature })
                    .collect();
                (pooled.record, attestations)
            })
        })
    }

    /// Notes that this member sent its credit at `nonce`.
    pub fn sent(&mut self, nonce: u64, now: Instant) {
        self.in_flight = Some((nonce, now));
    }
}

/// The credit transaction of `record`, from the account of `key` at `nonce`, without a fee.
pub fn credit_transaction(
    chain_id: u64,
    key: &ed25519_dalek::SigningKey,
    nonce: u64,
    record: DepositRecord,
    attestations: Vec<CommitteeSignature>,
) -> Vec<u8> {
    // The runtime charges each attestation; the rest covers the intrinsic cost.
    let gas_limit = crate::load::GAS_LIMIT
        + curve_runtime::protocol::ATTESTATION_GAS * attestations.len() as u64;
    let tx = Transaction {
        chain_id,
        sender: key.verifying_key().to_bytes(),
        nonce,
        gas_limit,
        fee_per_gas: 0,
        action: Action::CreditDeposit {
            record,
            attestations,
        },
    };
    curve_runtime::client::sign(tx, key).to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sequence: u64) -> DepositRecord {
        DepositRecord {
            chain_id: 5,
            sequence,
            depositor: [1; 32],
            recipient: [2; 32],
            amount: 10,
            slot: 3,
        }
    }

    fn attestation(sequence: u64, member: u16) -> Attestation {
        Attestation {
            record: record(sequence),
            member,
            signature: [member as u8; 64],
        }
    }

    #[test]
    fn an_attestation_frame_round_trips_and_refuses_trailing_bytes() {
        let frame = attestation(9, 2).to_frame();
        assert_eq!(frame[0], FRAME_ATTESTATION);
        assert_eq!(
            Attestation::decode_body(&frame[1..]).expect("decodes"),
            attestation(9, 2)
        );
        let mut long = frame[1..].to_vec();
        long.push(0);
        assert!(Attestation::decode_body(&long).is_err());
        assert!(Attestation::decode_body(&frame[1..frame.len() - 1]).is_err());
    }

    #[test]
    fn the_assigned_member_credits_at_quorum_and_the_next_after_each_fallback() {
        let start = Instant::now();
        let mut pools: Vec<DepositPool> = (0..4).map(|_| DepositPool::default()).collect();
        for pool in &mut pools {
            for member in [0, 1] {
                pool.add(attestation(6, member), 3, start).expect("added");
            }
        }
        assert!(pools.iter_mut().all(|p| p.due(2, 4, 3, start).is_none()));
        for pool in &mut pools {
            assert_eq!(pool.add(attestation(6, 3), 3, start), Ok(3));
        }
        // Sequence 6 of 4 members: member 2's turn first.
        let due: Vec<bool> = (0..4)
            .map(|me| pools[me].due(me as u16, 4, 3, start).is_some())
            .collect();
        assert_eq!(due, [false, false, true, false]);
        let (credited, attestations) = pools[2].due(2, 4, 3, start).expect("due");
        assert_eq!(credited, record(6));
        assert_eq!(
            attestations.iter().map(|a| a.member).collect::<Vec<_>>(),
            [0, 1, 3]
        );
        // Member 2 sent it: nothing more from member 2 while in flight.
        pools[2].sent(0, start);
        assert!(pools[2].due(2, 4, 3, start).is_none());
        // No credit after one fallback period: member 3's turn.
        let later = start + FALLBACK;
        assert!(pools[3].due(3, 4, 3, later).is_some());
        assert!(pools[2].due(2, 4, 3, later).is_none());
        // Credited: every pool forgets it.
        for pool in &mut pools {
            pool.settle(|sequence| sequence == 6, 1, later);
            assert!(pool.is_empty());
        }
        assert!(pools[2].in_flight.is_none(), "the nonce moved past 0");
    }

    #[test]
    fn different_records_under_one_sequence_never_make_a_quorum_together() {
        let now = Instant::now();
        let mut pool = DepositPool::default();
        pool.add(attestation(1, 0), 3, now).expect("added");
        pool.add(attestation(1, 1), 3, now).expect("added");
        let mut forged = attestation(1, 2);
        forged.record.amount = 1_000_000;
        assert_eq!(pool.add(forged, 3, now), Ok(1));
        assert_eq!(pool.len(), 2);
        assert!((0..4).all(|me| pool.due(me, 4, 3, now).is_none()));
    }

    #[test]
    fn a_full_pool_refuses_new_records_but_not_signatures_of_pooled_ones() {
        let now = Instant::now();
        let mut pool = DepositPool::default();
        for sequence in 0..POOL_MAX as u64 {
            pool.add(attestation(sequence, 0), 3, now).expect("room");
        }
        let refused = pool.add(attestation(POOL_MAX as u64, 0), 3, now);
        assert!(refused.is_err_and(|e| e.contains("await credits")));
        assert_eq!(pool.add(attestation(0, 1), 3, now), Ok(2));
    }
}
