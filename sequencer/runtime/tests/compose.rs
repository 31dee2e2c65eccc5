//! Program composition on a dev chain: an oracle (program 1), a `probe_reader` (2, slab role)
//! that maps the oracle's state as a read-only view, and a `probe_caller` (3, router role) that
//! invokes them, and in one test a `probe_writer` (4) writing the reader's state through a
//! writable view (`curve_compiler::templates::probe`). Covers views, invoke, access lists, the
//! registry's role rules, re-entrancy, a program in use, rollback across frames, `bind_views`'s
//! checks and the bindings surviving a reopen. Expected values come from what the test itself
//! published or from the probes' documented behaviour, never from running them twice.

mod common;

use common::*;
use curve_formats::tx::{Action, Arg, Value};
use curve_runtime::{Rejection, Runtime, Status, client};
use curvevm::TrapKind;
use curvevm::hostcall::{Refusal, id};

const FUNDS: u64 = 1_000_000_000;
const PRICE: u64 = 151_250_000;
const ORACLE: u64 = 1;
const READER: u64 = 2;
const CALLER: u64 = 3;

fn probe_image(template: curve_compiler::templates::Template) -> curve_formats::tx::ProgramImage {
    let artifact = curve_compiler::templates::probe::artifact(template);
    curve_runtime::templates::prove_image(&artifact, "probe", "", dev_pk(), [9; 32])
        .expect("the probes have no conditions to break")
}

/// Nonces as the set-up leaves them.
struct Nonces {
    alice: u64,
    governance: u64,
}

/// The three programs deployed, the feed fed with [`PRICE`], the reader's view bound to the
/// oracle; returns the runtime, the price's publish time and the next nonces.
fn world() -> (Runtime<curve_runtime::MemoryStorage>, u64, Nonces) {
    let mut runtime = genesis();
    let funded = apply(
        &mut runtime,
        vec![
            relay(0, deposit(0, "alice", FUNDS, QUORUM as usize)),
            relay(1, deposit(1, "governance", FUNDS, QUORUM as usize)),
        ],
    );
    assert_committed(&funded.receipts);
    let deployed = apply(
        &mut runtime,
        vec![
            tx("alice", 0, Action::Deploy(oracle_image().clone())),
            tx(
                "alice",
                1,
                Action::Deploy(probe_image(
                    curve_compiler::templates::probe::reader_template(),
                )),
            ),
            tx(
                "alice",
                2,
                Action::Deploy(probe_image(
                    curve_compiler::templates::probe::caller_template(),
                )),
            ),
        ],
    );
    assert_committed(&deployed.receipts);
    let ids: Vec<_> = deployed.receipts.iter().map(|r| r.program).collect();
    assert_eq!(ids, vec![Some(ORACLE), Some(READER), Some(CALLER)]);
    assert_committed(&apply(&mut runtime, register_feed_keys(3)).receipts);
    let publish_ms = runtime.meta().timestamp_ms;
    let signers = [key("feed-0"), key("feed-1")];
    let pairs: Vec<(u64, &ed25519_dalek::SigningKey)> = signers
        .iter()
        .enumerate()
        .map(|(i, k)| (i as u64, k))
        .collect();
    let update = Action::Call {
        program: ORACLE,
        entry: "update".into(),
        args: client::oracle_update_args(CHAIN, feed_tag(), PRICE, publish_ms, &pairs),
        access: Vec::new(),
    };
    let bind = Action::BindViews {
        program: READER,
        views: vec![ORACLE],
    };
    let out = apply(
        &mut runtime,
        vec![tx("alice", 3, update), tx("governance", 3, bind)],
    );
    assert_committed(&out.receipts);
    (
        runtime,
        publish_ms,
        Nonces {
            alice: 4,
            governance: 4,
        },
    )
}

fn assert_committed(receipts: &[curve_runtime::Receipt]) {
    for receipt in receipts {
        assert_eq!(receipt.status, Status::Committed, "{receipt:?}");
    }
}

fn call(program: u64, entry: &str, args: &[u64], access: &[u64]) -> Action {
    Action::Call {
        program,
        entry: entry.into(),
        args: args.iter().map(|v| Arg::One(Value::U64(*v))).collect(),
        access: access.to_vec(),
    }
}

/// Runs one transaction from alice and returns its receipt.
fn run(
    runtime: &mut Runtime<curve_runtime::MemoryStorage>,
    nonces: &mut Nonces,
    action: Action,
) -> curve_runtime::Receipt {
    let out = apply(runtime, vec![tx("alice", nonces.alice, action)]);
    let receipt = out.receipts.into_iter().next().expect("one receipt");
    if !matches!(receipt.status, Status::Rejected(_)) {
        nonces.alice += 1;
    }
    receipt
}

