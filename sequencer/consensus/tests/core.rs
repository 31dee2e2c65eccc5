//! Scripted tests: one replica driven input by input, its actions checked against the protocol
//! rules. The test plays every other replica, signing with their keys.

mod common;

use common::*;
use curve_consensus::{
    Action, Alarm, Committee, Core, Ed25519Verifier, Hash, Input, Message, Proposal, QuorumCert,
    RECENTLY_DECIDED_HEIGHTS, Record, ReplicaId, RestoreError, Timeout, Vote,
};
use curve_formats::batch::BatchHeader;
use proptest::prelude::*;

fn deliver(core: &mut Core, from: usize, message: Message) -> Vec<Action> {
    core.step(
        NOW,
        Input::Message {
            from: from as ReplicaId,
            message,
        },
    )
}

fn sent_votes(actions: &[Action]) -> Vec<(ReplicaId, Vote)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                to,
                message: Message::Vote(v),
            } => Some((*to, v.clone())),
            _ => None,
        })
        .collect()
}

fn broadcasts(actions: &[Action]) -> Vec<&Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Broadcast(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// The proposal this replica broadcast, if any.
fn proposed(actions: &[Action]) -> Option<Proposal> {
    broadcasts(actions).into_iter().find_map(|m| match m {
        Message::Proposal(p) => Some(p.clone()),
        _ => None,
    })
}

/// Re-signs a proposal edited by a test, as its leader would.
fn resign(p: &mut Proposal) {
    let message = curve_consensus::types::proposal_message(CHAIN, &p.block.hash(CHAIN));
    p.signature = key(usize::from(p.block.proposer)).sign(&message);
}

fn decided(actions: &[Action]) -> Vec<(u64, Hash)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Decided(blocks) => Some(blocks.iter().map(|b| (b.height, b.hash))),
            _ => None,
        })
        .flatten()
        .collect()
}

fn alarms(actions: &[Action]) -> Vec<&Alarm> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Alarm(alarm) => Some(alarm),
            _ => None,
        })
        .collect()
}

fn sends_anything(actions: &[Action]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Send { .. } | Action::Broadcast(_)))
}

/// The index of the first synced persist and of the first send: the barrier comes first.
fn assert_persist_before_send(actions: &[Action]) {
    let persist = actions
        .iter()
        .position(|a| matches!(a, Action::Persist { sync: true, .. }))
        .expect("a synced persist");
    let send = actions
        .iter()
        .position(|a| matches!(a, Action::Send { .. } | Action::Broadcast(_)))
        .expect("a send");
    assert!(
        persist < send,
        "persist at {persist} must precede send at {send}: {actions:#?}"
    );
}

/// All records persisted by `actions`, in order, as a store would keep them (later keys win).
fn stored(store: &mut Vec<Record>, actions: &[Action]) {
    for action in actions {
        if let Action::Persist { records, .. } = action {
            for record in records {
                store.retain(|r| r.key() != record.key());
                store.push(record.clone());
            }
        }
    }
}

#[test]
fn the_first_leader_proposes_on_genesis_after_persisting() {
    let (_, actions) = replica(1);
    assert_eq!(
        actions[0],
        Action::SetTimer {
            view: 1,
            after_ms: 1_000
        }
    );
    assert_persist_before_send(&actions);
    let proposal = proposed(&actions).expect("leader of view 1 proposes");
    assert_eq!(proposal.block.view, 1);
    assert_eq!(proposal.block.height, 1);
    assert_eq!(proposal.justify, QuorumCert::genesis(CHAIN));
    // It also votes for its own block, to the leader of view 2.
    let votes = sent_votes(&actions);
    assert_eq!(votes.len(), 1);
    assert_eq!(votes[0].0, 2);
    // Non-leaders only arm their timer.
    let (_, actions) = replica(2);
    assert_eq!(
        actions,
        vec![Action::SetTimer {
            view: 1,
            after_ms: 1_000
        }]
    );
}

#[test]
fn a_replica_votes_once_after_persisting_and_flags_an_equivocating_leader() {
    let (mut core, _) = replica(3);
    let p = propose(
        1,
        &genesis(),
        QuorumCert::genesis(CHAIN),
        None,
        vec![b"tx".to_vec()],
    );
    let actions = deliver(&mut core, 1, Message::Proposal(p.clone()));
    assert_persist_before_send(&actions);
    let votes = sent_votes(&actions);
    assert_eq!(votes.len(), 1);
    let (to, v) = &votes[0];
    assert_eq!(
        (*to, v.view, v.block, v.replica),
        (2, 1, hash(&certified(&p)), 3)
    );
    let persisted_vote = actions.iter().any(|a| {
        matches!(a, Action::Persist { records, sync: true }
            if records.iter().any(|r| matches!(r, Record::Safety(s) if s.last_voted_view == 1)))
    });
    assert!(persisted_vote, "the vote's view is persisted: {actions:#?}");
    // The same leader signs another block for view 1: no second vote, an alarm.
    let twin = propose(
        1,
        &genesis(),
        QuorumCert::genesis(CHAIN),
        None,
        vec![b"other".to_vec()],
    );
    let actions = deliver(&mut core, 1, Message::Proposal(twin));
    assert!(sent_votes(&actions).is_empty());
    assert_eq!(
        alarms(&actions),
        vec![&Alarm::Equivocation {
            replica: 1,
            view: 1
        }]
    );
    // A duplicate of the first proposal changes nothing.
    assert!(deliver(&mut core, 1, Message::Proposal(p)).is_empty());
}

