//! Replays the committed cargo-fuzz corpus of `curvevm/fuzz` (target `verify`) as an ordinary
//! test, so CI runs every input the fuzzer kept; likewise the `jit_diff` corpus.

use std::path::Path;

#[test]
fn the_verify_corpus_replays_without_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/verify");
    #[allow(clippy::disallowed_methods, reason = "tests read the committed corpus")]
    let entries = std::fs::read_dir(&dir).expect("the verify corpus");
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        #[allow(clippy::disallowed_methods, reason = "tests read the committed corpus")]
        let data = std::fs::read(&path).expect("corpus file");
        curvevm_testkit::fuzz::check_bytes(&data);
        count += 1;
    }
    assert!(count >= 100, "only {count} corpus inputs");
}

#[test]
fn the_jit_diff_corpus_replays_without_divergence() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/jit_diff");
    #[allow(clippy::disallowed_methods, reason = "tests read the committed corpus")]
    let entries = std::fs::read_dir(&dir).expect("the jit_diff corpus");
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        #[allow(clippy::disallowed_methods, reason = "tests read the committed corpus")]
        let data = std::fs::read(&path).expect("corpus file");
        curvevm_testkit::fuzz::check_jit_seed(&data);
        count += 1;
    }
    assert!(count >= 50, "only {count} corpus inputs");
}

/// Found by the `verify` target (issue 30's fuzzing run): an entry labelled after the last
/// instruction assembled, but its disassembly dropped the label and did not assemble again.
#[test]
fn an_entry_labelled_after_the_last_instruction_round_trips() {
    let text = ".params 10\n.slab 4\n.entry main args=0 ret=0\nmain:\n; no instruction follows\n";
    let module = curvevm_asm::assemble(text).expect("assembles");
    let again = curvevm_asm::assemble(&curvevm_asm::disassemble(&module))
        .expect("the disassembly assembles");
    assert_eq!(again, module);
    curvevm_testkit::fuzz::check_bytes(text.as_bytes());
}
