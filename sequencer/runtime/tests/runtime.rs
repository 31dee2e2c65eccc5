//! The runtime as the sequencer and users meet it: deposits, transfers, deploys with
//! certificates, oracle calls with traps located in the script, withdrawals with payout proofs,
//! governance, inclusion proofs, and every bad-input case refused with nothing changed.

mod common;

use common::*;
use curve_formats::encoding::Encode;
use curve_formats::merkle::depth;
use curve_formats::tx::{Action, Arg, ProgramImage, Transaction, Value};
use curve_runtime::{Batch, Key, MemoryStorage, Rejection, Runtime, Status, client};
use curvevm_host::LedgerKey;

const FUNDS: u64 = 1_000_000_000;

/// A chain where alice is funded (deposit 0) and has deployed the test oracle (program 1),
/// with keys `feed-0`, `feed-1`, `feed-2` registered by governance.
fn chain() -> Runtime<MemoryStorage> {
    let mut runtime = genesis();
    let out = apply(
        &mut runtime,
        vec![
            relay(0, deposit(0, "alice", FUNDS, QUORUM as usize)),
            relay(1, deposit(1, "governance", FUNDS, QUORUM as usize)),
        ],
    );
    assert_all_committed(&out.receipts);
    let out = apply(
        &mut runtime,
        vec![tx("alice", 0, Action::Deploy(oracle_image().clone()))],
    );
    assert_all_committed(&out.receipts);
    assert_eq!(out.receipts[0].program, Some(1));
    assert_all_committed(&apply(&mut runtime, register_feed_keys(3)).receipts);
    runtime
}

fn assert_all_committed(receipts: &[curve_runtime::Receipt]) {
    for receipt in receipts {
        assert_eq!(receipt.status, Status::Committed, "{receipt:?}");
    }
}

fn update(price: u64, publish_ms: u64, signers: &[u64]) -> Action {
    let keys: Vec<_> = signers.iter().map(|i| key(&format!("feed-{i}"))).collect();
    let pairs: Vec<(u64, &ed25519_dalek::SigningKey)> =
        signers.iter().copied().zip(keys.iter()).collect();
    Action::Call {
        program: 1,
        entry: "update".into(),
        args: client::oracle_update_args(CHAIN, feed_tag(), price, publish_ms, &pairs),
        access: Vec::new(),
    }
}

fn call(entry: &str) -> Action {
    Action::Call {
        program: 1,
        entry: entry.into(),
        args: vec![],
        access: Vec::new(),
    }
}

#[test]
fn an_oracle_is_deployed_fed_and_read_and_a_trap_names_the_script_line() {
    let mut runtime = chain();
    let now = runtime.meta().timestamp_ms + 1_000;
    // Nothing published yet: `price` aborts, and the receipt says where in the script.
    let out = apply(
        &mut runtime,
        vec![
            tx("alice", 1, call("price")),
            tx("alice", 2, update(150_000_000, now - 10, &[0, 2])),
            tx("alice", 3, call("read")),
        ],
    );
    let Status::Reverted(revert) = &out.receipts[0].status else {
        panic!("{:?}", out.receipts[0]);
    };
    assert_eq!(revert.kind, "abort", "{revert:?}");
    let location = revert
        .location
        .as_deref()
        .expect("the source map covers the trap");
    assert!(location.starts_with("test.curve:"), "{location}");
    assert!(out.receipts[0].fee > 0, "a revert pays its gas");
    assert_eq!(
        out.receipts[1].status,
        Status::Committed,
        "{:?}",
        out.receipts[1]
    );
    assert_eq!(out.receipts[2].status, Status::Committed);
    // read → (price, publish_ms, age_ms, status, mark)
    let returns = &out.receipts[2].returns;
    assert_eq!(returns[0], 150_000_000);
    assert_eq!(returns[1], now - 10);
    assert_eq!(returns[2], 10);
    assert_eq!(returns[3], 0, "fresh");
    // The VM's write reached the state: the program's first page is in the root.
    let proof = runtime
        .state_proof(&Key::Page(1, curvevm::Segment::Slab.sel(), 0))
        .expect("page 0");
    proof.verify(&runtime.root()).expect("included");
    // A quorum of one signature is not enough: reverted, price unchanged.
    let out = apply(
        &mut runtime,
        vec![tx("alice", 4, update(160_000_000, now + 500, &[1]))],
    );
    assert!(
        matches!(out.receipts[0].status, Status::Reverted(_)),
        "{:?}",
        out.receipts[0]
    );
    let price = curve_compiler::templates::oracle::state::PRICE as usize;
    assert_eq!(
        runtime.program_memory(1).expect("program")[price],
        150_000_000
    );
}

