//! The annotated disassembly: every instruction with its pc, each run of instructions under the
//! template step (and script keyword) it comes from, guards marked with what they protect.

use std::collections::BTreeMap;
use std::fmt::Write;

use curvevm::isa::{BranchKind, Instruction, Opcode};

use crate::Artifact;

/// The listing of `artifact`.
pub fn listing(artifact: &Artifact) -> String {
    let module = &artifact.lowered.module;
    let mut out = String::new();
    let mut labels: BTreeMap<u32, String> = module
        .entries
        .iter()
        .map(|entry| (entry.pc, entry.name.clone()))
        .collect();
    for placement in &module.microcode {
        let name = curvevm::microcode::ROUTINES[usize::from(placement.routine)].name;
        labels.insert(placement.pc, format!("@{name}"));
    }
    for word in &module.code {
        if let Ok(insn) = Instruction::decode(*word)
            && insn.op == Opcode::Branch
            && matches!(insn.branch_kind(), Some(BranchKind::Jump))
            && matches!(insn.branch_target(), curvevm::isa::BranchTarget::Jump(_))
        {
            labels
                .entry(insn.imm)
                .or_insert_with(|| format!("L{}", insn.imm));
        }
    }
    let guards: BTreeMap<u32, &curve_ir::Guard> = artifact
        .lowered
        .guards
        .iter()
        .map(|guard| (guard.pc, guard))
        .collect();
    for range in &artifact.lowered.source_map {
        if let Some(routine) = range.routine {
            let _ = writeln!(
                out,
                "\n@{routine}:  ; microcode, pcs {}..{}",
                range.start, range.end
            );
            continue;
        }
        for pc in range.start..range.end {
            if let Some(label) = labels.get(&pc) {
                let _ = writeln!(out, "\n{label}:");
            }
            if pc == range.start {
                let _ = match range.origin.and_then(|origin| origin.keyword) {
                    Some(keyword) => writeln!(out, "  ; {} · {keyword}", range.step()),
                    None => writeln!(out, "  ; {}", range.step()),
                };
            }
            let text = curvevm_asm::instruction_text(module.code[pc as usize], &|target| {
                labels
                    .get(&target)
                    .cloned()
                    .unwrap_or_else(|| target.to_string())
            });
            let _ = match guards.get(&pc) {
                Some(guard) => writeln!(out, "  {pc:5}  {text:<32} ; guard: {}", guard.what),
                None => writeln!(out, "  {pc:5}  {text}"),
            };
        }
    }
    out
}
