//! Every decoder of outside input in the node never panics, however short, long or deep the
//! input, and accepts exactly what its encoder writes: transaction and deposit attestation frames
//! from peers, the
//! safety guard file, state-sync frames and chunks, a consensus-only node's batch frames,
//! requests and references, key files and `node.toml`.

use curve_node::batches::{
    BatchPacker, BatchRef, FRAME_BATCH, decode_request, reference, request_frame,
};
use curve_node::config::{NodeConfig, read_key_file};
use curve_node::deposits::Attestation;
use curve_node::frame::{FORWARD_BATCH, decode_transactions, encode_transactions};
use curve_node::guard::Watermark;
use curve_node::sync::{SnapshotAnswer, SnapshotRequest, chunk_entries, decode_chunks};
use proptest::prelude::*;

proptest! {
    #[test]
    fn transaction_frames_round_trip(txs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..40)) {
        let frame = encode_transactions(&txs);
        prop_assert_eq!(decode_transactions(&frame[1..]).expect("its own encoding"), txs);
    }

    #[test]
    fn any_frame_body_decodes_or_is_refused(body in prop::collection::vec(any::<u8>(), 0..2_000)) {
        curve_node::fuzz::decode_bytes(&body);
    }

    #[test]
    fn attestation_frames_round_trip_and_refuse_cuts(
        chain_id in any::<u64>(), sequence in any::<u64>(), amount in any::<u64>(), slot in any::<u64>(),
        member in any::<u16>(), fill in any::<u8>(), cut in 1usize..40,
    ) {
        let attestation = Attestation {
            record: curve_formats::deposit::DepositRecord {
                chain_id, sequence, depositor: [fill; 32], recipient: [fill ^ 1; 32], amount, slot,
            },
            member,
            signature: [fill; 64],
        };
        let frame = attestation.to_frame();
        prop_assert_eq!(Attestation::decode_body(&frame[1..]).expect("its own encoding"), attestation);
        prop_assert!(Attestation::decode_body(&frame[1..frame.len() - cut]).is_err());
    }

    #[test]
    fn a_cut_or_extended_frame_is_refused(txs in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..50), 1..10), cut in 1usize..20, extra in 1u8..=255) {
        let frame = encode_transactions(&txs);
        let body = &frame[1..];
        prop_assert!(decode_transactions(&body[..body.len() - cut.min(body.len())]).is_err());
        let mut longer = body.to_vec();
        longer.push(extra);
        prop_assert!(decode_transactions(&longer).is_err());
    }

    #[test]
    fn state_chunks_round_trip_and_refuse_disorder(
        map in prop::collection::btree_map(prop::collection::vec(any::<u8>(), 0..40), prop::collection::vec(any::<u8>(), 0..3_000), 0..200),
        big in 0usize..3,
    ) {
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = map.into_iter().collect();
        // Values large enough to cut several chunks.
        for entry in entries.iter_mut().take(big) {
            entry.1 = vec![7; 700 << 10];
        }
        let chunks = chunk_entries(&entries);
        // Every chunk but the last is cut once full, and none passes the limit a peer checks.
        for chunk in &chunks[..chunks.len() - 1] {
            prop_assert!(chunk.len() >= curve_node::sync::CHUNK_BYTES);
        }
        prop_assert!(chunks.iter().all(|c| c.len() <= curve_node::sync::CHUNK_MAX));
        prop_assert_eq!(decode_chunks(&chunks).expect("its own chunks"), entries.clone());
        if chunks.len() > 1 {
            let mut swapped = chunks.clone();
            swapped.swap(0, 1);
            prop_assert!(decode_chunks(&swapped).is_err(), "keys must increase across chunks");
        }
    }

    #[test]
    fn snapshot_frames_round_trip_and_any_body_decodes_or_is_refused(
        height in any::<u64>(), index in any::<u32>(), bytes in prop::collection::vec(any::<u8>(), 0..500),
        junk in prop::collection::vec(any::<u8>(), 0..2_000),
    ) {
        for request in [SnapshotRequest::Manifest, SnapshotRequest::Chunk { height, index }] {
            let frame = request.to_frame();
            prop_assert_eq!(SnapshotRequest::decode_body(&frame[1..]), Ok(request));
        }
        for answer in [SnapshotAnswer::Chunk { height, index, bytes: bytes.clone() }, SnapshotAnswer::None { base: height }] {
            let frame = answer.to_frame();
            prop_assert_eq!(SnapshotAnswer::decode_body(&frame[1..]), Ok(answer));
            prop_assert!(SnapshotAnswer::decode_body(&frame[1..frame.len() - 1]).is_err());
        }
        let _ = SnapshotRequest::decode_body(&junk);
        let _ = SnapshotAnswer::decode_body(&junk);
        let _ = decode_chunks(&[junk]);
    }

    #[test]
    fn batch_frames_name_what_they_carry_and_refuse_cuts(
        author in any::<u16>(), due_ms in any::<u64>(),
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 1..60),
        cut in 1usize..40, junk in prop::collection::vec(any::<u8>(), 0..2_000),
    ) {
        let mut packer = BatchPacker::new(author, due_ms);
        for payload in &payloads {
            packer.push(payload);
        }
        let frames = packer.finish();
        prop_assert_eq!(frames.len(), 1, "under the batch limits: one frame");
        let batch = reference(&frames[0]).expect("its own frame");
        prop_assert_eq!((batch.author, batch.count as usize, batch.generated_ms), (author, payloads.len(), due_ms));
        prop_assert_eq!(BatchRef::from_bytes(&batch.to_bytes()), Some(batch));
        prop_assert!(reference(&frames[0][..frames[0].len() - cut.min(frames[0].len())]).is_err());
        let request = request_frame(&[batch.digest]);
        prop_assert_eq!(decode_request(&request[1..]), Ok(vec![batch.digest]));
        let mut frame = vec![FRAME_BATCH];
        frame.extend_from_slice(&junk);
        let _ = reference(&frame);
        let _ = decode_request(&junk);
        let _ = BatchRef::from_bytes(&junk);
    }

    #[test]
    fn the_guard_reads_only_what_it_wrote(voted in any::<u64>(), proposed in any::<u64>(), high_qc in any::<u64>(), flip in 0usize..40, bit in 0u8..8) {
        let watermark = Watermark { voted, proposed, high_qc };
        let bytes = watermark.to_bytes();
        prop_assert_eq!(Watermark::from_bytes(&bytes), Some(watermark));
        let mut torn = bytes;
        torn[flip] ^= 1 << bit;
        prop_assert_eq!(Watermark::from_bytes(&torn), None);
        prop_assert_eq!(Watermark::from_bytes(&bytes[..flip]), None);
    }

    #[test]
    fn any_guard_bytes_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
        let _ = Watermark::from_bytes(&bytes);
    }

    #[test]
    fn any_config_text_loads_or_is_refused(text in "\\PC{0,400}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, text).unwrap();
        let _ = NodeConfig::load(&path);
    }

    #[test]
    fn any_key_file_loads_or_is_refused(text in "\\PC{0,300}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        std::fs::write(&path, text).unwrap();
        let _ = read_key_file(&path);
    }
}

