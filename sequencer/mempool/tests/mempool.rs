//! The mempool as a leader meets it: every admission refusal changes nothing; selection gives
//! each sender a gap-free nonce run from its account nonce, round-robin (counts differ by at
//! most one among senders not yet out of ready transactions), rotating the first sender from
//! batch to batch; pruning drops what executed. Expectations are computed from the generated
//! pool by the test itself.

use std::collections::BTreeMap;

use curve_formats::encoding::{Decode, Encode};
use curve_formats::tx::{Action, PublicKey, SignedTransaction, Transaction};
use curve_mempool::{AdmitError, Limits, Mempool};
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use sha2::Digest;

const CHAIN: u64 = 7;

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i.wrapping_add(1); 32])
}

fn signed(sender: &SigningKey, chain_id: u64, nonce: u64, fee: u64) -> Vec<u8> {
    let tx = Transaction {
        chain_id,
        sender: sender.verifying_key().to_bytes(),
        nonce,
        gas_limit: 10_000,
        fee_per_gas: fee,
        action: Action::Transfer {
            to: [9; 32],
            amount: 1,
        },
    };
    let signature = sender.sign(&tx.signing_message()).to_bytes();
    SignedTransaction { tx, signature }.to_bytes()
}

fn nonce_of(bytes: &[u8]) -> (PublicKey, u64) {
    let signed = SignedTransaction::from_bytes(bytes).expect("pooled bytes decode");
    (signed.tx.sender, signed.tx.nonce)
}

