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

/// Mapping a view moves its words in and out of the call: the same buffer comes back (no copy)
/// and only the return word is journaled, for a 1 KiB and a 10 MiB view alike (the criterion benchmark
/// `views/*` measures the time).
#[test]
fn mapping_a_view_moves_its_words_whatever_its_size() {
    let mut journaled = Vec::new();
    for words in [128u32, curvevm::module::MAX_VIEW_WORDS] {
        let program = Arc::new(
            Program::load(curvevm::bench_programs::view_probe(words), &|_| false).unwrap(),
        );
        let mut vm = Instance::new(program, &[]).unwrap();
        let mut views = vec![vec![7u64; words as usize]];
        let buffer = views[0].as_ptr();
        for _ in 0..3 {
            let outcome = vm
                .call(
                    "main",
                    &[0],
                    100,
                    &mut views,
                    &mut NoHost,
                    ExecOptions::default(),
                )
                .unwrap();
            assert_eq!(outcome.result, Ok(vec![7]));
            assert_eq!(
                views[0].as_ptr(),
                buffer,
                "{words} words: the view was copied"
            );
            assert_eq!(views[0].len(), words as usize);
        }
        journaled.push(vm.memory().journal_words());
        // A view of the wrong size is refused before the call runs.
        let mut wrong = vec![vec![0u64; words as usize - 1]];
        assert!(
            vm.call(
                "main",
                &[0],
                100,
                &mut wrong,
                &mut NoHost,
                ExecOptions::default()
            )
            .is_err()
        );
    }
    // Only the return word is zeroed at each call's end, whatever the view's size.
    assert_eq!(journaled, vec![3, 3]);
}
