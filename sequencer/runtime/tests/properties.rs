//! Random batches: two replicas, one on the JIT and one on the interpreter, the second rebuilt
//! midway from a snapshot serialised to bytes through the storage trait, give identical roots
//! and receipts (gas included); collateral is conserved after every batch, checked by the
//! runtime and by an independent sum over the receipts.

mod common;

use common::*;
use curve_formats::tx::Action;
use curve_runtime::{Batch, ExecutionEngine, MemoryStorage, Runtime, Status, Storage};
use proptest::prelude::*;

const USERS: usize = 5;

fn user(i: usize) -> String {
    format!("prop-{i}")
}

#[derive(Clone, Debug)]
enum Step {
    Deposit {
        sequence: u64,
        to: usize,
        amount: u64,
        signers: usize,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: u128,
        fee: u64,
    },
    Withdraw {
        from: usize,
        amount: u128,
    },
    Read {
        from: usize,
        entry: usize,
    },
    Update {
        from: usize,
        price: u64,
        age: u64,
        signers: Vec<u64>,
    },
    WrongNonce {
        from: usize,
    },
    Garbage(Vec<u8>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u64..6, 0..USERS, 1u64..1_000_000, 2usize..=4).prop_map(
            |(sequence, to, amount, signers)| Step::Deposit {
                sequence,
                to,
                amount,
                signers
            }
        ),
        (0..USERS, 0..USERS, 0u128..400_000, 0u64..3).prop_map(|(from, to, amount, fee)| {
            Step::Transfer {
                from,
                to,
                amount,
                fee,
            }
        }),
        (0..USERS, 0u128..300_000).prop_map(|(from, amount)| Step::Withdraw { from, amount }),
        (0..USERS, 0usize..4).prop_map(|(from, entry)| Step::Read { from, entry }),
        (
            0..USERS,
            1u64..20_000_000_000,
            0u64..8_000,
            prop::collection::vec(0u64..4, 0..4)
        )
            .prop_map(|(from, price, age, signers)| Step::Update {
                from,
                price,
                age,
                signers
            }),
        (0..USERS).prop_map(|from| Step::WrongNonce { from }),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Step::Garbage),
    ]
}

/// A chain with the oracle deployed (program 1) and four feed keys registered.
fn chain() -> Runtime<MemoryStorage> {
    let mut runtime = genesis();
    let mut credits = vec![relay(0, deposit(1_000, "governance", 1_000_000_000, 3))];
    for i in 0..USERS {
        credits.push(relay(
            1 + i as u64,
            deposit(1_001 + i as u64, &user(i), 1_000_000_000, 3),
        ));
    }
    apply(&mut runtime, credits);
    let mut setup = vec![tx("governance", 0, Action::Deploy(oracle_image().clone()))];
    for i in 0..4 {
        setup.push(tx(
            "governance",
            1 + i,
            Action::RegisterOracleKey {
                program: 1,
                key: public(&format!("feed-{i}")),
            },
        ));
    }
    apply(&mut runtime, setup);
    runtime
}

/// The steps of one batch as transaction bytes, nonces taken from `runtime`.
fn transactions(runtime: &Runtime<MemoryStorage>, steps: &[Step]) -> Vec<Vec<u8>> {
    let mut nonces: Vec<u64> = (0..USERS)
        .map(|i| runtime.account(&public(&user(i))).map_or(0, |a| a.nonce))
        .collect();
    let height = runtime.meta().height + 1;
    let now = runtime.meta().timestamp_ms + 1_000;
    steps
        .iter()
        .map(|step| {
            let mut signed = |from: usize, fee: u64, action: Action| {
                // Predict the rejections that keep the nonce (zero amounts, self-transfers), so
                // that later transactions of the sender still carry the right nonce.
                let kept = match &action {
                    Action::Transfer { to, amount } => *amount == 0 || *to == public(&user(from)),
                    Action::Withdraw { amount, .. } => *amount == 0,
                    _ => false,
                };
                let bytes = tx_with(&user(from), nonces[from], 200_000, fee, action);
                if !kept {
                    nonces[from] += 1;
                }
                bytes
            };
            match step {
                // A fresh relayer per credit: a refused credit leaves no nonce gap.
                Step::Deposit {
                    sequence,
                    to,
                    amount,
                    signers,
                } => tx_with(
                    &format!("relayer-{height}-{sequence}-{to}-{amount}"),
                    0,
                    GAS,
                    0,
                    deposit(*sequence, &user(*to), *amount, *signers),
                ),
                Step::Transfer {
                    from,
                    to,
                    amount,
                    fee,
                } => signed(
                    *from,
                    *fee,
                    Action::Transfer {
                        to: public(&user(*to)),
                        amount: *amount,
                    },
                ),
                Step::Withdraw { from, amount } => signed(
                    *from,
                    1,
                    Action::Withdraw {
                        amount: *amount,
                        recipient: [*from as u8; 32],
                    },
                ),
                Step::Read { from, entry } => {
                    let entry = ["read", "price", "funding", "reference"][*entry];
                    signed(
                        *from,
                        0,
                        Action::Call {
                            program: 1,
                            entry: entry.into(),
                            args: vec![],
                            access: Vec::new(),
                        },
                    )
                }
                Step::Update {
                    from,
                    price,
                    age,
                    signers,
                } => {
                    let keys: Vec<_> = signers.iter().map(|i| key(&format!("feed-{i}"))).collect();
                    let pairs: Vec<_> = signers.iter().copied().zip(keys.iter()).collect();
                    let args = curve_runtime::client::oracle_update_args(
                        CHAIN,
                        feed_tag(),
                        *price,
                        now.saturating_sub(*age),
                        &pairs,
                    );
                    signed(
                        *from,
                        0,
                        Action::Call {
                            program: 1,
                            entry: "update".into(),
                            args,
                            access: Vec::new(),
                        },
                    )
                }
                Step::WrongNonce { from } => tx_with(
                    &user(*from),
                    nonces[*from] + 5,
                    200_000,
                    0,
                    Action::Transfer {
                        to: public("nobody"),
                        amount: 1,
                    },
                ),
                Step::Garbage(bytes) => bytes.clone(),
            }
        })
        .collect()
}