#[test]
fn every_refusal_changes_nothing() {
    let limits = Limits {
        transactions: 3,
        bytes: 1 << 20,
        per_sender: 2,
        nonce_window: 5,
    };
    let mut pool = Mempool::new(CHAIN, limits);
    let alice = key(0);
    let zero = |_: &PublicKey| 0;
    let first = signed(&alice, CHAIN, 0, 1);
    pool.admit(first.clone(), zero).expect("admitted");
    let mut bad_signature = signed(&alice, CHAIN, 1, 1);
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 1;
    let cases: Vec<(Vec<u8>, u64, AdmitError)> = vec![
        (
            vec![1, 2, 3],
            0,
            AdmitError::Malformed(
                SignedTransaction::from_bytes(&[1, 2, 3])
                    .unwrap_err()
                    .to_string(),
            ),
        ),
        (
            signed(&alice, 8, 1, 1),
            0,
            AdmitError::WrongChain {
                expected: CHAIN,
                found: 8,
            },
        ),
        (
            vec![0; curve_formats::tx::limits::TRANSACTION_BYTES as usize + 1],
            0,
            AdmitError::TooLarge(curve_formats::tx::limits::TRANSACTION_BYTES as usize + 1),
        ),
        (first.clone(), 0, AdmitError::Duplicate),
        (signed(&alice, CHAIN, 0, 2), 0, AdmitError::NonceTaken(0)),
        (
            signed(&alice, CHAIN, 3, 1),
            4,
            AdmitError::Stale { next: 4, found: 3 },
        ),
        (
            signed(&alice, CHAIN, 6, 1),
            0,
            AdmitError::TooFarAhead {
                next: 0,
                found: 6,
                window: 5,
            },
        ),
        (bad_signature, 0, AdmitError::BadSignature),
    ];
    for (bytes, next, expected) in cases {
        assert_eq!(pool.admit(bytes, |_| next), Err(expected.clone()));
        assert_eq!((pool.len(), pool.bytes()), (1, first.len()), "{expected}");
    }
    // Per sender, then the whole pool.
    pool.admit(signed(&alice, CHAIN, 1, 1), zero)
        .expect("second");
    assert_eq!(
        pool.admit(signed(&alice, CHAIN, 2, 1), zero),
        Err(AdmitError::SenderFull(2))
    );
    pool.admit(signed(&key(1), CHAIN, 0, 1), zero)
        .expect("third");
    let busy = pool.admit(signed(&key(2), CHAIN, 0, 1), zero);
    assert!(
        matches!(
            busy,
            Err(AdmitError::Busy {
                transactions: 3,
                ..
            })
        ),
        "{busy:?}"
    );
    assert_eq!(pool.len(), 3);
    // Bytes bound too.
    let mut small = Mempool::new(
        CHAIN,
        Limits {
            bytes: first.len(),
            ..Limits::default()
        },
    );
    small.admit(first, zero).expect("fits exactly");
    assert!(matches!(
        small.admit(signed(&key(1), CHAIN, 0, 1), zero),
        Err(AdmitError::Busy { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn selection_is_gap_free_per_sender_and_round_robin(
        // Per sender: its account nonce and which of the next 8 nonces it pooled.
        senders in prop::collection::vec((0u64..3, prop::collection::vec(any::<bool>(), 8)), 1..6),
        max in 1usize..30,
    ) {
        let mut pool = Mempool::new(CHAIN, Limits::default());
        let keys: Vec<SigningKey> = (0..senders.len() as u8).map(key).collect();
        let mut account: BTreeMap<PublicKey, u64> = BTreeMap::new();
        // The gap-free run each sender has ready.
        let mut ready: BTreeMap<PublicKey, u64> = BTreeMap::new();
        for (key, (next, present)) in keys.iter().zip(&senders) {
            let public = key.verifying_key().to_bytes();
            account.insert(public, *next);
            for (offset, here) in present.iter().enumerate() {
                if *here {
                    pool.admit(signed(key, CHAIN, next + offset as u64, 1), |_| *next).expect("admitted");
                }
            }
            ready.insert(public, present.iter().take_while(|p| **p).count() as u64);
        }
        let nonce = |sender: &PublicKey| account[sender];
        let batch = pool.select(max, usize::MAX, nonce);
        let available: u64 = ready.values().sum();
        prop_assert_eq!(batch.len() as u64, available.min(max as u64));
        let mut counts: BTreeMap<PublicKey, u64> = BTreeMap::new();
        for bytes in &batch {
            let (sender, n) = nonce_of(bytes);
            let count = counts.entry(sender).or_default();
            prop_assert_eq!(n, account[&sender] + *count, "a sender's nonces run without gaps");
            *count += 1;
        }
        // Round-robin: a sender not out of ready transactions got at least the most any got,
        // minus one.
        let most = counts.values().copied().max().unwrap_or(0);
        for (sender, run) in &ready {
            let got = counts.get(sender).copied().unwrap_or(0);
            if got < *run {
                prop_assert!(got + 1 >= most, "{got} < {most} − 1 with {run} ready");
            }
        }
        // Nothing left the pool until pruned; pruning the selected leaves the rest.
        prop_assert_eq!(pool.len(), senders.iter().map(|(_, p)| p.iter().filter(|x| **x).count()).sum::<usize>());
        for (sender, count) in &counts {
            *account.get_mut(sender).expect("a sender") += count;
        }
        let dropped = pool.prune(|sender| account[sender]);
        prop_assert_eq!(dropped, batch.len());
    }
}

#[test]
fn the_first_sender_rotates_from_batch_to_batch() {
    let mut pool = Mempool::new(CHAIN, Limits::default());
    for i in 0..3 {
        for nonce in 0..3 {
            pool.admit(signed(&key(i), CHAIN, nonce, 1), |_| 0)
                .expect("admitted");
        }
    }
    let firsts: Vec<PublicKey> = (0..3)
        .map(|_| nonce_of(&pool.select(1, usize::MAX, |_| 0)[0]).0)
        .collect();
    let mut distinct = firsts.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        3,
        "every sender leads one of three batches: {firsts:?}"
    );
    // A byte budget stops a sender whose next transaction does not fit.
    let one = signed(&key(0), CHAIN, 0, 1).len();
    assert_eq!(pool.select(10, one, |_| 0).len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Hostile bytes (random, or a valid transaction cut or flipped anywhere) are refused with
    /// a reason, never a panic, and change nothing.
    #[test]
    fn hostile_bytes_are_refused_without_a_panic(
        noise in prop::collection::vec(any::<u8>(), 0..400),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let mut pool = Mempool::new(CHAIN, Limits::default());
        let valid = signed(&key(0), CHAIN, 0, 1);
        let mut flipped = valid.clone();
        flipped[flip.index(valid.len())] ^= 0x40;
        for bytes in [noise, valid[..cut.index(valid.len())].to_vec(), flipped] {
            if pool.admit(bytes, |_| 0).is_ok() {
                // A flip in the fee or gas fields still decodes, but the signature then fails:
                // nothing but the original transaction is admissible.
                prop_assert!(false, "a hostile transaction was admitted");
            }
            prop_assert!(pool.is_empty());
        }
    }
}

/// A transaction a block carried and the runtime rejected keeps its nonce free: evicting it by
/// hash frees the nonce for another transaction, leaves the sender's others pooled, and
/// returns the byte count to what it was.
#[test]
fn an_evicted_transaction_frees_its_nonce_and_nothing_else() {
    let mut pool = Mempool::new(CHAIN, Limits::default());
    let alice = key(0);
    let zero = |_: &PublicKey| 0;
    let rejected = signed(&alice, CHAIN, 0, 1);
    let next = signed(&alice, CHAIN, 1, 1);
    let before = pool.bytes();
    let hash = pool.admit(rejected.clone(), zero).expect("admitted");
    let kept = pool.admit(next.clone(), zero).expect("admitted");
    assert!(matches!(
        pool.admit(signed(&alice, CHAIN, 0, 2), zero),
        Err(AdmitError::NonceTaken(0))
    ));
    assert_eq!(pool.evict(&hash), Some(nonce_of(&rejected)));
    assert_eq!(pool.evict(&hash), None, "evicted once");
    assert!(!pool.contains(&hash) && pool.contains(&kept));
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.bytes(), before + next.len());
    pool.admit(signed(&alice, CHAIN, 0, 2), zero)
        .expect("the nonce is free again");
    assert_eq!(pool.len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// `admit_all` answers as `admit` one by one would, and leaves the same pool: batches mixing
    /// good and bad signatures (in R or in S), duplicates, nonce collisions, stale and far
    /// nonces, other chains and a pool that fills up.
    #[test]
    fn admitting_a_batch_is_admitting_each_in_order(
        pooled_first in prop::collection::vec((0u8..3, 0u64..6), 0..4),
        batch in prop::collection::vec(
            (0u8..3, 0u64..7, 0u64..2, 0u8..3, any::<bool>(), prop::option::of(0usize..8)),
            0..14,
        ),
    ) {
        let limits = Limits { transactions: 8, bytes: 1 << 20, per_sender: 3, nonce_window: 4 };
        let mut pool = Mempool::new(CHAIN, limits);
        let next = |sender: &PublicKey| u64::from(sender[0] % 2);
        for (sender, nonce) in pooled_first {
            let _ = pool.admit(signed(&key(sender), CHAIN, nonce, 0), next);
        }
        let mut txs: Vec<Vec<u8>> = Vec::new();
        for (sender, nonce, fee, corrupt, other_chain, repeat) in batch {
            if let Some(earlier) = repeat.filter(|&i| i < txs.len()) {
                txs.push(txs[earlier].clone());
                continue;
            }
            let chain = if other_chain && fee == 1 { CHAIN + 1 } else { CHAIN };
            let mut bytes = signed(&key(sender), chain, nonce, fee);
            let at = match corrupt {
                1 => Some(bytes.len() - 1),
                2 => Some(bytes.len() - 64),
                _ => None,
            };
            if let Some(at) = at {
                bytes[at] ^= 0x10;
            }
            txs.push(bytes);
        }
        let mut one_by_one = pool.clone();
        let expected: Vec<_> = txs.iter().map(|tx| one_by_one.admit(tx.clone(), next)).collect();
        let answers = pool.admit_all(txs, next);
        prop_assert_eq!(&answers, &expected);
        prop_assert_eq!((pool.len(), pool.bytes()), (one_by_one.len(), one_by_one.bytes()));
        prop_assert_eq!(
            pool.select(usize::MAX, usize::MAX, next),
            one_by_one.select(usize::MAX, usize::MAX, next)
        );
    }
}

/// One step of a sequencer's use of the pool (`selection_looks_only_at_what_changed…`).
#[derive(Clone, Debug)]
enum Step {
    /// Sender, nonce above its account nonce.
    Admit(u8, u64),
    /// At most this many, each sender's from what it was last handed.
    Select(usize),
    /// Another leader's block executed this many of the sender's nonces.
    Execute(u8, u64),
    /// The runtime rejected the sender's transaction at its account nonce.
    Evict(u8),
    /// Everything handed went back (the core's pool emptied).
    Reset,
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..4, 0u64..6).prop_map(|(s, n)| Step::Admit(s, n)),
        3 => (1usize..6).prop_map(Step::Select),
        2 => (0u8..4, 1u64..3).prop_map(|(s, k)| Step::Execute(s, k)),
        1 => (0u8..4).prop_map(Step::Evict),
        1 => Just(Step::Reset),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Selection that skips senders whose run ended (until something happens to them), and
    /// pruning only a block's senders, select exactly what looking at (and pruning) every
    /// sender every time selects, over random admissions,
    /// selections with handed nonces (as the node's driver keeps them), executions by other
    /// leaders, evictions and resets.
    #[test]
    fn selection_looks_only_at_what_changed_and_selects_the_same(
        steps in prop::collection::vec(any_step(), 1..60),
    ) {
        let mut pool = Mempool::new(CHAIN, Limits::default());
        let mut every_time = Mempool::new(CHAIN, Limits::default());
        let keys: Vec<SigningKey> = (0..4).map(key).collect();
        let public: Vec<PublicKey> = keys.iter().map(|k| k.verifying_key().to_bytes()).collect();
        let mut account: BTreeMap<PublicKey, u64> = public.iter().map(|p| (*p, 0)).collect();
        let mut handed: BTreeMap<PublicKey, u64> = BTreeMap::new();
        for step in steps {
            match step {
                Step::Admit(s, n) => {
                    let tx = signed(&keys[usize::from(s)], CHAIN, account[&public[usize::from(s)]] + n, 1);
                    let a = pool.admit(tx.clone(), |p| account[p]);
                    let b = every_time.admit(tx, |p| account[p]);
                    prop_assert_eq!(a, b);
                }
                Step::Select(max) => {
                    let next = |p: &PublicKey| handed.get(p).map_or(account[p], |&h| h.max(account[p]));
                    let got = pool.select(max, usize::MAX, next);
                    every_time.reconsider_all();
                    let want = every_time.select(max, usize::MAX, next);
                    prop_assert_eq!(&got, &want);
                    for bytes in got {
                        let (sender, nonce) = nonce_of(&bytes);
                        handed.insert(sender, nonce + 1);
                    }
                }
                Step::Execute(s, k) => {
                    let sender = public[usize::from(s)];
                    *account.get_mut(&sender).expect("a sender") += k;
                    // The block's senders only, against every sender.
                    let a = pool.prune_senders(&[sender], |p| account[p]);
                    let b = every_time.prune(|p| account[p]);
                    prop_assert_eq!(a, b);
                    handed.retain(|p, next| *next > account[p]);
                }
                Step::Evict(s) => {
                    let sender = public[usize::from(s)];
                    let at = signed(&keys[usize::from(s)], CHAIN, account[&sender], 1);
                    let hash: [u8; 32] = sha2::Sha256::digest(&at).into();
                    let a = pool.evict(&hash);
                    prop_assert_eq!(a, every_time.evict(&hash));
                    if let (Some((_, nonce)), Some(next)) = (a, handed.get_mut(&sender)) {
                        *next = (*next).min(nonce);
                    }
                }
                Step::Reset => {
                    handed.clear();
                    pool.reconsider_all();
                }
            }
            prop_assert_eq!(pool.len(), every_time.len());
        }
    }
}