#[test]
fn invalid_proposals_are_ignored() {
    let g = genesis();
    let gqc = QuorumCert::genesis(CHAIN);
    let good = propose(1, &g, gqc.clone(), None, vec![]);
    let mut bad_signature = good.clone();
    bad_signature.signature[0] ^= 1;
    let mut wrong_proposer = good.clone();
    wrong_proposer.block.proposer = 2;
    let mut wrong_parent = good.clone();
    wrong_parent.block.parent = [9; 32];
    let oversized = propose(1, &g, gqc.clone(), None, vec![vec![1]; 5]);
    let view_zero = propose(0, &g, gqc.clone(), None, vec![]);
    // View 2 without QC(1) or TC(1).
    let skips_view = propose(2, &g, gqc.clone(), None, vec![]);
    // A justify whose signatures are not a quorum.
    let b1 = certified(&good);
    let weak_qc = qc(1, hash(&b1), &[0, 1]);
    let weak = propose(2, &b1, weak_qc, None, vec![]);
    let cases = [
        ("bad signature", bad_signature),
        ("not the leader", wrong_proposer),
        ("parent is not the justified block", wrong_parent),
        ("too many transactions", oversized),
        ("view 0", view_zero),
        ("no evidence for the skipped view", skips_view),
        ("justify below quorum", weak),
    ];
    for (what, proposal) in cases {
        let (mut core, _) = replica(3);
        let actions = deliver(&mut core, 1, Message::Proposal(proposal));
        assert!(actions.is_empty(), "{what}: {actions:#?}");
        assert_eq!(core.status().last_voted_view, 0, "{what}");
    }
    // From a non-member peer: ignored before anything is looked at.
    let (mut core, _) = replica(3);
    assert!(deliver(&mut core, 9, Message::Proposal(good)).is_empty());
}

#[test]
fn the_next_leader_forms_a_qc_from_a_quorum_of_distinct_valid_votes() {
    let (mut core, _) = replica(2);
    let p1 = propose(1, &genesis(), QuorumCert::genesis(CHAIN), None, vec![]);
    let b1 = hash(&certified(&p1));
    let actions = deliver(&mut core, 1, Message::Proposal(p1));
    assert_eq!(
        sent_votes(&actions).len(),
        0,
        "its own vote is handled internally"
    );
    assert_eq!(core.status().view, 1);
    // Replica 2 voted for itself; one more vote is 2 < quorum 3.
    let actions = deliver(&mut core, 0, Message::Vote(vote(0, 1, b1)));
    assert!(!sends_anything(&actions));
    // A duplicate, a bad signature and a non-member do not count.
    assert!(deliver(&mut core, 0, Message::Vote(vote(0, 1, b1))).is_empty());
    let mut forged = vote(3, 1, b1);
    forged.signature[5] ^= 1;
    assert!(deliver(&mut core, 3, Message::Vote(forged)).is_empty());
    let mut outsider = vote(3, 1, b1);
    outsider.replica = 17;
    assert!(deliver(&mut core, 3, Message::Vote(outsider)).is_empty());
    assert_eq!(core.status().view, 1);
    // A second, different vote from replica 0 is evidence.
    let actions = deliver(&mut core, 0, Message::Vote(vote(0, 1, [5; 32])));
    assert_eq!(
        alarms(&actions),
        vec![&Alarm::DoubleVote {
            replica: 0,
            view: 1
        }]
    );
    // The third distinct vote: QC(1), view 2, and replica 2 proposes on it.
    let actions = deliver(&mut core, 3, Message::Vote(vote(3, 1, b1)));
    assert_eq!(core.status().view, 2);
    assert_eq!(core.status().high_qc_view, 1);
    assert_persist_before_send(&actions);
    let proposal = proposed(&actions).expect("the leader of view 2 proposes");
    assert_eq!((proposal.block.view, proposal.block.height), (2, 2));
    assert_eq!((proposal.justify.view, proposal.justify.block), (1, b1));
    let signers: Vec<ReplicaId> = proposal.justify.votes.iter().map(|(r, _)| *r).collect();
    assert_eq!(signers, vec![0, 2, 3]);
}

#[test]
fn two_chain_decides_only_on_consecutive_views() {
    let (mut core, _) = replica(0);
    let g = genesis();
    let p1 = propose(1, &g, QuorumCert::genesis(CHAIN), None, vec![b"a".to_vec()]);
    let b1 = certified(&p1);
    let p2 = propose(2, &b1, certify(&b1), None, vec![]);
    let b2 = certified(&p2);
    deliver(&mut core, 1, Message::Proposal(p1));
    let actions = deliver(&mut core, 2, Message::Proposal(p2));
    assert!(
        decided(&actions).is_empty(),
        "one certified block decides nothing"
    );
    // View 3 fails; view 4 extends QC(2) with TC(3). QC(2) ∘ QC(1) are consecutive: B1 decided.
    let qc2 = certify(&b2);
    let tc3 = tc(3, &[(0, &qc2), (1, &qc2), (3, &qc2)]);
    let p4 = propose(4, &b2, qc2.clone(), Some(tc3), vec![]);
    let b4 = certified(&p4);
    let actions = deliver(&mut core, 0, Message::Proposal(p4));
    assert_eq!(decided(&actions), vec![(1, hash(&b1))]);
    // QC(4) certifies B4 whose justify is from view 2, not 3: B2 is not decided yet.
    let p5 = propose(5, &b4, certify(&b4), None, vec![]);
    let b5 = certified(&p5);
    let actions = deliver(&mut core, 1, Message::Proposal(p5));
    assert!(decided(&actions).is_empty(), "{actions:#?}");
    // QC(5) on B5 (justify QC(4), consecutive): B4 and its undecided ancestor B2 are decided.
    let p6 = propose(6, &b5, certify(&b5), None, vec![]);
    let actions = deliver(&mut core, 2, Message::Proposal(p6));
    assert_eq!(decided(&actions), vec![(2, hash(&b2)), (3, hash(&b4))]);
    let decide_persist = actions
        .iter()
        .position(|a| matches!(a, Action::Persist { records, sync: true } if records.iter().any(|r| matches!(r, Record::Decided { height: 3, .. }))))
        .expect("the decided tip is persisted");
    let decide = actions
        .iter()
        .position(|a| matches!(a, Action::Decided(_)))
        .unwrap();
    assert!(decide_persist < decide);
    assert_eq!(core.status().decided_height, 3);
}

