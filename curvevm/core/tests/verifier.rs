//! Verifier and decoder properties that file tests cannot express: every word decodes or is
//! rejected without panicking, accepted words re-encode to themselves, and placements are bound
//! to their exact bytes.

use curvevm::builder::Builder;
use curvevm::isa::{Cond, Instruction, MAX_CODE_WORDS};
use curvevm::microcode::find;
use curvevm::module::{Entry, Module, Placement};
use curvevm::verify;
use curvevm::verify::VerifyErrorKind;
use proptest::prelude::*;

proptest! {
    #[test]
    fn decode_is_total_and_canonical(word in any::<u64>()) {
        if let Ok(insn) = Instruction::decode(word) {
            prop_assert_eq!(insn.encode(), word);
        }
    }

    #[test]
    fn module_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        use curve_formats::encoding::Decode;
        if let Ok(module) = Module::from_bytes(&bytes) {
            let _ = verify(&module, &|_| true);
        }
    }
}

fn module_with_routine(name: &str) -> Module {
    let (id, routine) = find(name).unwrap();
    let mut head = Builder::new(0);
    head.call_addr(Cond::Always, 0, 2);
    head.ret(Cond::Always, 0);
    let mut code: Vec<u64> = head.finish().iter().map(|i| i.encode()).collect();
    code.extend(routine.expand(2).iter().map(|i| i.encode()));
    Module {
        code,
        microcode: vec![Placement { routine: id, pc: 2 }],
        entries: vec![Entry {
            name: "main".into(),
            pc: 0,
            args: 0,
            ret: 0,
        }],
        ..Module::default()
    }
}

#[test]
fn a_placement_must_be_the_exact_expansion() {
    let module = module_with_routine("mul128");
    assert!(verify(&module, &|_| false).is_ok());
    // Change one instruction inside the body: the placement no longer verifies.
    for index in [2, 10, 20] {
        let mut tampered = module.clone();
        tampered.code[index] ^= 1 << 32;
        let error = verify(&tampered, &|_| false).unwrap_err();
        assert!(
            matches!(error.kind, VerifyErrorKind::BadPlacement { .. }),
            "{error}"
        );
    }
    // A placement at the wrong offset, or of another routine, is refused too.
    let mut shifted = module.clone();
    shifted.microcode[0].pc = 1;
    assert!(verify(&shifted, &|_| false).is_err());
    let mut other = module;
    other.microcode[0].routine = find("div128").unwrap().0;
    assert!(verify(&other, &|_| false).is_err());
}

#[test]
fn code_above_the_size_limit_is_rejected() {
    let mut ret = Builder::new(0);
    ret.ret(Cond::Always, 0);
    let word = ret.finish()[0].encode();
    let module = Module {
        code: vec![word; MAX_CODE_WORDS as usize + 1],
        ..Module::default()
    };
    let error = verify(&module, &|_| false).unwrap_err();
    assert_eq!(
        error.kind,
        VerifyErrorKind::CodeTooLarge(MAX_CODE_WORDS as usize + 1)
    );
    let module = Module {
        code: vec![word; MAX_CODE_WORDS as usize],
        ..Module::default()
    };
    assert!(verify(&module, &|_| false).is_ok());
}

/// Issue 30: a placement pc near `u32::MAX` (a 74-byte module from the `verify` fuzz target)
/// made the verifier expand the routine at that base, and the expansion's addresses overflowed.
/// Every such placement is refused as outside the code, whatever the routine.
#[test]
fn a_placement_near_the_end_of_the_address_space_is_refused() {
    let module = module_with_routine("mul128");
    for pc in [
        u32::MAX,
        u32::MAX - 1,
        u32::MAX - 40,
        1 << 31,
        MAX_CODE_WORDS,
    ] {
        let mut far = module.clone();
        far.microcode[0].pc = pc;
        let error = verify(&far, &|_| false).unwrap_err();
        assert!(
            matches!(error.kind, VerifyErrorKind::BadPlacement { pc: at, .. } if at == pc),
            "placement at {pc}: {error}"
        );
    }
}