#[test]
fn transfers_withdrawals_and_payout_proofs() {
    let mut runtime = chain();
    let before = runtime.balance(&public("alice"));
    let out = apply(
        &mut runtime,
        vec![
            tx_with(
                "alice",
                1,
                5_000,
                2,
                Action::Transfer {
                    to: public("bob"),
                    amount: 1_000,
                },
            ),
            tx_with(
                "alice",
                2,
                10_000,
                1,
                Action::Withdraw {
                    amount: 300,
                    recipient: [0xB0; 32],
                },
            ),
            tx_with(
                "alice",
                3,
                10_000,
                1,
                Action::Withdraw {
                    amount: 200,
                    recipient: [0xB1; 32],
                },
            ),
        ],
    );
    assert_all_committed(&out.receipts);
    let fees: u128 = out.receipts.iter().map(|r| r.fee).sum();
    assert_eq!(
        out.receipts[0].fee,
        u128::from(out.receipts[0].gas_used) * 2
    );
    assert_eq!(runtime.balance(&public("bob")), 1_000);
    assert_eq!(
        runtime.balance(&public("alice")),
        before - 1_000 - 500 - fees
    );
    assert_eq!(out.header.withdrawal_count, 2);
    assert_eq!(out.header.withdrawal_total, 500);
    assert_eq!(out.header.state_root, runtime.root());
    for (index, leaf) in out.payouts.iter().enumerate() {
        let proof = out.payout_proof(index as u64).expect("proof");
        proof
            .verify(&out.header.withdrawal_root, 2, &leaf.to_leaf_bytes())
            .expect("the payout verifies against the header");
        assert_eq!(leaf.batch_height, out.header.height);
    }
    assert_eq!(runtime.meta().withdrawals_finalised, 500);
    let totals = runtime.conservation().expect("conserved");
    assert_eq!(totals.deposits_credited, 2 * u128::from(FUNDS));
    // Any account's entry proves against the root; a changed byte does not.
    let bob = runtime.account(&public("bob")).expect("bob").user;
    let mut proof = runtime
        .state_proof(&Key::Ledger(LedgerKey::Vault(bob, 0)))
        .expect("bob's vault");
    proof.verify(&runtime.root()).expect("included");
    *proof.leaf.last_mut().expect("value") ^= 1;
    assert!(proof.verify(&runtime.root()).is_err());
}

#[test]
fn a_batch_touching_k_accounts_rehashes_o_k_log_n() {
    let mut runtime = chain();
    // Grow the state to a few thousand leaves: 2,000 recipients.
    let transfers: Vec<Vec<u8>> = (0..2_000)
        .map(|i| {
            tx_with(
                "alice",
                1 + i,
                5_000,
                0,
                Action::Transfer {
                    to: public(&format!("user-{i}")),
                    amount: 1,
                },
            )
        })
        .collect();
    apply(&mut runtime, transfers);
    let n = runtime.tree_leaves();
    for k in [1u64, 10, 100] {
        let nonce = runtime.account(&public("alice")).expect("alice").nonce;
        let transfers: Vec<Vec<u8>> = (0..k)
            .map(|i| {
                tx_with(
                    "alice",
                    nonce + i,
                    5_000,
                    0,
                    Action::Transfer {
                        to: public(&format!("user-{}", i * 17)),
                        amount: 1,
                    },
                )
            })
            .collect();
        let before = runtime.tree_hash_count();
        apply(&mut runtime, transfers);
        let cost = runtime.tree_hash_count() - before;
        // Each transfer touches the recipient's vault; alice's vault, nonce and the meta entry
        // are shared: k + 3 leaves, each with at most depth(n) ancestors.
        let touched = k + 3;
        let bound = touched * (1 + u64::from(depth(n)));
        assert!(
            cost <= bound,
            "k = {k}: {cost} hashes above {bound} (n = {n})"
        );
    }
}