fn next_batch(runtime: &Runtime<MemoryStorage>, steps: &[Step]) -> Batch {
    Batch {
        height: runtime.meta().height + 1,
        timestamp_ms: runtime.meta().timestamp_ms + 1_000,
        transactions: transactions(runtime, steps),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_replica_rebuilt_from_a_snapshot_agrees_and_collateral_is_conserved(
        batches in prop::collection::vec(prop::collection::vec(step(), 0..12), 2..7),
        split in any::<prop::sample::Index>(),
    ) {
        let split = split.index(batches.len());
        let mut first = chain();
        let mut second = chain();
        prop_assert_eq!(first.engine(), ExecutionEngine::Jit);
        second.set_engine(ExecutionEngine::Interpreter);
        for (n, steps) in batches.iter().enumerate() {
            if n == split {
                // Rebuild the second replica from its store, serialised to bytes and back.
                let bytes = second.storage().to_snapshot();
                let storage = MemoryStorage::from_snapshot(&bytes).expect("a snapshot reads back");
                second = Runtime::open(storage).expect("the store opens");
                second.set_engine(ExecutionEngine::Interpreter);
                prop_assert_eq!(second.root(), first.root());
            }
            let batch = next_batch(&first, steps);
            prop_assert_eq!(&batch, &next_batch(&second, steps));
            let a = first.apply_batch(&batch).expect("conserved");
            let b = second.apply_batch(&batch).expect("conserved");
            prop_assert_eq!(&a.receipts, &b.receipts);
            prop_assert_eq!(a.header, b.header);
            prop_assert_eq!(first.root(), second.root());
            // What a checkpoint captures from memory is what the store holds.
            for runtime in [&first, &second] {
                prop_assert_eq!(runtime.stored_entries(), runtime.storage().entries().expect("reads"));
            }
        }
        // A reopened runtime has the same root as the one that wrote the store.
        let reopened = Runtime::open(MemoryStorage::from_snapshot(&first.storage().to_snapshot()).expect("snapshot"))
            .expect("opens");
        prop_assert_eq!(reopened.root(), first.root());
        prop_assert_eq!(reopened.audit(), first.audit());
    }

    #[test]
    fn collateral_is_conserved_after_every_batch(
        batches in prop::collection::vec(prop::collection::vec(step(), 0..16), 1..8),
    ) {
        let mut runtime = chain();
        let mut withdrawn = 0u128;
        for steps in &batches {
            let batch = next_batch(&runtime, steps);
            // The runtime checks its registry itself and refuses to go on if it fails.
            let out = runtime.apply_batch(&batch).expect("conserved");
            let totals = runtime.conservation().expect("conserved after the batch");
            // The running sums the batch checked equal every entry summed again.
            prop_assert_eq!(runtime.audit().expect("the full audit passes"), totals.clone());
            prop_assert_eq!(totals.withdrawals_finalised, runtime.meta().withdrawals_finalised);
            // Independently: every vault plus the fees = credited deposits − what the payout
            // trees carried out (no escrows or slab accounts exist without a router).
            withdrawn += out.payouts.iter().map(|p| p.amount).sum::<u128>();
            prop_assert_eq!(out.header.withdrawal_total, out.payouts.iter().map(|p| p.amount).sum::<u128>());
            let held: u128 = runtime.ledger().vaults.values().sum::<u128>() + runtime.meta().fees;
            prop_assert_eq!(held, runtime.meta().deposits_credited - withdrawn);
            prop_assert_eq!(runtime.meta().withdrawals_finalised, withdrawn);
            // Fees only ever come from committed or reverted transactions.
            let charged: u128 = out.receipts.iter().map(|r| r.fee).sum();
            let rejected_fees: u128 = out
                .receipts
                .iter()
                .filter(|r| matches!(r.status, Status::Rejected(_)))
                .map(|r| r.fee)
                .sum();
            prop_assert_eq!(rejected_fees, 0);
            prop_assert!(charged <= runtime.meta().fees);
        }
    }
}
