//! Slabs on a chain: a SLAB block's module is generated for its pools, so the runtime rebuilds
//! it from the shape the manifest states and admits the image only if the bytes are exactly
//! those (and the certificate verifies over them). A manifest that states another shape, an
//! impossible shape or none is refused; a slab survives a reopen from its store; and the
//! registry's direct-call rules hold: holds only through a router's invoke, a maker's orders
//! only as itself, maker classes only from governance.

mod common;

use common::slab::*;
use common::*;
use curve_formats::tx::{Action, Arg, ProgramImage, Value};
use curve_runtime::{MemoryStorage, Rejection, Runtime, Status};

/// `image` with its manifest's `layout.shape` edited by `edit`.
fn with_shape(image: &ProgramImage, edit: impl FnOnce(&mut serde_json::Value)) -> ProgramImage {
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&image.manifest).expect("a JSON manifest");
    edit(&mut manifest["layout"]["shape"]);
    ProgramImage {
        manifest: serde_json::to_vec(&manifest).expect("JSON"),
        ..image.clone()
    }
}

fn deploy_refusal(runtime: &mut Runtime<MemoryStorage>, image: ProgramImage) -> String {
    match deploy(runtime, 1, image) {
        Status::Rejected(Rejection::Deploy(reason)) => reason,
        other => panic!("expected a refused deploy, got {other:?}"),
    }
}

#[test]
fn a_slab_deploys_from_its_shape_and_reopens() {
    let mut runtime = funded();
    let out = apply(
        &mut runtime,
        vec![tx_with(
            "alice",
            1,
            60_000_000,
            1,
            Action::Deploy(slab_image().clone()),
        )],
    );
    let receipt = &out.receipts[0];
    assert_eq!(receipt.status, Status::Committed, "{receipt:?}");
    assert_eq!(receipt.program, Some(SLAB));
    // The deploy paid the certificate check, the module build and the segment's pages.
    let layout = curve_runtime::templates::slab_layout_of(&slab_image().manifest).expect("shape");
    let pages = u64::from(layout.words()).div_ceil(u64::from(curvevm::isa::PAGE_WORDS));
    assert!(
        receipt.gas_used
            >= curve_runtime::protocol::CERTIFICATE_GAS
                + curve_runtime::protocol::SHAPED_BUILD_GAS
                + curve_runtime::protocol::PAGE_GAS * pages,
        "{}",
        receipt.gas_used
    );
    // Governance binds the oracle view; the slab answers a view call.
    let bind = Action::BindViews {
        program: SLAB,
        views: vec![ORACLE],
    };
    let out = apply(
        &mut runtime,
        vec![
            tx("governance", 0, bind),
            tx("alice", 2, call(SLAB, "batch_open", &[0], &[ORACLE])),
        ],
    );
    for receipt in &out.receipts {
        assert_eq!(receipt.status, Status::Committed, "{receipt:?}");
    }
    assert_eq!(
        out.receipts[1].returns,
        vec![1, 0, 0],
        "epoch 1, nothing promoted, no hold released"
    );
    // Reopened from its store alone, the chain rebuilds the slab's module from the stored
    // manifest's shape and continues where it was.
    let mut reopened = Runtime::open(runtime.storage().clone()).expect("reopens");
    assert_eq!(reopened.root(), runtime.root());
    let out = apply(
        &mut reopened,
        vec![tx("alice", 3, call(SLAB, "batch_open", &[0], &[ORACLE]))],
    );
    assert_eq!(out.receipts[0].status, Status::Committed);
    assert_eq!(out.receipts[0].returns, vec![2, 0, 0], "epoch 2");
}