#[test]
fn a_timed_out_view_is_never_voted_in_and_back_off_doubles_then_resets() {
    // Replica 0 leads none of views 1 to 3.
    let (mut core, _) = replica(0);
    let actions = core.step(NOW, Input::TimerFired { view: 1 });
    assert_persist_before_send(&actions);
    let t = match broadcasts(&actions)[..] {
        [Message::Timeout(t)] => t.clone(),
        _ => panic!("one timeout broadcast: {actions:#?}"),
    };
    assert_eq!((t.view, t.high_qc.view, t.replica), (1, 0, 0));
    assert!(actions.contains(&Action::SetTimer {
        view: 1,
        after_ms: 1_000
    }));
    // A late proposal for view 1 gets no vote.
    let p1 = propose(1, &genesis(), QuorumCert::genesis(CHAIN), None, vec![]);
    let actions = deliver(&mut core, 1, Message::Proposal(p1));
    assert!(sent_votes(&actions).is_empty());
    // A stale timer is ignored; the timer of the current view re-sends the same timeout.
    assert!(core.step(NOW, Input::TimerFired { view: 0 }).is_empty());
    let again = core.step(NOW, Input::TimerFired { view: 1 });
    assert_eq!(broadcasts(&again), vec![&Message::Timeout(t)]);
    // TC(1) from 1, 3 and itself: view 2 keeps the base timer (one crashed leader fails two
    // views in a row).
    let gqc = QuorumCert::genesis(CHAIN);
    deliver(&mut core, 3, Message::Timeout(timeout(3, 1, &gqc, None)));
    let actions = deliver(&mut core, 1, Message::Timeout(timeout(1, 1, &gqc, None)));
    assert_eq!(core.status().view, 2);
    assert!(
        actions.contains(&Action::SetTimer {
            view: 2,
            after_ms: 1_000
        }),
        "{actions:#?}"
    );
    // View 2 fails too: now it doubles, 2 s.
    let tc1 = tc(1, &[(0, &gqc), (1, &gqc), (3, &gqc)]);
    core.step(NOW, Input::TimerFired { view: 2 });
    deliver(
        &mut core,
        3,
        Message::Timeout(timeout(3, 2, &gqc, Some(tc1.clone()))),
    );
    let actions = deliver(
        &mut core,
        1,
        Message::Timeout(timeout(1, 2, &gqc, Some(tc1))),
    );
    assert!(
        actions.contains(&Action::SetTimer {
            view: 3,
            after_ms: 2_000
        }),
        "{actions:#?}"
    );
    // Progress (a proposal with the TC of view 2 whose QC then forms) resets it.
    let tc2 = tc(2, &[(0, &gqc), (1, &gqc), (3, &gqc)]);
    let p3 = propose(3, &genesis(), gqc.clone(), Some(tc2), vec![]);
    let b3 = certified(&p3);
    deliver(&mut core, 3, Message::Proposal(p3));
    // It votes in view 3 (to itself, the leader of view 4).
    assert_eq!(core.status().last_voted_view, 3);
    let p4 = propose(4, &b3, certify(&b3), None, vec![]);
    let actions = deliver(&mut core, 0, Message::Proposal(p4));
    // (Replica 0 leads view 4, so it also proposes there.)
    assert!(
        actions.contains(&Action::SetTimer {
            view: 4,
            after_ms: 1_000
        }),
        "{actions:#?}"
    );
}

#[test]
fn the_lock_refuses_a_tc_proposal_below_the_highest_reported_qc() {
    let (mut core, _) = replica(3);
    let g = genesis();
    let gqc = QuorumCert::genesis(CHAIN);
    let p1 = propose(1, &g, gqc.clone(), None, vec![]);
    let b1 = certified(&p1);
    let qc1 = certify(&b1);
    // TC(2) reports QC(1); a view-3 proposal extending genesis instead is not safe.
    let tc2 = tc(2, &[(0, &qc1), (1, &gqc), (2, &gqc)]);
    let unsafe_proposal = propose(3, &g, gqc.clone(), Some(tc2.clone()), vec![]);
    let actions = deliver(&mut core, 3, Message::Proposal(unsafe_proposal));
    assert!(actions.is_empty(), "{actions:#?}");
    // Extending QC(1) is.
    deliver(&mut core, 1, Message::Proposal(p1));
    let safe = propose(3, &b1, qc1, Some(tc2), vec![]);
    let actions = deliver(&mut core, 3, Message::Proposal(safe));
    assert_eq!(sent_votes(&actions).len(), 1, "{actions:#?}");
}