/// Applies `bad` to one of two identical chains and nothing to the other: the rejection, with
/// the two states identical.
fn refused(setup: fn() -> Runtime<MemoryStorage>, bad: Vec<u8>) -> Rejection {
    let mut refused = setup();
    let mut untouched = setup();
    let out = apply(&mut refused, vec![bad]);
    apply(&mut untouched, vec![]);
    assert_eq!(
        refused.root(),
        untouched.root(),
        "the refused transaction changed the state"
    );
    assert_eq!(refused.storage(), untouched.storage());
    assert_eq!(out.receipts[0].gas_used, 0);
    match &out.receipts[0].status {
        Status::Rejected(rejection) => rejection.clone(),
        other => panic!("not rejected: {other:?}"),
    }
}

#[test]
fn bad_input_is_refused_with_nothing_changed() {
    let transfer = || Action::Transfer {
        to: public("bob"),
        amount: 5,
    };
    // Bad signature: bob signs alice's transaction.
    let mut forged = tx("alice", 1, transfer());
    let at = forged.len() - 64;
    forged[at..].copy_from_slice(&tx("bob", 1, transfer())[at..]);
    assert_eq!(refused(chain, forged), Rejection::BadSignature);
    // Signed for another chain.
    let other_chain = client::sign(
        Transaction {
            chain_id: CHAIN + 1,
            sender: public("alice"),
            nonce: 1,
            gas_limit: GAS,
            fee_per_gas: 1,
            action: transfer(),
        },
        &key("alice"),
    )
    .to_bytes();
    assert_eq!(
        refused(chain, other_chain),
        Rejection::WrongChain {
            expected: CHAIN,
            found: CHAIN + 1
        }
    );
    // Replayed and future nonces.
    assert_eq!(
        refused(chain, tx("alice", 0, transfer())),
        Rejection::BadNonce {
            expected: 1,
            found: 0
        }
    );
    assert_eq!(
        refused(chain, tx("alice", 2, transfer())),
        Rejection::BadNonce {
            expected: 1,
            found: 2
        }
    );
    // Unknown program, unknown and reserved entrypoints, arguments off the descriptor.
    let call_to = |program, entry: &str, args| Action::Call {
        program,
        entry: entry.into(),
        args,
        access: Vec::new(),
    };
    assert_eq!(
        refused(chain, tx("alice", 1, call_to(9, "read", vec![]))),
        Rejection::UnknownProgram(9)
    );
    assert!(matches!(
        refused(chain, tx("alice", 1, call_to(1, "steal", vec![]))),
        Rejection::UnknownEntry { program: 1, .. }
    ));
    assert!(matches!(
        refused(
            chain,
            tx(
                "alice",
                1,
                call_to(1, "register_key", vec![Arg::One(Value::Bytes32([1; 32]))])
            )
        ),
        Rejection::ReservedEntry { .. }
    ));
    let Rejection::BadArguments(why) = refused(
        chain,
        tx(
            "alice",
            1,
            call_to(1, "read", vec![Arg::One(Value::U64(1))]),
        ),
    ) else {
        panic!()
    };
    assert!(why.contains("takes 0 argument"), "{why}");
    let mut args = client::oracle_update_args(CHAIN, feed_tag(), 1, 1, &[]);
    args[0] = Arg::One(Value::Bytes32([0; 32]));
    let Rejection::BadArguments(why) = refused(chain, tx("alice", 1, call_to(1, "update", args)))
    else {
        panic!()
    };
    assert!(
        why.contains("argument 1 (`price`) of `update` is a u64; found a bytes32"),
        "{why}"
    );
    let mut args = client::oracle_update_args(CHAIN, feed_tag(), 1, 1, &[]);
    args[3] = Arg::Many(vec![Value::U64(0); 3]);
    let Rejection::BadArguments(why) = refused(chain, tx("alice", 1, call_to(1, "update", args)))
    else {
        panic!()
    };
    assert!(why.contains("array of 16; found 3 values"), "{why}");
    // Gas above the block limit.
    assert!(matches!(
        refused(chain, tx_with("alice", 1, u64::MAX, 0, transfer())),
        Rejection::GasAboveBlockLimit { .. }
    ));
    // Gas below the intrinsic cost.
    assert!(matches!(
        refused(chain, tx_with("alice", 1, 10, 0, transfer())),
        Rejection::GasBelowIntrinsic { .. }
    ));
    // Withdrawal above the balance (and a fee the vault cannot cover).
    assert!(matches!(
        refused(
            chain,
            tx_with(
                "alice",
                1,
                10_000,
                0,
                Action::Withdraw {
                    amount: u128::from(FUNDS) + 1,
                    recipient: [1; 32]
                }
            )
        ),
        Rejection::InsufficientBalance { .. }
    ));
    assert!(matches!(
        refused(chain, tx_with("bob", 0, 10_000, 1, transfer())),
        Rejection::InsufficientBalance { available: 0, .. }
    ));
    // Governance actions from anyone else.
    assert_eq!(
        refused(
            chain,
            tx(
                "alice",
                1,
                Action::SetGovernance {
                    key: public("alice")
                }
            )
        ),
        Rejection::NotGovernance("set_governance")
    );
    // Bytes that are not a transaction.
    assert!(matches!(
        refused(chain, vec![1, 2, 3]),
        Rejection::Malformed(_)
    ));
}

