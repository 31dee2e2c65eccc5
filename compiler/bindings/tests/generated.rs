//! The checked-in bindings are exactly what the generator produces (`UPDATE_EXPECT=1`
//! regenerates them), they refuse a program with another descriptor hash, and their encodings
//! have the word counts the compiled modules declare.

use curve_bindings::{CapId, DescriptorMismatch, ProgramId, oracle, slab};
use curve_compiler::{abi, bindings};

#[test]
fn checked_in_bindings_are_regenerated_exactly() {
    expect_test::expect_file!["../src/oracle.rs"].assert_eq(&bindings::generate(&abi::ORACLE));
    expect_test::expect_file!["../src/slab.rs"].assert_eq(&bindings::generate(&abi::SLAB));
    expect_test::expect_file!["../src/market.rs"].assert_eq(&bindings::generate(&abi::MARKET));
}

#[test]
fn generation_is_deterministic() {
    for interface in abi::ALL {
        assert_eq!(bindings::generate(interface), bindings::generate(interface));
    }
}

#[test]
fn hashes_match_the_interfaces() {
    assert_eq!(oracle::DESCRIPTOR_HASH, abi::ORACLE.hash());
    assert_eq!(slab::DESCRIPTOR_HASH, abi::SLAB.hash());
    assert_eq!(curve_bindings::market::DESCRIPTOR_HASH, abi::MARKET.hash());
}

#[test]
fn bind_refuses_another_descriptor_hash() {
    let program = ProgramId(7);
    assert!(slab::Slab::bind(program, &slab::DESCRIPTOR_HASH).is_ok());
    for byte in 0..32 {
        let mut tampered = slab::DESCRIPTOR_HASH;
        tampered[byte] ^= 1;
        let error: DescriptorMismatch = slab::Slab::bind(program, &tampered).unwrap_err();
        assert_eq!(error.deployed, tampered);
        assert!(error.to_string().contains("curve bindings slab"), "{error}");
    }
    // An oracle program is not a slab.
    assert!(slab::Slab::bind(program, &oracle::DESCRIPTOR_HASH).is_err());
}

#[test]
fn a_compiled_oracle_binds_and_takes_the_encoded_words() {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/perp_sol.curve"
    ))
    .expect("the example");
    let checked = curvescript_check::check_source(&source, None);
    let compiled = curve_compiler::compile(&checked.script);
    let artifact = compiled
        .artifacts
        .iter()
        .find(|a| a.template == "oracle")
        .expect("an oracle artifact");
    let manifest: String = curve_compiler::manifest::manifest(artifact, "perp_sol.curve", &source);
    let deployed: [u8; 32] = hex::decode(curve_compiler::manifest::descriptor_hash(artifact))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    assert!(manifest.contains(&hex::encode(deployed)));
    let feed = oracle::Oracle::bind(ProgramId(1), &deployed).expect("matching hash");
    let update = oracle::UpdateArgs {
        price: 1,
        publish_ms: 2,
        count: 1,
        key_index: [0; 16],
        signatures: [[9; 64]; 16],
    };
    let call = feed.update(&update);
    let module = &artifact.lowered.module;
    let entry = module
        .entries
        .iter()
        .find(|e| e.name == call.entry)
        .expect("the entry");
    assert_eq!(call.args.len(), usize::from(entry.args));
    assert_eq!(call.args.len(), oracle::UpdateArgs::WORDS);
    assert_eq!(&call.args[..3], &[1, 2, 1]);
    let read = module
        .entries
        .iter()
        .find(|e| e.name == "read")
        .expect("read");
    assert_eq!(usize::from(read.ret), oracle::ReadReturn::WORDS);
}

#[test]
fn return_values_decode_and_refuse_wrong_lengths() {
    let words = [1, 2, 3, 4, 5, 6, 7, 8];
    let decoded = slab::ReserveReturn::from_words(&words).expect("eight words");
    assert_eq!(decoded.hold_id, 1);
    assert_eq!(decoded.max_charge, 5 | (6 << 64));
    assert_eq!(decoded.book_seqno, 8);
    let short = slab::ReserveReturn::from_words(&words[..7]).unwrap_err();
    assert_eq!((short.expected, short.received), (8, 7));
    let args = slab::CommitArgs {
        hold_id: 3,
        cap: CapId(9),
        salt: [1; 32],
        margin: 1,
    };
    let encoded = args.to_words();
    assert_eq!(encoded.len(), slab::CommitArgs::WORDS);
    assert_eq!(&encoded[..2], &[3, 9]);
    assert_eq!(encoded[2], u64::from_le_bytes([1; 8]));
    assert_eq!(encoded[6], 1, "the margin flag follows the salt");
}