/// Certificates that list a signer twice (or out of order) cannot come off the wire — the
/// decoder refuses them — but the core must not rely on that: built directly, they count for
/// nothing.
#[test]
fn certificates_with_duplicate_signers_built_past_the_decoder_count_for_nothing() {
    let g = genesis();
    let gqc = QuorumCert::genesis(CHAIN);
    let p1 = propose(1, &g, gqc.clone(), None, vec![]);
    let b1 = certified(&p1);
    let honest_qc1 = certify(&b1);
    // Two distinct signers padded to three entries, the padding in each position; and the
    // three signers out of order.
    let padded = [vec![0, 0, 1], vec![0, 1, 1], vec![1, 0, 1]];
    let mut forged_qcs: Vec<QuorumCert> = padded.iter().map(|s| qc(1, hash(&b1), s)).collect();
    forged_qcs.push(qc(1, hash(&b1), &[2, 0, 1]));
    for forged in forged_qcs {
        let (mut core, _) = replica(0);
        deliver(&mut core, 1, Message::Proposal(p1.clone()));
        let p2 = propose(2, &b1, forged.clone(), None, vec![]);
        let actions = deliver(&mut core, 2, Message::Proposal(p2));
        assert!(actions.is_empty(), "{:?}: {actions:#?}", forged.votes);
        assert_eq!((core.status().view, core.status().high_qc_view), (1, 0));
        // In a timeout, the same QC moves nothing either.
        let actions = deliver(&mut core, 1, Message::Timeout(timeout(1, 2, &forged, None)));
        assert!(actions.is_empty(), "{actions:#?}");
        assert_eq!(core.status().high_qc_view, 0);
        // The same signatures without the duplicate are a quorum.
        let p2 = propose(2, &b1, honest_qc1.clone(), None, vec![]);
        let actions = deliver(&mut core, 2, Message::Proposal(p2));
        assert_eq!(
            sent_votes(&actions).len(),
            1,
            "{:?}: {actions:#?}",
            forged.votes
        );
    }
    // A TC whose shares repeat a replica: a view-2 proposal justified by it is ignored.
    let (mut core, _) = replica(0);
    let mut padded_tc = tc(1, &[(0, &gqc), (1, &gqc), (2, &gqc)]);
    padded_tc.shares[2] = padded_tc.shares[1];
    let on_padded = propose(2, &g, gqc.clone(), Some(padded_tc.clone()), vec![]);
    assert!(deliver(&mut core, 2, Message::Proposal(on_padded)).is_empty());
    let carried = timeout(1, 2, &gqc, Some(padded_tc));
    assert!(deliver(&mut core, 1, Message::Timeout(carried)).is_empty());
    assert_eq!(core.status().view, 1);
    let honest_tc = tc(1, &[(0, &gqc), (1, &gqc), (2, &gqc)]);
    let on_honest = propose(2, &g, gqc, Some(honest_tc), vec![]);
    assert_eq!(
        sent_votes(&deliver(&mut core, 2, Message::Proposal(on_honest))).len(),
        1
    );
}

#[test]
fn f_plus_one_timeouts_pull_a_replica_forward_and_far_future_ones_are_ignored() {
    let (mut core, _) = replica(3);
    let gqc = QuorumCert::genesis(CHAIN);
    // Far-future timeouts with valid signatures but no certificate: dropped, no state kept.
    for view in [10_000, 1 << 40] {
        let actions = deliver(&mut core, 0, Message::Timeout(timeout(0, view, &gqc, None)));
        assert!(actions.is_empty());
        assert_eq!(core.status().view, 1);
    }
    // A timeout whose QC claims a higher view than the timeout is malformed.
    let mut bad = timeout(0, 1, &gqc, None);
    bad.high_qc.view = 1;
    assert!(deliver(&mut core, 0, Message::Timeout(bad)).is_empty());
    // One timeout for view 1: f = 1, not enough. Two: join.
    assert!(!sends_anything(&deliver(
        &mut core,
        0,
        Message::Timeout(timeout(0, 1, &gqc, None))
    )));
    let actions = deliver(&mut core, 1, Message::Timeout(timeout(1, 1, &gqc, None)));
    assert_persist_before_send(&actions);
    assert!(matches!(
        broadcasts(&actions)[..],
        [Message::Timeout(Timeout {
            view: 1,
            replica: 3,
            ..
        })]
    ));
    assert_eq!(core.status().last_voted_view, 1);
}

#[test]
fn a_timeout_carrying_a_tc_brings_a_laggard_into_the_next_view() {
    let (mut core, _) = replica(3);
    let gqc = QuorumCert::genesis(CHAIN);
    let tc4 = tc(4, &[(0, &gqc), (1, &gqc), (2, &gqc)]);
    let actions = deliver(
        &mut core,
        0,
        Message::Timeout(timeout(0, 5, &gqc, Some(tc4.clone()))),
    );
    assert_eq!(core.status().view, 5);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::SetTimer { view: 5, .. }))
    );
    // A TC with a forged share is refused whole.
    let (mut core, _) = replica(3);
    let mut forged = tc4;
    forged.shares[1].1.signature[0] ^= 1;
    assert!(
        deliver(
            &mut core,
            0,
            Message::Timeout(timeout(0, 5, &gqc, Some(forged)))
        )
        .is_empty()
    );
    assert_eq!(core.status().view, 1);
}

#[test]
fn missing_ancestors_are_fetched_then_voted_on() {
    let g = genesis();
    let p1 = propose(1, &g, QuorumCert::genesis(CHAIN), None, vec![]);
    let b1 = certified(&p1);
    let p2 = propose(2, &b1, certify(&b1), None, vec![]);
    let (mut core, _) = replica(0);
    let actions = deliver(&mut core, 2, Message::Proposal(p2.clone()));
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, Action::Send { .. }))
            .collect::<Vec<_>>(),
        vec![&Action::Send {
            to: 2,
            message: Message::FetchRequest(hash(&b1))
        }]
    );
    assert!(sent_votes(&actions).is_empty());
    // An unrequested block is ignored.
    let stray = certified(&propose(5, &g, QuorumCert::genesis(CHAIN), None, vec![]));
    assert!(deliver(&mut core, 2, Message::FetchResponse(stray)).is_empty());
    // The requested block connects, and the waiting proposal gets its vote.
    let actions = deliver(&mut core, 2, Message::FetchResponse(b1.clone()));
    let votes = sent_votes(&actions);
    assert_eq!(votes.len(), 1, "{actions:#?}");
    assert_eq!(votes[0].1.view, 2);
    // If the fetch goes unanswered, the timer asks the next peer.
    let (mut core, _) = replica(0);
    deliver(&mut core, 2, Message::Proposal(p2));
    let actions = core.step(NOW, Input::TimerFired { view: 2 });
    assert!(
        actions.contains(&Action::Send {
            to: 3,
            message: Message::FetchRequest(hash(&b1))
        }),
        "{actions:#?}"
    );
    // And it answers fetches for blocks it has, from peers only.
    let actions = deliver(&mut core, 1, Message::FetchRequest(hash(&g)));
    assert_eq!(
        actions,
        vec![Action::Send {
            to: 1,
            message: Message::FetchResponse(g)
        }]
    );
    assert!(deliver(&mut core, 1, Message::FetchRequest([3; 32])).is_empty());
}