/// `(class, detail)` of a refused invoke as the caller sees it.
fn refused(refusal: Refusal) -> (u64, u64) {
    TrapKind::Host {
        id: id::INVOKE,
        code: refusal.code(),
    }
    .invoke_code()
}

fn reverted_with(receipt: &curve_runtime::Receipt, refusal: Refusal) {
    match &receipt.status {
        Status::Reverted(revert) => {
            assert_eq!(revert.kind, "host", "{revert:?}");
            assert!(
                revert
                    .trap
                    .contains(&format!("refused: {} ", refusal.name())),
                "{revert:?}"
            );
        }
        other => panic!("expected a revert refusing {}: {other:?}", refusal.name()),
    }
}

#[test]
fn a_reader_maps_the_oracle_as_a_view_and_reads_its_price_without_a_call() {
    let (mut runtime, publish_ms, mut nonces) = world();
    let receipt = run(
        &mut runtime,
        &mut nonces,
        call(READER, "mark", &[], &[ORACLE]),
    );
    assert_eq!(receipt.status, Status::Committed, "{receipt:?}");
    assert_eq!(receipt.returns, vec![PRICE, publish_ms]);
    // The oracle's state came back: it runs as before.
    let receipt = run(&mut runtime, &mut nonces, call(ORACLE, "read", &[], &[]));
    assert_eq!(receipt.status, Status::Committed, "{receipt:?}");
    assert_eq!(receipt.returns[0], PRICE);
}

#[test]
fn the_access_list_is_checked_before_anything_runs() {
    let (mut runtime, _, mut nonces) = world();
    let cases = [
        (call(READER, "mark", &[], &[]), "maps program 1"),
        (
            call(CALLER, "mark_of", &[READER], &[READER, ORACLE]),
            "ascending",
        ),
        (call(READER, "mark", &[], &[ORACLE, ORACLE]), "ascending"),
        (
            call(READER, "mark", &[], &[ORACLE, READER]),
            "called program",
        ),
        (call(READER, "mark", &[], &[ORACLE, 99]), "no program 99"),
    ];
    for (action, expected) in cases {
        let root = runtime.root();
        let receipt = run(&mut runtime, &mut nonces, action);
        match &receipt.status {
            Status::Rejected(rejection @ Rejection::Access(message)) => {
                assert!(message.contains(expected), "{rejection}");
            }
            other => panic!("{expected}: {other:?}"),
        }
        // Only the batch's height and time moved: no nonce, no fee.
        assert_eq!(
            runtime.account(&public("alice")).expect("alice").nonce,
            nonces.alice
        );
        assert_ne!(runtime.root(), root);
    }
}

#[test]
fn invoke_reaches_declared_programs_the_registry_allows() {
    let (mut runtime, publish_ms, mut nonces) = world();
    // caller -> oracle.read
    let receipt = run(
        &mut runtime,
        &mut nonces,
        call(CALLER, "read_oracle", &[ORACLE], &[ORACLE]),
    );
    assert_eq!(receipt.returns, vec![0, 0, PRICE], "{receipt:?}");
    // caller -> reader.mark: the invoked reader maps the oracle too.
    let receipt = run(
        &mut runtime,
        &mut nonces,
        call(CALLER, "mark_of", &[READER], &[ORACLE, READER]),
    );
    assert_eq!(
        receipt.returns,
        vec![0, 0, PRICE, publish_ms],
        "{receipt:?}"
    );
    // Not in the access list: the invoke is refused (a trap of the caller).
    let receipt = run(
        &mut runtime,
        &mut nonces,
        call(CALLER, "read_oracle", &[ORACLE], &[]),
    );
    reverted_with(&receipt, Refusal::UndeclaredProgram);
    // The reader is declared but the oracle it maps is not.
    let receipt = run(
        &mut runtime,
        &mut nonces,
        call(CALLER, "mark_of", &[READER], &[READER]),
    );
    reverted_with(&receipt, Refusal::UndeclaredProgram);
    // A router may not call an oracle's `funding` (slabs only).
    let receipt = run(
        &mut runtime,
        &mut nonces,
        call(CALLER, "funding_of", &[ORACLE], &[ORACLE]),
    );
    reverted_with(&receipt, Refusal::InvokeDenied);
}