fn deploy_refusal(image: ProgramImage) -> String {
    match refused(chain, tx("alice", 1, Action::Deploy(image))) {
        Rejection::Deploy(why) => why,
        other => panic!("{other:?}"),
    }
}

#[test]
fn deploys_need_the_template_bytecode_a_matching_manifest_and_a_valid_certificate() {
    // A proof of other parameters (another feed: another tag and bounds).
    let other = image(
        &ORACLE_SOURCE
            .replace("test:FEED", "test:OTHER")
            .replace("max=10_000", "max=20_000"),
    );
    let mut wrong_proof = oracle_image().clone();
    wrong_proof.proof = other.proof.clone();
    let why = deploy_refusal(wrong_proof);
    assert!(why.contains("does not verify"), "{why}");
    // One byte of the proof changed.
    let mut flipped = oracle_image().clone();
    flipped.proof[5] ^= 1;
    let why = deploy_refusal(flipped);
    assert!(
        why.contains("does not verify") || why.contains("malformed"),
        "{why}"
    );
    // One parameter changed: the certificate no longer matches (and the manifest disagrees).
    let mut params = oracle_image().clone();
    params.params[0] ^= 1;
    assert!(deploy_refusal(params).contains("does not verify"));
    // One instruction changed: not the template's bytecode.
    let mut code = oracle_image().clone();
    let last = code.module.len() - 1;
    code.module[last] ^= 1;
    assert!(deploy_refusal(code).contains("is not the `oracle` template's bytecode"));
    // A manifest from another compile of the same feed.
    let same_feed = image(&ORACLE_SOURCE.replace("max=10_000", "max=20_000"));
    let mut manifest = oracle_image().clone();
    manifest.manifest = same_feed.manifest.clone();
    let why = deploy_refusal(manifest);
    assert!(
        why.contains("the manifest's `certificate.h_params`"),
        "{why}"
    );
    // A manifest of another feed: its id does not give this table's feed tag.
    let mut manifest = oracle_image().clone();
    manifest.manifest = other.manifest.clone();
    let why = deploy_refusal(manifest);
    assert!(why.contains("parameter `feed_tag`"), "{why}");
    // No such template.
    let mut template = oracle_image().clone();
    template.template = "casino".into();
    assert!(deploy_refusal(template).contains("no deployable template `casino`"));
}

/// A feed whose quorum is 0 would accept a price with no signature at all. No certificate can
/// be made for it, and a table whose constants were lowered to make `LE(one, quorum)` hold gets a
/// certificate that is valid — and is refused, because the constant region is not the
/// template's. The feed tag is the feed id's, not the deployer's choice.
#[test]
fn a_feed_with_quorum_0_cannot_be_deployed_nor_can_a_forged_constant_or_feed_tag() {
    let quorum_0 = image_with(ORACLE_SOURCE, |slots| set(slots, "quorum", 0));
    assert!(quorum_0.is_err(), "a certificate for quorum 0 was made");
    // The honest certificate with the quorum-0 table swapped in.
    let mut swapped = oracle_image().clone();
    let quorum_slot = curve_compiler::templates::oracle::param("quorum") as usize;
    swapped.params[8 * quorum_slot..8 * quorum_slot + 8].copy_from_slice(&0u64.to_le_bytes());
    let why = deploy_refusal(swapped);
    assert!(why.contains("LE(one, quorum)"), "{why}");
    // `one` lowered to 0 as well: every row holds and the certificate verifies...
    let forged = image_with(ORACLE_SOURCE, |slots| {
        set(slots, "quorum", 0);
        set(slots, "one", 0);
    })
    .expect("with `one` at 0 every condition holds");
    // ...but the constant region is not the template's.
    let why = deploy_refusal(forged);
    assert!(why.contains("parameter `one` is 0"), "{why}");
    // A table claiming another feed's tag (with its own valid certificate).
    let other_tag = curve_compiler::feed_tag("test:OTHER");
    let borrowed =
        image_with(ORACLE_SOURCE, |slots| set(slots, "feed_tag", other_tag)).expect("provable");
    let why = deploy_refusal(borrowed);
    assert!(why.contains("parameter `feed_tag`"), "{why}");
}