#[test]
fn a_restarted_replica_never_signs_again_in_a_view_it_signed_in() {
    let (mut core, boot) = replica(3);
    let mut store = Vec::new();
    stored(&mut store, &boot);
    let p1 = propose(
        1,
        &genesis(),
        QuorumCert::genesis(CHAIN),
        None,
        vec![b"x".to_vec()],
    );
    let actions = deliver(&mut core, 1, Message::Proposal(p1));
    stored(&mut store, &actions);
    assert_eq!(sent_votes(&actions).len(), 1);
    drop(core);
    let (mut core, actions) = Core::restore(
        config(3),
        key(3),
        Box::new(Ed25519Verifier),
        store.clone(),
        0,
        NOW,
    )
    .unwrap();
    assert!(!sends_anything(&actions));
    assert_eq!(core.status().last_voted_view, 1);
    let twin = propose(
        1,
        &genesis(),
        QuorumCert::genesis(CHAIN),
        None,
        vec![b"y".to_vec()],
    );
    let actions = deliver(&mut core, 1, Message::Proposal(twin));
    assert!(sent_votes(&actions).is_empty(), "{actions:#?}");
    // Restoring with someone else's key, or an executor ahead of the decided height, fails.
    let wrong = Core::restore(
        config(3),
        key(2),
        Box::new(Ed25519Verifier),
        store.clone(),
        0,
        NOW,
    );
    assert!(matches!(wrong, Err(RestoreError::WrongKey { me: 3 })));
    let ahead = Core::restore(config(3), key(3), Box::new(Ed25519Verifier), store, 5, NOW);
    assert!(matches!(
        ahead,
        Err(RestoreError::ExecutedAhead {
            executed: 5,
            decided: 0
        })
    ));
}

#[test]
fn restore_re_emits_decided_blocks_the_executor_lost() {
    let (mut core, boot) = replica(0);
    let mut store = Vec::new();
    stored(&mut store, &boot);
    let mut parent = genesis();
    let mut justify = QuorumCert::genesis(CHAIN);
    let mut hashes = Vec::new();
    for view in 1..=4 {
        let p = propose(
            view,
            &parent,
            justify,
            None,
            vec![view.to_le_bytes().to_vec()],
        );
        let actions = deliver(
            &mut core,
            usize::from(leader(view)),
            Message::Proposal(p.clone()),
        );
        stored(&mut store, &actions);
        parent = certified(&p);
        hashes.push(hash(&parent));
        justify = certify(&parent);
    }
    assert_eq!(core.status().decided_height, 2);
    let (_, actions) =
        Core::restore(config(0), key(0), Box::new(Ed25519Verifier), store, 1, NOW).unwrap();
    assert_eq!(decided(&actions), vec![(2, hashes[1])]);
}

#[test]
fn attestations_form_an_anchor_certificate_and_flag_divergence() {
    // attest_every = 2: height 1 is not attested, height 2 is.
    let (mut core, _) = replica(3);
    assert!(
        core.step(
            NOW,
            Input::Executed {
                header: batch_header(1, [1; 32])
            }
        )
        .is_empty()
    );
    let actions = core.step(
        NOW,
        Input::Executed {
            header: batch_header(2, [2; 32]),
        },
    );
    match broadcasts(&actions)[..] {
        [Message::Attestation(a)] => {
            assert_eq!((a.header, a.replica), (batch_header(2, [2; 32]), 3));
            assert!(
                curve_consensus::Verifier::verify(
                    &mut Ed25519Verifier,
                    &ed25519_dalek::VerifyingKey::from_bytes(&key(3).public()).unwrap(),
                    &curve_consensus::types::attestation_message(CHAIN, &a.header),
                    &a.signature
                ),
                "the attestation is signed over Tag(BatchHeader) || header"
            );
        }
        _ => panic!("{actions:#?}"),
    }
    // A height off the attestation grid, a bad signature, a non-member and a header whose
    // signature was made for another field value are ignored.
    let misaligned = attestation(0, 3, [2; 32]);
    assert!(deliver(&mut core, 0, Message::Attestation(misaligned)).is_empty());
    let mut forged = attestation(0, 2, [2; 32]);
    forged.signature[1] ^= 1;
    assert!(deliver(&mut core, 0, Message::Attestation(forged)).is_empty());
    let mut outsider = attestation(0, 2, [2; 32]);
    outsider.replica = 40;
    assert!(deliver(&mut core, 0, Message::Attestation(outsider)).is_empty());
    let mut moved = attestation(0, 2, [2; 32]);
    moved.header.withdrawal_total = 1;
    assert!(deliver(&mut core, 0, Message::Attestation(moved)).is_empty());
    // Replica 1 lies; 0 and 2 agree with 3: certified.
    assert!(
        deliver(
            &mut core,
            1,
            Message::Attestation(attestation(1, 2, [6; 32]))
        )
        .is_empty()
    );
    assert!(
        deliver(
            &mut core,
            0,
            Message::Attestation(attestation(0, 2, [2; 32]))
        )
        .is_empty()
    );
    let actions = deliver(
        &mut core,
        2,
        Message::Attestation(attestation(2, 2, [2; 32])),
    );
    match &actions[..] {
        [Action::Anchored(cert)] => {
            assert_eq!(cert.header, batch_header(2, [2; 32]));
            let signers: Vec<ReplicaId> = cert.signatures.iter().map(|(r, _)| *r).collect();
            assert_eq!(signers, vec![0, 2, 3]);
        }
        _ => panic!("{actions:#?}"),
    }
    // Another replica whose executor computed something else raises divergence.
    let (mut other, _) = replica(1);
    other.step(
        NOW,
        Input::Executed {
            header: batch_header(2, [6; 32]),
        },
    );
    for i in [0, 2] {
        deliver(
            &mut other,
            i,
            Message::Attestation(attestation(i, 2, [2; 32])),
        );
    }
    let actions = deliver(
        &mut other,
        3,
        Message::Attestation(attestation(3, 2, [2; 32])),
    );
    assert!(
        alarms(&actions).contains(&&Alarm::ExecutionDivergence {
            height: 2,
            ours: Box::new(batch_header(2, [6; 32])),
            certified: Box::new(batch_header(2, [2; 32]))
        }),
        "{actions:#?}"
    );
}