/// The `node_decode` fuzz target's corpus (grown by its runs) through the same entry.
#[test]
fn fuzz_corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/node_decode");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        curve_node::fuzz::decode_bytes(&std::fs::read(entry.expect("entry").path()).expect("read"));
        count += 1;
    }
    assert!(count >= 10, "the corpus shrank to {count} inputs");
}

#[test]
fn frames_at_the_count_limit_and_over_it() {
    let full: Vec<Vec<u8>> = (0..FORWARD_BATCH).map(|i| vec![i as u8; 3]).collect();
    let frame = encode_transactions(&full);
    assert_eq!(
        decode_transactions(&frame[1..]).unwrap().len(),
        FORWARD_BATCH
    );
    // A count above the limit is refused before anything is allocated for it.
    let mut over = ((FORWARD_BATCH + 1) as u32).to_le_bytes().to_vec();
    over.extend(std::iter::repeat_n(0u8, 64));
    assert!(decode_transactions(&over).is_err());
    // A huge declared length with no bytes behind it is refused, not allocated.
    let mut huge = 1u32.to_le_bytes().to_vec();
    huge.extend(u32::MAX.to_le_bytes());
    assert!(decode_transactions(&huge).is_err());
}

#[test]
fn config_errors_say_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    let member = |c: &str| {
        format!(
            "[[committee]]\nconsensus = \"{c}\"\nnetwork = \"{}\"\naddress = \"/ip4/127.0.0.1/tcp/1\"\n",
            "22".repeat(32)
        )
    };
    let base = format!(
        "chain_id = 1\nconsensus_key = \"c.json\"\nnetwork_key = \"n.json\"\ndata_dir = \"d\"\n\
         listen = \"/ip4/127.0.0.1/tcp/1\"\nrpc = \"127.0.0.1:1\"\n[genesis]\ngovernance = \"{}\"\n{}{}",
        "33".repeat(32),
        member(&"44".repeat(32)),
        member(&"55".repeat(32)),
    );
    let error = |text: &str| {
        std::fs::write(&path, text).unwrap();
        format!("{:#}", NodeConfig::load(&path).unwrap_err())
    };
    std::fs::write(&path, &base).unwrap();
    NodeConfig::load(&path).expect("a valid config");
    assert!(
        error(&base.replace("rpc = \"127.0.0.1:1\"", "rpc = \"nowhere\""))
            .contains("rpc `nowhere`")
    );
    assert!(error(&base.replace(&"44".repeat(32), "zz")).contains("committee[0].consensus"));
    assert!(error(&format!("{base}\nsurprise = 1\n")).contains("surprise"));
    assert!(
        error(&base.replace(
            "[genesis]",
            "[timeouts]\nbase_ms = 100\nmax_ms = 100\nidle_block_ms = 80\n[genesis]"
        ))
        .contains("idle_block_ms")
    );
    let one_member = base
        .split("[[committee]]")
        .take(2)
        .collect::<Vec<_>>()
        .join("[[committee]]");
    assert!(error(&one_member).contains("committee of 2 to 64"));
    // The execution engine: the JIT unless the config names the interpreter; any other name is
    // refused and named.
    std::fs::write(&path, &base).unwrap();
    assert_eq!(
        NodeConfig::load(&path).expect("valid").execution.engine,
        curve_runtime::ExecutionEngine::Jit
    );
    let interpreted = format!("{base}\n[execution]\nengine = \"interpreter\"\n");
    std::fs::write(&path, &interpreted).unwrap();
    assert_eq!(
        NodeConfig::load(&path).expect("valid").execution.engine,
        curve_runtime::ExecutionEngine::Interpreter
    );
    let unknown = error(&interpreted.replace("\"interpreter\"", "\"wasm\""));
    assert!(unknown.contains("unknown engine `wasm`"), "{unknown}");
}

#[test]
fn key_files_must_hold_a_matching_pair() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.json");
    std::fs::write(&path, format!("[{}]", vec!["1"; 64].join(","))).unwrap();
    let error = format!("{:#}", read_key_file(&path).unwrap_err());
    assert!(error.contains("public half does not match"), "{error}");
    std::fs::write(&path, "[1,2,3]").unwrap();
    assert!(format!("{:#}", read_key_file(&path).unwrap_err()).contains("3 bytes"));
}