/// Prices are signed for one chain: the same signatures, valid on chain `CHAIN`, are refused by
/// the same feed on another chain.
#[test]
fn a_price_signed_for_one_chain_is_refused_on_another() {
    let mut runtime = chain();
    let now = runtime.meta().timestamp_ms + 1_000;
    let keys: Vec<_> = (0..2).map(|i| key(&format!("feed-{i}"))).collect();
    let pairs: Vec<(u64, &ed25519_dalek::SigningKey)> = (0..2u64).zip(keys.iter()).collect();
    let signed_for = |chain_id: u64| Action::Call {
        program: 1,
        entry: "update".into(),
        args: client::oracle_update_args(chain_id, feed_tag(), 5_000, now - 10, &pairs),
        access: Vec::new(),
    };
    let out = apply(
        &mut runtime,
        vec![
            tx("alice", 1, signed_for(CHAIN + 1)),
            tx("alice", 2, signed_for(CHAIN)),
        ],
    );
    let Status::Reverted(revert) = &out.receipts[0].status else {
        panic!("{:?}", out.receipts[0]);
    };
    let quorum = curve_compiler::templates::oracle::code::QUORUM;
    assert!(
        revert.trap.contains(&format!("abort with code {quorum} ")),
        "{revert:?}"
    );
    assert_eq!(
        out.receipts[1].status,
        Status::Committed,
        "{:?}",
        out.receipts[1]
    );
}

/// A chain outside dev mode whose 16×16 key comes from another setup (as a ceremony's would).
fn production_chain() -> Runtime<MemoryStorage> {
    let vk = curve_certificate::keys::setup_from_seed(
        curve_formats::certificate::SizeClass::C16,
        [0xce; 32],
    )
    .vk;
    let bytes = curve_certificate::keys::vk_bytes(&vk);
    let mut runtime =
        Runtime::genesis(config(false, bytes), MemoryStorage::new()).expect("a ceremony key");
    apply(
        &mut runtime,
        vec![relay(0, deposit(0, "alice", FUNDS, QUORUM as usize))],
    );
    runtime
}

#[test]
fn development_keys_are_refused_outside_dev_mode() {
    // At genesis.
    let error = Runtime::genesis(config(false, dev_vk_bytes()), MemoryStorage::new()).unwrap_err();
    assert!(
        error.to_string().contains("refusing the development key"),
        "{error}"
    );
    // A certificate made with them does not verify under the chain's key.
    let why = match refused(
        production_chain,
        tx("alice", 0, Action::Deploy(oracle_image().clone())),
    ) {
        Rejection::Deploy(why) => why,
        other => panic!("{other:?}"),
    };
    assert!(why.contains("does not verify"), "{why}");
    // Governance cannot install them either.
    let mut runtime = production_chain();
    let out = apply(
        &mut runtime,
        vec![
            relay(1, deposit(1, "governance", FUNDS, QUORUM as usize)),
            tx(
                "governance",
                0,
                Action::SetVerifyingKey {
                    class: 0,
                    vk: dev_vk_bytes(),
                },
            ),
        ],
    );
    let Status::Rejected(Rejection::Invalid(why)) = &out.receipts[1].status else {
        panic!("{:?}", out.receipts[1])
    };
    assert!(why.contains("refusing the development key"), "{why}");
}