#[test]
fn headers_differing_in_any_field_are_not_one_quorum() {
    // Three replicas agree on the state root but one signs a different withdrawal total: no
    // quorum on either header, so nothing a withdrawal could be paid from is certified.
    let (mut core, _) = replica(3);
    core.step(
        NOW,
        Input::Executed {
            header: batch_header(2, [2; 32]),
        },
    );
    let mut odd = batch_header(2, [2; 32]);
    odd.withdrawal_total = 5;
    let signed = curve_consensus::SignedAttestation {
        signature: key(1).sign(&curve_consensus::types::attestation_message(CHAIN, &odd)),
        header: odd,
        replica: 1,
    };
    assert!(deliver(&mut core, 1, Message::Attestation(signed)).is_empty());
    assert!(
        deliver(
            &mut core,
            0,
            Message::Attestation(attestation(0, 2, [2; 32]))
        )
        .is_empty(),
        "two of four signed the replica's own header"
    );
    assert!(matches!(
        &deliver(
            &mut core,
            2,
            Message::Attestation(attestation(2, 2, [2; 32]))
        )[..],
        [Action::Anchored(_)]
    ));
}

#[test]
fn leaders_include_mempool_transactions_once() {
    let (mut core, _) = replica(2);
    for tx in [b"a".to_vec(), b"b".to_vec(), b"a".to_vec(), vec![0; 70_000]] {
        core.step(NOW, Input::Submit(tx));
    }
    assert_eq!(
        core.status().mempool,
        2,
        "duplicates and oversized transactions are dropped"
    );
    let p1 = propose(
        1,
        &genesis(),
        QuorumCert::genesis(CHAIN),
        None,
        vec![b"a".to_vec()],
    );
    let b1 = hash(&certified(&p1));
    deliver(&mut core, 1, Message::Proposal(p1));
    deliver(&mut core, 0, Message::Vote(vote(0, 1, b1)));
    let actions = deliver(&mut core, 3, Message::Vote(vote(3, 1, b1)));
    let proposal = proposed(&actions).unwrap();
    assert_eq!(
        proposal.block.payload,
        vec![b"b".to_vec()],
        "`a` is already in the parent"
    );
}

#[test]
fn a_transaction_decided_in_a_recent_height_is_not_taken_again() {
    // A peer's forward or a client's retry may arrive after the transaction's block was
    // decided: the leader must not propose it a second time, before or after a restart.
    let (mut core, boot) = replica(0);
    let mut store = Vec::new();
    stored(&mut store, &boot);
    let a = b"a".to_vec();
    let mut parent = genesis();
    let mut justify = QuorumCert::genesis(CHAIN);
    for view in 1..=3 {
        let payload = if view == 1 {
            vec![a.clone()]
        } else {
            Vec::new()
        };
        let p = propose(view, &parent, justify, None, payload);
        let actions = deliver(
            &mut core,
            usize::from(leader(view)),
            Message::Proposal(p.clone()),
        );
        stored(&mut store, &actions);
        parent = certified(&p);
        justify = certify(&parent);
    }
    assert_eq!(core.status().decided_height, 1, "`a`'s block is decided");
    core.step(NOW, Input::Submit(a.clone()));
    core.step(NOW, Input::Submit(b"b".to_vec()));
    assert_eq!(core.status().mempool, 1, "`a` arrives again and is refused");

    // The QC of view 3 makes this replica the leader of view 4: it proposes `b` alone.
    let b3 = hash(&parent);
    deliver(&mut core, 1, Message::Vote(vote(1, 3, b3)));
    let actions = deliver(&mut core, 2, Message::Vote(vote(2, 3, b3)));
    let own = proposed(&actions).expect("the leader of view 4 proposes");
    assert_eq!(own.block.payload, vec![b"b".to_vec()]);

    // A restarted replica refuses it too.
    let (mut restarted, _) =
        Core::restore(config(0), key(0), Box::new(Ed25519Verifier), store, 1, NOW).unwrap();
    restarted.step(NOW, Input::Submit(a.clone()));
    assert_eq!(restarted.status().mempool, 0, "refused after a restart");

    // Only for the last RECENTLY_DECIDED_HEIGHTS heights: an older replay is the executor's
    // to refuse (its nonce is spent), and remembering every transaction would grow forever.
    parent = certified(&own);
    for view in 5.. {
        let p = propose(view, &parent, certify(&parent), None, Vec::new());
        deliver(
            &mut core,
            usize::from(leader(view)),
            Message::Proposal(p.clone()),
        );
        parent = certified(&p);
        let before = core.status().mempool;
        core.step(NOW, Input::Submit(a.clone()));
        let (decided, after) = (core.status().decided_height, core.status().mempool);
        if decided < 1 + RECENTLY_DECIDED_HEIGHTS {
            assert_eq!(after, before, "refused at decided height {decided}");
        } else {
            assert_eq!(after, before + 1, "taken again at decided height {decided}");
            break;
        }
    }
}

#[test]
fn committees_refuse_duplicate_and_invalid_keys() {
    let a = key(0).public();
    assert!(Committee::new(&[]).is_err());
    assert!(Committee::new(&[a, a]).is_err());
    // The identity point is a weak key.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(Committee::new(&[a, identity]).is_err());
    let c = committee();
    assert_eq!((c.size(), c.faults(), c.quorum()), (4, 1, 3));
    let seven: Vec<[u8; 32]> = (0..7).map(|i| key(i).public()).collect();
    let c = Committee::new(&seven).unwrap();
    assert_eq!((c.faults(), c.quorum()), (2, 5));
}

