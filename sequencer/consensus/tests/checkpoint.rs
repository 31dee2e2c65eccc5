//! Pruning and checkpoints: a replica drops blocks below a decided floor and restarts from the
//! base it recorded; a checkpoint (anchor certificate, block, QC) verifies only when every part
//! is the committee's, and a fresh replica can start from one.

mod common;

use common::*;
use curve_consensus::types::attestation_message;
use curve_consensus::{
    Action, AnchorCertificate, CertifiedBlock, Checkpoint, CheckpointError, Core, Ed25519Verifier,
    Input, Message, QuorumCert, Record, ReplicaId, RestoreError,
};
use curve_formats::batch::BatchHeader;
use curve_formats::encoding::{Decode, Encode};
use curve_formats::merkle::MerkleTree;

/// Applies persists and prunes to `store` as a key-value store would.
fn apply(store: &mut Vec<Record>, actions: &[Action]) {
    let put = |store: &mut Vec<Record>, record: &Record| {
        store.retain(|r| r.key() != record.key());
        store.push(record.clone());
    };
    for action in actions {
        match action {
            Action::Persist { records, .. } => {
                for record in records {
                    put(store, record);
                }
            }
            Action::Prune { base, forget } => {
                put(store, base);
                store.retain(|r| !forget.contains(&r.key()));
            }
            _ => {}
        }
    }
}

fn deliver(core: &mut Core, from: ReplicaId, message: Message) -> Vec<Action> {
    core.step(NOW, Input::Message { from, message })
}

