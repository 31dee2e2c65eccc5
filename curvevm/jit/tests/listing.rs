//! What the JIT makes of the ALU loop, counted rather than timed (issue 30): the loop's
//! machine code — the blocks on the cycle of the compiled function's block graph — reads and
//! writes no memory. Every VM register it uses stays in a machine register, and so do the gas
//! and the carry. A change that spills a loop value to the stack or goes through the context
//! fails here as a count.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use curvevm::Program;
use curvevm::bench_programs::alu_loop;
use curvevm_jit::JitProgram;

/// Blocks of a Cranelift listing: name → (instructions, successor block numbers).
fn blocks(listing: &str) -> BTreeMap<u32, (Vec<String>, BTreeSet<u32>)> {
    let mut blocks = BTreeMap::new();
    let mut current = None;
    for line in listing.lines() {
        if let Some(number) = line
            .strip_prefix("block")
            .and_then(|rest| rest.strip_suffix(':'))
        {
            let number: u32 = number.parse().expect("a block number");
            blocks.insert(number, (Vec::new(), BTreeSet::new()));
            current = Some(number);
            continue;
        }
        let Some(number) = current else { continue };
        let (instructions, successors) = blocks.get_mut(&number).expect("inserted");
        let text = line.trim().to_string();
        for part in text.split("label").skip(1) {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(target) = digits.parse() {
                successors.insert(target);
            }
        }
        instructions.push(text);
    }
    blocks
}

/// The blocks that can reach themselves.
fn on_a_cycle(blocks: &BTreeMap<u32, (Vec<String>, BTreeSet<u32>)>) -> BTreeSet<u32> {
    let reaches = |from: u32, to: u32| {
        let mut seen = BTreeSet::new();
        let mut work: Vec<u32> = blocks[&from].1.iter().copied().collect();
        while let Some(block) = work.pop() {
            if block == to {
                return true;
            }
            if seen.insert(block)
                && let Some((_, successors)) = blocks.get(&block)
            {
                work.extend(successors);
            }
        }
        false
    };
    blocks.keys().copied().filter(|&b| reaches(b, b)).collect()
}

/// Whether an instruction of the listing reads or writes memory: a memory operand is written
/// `(...)` on x86-64 and `[...]` on AArch64; an address computation (`lea`) touches none.
fn touches_memory(instruction: &str) -> bool {
    !instruction.starts_with("lea") && (instruction.contains('(') || instruction.contains('['))
}

#[test]
fn the_alu_loop_keeps_its_registers_out_of_memory() {
    let program = Arc::new(Program::load(alu_loop(), &|_| false).expect("verifies"));
    let (_, listing) = JitProgram::compile_with_listing(program).expect("compiles");
    let blocks = blocks(&listing);
    let cycle = on_a_cycle(&blocks);
    let loop_code: Vec<&String> = cycle.iter().flat_map(|b| &blocks[b].0).collect();
    println!(
        "the ALU loop: blocks {cycle:?}, {} instructions",
        loop_code.len()
    );
    for instruction in &loop_code {
        println!("  {instruction}");
    }
    assert!(
        !cycle.is_empty() && loop_code.len() >= 4,
        "no loop found in the listing:\n{listing}"
    );
    let memory: Vec<_> = loop_code
        .iter()
        .filter(|instruction| touches_memory(instruction))
        .collect();
    assert!(
        memory.is_empty(),
        "the ALU loop touches memory: {memory:?}\n{listing}"
    );
    // The four VM instructions (one folded: r2 is known zero) and the gas check: twelve
    // machine instructions today, fifteen when a loop value went through the stack.
    assert!(loop_code.len() <= 13, "{loop_code:#?}");
}

/// The counting itself: a block graph with a cycle through a spilled value is seen.
#[test]
fn the_listing_reader_finds_a_loop_and_its_memory_accesses() {
    let listing = "block0:\n  jmp     label1\nblock1:\n  movq %rdx, <offset:1>+(%rsp)\n  leaq -4(%rbx), %rsi\n  jnz     label1; j label2\nblock2:\n  retq\n";
    let blocks = blocks(listing);
    let cycle = on_a_cycle(&blocks);
    assert_eq!(cycle, BTreeSet::from([1]));
    let memory: Vec<&String> = blocks[&1].0.iter().filter(|i| touches_memory(i)).collect();
    assert_eq!(memory.len(), 1);
}
