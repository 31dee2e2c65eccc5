//! The named benchmark programs (also used by tests that count work): an ALU loop, a slab-memory
//! loop, a microcode-heavy loop, and a rollback probe that writes pages and traps.

use crate::builder::Builder;
use crate::isa::{Cond, Instruction, Segment};
use crate::microcode::find;
use crate::module::{Entry, Layout, Module, Placement};

fn module(code: &[Instruction], layout: Layout, placements: Vec<Placement>) -> Module {
    Module {
        code: code.iter().map(|insn| insn.encode()).collect(),
        entries: vec![Entry {
            name: "main".into(),
            pc: 0,
            args: 1,
            ret: 1,
        }],
        microcode: placements,
        layout,
        ..Module::default()
    }
}

fn layout(slab: u32) -> Layout {
    Layout {
        args: 1,
        ret: 1,
        slab,
        ..Layout::default()
    }
}

/// `main(n)`: n iterations of four ALU/branch instructions; 4n + 3 instructions in all.
pub fn alu_loop() -> Module {
    let mut b = Builder::new(0);
    b.load(4, Segment::Args, 0);
    let top = b.label();
    b.bind(top);
    b.add(0, 1, 2);
    b.add(0, 3, 1);
    b.decrement(4);
    b.jump(Cond::NonZero, 4, top);
    b.store(3, Segment::Ret, 0);
    b.ret(Cond::Always, 0);
    module(&b.finish(), layout(0), Vec::new())
}

/// `main(n)`: n iterations of load/add/store over a 4,096-word slab (index n mod 4096 walks
/// down), six instructions each.
pub fn slab_loop() -> Module {
    let mut b = Builder::new(0);
    b.load(4, Segment::Args, 0);
    let top = b.label();
    b.bind(top);
    b.load_indirect(5, Segment::Slab, 4, 0);
    b.add_imm(0, 5, 1);
    b.store_indirect(5, Segment::Slab, 4, 0);
    b.add(0, 6, 5);
    b.decrement(4);
    b.jump(Cond::NonZero, 4, top);
    b.store(6, Segment::Ret, 0);
    b.ret(Cond::Always, 0);
    module(&b.finish(), layout(1 << 20), Vec::new())
}

/// `main(n)`: n iterations of a u128 Q64.64 multiply-accumulate through `@mulq64`.
pub fn microcode_loop() -> Module {
    let (mulq64, _) = find("mulq64").expect("mulq64 exists");
    let mut b = Builder::new(0);
    b.load(4, Segment::Args, 0);
    let top = b.label();
    b.bind(top);
    b.load_imm(16, 0x8000_0000);
    b.load_imm(17, 1);
    b.mov(18, 4);
    b.load_imm(19, 0);
    let call_at = b.pc();
    b.call_addr(Cond::Always, 0, 0);
    b.add(0, 6, 16);
    b.decrement(4);
    b.jump(Cond::NonZero, 4, top);
    b.store(6, Segment::Ret, 0);
    b.ret(Cond::Always, 0);
    let mut code = b.finish();
    let placements = crate::microcode::place(&mut code, &[(call_at, mulq64)]);
    module(&code, layout(0), placements)
}

/// `main(pages)`: writes one word in each of `pages` slab pages (stride `PAGE_WORDS`) and then aborts, so
/// the call is rolled back. Works for any slab of at least `pages × PAGE_WORDS` words.
pub fn rollback_probe(slab_words: u32) -> Module {
    let mut b = Builder::new(0);
    b.load(4, Segment::Args, 0);
    b.load_imm(7, 0);
    let top = b.label();
    b.bind(top);
    b.store_indirect(4, Segment::Slab, 7, 0);
    b.add_imm(0, 7, crate::isa::PAGE_WORDS);
    b.decrement(4);
    b.jump(Cond::NonZero, 4, top);
    b.abort(Cond::Always, 0, 1);
    module(&b.finish(), layout(slab_words), Vec::new())
}

/// `main(_)`: returns word 0 of a read-only `view0` of `view_words` words (mapping cost).
pub fn view_probe(view_words: u32) -> Module {
    let mut b = Builder::new(0);
    b.load(1, Segment::View(0), 0);
    b.store(1, Segment::Ret, 0);
    b.ret(Cond::Always, 0);
    let mut layout = layout(0);
    layout.views = vec![crate::module::ViewDecl {
        words: view_words,
        writable: false,
    }];
    module(&b.finish(), layout, Vec::new())
}