#[test]
fn re_entrancy_and_a_mapped_program_are_refused_inside_and_come_back_as_codes() {
    let (mut runtime, _, mut nonces) = world();
    // caller -> reader.probe_call(caller, oracle) -> caller: re-entrant; the reader traps and
    // the caller gets its code.
    let receipt = run(
        &mut runtime,
        &mut nonces,
        call(
            CALLER,
            "relay",
            &[READER, CALLER, ORACLE],
            &[ORACLE, READER],
        ),
    );
    assert_eq!(receipt.status, Status::Committed, "{receipt:?}");
    let (class, detail) = refused(Refusal::Reentrancy);
    assert_eq!(receipt.returns, vec![class, detail, 0, 0]);
    // reader (mapping the oracle) -> caller.read_oracle(oracle) -> oracle: its state is lent
    // to the reader's view, so it cannot run.
    let receipt = run(
        &mut runtime,
        &mut nonces,
        call(READER, "probe_call", &[CALLER, ORACLE], &[ORACLE, CALLER]),
    );
    assert_eq!(receipt.status, Status::Committed, "{receipt:?}");
    let (class, detail) = refused(Refusal::ProgramInUse);
    assert_eq!(receipt.returns, vec![class, detail]);
}

#[test]
fn a_callers_trap_undoes_the_callees_writes() {
    let (mut runtime, _, mut nonces) = world();
    let bump = |n, trap| call(CALLER, "bump_then", &[READER, n, trap], &[ORACLE, READER]);
    let receipt = run(&mut runtime, &mut nonces, bump(5, 0));
    assert_eq!(receipt.returns, vec![0, 0, 5], "{receipt:?}");
    let receipt = run(&mut runtime, &mut nonces, bump(7, 1));
    match &receipt.status {
        Status::Reverted(revert) => assert_eq!(revert.kind, "abort", "{revert:?}"),
        other => panic!("{other:?}"),
    }
    // The reader's counter is still 5 (the reverted 7 is gone) and the caller counted one call.
    let receipt = run(&mut runtime, &mut nonces, bump(0, 0));
    assert_eq!(receipt.returns, vec![0, 0, 5], "{receipt:?}");
    let state = |runtime: &Runtime<_>, program| {
        runtime
            .state_proof(&curve_runtime::Key::Page(
                program,
                curvevm::Segment::Slab.sel(),
                0,
            ))
            .expect("a page")
            .leaf
    };
    // Reopened from its store, the chain has the same root and the same bindings.
    let reopened = Runtime::open(runtime.storage().clone()).expect("reopens");
    assert_eq!(reopened.root(), runtime.root());
    assert_eq!(state(&reopened, CALLER), state(&runtime, CALLER));
    let mut reopened = reopened;
    let receipt = run(
        &mut reopened,
        &mut nonces,
        call(READER, "mark", &[], &[ORACLE]),
    );
    assert_eq!(receipt.returns[0], PRICE, "{receipt:?}");
}

#[test]
fn bind_views_is_governance_only_and_checks_count_size_and_identity() {
    let (mut runtime, _, nonces) = world();
    let governance = nonces.governance;
    let cases = [
        (vec![], "declares 1 view(s); 0 given"),
        (vec![ORACLE, CALLER], "declares 1 view(s); 2 given"),
        (vec![READER], "the program itself"),
        (
            vec![CALLER],
            "view0 is declared with 80 words; program 3's state has 1",
        ),
        (vec![42], "no program 42"),
    ];
    for (views, expected) in cases {
        let out = apply(
            &mut runtime,
            vec![tx(
                "governance",
                governance,
                Action::BindViews {
                    program: READER,
                    views,
                },
            )],
        );
        match &out.receipts[0].status {
            Status::Rejected(rejection) => {
                assert!(rejection.to_string().contains(expected), "{rejection}");
            }
            other => panic!("{expected}: {other:?}"),
        }
    }
    // The oracle declares no views; a user may not bind.
    let out = apply(
        &mut runtime,
        vec![
            tx(
                "governance",
                governance,
                Action::BindViews {
                    program: ORACLE,
                    views: vec![READER],
                },
            ),
            tx(
                "alice",
                nonces.alice,
                Action::BindViews {
                    program: READER,
                    views: vec![ORACLE],
                },
            ),
        ],
    );
    assert!(matches!(out.receipts[0].status, Status::Rejected(_)));
    assert!(matches!(
        out.receipts[1].status,
        Status::Rejected(Rejection::NotGovernance("bind_views"))
    ));
}

