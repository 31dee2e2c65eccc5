//! The hash host calls against the formats crate: Poseidon digests equal
//! `curve_formats::poseidon::hash_fields` (itself checked against the permutation written out by
//! hand), and Merkle checks accept exactly the proofs of `MerkleTree` for trees of 1–17 leaves.

use curve_formats::merkle::{MerkleTree, hash_leaf};
use curvevm::hostcall::{id, pointer};
use curvevm::isa::Segment;
use curvevm::{Capability, CapabilitySet, Host};
use curvevm_host::{Caller, Clock, Ledger, Role, RollupHost};

fn host() -> RollupHost {
    RollupHost::new(
        Ledger::default(),
        Clock::default(),
        Caller {
            id: 0,
            role: Role::Oracle,
        },
    )
}

/// A memory with a scratch segment of `words`, through a one-instruction program.
fn memory(words: u32) -> curvevm::Instance {
    let module = curvevm::Module {
        capabilities: CapabilitySet::of(&[Capability::Poseidon, Capability::Merkle]),
        layout: curvevm::module::Layout {
            scratch: words,
            ..Default::default()
        },
        code: vec![
            curvevm::isa::Instruction {
                op: curvevm::isa::Opcode::Branch,
                flags: curvevm::isa::BranchKind::Ret as u8,
                rd: 0,
                rs: 0,
                sel: 0,
                imm: 0,
            }
            .encode(),
        ],
        ..Default::default()
    };
    let program = RollupHost::load(module, Role::Oracle).expect("loads");
    curvevm::Instance::new(std::sync::Arc::new(program), &[]).expect("no params")
}

fn words(bytes: &[u8; 32]) -> [u64; 4] {
    core::array::from_fn(|i| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap()))
}

#[test]
fn poseidon_equals_the_formats_crate() {
    use ark_ff::PrimeField;
    let mut instance = memory(64);
    let memory = instance.memory();
    let elements: Vec<ark_bn254::Fr> = (1..=5u64)
        .map(|i| ark_bn254::Fr::from(i * 1_000_003))
        .collect();
    for (i, element) in elements.iter().enumerate() {
        let limbs = element.into_bigint().0;
        for (j, limb) in limbs.iter().enumerate() {
            memory
                .write(Segment::Scratch, (4 * i + j) as u64, *limb)
                .unwrap();
        }
    }
    let mut registers = [0u64; 32];
    registers[1] = pointer(Segment::Scratch, 0);
    registers[2] = elements.len() as u64;
    registers[3] = pointer(Segment::Scratch, 32);
    host()
        .call(id::POSEIDON, &mut registers, memory, &mut { u64::MAX })
        .expect("canonical elements hash");
    let expected = curve_formats::poseidon::to_bytes(&curve_formats::poseidon::hash_fields(
        curve_formats::poseidon::Domain::Program,
        &elements,
    ));
    assert_eq!(&memory.words(Segment::Scratch)[32..36], &words(&expected));
}

#[test]
fn merkle_verify_accepts_exactly_the_trees_proofs() {
    for count in 1..=17u64 {
        let leaves: Vec<Vec<u8>> = (0..count)
            .map(|i| format!("leaf {i}").into_bytes())
            .collect();
        let tree = MerkleTree::from_leaves(&leaves).unwrap();
        let root = tree.root();
        for index in 0..count {
            let proof = tree.proof(index).unwrap();
            for tamper in [false, true] {
                let mut instance = memory(8 + 4 * 32);
                let memory = instance.memory();
                let leaf = hash_leaf(&leaves[index as usize]);
                let mut put = |at: u64, hash: &[u8; 32]| {
                    for (j, word) in words(hash).iter().enumerate() {
                        memory
                            .write(Segment::Scratch, at + j as u64, *word)
                            .unwrap();
                    }
                };
                put(0, &leaf);
                let mut root = root;
                if tamper {
                    root[0] ^= 1;
                }
                put(4, &root);
                for (k, sibling) in proof.siblings.iter().enumerate() {
                    put(8 + 4 * k as u64, sibling);
                }
                let mut registers = [0u64; 32];
                registers[1] = pointer(Segment::Scratch, 0);
                registers[2] = index;
                registers[3] = count;
                registers[4] = pointer(Segment::Scratch, 8);
                registers[5] = pointer(Segment::Scratch, 4);
                host()
                    .call(id::MERKLE_VERIFY, &mut registers, memory, &mut { u64::MAX })
                    .expect("well-formed");
                assert_eq!(
                    registers[1],
                    u64::from(!tamper),
                    "count {count}, index {index}, tampered {tamper}"
                );
            }
        }
    }
}