#[test]
fn a_manifest_stating_another_or_an_impossible_shape_is_refused() {
    let mut runtime = funded();
    let cases: Vec<(ProgramImage, &str)> = vec![
        (
            with_shape(slab_image(), |shape| shape["orders"] = 257.into()),
            "not the `slab` template's bytecode",
        ),
        (
            with_shape(slab_image(), |shape| shape["views"] = 2.into()),
            "not the `slab` template's bytecode",
        ),
        (
            with_shape(slab_image(), |shape| shape["views"] = 9.into()),
            "a slab maps 1 to 8 oracle views, not 9",
        ),
        (
            with_shape(slab_image(), |shape| shape["orders"] = 0.into()),
            "the `orders` pool holds 0 records",
        ),
        (
            with_shape(slab_image(), |shape| {
                shape["orders"] = 1_000_000.into();
                shape["positions"] = 1_000_000.into();
            }),
            "a slab holds 10_485_760",
        ),
        (
            with_shape(slab_image(), |shape| {
                shape.as_object_mut().expect("a map").remove("trades");
            }),
            "the slab shape names no `trades`",
        ),
        (
            with_shape(slab_image(), |shape| shape["levels"] = 4.into()),
            "the slab shape has no dimension `levels`",
        ),
        (
            with_shape(slab_image(), |shape| *shape = serde_json::Value::Null),
            "the manifest states no `layout.shape`",
        ),
    ];
    let before = runtime.root();
    for (image, expected) in cases {
        let reason = deploy_refusal(&mut runtime, image);
        assert!(reason.contains(expected), "{reason}");
    }
    // Refused deploys change no state but the blocks' metadata: nothing was deployed.
    assert_ne!(runtime.root(), before);
    assert_eq!(runtime.meta().next_program, SLAB);
}

#[test]
fn holds_are_the_routers_orders_the_makers_and_classes_governances() {
    let mut runtime = funded();
    assert_eq!(
        deploy(&mut runtime, 1, slab_image().clone()),
        Status::Committed
    );
    let out = apply(
        &mut runtime,
        vec![
            tx(
                "governance",
                0,
                Action::BindViews {
                    program: SLAB,
                    views: vec![ORACLE],
                },
            ),
            // alice is user 1, the relayer 2, governance 3.
            tx(
                "alice",
                2,
                Action::Call {
                    program: SLAB,
                    entry: "reserve".into(),
                    args: [1, 1, 0, 0, 2, 1_000, 100]
                        .into_iter()
                        .map(|v| Arg::One(Value::U64(v)))
                        .chain([Arg::One(Value::Bytes32([0; 32]))])
                        .collect(),
                    access: vec![ORACLE],
                },
            ),
            tx(
                "alice",
                2,
                call(SLAB, "place_order", &[3, 0, 1, 1_000, 2], &[ORACLE]),
            ),
            tx(
                "alice",
                2,
                call(SLAB, "set_maker_class", &[1, 1], &[ORACLE]),
            ),
            tx(
                "governance",
                1,
                call(SLAB, "set_maker_class", &[1, 1], &[ORACLE]),
            ),
            tx(
                "alice",
                2,
                call(SLAB, "place_order", &[1, 0, 1, 1_000, 2], &[ORACLE]),
            ),
        ],
    );
    let statuses: Vec<&Status> = out.receipts.iter().map(|r| &r.status).collect();
    assert_eq!(statuses[0], &Status::Committed);
    assert!(
        matches!(statuses[1], Status::Rejected(Rejection::InvokeOnly { entry, .. }) if entry == "reserve"),
        "{statuses:?}"
    );
    assert!(
        matches!(
            statuses[2],
            Status::Rejected(Rejection::NotSender {
                arg: "user",
                sender: 1,
                found: 3,
                ..
            })
        ),
        "{statuses:?}"
    );
    assert!(
        matches!(
            statuses[3],
            Status::Rejected(Rejection::NotGovernance("set_maker_class"))
        ),
        "{statuses:?}"
    );
    assert_eq!(statuses[4], &Status::Committed);
    assert_eq!(statuses[5], &Status::Committed, "{statuses:?}");
    assert_eq!(out.receipts[5].returns, vec![1], "the first order id");
}