#[test]
fn timestamps_never_go_back_and_are_not_voted_for_far_ahead() {
    let g = genesis();
    let gqc = QuorumCert::genesis(CHAIN);
    // Far ahead of this replica's clock: stored, not voted for.
    let mut ahead = propose(1, &g, gqc.clone(), None, vec![]);
    ahead.block.timestamp_ms = NOW + 2_001;
    resign(&mut ahead);
    let (mut core, _) = replica(3);
    let actions = deliver(&mut core, 1, Message::Proposal(ahead.clone()));
    assert!(sent_votes(&actions).is_empty());
    assert!(core.block(&ahead.block.hash(CHAIN)).is_some());
    // Within the drift bound: voted for.
    let (mut core, _) = replica(3);
    let mut near = ahead;
    near.block.timestamp_ms = NOW + 2_000;
    resign(&mut near);
    assert_eq!(
        sent_votes(&deliver(&mut core, 1, Message::Proposal(near.clone()))).len(),
        1
    );
    // A child stamped before its parent is not a valid extension.
    let b1 = certified(&near);
    let mut back = propose(2, &b1, certify(&b1), None, vec![]);
    back.block.timestamp_ms = NOW + 1_999;
    resign(&mut back);
    let actions = deliver(&mut core, 2, Message::Proposal(back.clone()));
    assert!(sent_votes(&actions).is_empty());
    assert!(core.block(&back.block.hash(CHAIN)).is_none());
    // A leader whose clock is behind its parent's stamp keeps the parent's.
    let (mut leader2, _) = replica(2);
    deliver(&mut leader2, 1, Message::Proposal(near));
    let b1_hash = hash(&b1);
    deliver(&mut leader2, 0, Message::Vote(vote(0, 1, b1_hash)));
    let actions = deliver(&mut leader2, 3, Message::Vote(vote(3, 1, b1_hash)));
    let proposal = proposed(&actions).unwrap();
    assert_eq!(proposal.block.timestamp_ms, NOW + 2_000);
}

/// An executor that records what it applied.
struct Recorder(Vec<u64>);

impl curve_consensus::Executor for Recorder {
    fn executed_height(&self) -> u64 {
        self.0.last().copied().unwrap_or(0)
    }
    fn execute(&mut self, block: &curve_consensus::DecidedBlock) -> BatchHeader {
        self.0.push(block.height);
        batch_header(block.height, [block.height as u8; 32])
    }
}

#[test]
fn executors_apply_each_height_once_in_order() {
    let block = |height| curve_consensus::DecidedBlock {
        height,
        hash: [0; 32],
        view: height,
        timestamp_ms: 0,
        payload: vec![],
    };
    let mut executor = Recorder(vec![1, 2]);
    // Heights 2 and 3 re-announced after a restart, then 4: only 3 and 4 run.
    let inputs = curve_consensus::execute_decided(&mut executor, &[block(2), block(3), block(4)]);
    assert_eq!(executor.0, vec![1, 2, 3, 4]);
    assert_eq!(
        inputs,
        vec![
            Input::Executed {
                header: batch_header(3, [3; 32])
            },
            Input::Executed {
                header: batch_header(4, [4; 32])
            },
        ]
    );
}

/// Extreme and ordinary values for views and heights.
fn any_view() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..8,
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(curve_consensus::VIEW_LIMIT - 1),
        Just(curve_consensus::VIEW_LIMIT),
        any::<u64>(),
    ]
}

