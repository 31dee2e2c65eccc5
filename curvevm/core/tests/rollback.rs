//! Rollback work is proportional to the pages a call wrote, not to the segment size: the journal
//! copies the same number of words for a 1 KiB and a 10 MiB slab (the criterion benchmark
//! `rollback/*` measures the time; this test checks the count in CI).

use std::sync::Arc;

use curvevm::bench_programs::rollback_probe;
use curvevm::{ExecOptions, Instance, NoHost, Program, Segment, TrapKind};

fn journal_words_for(slab_words: u32, pages: u64) -> (u64, Vec<u64>) {
    let program = Arc::new(Program::load(rollback_probe(slab_words), &|_| false).unwrap());
    let mut vm = Instance::new(program, &[]).unwrap();
    let before = vm.memory().journal_words();
    let outcome = vm
        .call(
            "main",
            &[pages],
            10_000,
            &mut [],
            &mut NoHost,
            ExecOptions::default(),
        )
        .unwrap();
    assert_eq!(
        outcome.result.unwrap_err().kind,
        TrapKind::Abort { code: 1 }
    );
    let words = vm.memory().journal_words() - before;
    assert!(
        vm.memory().take_dirty_pages().is_empty(),
        "a trapped call dirties nothing"
    );
    (words, vm.memory().words(Segment::Slab)[..128].to_vec())
}

#[test]
fn rollback_work_is_independent_of_the_slab_size() {
    let (small, small_slab) = journal_words_for(128, 1);
    let (large, large_slab) = journal_words_for(1_310_720, 1);
    // One page (128 words) saved and restored in both cases.
    assert_eq!(small, u64::from(curvevm::isa::PAGE_WORDS));
    assert_eq!(large, small);
    assert!(
        small_slab.iter().chain(&large_slab).all(|&w| w == 0),
        "the write was rolled back"
    );
    // Ten pages cost ten times one page, whatever the size.
    let (ten, _) = journal_words_for(1_310_720, 10);
    assert_eq!(ten, 10 * small);
}