/// A ROUTER block: the router deploys from it like any template program.
const ROUTER_SOURCE: &str = r#"
ROUTER {
    COLLATERAL asset=USDC vault_cap=1_000_000_000_000
    CAP_TTL ms=60_000
}
"#;

const ROUTER: u64 = 3;

/// OBS1 (percolator §12): the state root is recomputed from random samples of the router's and
/// the slab's state — each sampled page's leaf hashed up its Merkle path — and equals the
/// runtime's; a sample with one byte changed does not; and the router's sampled page holds what
/// governance's listing wrote (one slab listed, entry 0 = the slab, active).
#[test]
#[allow(clippy::disallowed_methods)] // The test reads its replay seed; the library reads nothing.
fn sampled_router_and_slab_state_recompute_the_state_root() {
    let mut runtime = funded();
    assert_eq!(
        deploy(&mut runtime, 1, slab_image().clone()),
        Status::Committed
    );
    let router = curve_runtime::templates::prove_image(
        &artifact(ROUTER_SOURCE, "router"),
        "router.curve",
        ROUTER_SOURCE,
        dev_pk_64(),
        [7; 32],
    )
    .expect("the router's conditions hold");
    assert_eq!(deploy(&mut runtime, 2, router), Status::Committed);
    let out = apply(
        &mut runtime,
        vec![
            tx("alice", 3, call(ROUTER, "list_slab", &[SLAB], &[])),
            tx("governance", 0, call(ROUTER, "list_slab", &[SLAB], &[])),
        ],
    );
    assert!(
        matches!(out.receipts[0].status, Status::Rejected(_)),
        "only governance lists: {:?}",
        out.receipts[0]
    );
    assert_eq!(
        out.receipts[1].status,
        Status::Committed,
        "{:?}",
        out.receipts[1]
    );
    assert_eq!(out.receipts[1].returns, vec![0]);

    let root = runtime.root();
    let slab = curvevm::Segment::Slab.sel();
    let layout = curve_runtime::templates::slab_layout_of(&slab_image().manifest).expect("shape");
    let pages = u64::from(layout.words()).div_ceil(u64::from(curvevm::isa::PAGE_WORDS));
    let seed = std::env::var("OBS1_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0B51_u64);
    println!("OBS1 samples: seed {seed} (OBS1_SEED={seed} replays it)");
    let mut state = seed | 1;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut sampled = 0;
    for sample in 0..48 {
        let key = if sample % 4 == 0 {
            curve_runtime::Key::Page(ROUTER, slab, 0)
        } else {
            curve_runtime::Key::Page(SLAB, slab, next(pages) as u32)
        };
        // Pages never written are not in the state.
        let Some(proof) = runtime.state_proof(&key) else {
            continue;
        };
        proof
            .verify(&root)
            .unwrap_or_else(|e| panic!("{key:?}: {e}"));
        let mut tampered = proof.clone();
        let at = next(tampered.leaf.len() as u64) as usize;
        tampered.leaf[at] ^= 1;
        assert!(
            tampered.verify(&root).is_err(),
            "{key:?}: a changed byte verified"
        );
        sampled += 1;
    }
    assert!(
        sampled >= 24,
        "only {sampled} sampled pages are in the state"
    );
    // The router's state: the page's words end the leaf (key ‖ 1 ‖ words, little-endian).
    let leaf = runtime
        .state_proof(&curve_runtime::Key::Page(ROUTER, slab, 0))
        .expect("the router's page")
        .leaf;
    // Page 0: the state's first words, a page's worth (the portfolios run on for many pages).
    let words = curve_compiler::templates::router::words().min(curvevm::isa::PAGE_WORDS) as usize;
    let tail = &leaf[leaf.len() - 8 * words..];
    let word = |i: usize| u64::from_le_bytes(tail[8 * i..8 * i + 8].try_into().expect("8 bytes"));
    // Header (slabs_listed, routes), then registry entry 0 (slab, active).
    assert_eq!([word(0), word(1), word(2), word(3)], [1, 0, SLAB, 1]);
}