#[test]
fn deposits_need_a_quorum_of_distinct_members_and_credit_once() {
    let mut runtime = genesis();
    let credit = |nonce, action| relay(nonce, action);
    // A quorum credits; the same record again is refused.
    let out = apply(
        &mut runtime,
        vec![credit(0, deposit(5, "carol", 700, QUORUM as usize))],
    );
    assert_all_committed(&out.receipts);
    assert_eq!(runtime.balance(&public("carol")), 700);
    assert!(runtime.deposit_credited(5));
    let refusals = [
        deposit(5, "carol", 700, QUORUM as usize),
        // Quorum − 1.
        deposit(6, "carol", 700, QUORUM as usize - 1),
    ];
    for action in refusals {
        let out = apply(&mut runtime, vec![credit(1, action)]);
        assert!(
            matches!(
                out.receipts[0].status,
                Status::Rejected(Rejection::Deposit(_))
            ),
            "{:?}",
            out.receipts[0]
        );
    }
    // The same member twice, a non-member, a signature over another record, another chain.
    let Action::CreditDeposit {
        record,
        attestations,
    } = deposit(7, "carol", 700, QUORUM as usize)
    else {
        unreachable!()
    };
    let mut twice = attestations.clone();
    twice[2] = twice[1];
    let mut stranger = attestations.clone();
    stranger[2] = client::attest(&record, &[(9, &key("stranger"))])[0];
    let mut other_record = attestations.clone();
    let mut bigger = record;
    bigger.amount += 1;
    other_record[2] = client::attest(&bigger, &[(2, &member(2))])[0];
    let mut other_chain = record;
    other_chain.chain_id += 1;
    let cases = [
        (record, twice, "signs twice"),
        (record, stranger, "no committee member 9"),
        (record, other_record, "member 2's signature does not verify"),
        (other_chain, attestations.clone(), "for chain"),
    ];
    for (record, attestations, reason) in cases {
        let out = apply(
            &mut runtime,
            vec![credit(
                1,
                Action::CreditDeposit {
                    record,
                    attestations,
                },
            )],
        );
        let Status::Rejected(Rejection::Deposit(why)) = &out.receipts[0].status else {
            panic!("{:?}", out.receipts[0])
        };
        assert!(why.contains(reason), "{why}");
    }
    assert_eq!(runtime.meta().deposits_credited, 700);
}

#[test]
fn upgrades_are_governance_only_and_keep_the_layout_and_the_state() {
    let mut runtime = chain();
    let now = runtime.meta().timestamp_ms + 1_000;
    apply(
        &mut runtime,
        vec![tx("alice", 1, update(150_000_000, now - 10, &[0, 1]))],
    );
    let before = runtime.program_memory(1).expect("oracle").to_vec();
    let new = image(&ORACLE_SOURCE.replace("max=10_000_000_000", "max=20_000_000_000"));
    let out = apply(
        &mut runtime,
        vec![tx(
            "alice",
            2,
            Action::Upgrade {
                program: 1,
                image: new.clone(),
            },
        )],
    );
    assert_eq!(
        out.receipts[0].status,
        Status::Rejected(Rejection::NotGovernance("upgrade"))
    );
    let out = apply(
        &mut runtime,
        vec![tx(
            "governance",
            3,
            Action::Upgrade {
                program: 1,
                image: new.clone(),
            },
        )],
    );
    assert_all_committed(&out.receipts);
    assert_eq!(runtime.program(1).expect("oracle").params, new.params);
    assert_eq!(
        runtime.program_memory(1).expect("oracle"),
        before.as_slice(),
        "state kept"
    );
}

#[test]
fn signatures_a_mempool_verified_are_not_checked_again_and_the_outcome_is_the_same() {
    // Fund two accounts, then a batch mixing good transfers with a forged one.
    let setup = || {
        let mut runtime = genesis();
        apply(
            &mut runtime,
            vec![
                relay(0, deposit(1, "alice", 100_000_000, 3)),
                relay(1, deposit(2, "bob", 100_000_000, 3)),
            ],
        );
        runtime
    };
    let good = tx(
        "alice",
        0,
        Action::Transfer {
            to: public("bob"),
            amount: 5,
        },
    );
    let also_good = tx(
        "bob",
        0,
        Action::Transfer {
            to: public("alice"),
            amount: 7,
        },
    );
    let mut forged = tx(
        "alice",
        1,
        Action::Transfer {
            to: public("bob"),
            amount: 9,
        },
    );
    *forged.last_mut().unwrap() ^= 1;
    let batch = Batch {
        height: 2,
        timestamp_ms: 1_000_000 + 2_000,
        transactions: vec![good.clone(), forged, also_good.clone()],
    };
    let hash = |bytes: &[u8]| -> [u8; 32] { <sha2::Sha256 as sha2::Digest>::digest(bytes).into() };
    let cached = [hash(&good), hash(&also_good)];
    let (mut plain, mut with_cache) = (setup(), setup());
    let checked = plain.apply_batch(&batch).expect("batch");
    let trusted = with_cache
        .apply_batch_indexed(&batch, |h| cached.contains(h), |_, _, _| Vec::new())
        .expect("batch");
    assert_eq!(checked.header, trusted.header);
    assert_eq!(checked.receipts, trusted.receipts);
    assert_eq!(
        checked.receipts[1].status,
        Status::Rejected(Rejection::BadSignature)
    );
    assert_eq!(checked.receipts[0].status, Status::Committed);
}