/// A message signed by replica `who` (a member, so it passes the signature checks and reaches
/// the arithmetic) with the given views.
fn any_message() -> impl Strategy<Value = Message> {
    (0usize..6, 0usize..N, any_view(), any_view(), any::<bool>()).prop_map(
        |(kind, who, view, other, with_tc)| {
            let g = genesis();
            let parent_qc = qc(other.min(view.saturating_sub(1)), hash(&g), &[0, 1, 2]);
            match kind {
                0 => {
                    let mut p = propose(1, &g, QuorumCert::genesis(CHAIN), None, vec![]);
                    p.block.view = view;
                    p.block.proposer = leader(view);
                    p.block.height = other;
                    p.justify = parent_qc.clone();
                    p.block.parent = parent_qc.block;
                    if with_tc {
                        p.timeout_cert = Some(tc(
                            view.saturating_sub(1),
                            &[(0, &parent_qc), (1, &parent_qc), (3, &parent_qc)],
                        ));
                    }
                    resign(&mut p);
                    Message::Proposal(p)
                }
                1 => Message::Vote(vote(who, view, [other as u8; 32])),
                2 => {
                    let last_tc = with_tc
                        .then(|| tc(other, &[(0, &parent_qc), (1, &parent_qc), (2, &parent_qc)]));
                    Message::Timeout(timeout(who, view, &parent_qc, last_tc))
                }
                3 => Message::FetchRequest([view as u8; 32]),
                4 => {
                    let mut p = propose(1, &g, QuorumCert::genesis(CHAIN), None, vec![]);
                    p.block.view = view;
                    p.block.height = other;
                    Message::FetchResponse(certified(&p))
                }
                _ => {
                    let mut a = attestation(who, other, [1; 32]);
                    a.header.height = view;
                    a.header.withdrawal_total = u128::from(other) << 64;
                    Message::Attestation(a)
                }
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Validly signed messages with any views and heights, in any order, interleaved with
    /// timers: the core never panics, never moves past the limit (a certificate for view
    /// `VIEW_LIMIT − 1`, which these test keys can sign, leads exactly to it), and never
    /// decides without a quorum behind it.
    #[test]
    fn no_message_sequence_panics_the_core(messages in proptest::collection::vec((0usize..N, any_message()), 1..24)) {
        let (mut core, _) = replica(3);
        for (from, message) in messages {
            deliver(&mut core, from, message);
            let view = core.status().view;
            core.step(NOW, Input::TimerFired { view });
        }
        prop_assert!(core.status().view <= curve_consensus::VIEW_LIMIT);
        prop_assert_eq!(core.status().decided_height, 0);
    }
}

/// Replica 2 (leader of view 2) with an idle delay, having certified view 1's `payload`.
/// A leader packs at most `max_block_gas` (each transaction weighed by `gas_of` on arrival)
/// and stops at the first that does not fit — a later, lighter one is not taken past it (it
/// may be the same sender's next nonce) — and the rest wait for the next block.
#[test]
fn a_leader_packs_no_more_gas_than_a_block_has_and_keeps_arrival_order() {
    let mut config = config(2);
    config.max_block_gas = 10;
    // A payload's gas is its first byte.
    config.gas_of = |tx| u64::from(tx[0]);
    let (mut core, _) = Core::new(config, key(2), Box::new(Ed25519Verifier), NOW).unwrap();
    for tx in [vec![4, 0], vec![5, 1], vec![3, 2], vec![1, 3]] {
        core.step(NOW, Input::Submit(tx));
    }
    let p1 = propose(1, &genesis(), QuorumCert::genesis(CHAIN), None, vec![]);
    let b1 = hash(&certified(&p1));
    deliver(&mut core, 1, Message::Proposal(p1));
    deliver(&mut core, 0, Message::Vote(vote(0, 1, b1)));
    let actions = deliver(&mut core, 3, Message::Vote(vote(3, 1, b1)));
    let proposal = proposed(&actions).expect("a proposal");
    assert_eq!(
        proposal.block.payload,
        vec![vec![4, 0], vec![5, 1]],
        "4 + 5 fit in 10; 3 would not, and 1 is not taken past it"
    );
    assert_eq!(core.status().mempool, 4, "the rest wait");
}

fn leader_after_view_1(payload: Vec<Vec<u8>>) -> (Core, Vec<Action>) {
    leader_after_view_1_with(payload, 0)
}

fn leader_after_view_1_with(payload: Vec<Vec<u8>>, block_interval_ms: u64) -> (Core, Vec<Action>) {
    let mut config = config(2);
    config.idle_block_delay_ms = 250;
    config.block_interval_ms = block_interval_ms;
    let (mut core, _) = Core::new(config, key(2), Box::new(Ed25519Verifier), NOW).unwrap();
    let p1 = propose(1, &genesis(), QuorumCert::genesis(CHAIN), None, payload);
    let block = certified(&p1).block.hash(CHAIN);
    let mut actions = deliver(&mut core, 1, Message::Proposal(p1));
    for voter in [0, 1] {
        actions.extend(deliver(
            &mut core,
            voter,
            Message::Vote(vote(voter, 1, block)),
        ));
    }
    assert_eq!(
        core.status().view,
        2,
        "the QC of view 1 moves the leader on"
    );
    (core, actions)
}

#[test]
fn an_idle_leader_holds_an_empty_block_until_a_transaction_or_its_wake_up() {
    // Nothing to propose and nothing to decide: it waits and asks to be woken.
    let (mut core, actions) = leader_after_view_1(Vec::new());
    assert!(proposed(&actions).is_none(), "{actions:#?}");
    assert!(actions.contains(&Action::Wake {
        view: 2,
        after_ms: 250
    }));
    // The wake-up: an empty block after all.
    let actions = core.step(NOW + 250, Input::Wake { view: 2 });
    let proposal = proposed(&actions).expect("proposes when woken");
    assert!(proposal.block.payload.is_empty());
    assert_persist_before_send(&actions);

    // A transaction while it waits: proposed at once.
    let (mut core, _) = leader_after_view_1(Vec::new());
    let actions = core.step(NOW + 10, Input::Submit(b"tx".to_vec()));
    assert_eq!(
        proposed(&actions).expect("proposes").block.payload,
        vec![b"tx".to_vec()]
    );
    // A stale wake-up for another view does nothing.
    assert!(proposed(&core.step(NOW + 300, Input::Wake { view: 1 })).is_none());

    // A parent with transactions: the empty child is proposed at once, so the parent decides
    // without waiting.
    let (_, actions) = leader_after_view_1(vec![b"paid".to_vec()]);
    assert!(proposed(&actions).is_some_and(|p| p.block.payload.is_empty()));
    assert!(!actions.iter().any(|a| matches!(a, Action::Wake { .. })));
}

#[test]
fn under_light_load_a_leader_waits_the_block_interval_unless_its_block_is_full() {
    // A parent with transactions and one pending transaction: wait 20 ms from entering the
    // view for more.
    let (mut core, actions) = leader_after_view_1_with(vec![b"paid".to_vec()], 20);
    assert!(proposed(&actions).is_none(), "{actions:#?}");
    assert!(actions.contains(&Action::Wake {
        view: 2,
        after_ms: 20
    }));
    let actions = core.step(NOW + 5, Input::Submit(b"one".to_vec()));
    assert!(proposed(&actions).is_none(), "still filling: {actions:#?}");
    let actions = core.step(NOW + 20, Input::Wake { view: 2 });
    assert_eq!(
        proposed(&actions).expect("due").block.payload,
        vec![b"one".to_vec()]
    );

    // Enough transactions for a full block (4 in these tests' config): proposed at once.
    let (mut core, _) = leader_after_view_1_with(vec![b"paid".to_vec()], 20);
    let mut last = Vec::new();
    for i in 0..4u8 {
        last = core.step(NOW + 1, Input::Submit(vec![b'x', i]));
    }
    assert_eq!(proposed(&last).expect("full").block.payload.len(), 4);

    // An idle chain that receives a transaction waits only the interval, not the idle delay.
    let (mut core, actions) = leader_after_view_1_with(Vec::new(), 20);
    assert!(actions.contains(&Action::Wake {
        view: 2,
        after_ms: 250
    }));
    let actions = core.step(NOW + 1, Input::Submit(b"tx".to_vec()));
    assert!(
        actions.contains(&Action::Wake {
            view: 2,
            after_ms: 19
        }),
        "{actions:#?}"
    );
}