#[test]
fn probes_are_refused_outside_dev_mode() {
    let mut runtime = Runtime::genesis(
        config(false, dev_vk_bytes()),
        curve_runtime::MemoryStorage::new(),
    );
    // Outside dev mode the development key itself is refused at genesis; either refusal keeps
    // the probes off a production chain.
    if let Ok(runtime) = runtime.as_mut() {
        let out = apply(
            runtime,
            vec![tx(
                "alice",
                0,
                Action::Deploy(probe_image(
                    curve_compiler::templates::probe::reader_template(),
                )),
            )],
        );
        assert!(matches!(out.receipts[0].status, Status::Rejected(_)));
    }
    let Err(error) = curve_runtime::templates::admit(
        &probe_image(curve_compiler::templates::probe::reader_template()),
        &Default::default(),
        false,
    ) else {
        panic!("a probe admitted outside dev mode");
    };
    assert!(
        error.contains("no deployable template `probe_reader`"),
        "{error}"
    );
}

const WRITER: u64 = 4;

/// [`world`] plus a `probe_writer` (program 4) whose writable `view0` governance binds to the
/// reader's state.
fn world_with_writer() -> (Runtime<curve_runtime::MemoryStorage>, Nonces) {
    let (mut runtime, _, mut nonces) = world();
    let image = probe_image(curve_compiler::templates::probe::writer_template());
    let out = apply(
        &mut runtime,
        vec![tx("alice", nonces.alice, Action::Deploy(image))],
    );
    assert_committed(&out.receipts);
    assert_eq!(out.receipts[0].program, Some(WRITER));
    nonces.alice += 1;
    // The reader's state is 1 word, the oracle's 80: a view of another size is refused; a
    // router may not map another router's state.
    let bind = |views: Vec<u64>| Action::BindViews {
        program: WRITER,
        views,
    };
    let out = apply(
        &mut runtime,
        vec![
            tx("governance", nonces.governance, bind(vec![ORACLE])),
            tx("governance", nonces.governance, bind(vec![CALLER])),
            tx("governance", nonces.governance, bind(vec![READER])),
        ],
    );
    let reasons: Vec<String> = out.receipts[..2]
        .iter()
        .map(|r| match &r.status {
            Status::Rejected(rejection) => rejection.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        reasons[0].contains("view0 is declared with 1 words; program 1's state has 80"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("a router may not map a router's state writable"),
        "{reasons:?}"
    );
    assert_committed(&out.receipts[2..]);
    nonces.governance += 1;
    (runtime, nonces)
}

/// The reader's counter page as the state tree holds it.
fn reader_page(runtime: &Runtime<curve_runtime::MemoryStorage>) -> Vec<u8> {
    let proof = runtime
        .state_proof(&curve_runtime::Key::Page(
            READER,
            curvevm::Segment::Slab.sel(),
            0,
        ))
        .expect("the reader's page is in the state");
    proof.verify(&runtime.root()).expect("the proof verifies");
    proof.leaf
}

#[test]
fn writes_through_a_writable_view_feed_the_mapped_programs_state_and_root() {
    let (mut runtime, mut nonces) = world_with_writer();
    let before = reader_page(&runtime);
    let receipt = run(
        &mut runtime,
        &mut nonces,
        call(WRITER, "poke", &[7], &[READER]),
    );
    assert_eq!(receipt.status, Status::Committed, "{receipt:?}");
    // The reader sees 7 as its own counter, and the state tree's leaf changed with it.
    let receipt = run(
        &mut runtime,
        &mut nonces,
        call(CALLER, "bump_then", &[READER, 0, 0], &[ORACLE, READER]),
    );
    assert_eq!(receipt.returns, vec![0, 0, 7], "{receipt:?}");
    let after = reader_page(&runtime);
    assert_ne!(before, after);
    assert!(after.ends_with(&7u64.to_le_bytes()), "{after:?}");
    // A trap after the write undoes it.
    let receipt = run(
        &mut runtime,
        &mut nonces,
        call(WRITER, "poke_then", &[9, 1], &[READER]),
    );
    assert!(matches!(receipt.status, Status::Reverted(_)), "{receipt:?}");
    assert_eq!(reader_page(&runtime), after);
    // The writer's view must be declared; a reopened chain has the same root and page.
    let receipt = run(&mut runtime, &mut nonces, call(WRITER, "poke", &[8], &[]));
    assert!(matches!(
        receipt.status,
        Status::Rejected(Rejection::Access(_))
    ));
    let reopened = Runtime::open(runtime.storage().clone()).expect("reopens");
    assert_eq!(reopened.root(), runtime.root());
    assert_eq!(reader_page(&reopened), after);
}