/// The certificate a deployed program keeps, in the form the Anchor program registers: every
/// field equals what the compiler's manifest stated at compile time (field elements there are
/// little-endian hex, here big-endian), and the proof and key round-trip to the deployed ones.
#[test]
fn a_deployed_program_gives_its_certificate_in_the_anchor_programs_form() {
    use curve_certificate::{keys, proof, solana};
    use sha2::Digest;
    let runtime = chain();
    let image = oracle_image();
    let manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
    let certificate = runtime
        .solana_certificate(1)
        .expect("program 1 is deployed")
        .expect("its certificate converts");
    assert!(runtime.solana_certificate(2).is_none(), "no program 2");
    let hex_of = |path: &str| {
        path.split('.')
            .try_fold(&manifest, |v, part| v.get(part))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_else(|| panic!("manifest has {path}"))
            .to_string()
    };
    let big_endian_hex = |bytes: [u8; 32]| {
        let mut le = bytes;
        le.reverse();
        hex::encode(le)
    };
    assert_eq!(certificate.template, "oracle");
    assert_eq!(
        hex::encode(certificate.code_hash),
        hex_of("bytecode.sha256")
    );
    assert_eq!(
        hex::encode(certificate.descriptor_hash),
        hex_of("descriptor.hash")
    );
    assert_eq!(hex::encode(certificate.layout_hash), hex_of("layout.hash"));
    assert_eq!(
        big_endian_hex(certificate.h_conditions),
        hex_of("certificate.h_conditions")
    );
    assert_eq!(
        big_endian_hex(certificate.h_params),
        hex_of("certificate.h_params")
    );
    // (`curve prove` adds the key's name to the manifest; the image here is the compiler's.)
    let vk_hash: [u8; 32] = sha2::Sha256::digest(dev_vk_bytes()).into();
    assert_eq!(certificate.vk_hash, vk_hash);
    let proof = solana::proof_from_be(&certificate.proof).expect("a valid alt_bn128 proof");
    assert_eq!(proof, proof::proof_from_bytes(&image.proof).unwrap());
    let vk = solana::vk_from_be(&certificate.vk).expect("a valid alt_bn128 key");
    assert_eq!(keys::vk_bytes(&vk), dev_vk_bytes());
}

#[test]
fn a_view_answers_what_a_committed_call_returned_and_changes_nothing() {
    let mut runtime = chain();
    let now = runtime.meta().timestamp_ms + 1_000;
    let out = apply(
        &mut runtime,
        vec![
            tx("alice", 1, update(150_000_000, now - 10, &[0, 2])),
            tx("alice", 2, call("read")),
        ],
    );
    assert_all_committed(&out.receipts);
    let committed = &out.receipts[1].returns;
    let root = runtime.root();
    // At the last batch's clock, as the committed `read` ran: the same words, by name.
    let view = runtime.view(1, "read", &[]).expect("a view of `read`");
    for (i, name) in ["price", "publish_ms", "age_ms", "status", "mark"]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            view[name],
            serde_json::json!(committed[i]),
            "{name}: {view}"
        );
    }
    assert_eq!(runtime.root(), root, "a view changes no state");
    // Refusals name what is wrong.
    for (program, entry, args, says) in [
        (9, "read", vec![], "no program 9"),
        (1, "nope", vec![], "has no entry `nope`"),
        (1, "update", vec![], "only an entry that reads"),
        (1, "read", vec![serde_json::json!(1)], "takes 0 argument"),
    ] {
        let error = runtime.view(program, entry, &args).expect_err(entry);
        assert!(error.contains(says), "{entry}: {error}");
    }
    assert_eq!(runtime.root(), root);
}