fn decided(actions: &[Action]) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Decided(blocks) => Some(blocks.iter().map(|b| b.height)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Replica 0 fed the consecutive proposals of views 1..=views; the blocks in height order
/// (genesis first) and its store.
fn chain(views: u64) -> (Core, Vec<CertifiedBlock>, Vec<Record>) {
    let (mut core, boot) = replica(0);
    let mut store = Vec::new();
    apply(&mut store, &boot);
    let mut blocks = vec![genesis()];
    let mut justify = QuorumCert::genesis(CHAIN);
    for view in 1..=views {
        let p = propose(
            view,
            blocks.last().unwrap(),
            justify,
            None,
            vec![view.to_le_bytes().to_vec()],
        );
        let actions = deliver(&mut core, leader(view), Message::Proposal(p.clone()));
        apply(&mut store, &actions);
        blocks.push(certified(&p));
        justify = certify(blocks.last().unwrap());
    }
    (core, blocks, store)
}

#[test]
fn pruned_blocks_are_gone_and_a_restart_starts_from_the_recorded_base() {
    let (mut core, blocks, mut store) = chain(8);
    assert_eq!(core.status().decided_height, 6);
    assert!(core.prune(0).is_empty(), "nothing below genesis");
    let actions = core.prune(4);
    apply(&mut store, &actions);
    let [Action::Prune { base, forget }] = &actions[..] else {
        panic!("{actions:#?}");
    };
    let Record::Base { block, qc } = base else {
        panic!("{base:?}");
    };
    assert_eq!(block, &blocks[4]);
    assert_eq!(
        qc,
        &certify(&blocks[4]),
        "the base carries its own certificate"
    );
    for old in &blocks[1..4] {
        assert!(forget.contains(&Record::block_key(&hash(old))));
        assert!(core.block(&hash(old)).is_none());
    }
    for kept in &blocks[4..] {
        assert!(core.block(&hash(kept)).is_some());
    }
    assert_eq!(core.status().base_height, 4);
    assert!(
        core.prune(4).is_empty(),
        "the same floor prunes nothing more"
    );
    assert_eq!(
        core.decided_at(5).map(|(h, _)| h),
        Some(hash(&blocks[5])),
        "decided blocks above the base are found by height"
    );
    assert!(core.decided_at(3).is_none());

    // A restart reads the base and the blocks above it, and goes on deciding.
    let restore = |executed| {
        Core::restore(
            config(0),
            key(0),
            Box::new(Ed25519Verifier),
            store.clone(),
            executed,
            NOW,
        )
    };
    let (mut restarted, _) = restore(6).expect("restores from the base");
    assert_eq!(restarted.status().base_height, 4);
    assert_eq!(restarted.status().decided_height, 6);
    let p9 = propose(9, &blocks[8], certify(&blocks[8]), None, vec![]);
    let actions = deliver(&mut restarted, leader(9), Message::Proposal(p9));
    assert_eq!(decided(&actions), vec![7]);
    // An executor below the base cannot replay from pruned blocks.
    assert!(matches!(
        restore(3),
        Err(RestoreError::ExecutedBelowBase {
            executed: 3,
            base: 4
        })
    ));
    // A floor above the decided height stops one below it (its child carries its QC).
    let actions = core.prune(100);
    assert!(matches!(&actions[..], [Action::Prune { .. }]));
    assert_eq!(core.status().base_height, 5);
}

/// The anchor certificate of `block`'s batch, signed by `signers`.
fn anchor(block: &CertifiedBlock, state_root: [u8; 32], signers: &[usize]) -> AnchorCertificate {
    let header = BatchHeader {
        height: block.block.height,
        prev_root: [0; 32],
        state_root,
        transactions_root: MerkleTree::from_leaves(&block.block.payload)
            .unwrap()
            .root(),
        withdrawal_root: [0; 32],
        withdrawal_count: 0,
        withdrawal_total: 0,
        timestamp_ms: block.block.timestamp_ms,
    };
    let message = attestation_message(CHAIN, &header);
    AnchorCertificate {
        header,
        signatures: signers
            .iter()
            .map(|&i| (i as ReplicaId, key(i).sign(&message)))
            .collect(),
    }
}

#[test]
fn a_checkpoint_verifies_only_with_the_committees_certificates_and_a_replica_starts_from_it() {
    let (_, blocks, _) = chain(3);
    // B2 (view 2) extends B1 (view 1) with QC(B1), and QC(B2) exists: B1 is decided.
    let base = blocks[1].clone();
    let good = Checkpoint {
        certificate: anchor(&base, [9; 32], &[0, 1, 3]),
        base: base.clone(),
        proof: vec![blocks[2].clone()],
        qc: certify(&blocks[2]),
    };
    let verify = |c: &Checkpoint| c.verify(CHAIN, &committee(), &mut Ed25519Verifier);
    assert_eq!(verify(&good), Ok(()));
    assert_eq!(
        Checkpoint::from_bytes(&good.to_bytes()).as_ref(),
        Ok(&good),
        "round trip"
    );
    assert_eq!(good.base_qc(), Some(&certify(&base)));

    let mut forged = good.clone();
    forged.certificate.header.state_root = [8; 32];
    assert_eq!(verify(&forged), Err(CheckpointError::Certificate));
    let mut thin = good.clone();
    thin.certificate.signatures.pop();
    assert_eq!(verify(&thin), Err(CheckpointError::Certificate));
    let mut unsigned_qc = good.clone();
    unsigned_qc.qc.votes.truncate(2);
    assert_eq!(verify(&unsigned_qc), Err(CheckpointError::QuorumCert));
    let mut other_qc = good.clone();
    other_qc.qc = certify(&blocks[1]);
    assert_eq!(verify(&other_qc), Err(CheckpointError::QuorumCert));
    let mut swapped = good.clone();
    swapped.base.block.payload = vec![b"not the certified batch".to_vec()];
    assert!(matches!(
        verify(&swapped),
        Err(CheckpointError::Mismatch(_))
    ));
    let mut wrong_height = good.clone();
    wrong_height.base = blocks[2].clone();
    assert!(matches!(
        verify(&wrong_height),
        Err(CheckpointError::Mismatch(_))
    ));
    // A child that skips the link, or no child at all, proves nothing.
    let mut broken = good.clone();
    broken.proof = vec![blocks[3].clone()];
    broken.qc = certify(&blocks[3]);
    assert!(matches!(
        verify(&broken),
        Err(CheckpointError::NotDecided(_))
    ));
    let mut bare = good.clone();
    bare.proof.clear();
    assert!(matches!(verify(&bare), Err(CheckpointError::NotDecided(_))));
    // A certified child from a later view (after a timeout) does not decide its parent: a
    // certified twin that lost would have just that.
    let late = certified(&propose(
        3,
        &base,
        certify(&base),
        None,
        vec![b"late".to_vec()],
    ));
    let undecided = Checkpoint {
        proof: vec![late.clone()],
        qc: certify(&late),
        ..good.clone()
    };
    assert!(matches!(
        verify(&undecided),
        Err(CheckpointError::NotDecided(_))
    ));

    // A replica with nothing stored starts from the checkpoint and votes on its successor (to
    // the leader of view 3).
    let records = vec![
        Record::Base {
            block: good.base.clone(),
            qc: good.base_qc().unwrap().clone(),
        },
        Record::Decided {
            height: 1,
            block: hash(&base),
        },
    ];
    let (mut core, _) = Core::restore(
        config(1),
        key(1),
        Box::new(Ed25519Verifier),
        records,
        1,
        NOW,
    )
    .unwrap();
    let status = core.status();
    assert_eq!(
        (
            status.base_height,
            status.decided_height,
            status.high_qc_view
        ),
        (1, 1, 1)
    );
    let next = propose(2, &base, certify(&base), None, vec![]);
    let actions = deliver(&mut core, leader(2), Message::Proposal(next));
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Send {
                message: Message::Vote(v),
                ..
            } if v.view == 2
        )),
        "{actions:#?}"
    );
}
