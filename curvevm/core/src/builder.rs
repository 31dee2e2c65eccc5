//! A programmatic assembler with forward labels: the microcode library, tests and (later) the
//! compiler's lowering emit instructions through it.

use crate::isa::{
    ABORT_BASE, BranchKind, Cond, HOST_CALL_BASE, Instruction, LoadMode, Opcode, Reg, Segment, flag,
};

/// A position in the code, bound once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Builds a sequence of instructions placed at a base address.
#[derive(Debug)]
pub struct Builder {
    base: u32,
    code: Vec<Instruction>,
    labels: Vec<Option<u32>>,
    fixups: Vec<(usize, Label)>,
}

impl Builder {
    /// An empty sequence whose first instruction will sit at `base`.
    pub fn new(base: u32) -> Builder {
        Builder {
            base,
            code: Vec::new(),
            labels: Vec::new(),
            fixups: Vec::new(),
        }
    }

    /// The address of the next instruction.
    pub fn pc(&self) -> u32 {
        self.base + self.code.len() as u32
    }

    /// A new unbound label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `label` to the next instruction.
    pub fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.pc());
    }

    /// Appends a raw instruction.
    pub fn push(&mut self, insn: Instruction) {
        self.code.push(insn);
    }

    fn insn(&mut self, op: Opcode, flags: u8, rd: Reg, rs: Reg, sel: u8, imm: u32) {
        self.push(Instruction {
            op,
            flags,
            rd,
            rs,
            sel,
            imm,
        });
    }

    /// `load rd, #imm`.
    pub fn load_imm(&mut self, rd: Reg, imm: u32) {
        self.insn(Opcode::Load, LoadMode::Immediate as u8, rd, 0, 0, imm);
    }

    /// `rd ← high << 32` (`load.high`).
    pub fn load_high(&mut self, rd: Reg, high: u32) {
        self.insn(
            Opcode::Load,
            LoadMode::Immediate as u8 | flag::LOAD_HIGH,
            rd,
            0,
            0,
            high,
        );
    }

    /// `rd ← value` for any 64-bit value: one `load` below 2^32, else `load.high` of the top
    /// half and an unsigned `add` of the bottom half (when it is not zero).
    pub fn load_u64(&mut self, rd: Reg, value: u64) {
        if value <= u64::from(u32::MAX) {
            return self.load_imm(rd, value as u32);
        }
        self.load_high(rd, (value >> 32) as u32);
        if value as u32 != 0 {
            self.add_imm(0, rd, value as u32);
        }
    }

    /// `load rd, rs`.
    pub fn mov(&mut self, rd: Reg, rs: Reg) {
        self.insn(Opcode::Load, LoadMode::Register as u8, rd, rs, 0, 0);
    }

    /// A no-op that costs one instruction (`load r16, r16`).
    pub fn nop(&mut self) {
        self.mov(16, 16);
    }

    /// `load rd, seg[addr]`.
    pub fn load(&mut self, rd: Reg, segment: Segment, addr: u32) {
        self.insn(
            Opcode::Load,
            LoadMode::Direct as u8,
            rd,
            0,
            segment.sel(),
            addr,
        );
    }

    /// `load rd, seg[rs+offset]`.
    pub fn load_indirect(&mut self, rd: Reg, segment: Segment, rs: Reg, offset: u32) {
        self.insn(
            Opcode::Load,
            LoadMode::Indirect as u8,
            rd,
            rs,
            segment.sel(),
            offset,
        );
    }

    /// `store rd, seg[addr]`.
    pub fn store(&mut self, value: Reg, segment: Segment, addr: u32) {
        self.insn(
            Opcode::Store,
            LoadMode::Direct as u8,
            value,
            0,
            segment.sel(),
            addr,
        );
    }

    /// `store rd, seg[rs+offset]`.
    pub fn store_indirect(&mut self, value: Reg, segment: Segment, rs: Reg, offset: u32) {
        self.insn(
            Opcode::Store,
            LoadMode::Indirect as u8,
            value,
            rs,
            segment.sel(),
            offset,
        );
    }

    /// `add[flags] rd, rs` (flags from [`flag`], without `ADD_IMMEDIATE`).
    pub fn add(&mut self, flags: u8, rd: Reg, rs: Reg) {
        self.insn(Opcode::Add, flags & !flag::ADD_IMMEDIATE, rd, rs, 0, 0);
    }

    /// `add[flags] rd, #imm`.
    pub fn add_imm(&mut self, flags: u8, rd: Reg, imm: u32) {
        self.insn(Opcode::Add, flags | flag::ADD_IMMEDIATE, rd, 0, 0, imm);
    }

    /// `add.sx rd, #-1`.
    pub fn decrement(&mut self, rd: Reg) {
        self.add_imm(flag::ADD_SIGN_EXTEND, rd, u32::MAX);
    }

    fn branch(&mut self, kind: BranchKind, cond: Cond, rs: Reg, target: u32) {
        let rs = if cond.reads_register() { rs } else { 0 };
        self.insn(Opcode::Branch, kind as u8, 0, rs, cond as u8, target);
    }

    /// A jump or call to `label` under `cond`.
    pub fn branch_to(&mut self, kind: BranchKind, cond: Cond, rs: Reg, label: Label) {
        self.fixups.push((self.code.len(), label));
        self.branch(kind, cond, rs, 0);
    }

    /// `jump[.cond] label`.
    pub fn jump(&mut self, cond: Cond, rs: Reg, label: Label) {
        self.branch_to(BranchKind::Jump, cond, rs, label);
    }

    /// `call[.cond] label`.
    pub fn call_to(&mut self, cond: Cond, rs: Reg, label: Label) {
        self.branch_to(BranchKind::Call, cond, rs, label);
    }

    /// `call[.cond] addr` to an absolute address.
    pub fn call_addr(&mut self, cond: Cond, rs: Reg, target: u32) {
        self.branch(BranchKind::Call, cond, rs, target);
    }

    /// `ret[.cond]`.
    pub fn ret(&mut self, cond: Cond, rs: Reg) {
        self.branch(BranchKind::Ret, cond, rs, 0);
    }

    /// `host[.cond] id`.
    pub fn host(&mut self, cond: Cond, rs: Reg, id: u16) {
        self.branch(BranchKind::Call, cond, rs, HOST_CALL_BASE + u32::from(id));
    }

    /// `abort[.cond] code`.
    pub fn abort(&mut self, cond: Cond, rs: Reg, code: u8) {
        self.branch(BranchKind::Jump, cond, rs, ABORT_BASE + u32::from(code));
    }

    /// The instructions, with every label resolved.
    ///
    /// # Panics
    /// If a used label was never bound (a bug in the emitting code, not an input error).
    pub fn finish(mut self) -> Vec<Instruction> {
        for (index, label) in std::mem::take(&mut self.fixups) {
            self.code[index].imm = self.labels[label.0].expect("every used label is bound");
        }
        self.code
    }
}
