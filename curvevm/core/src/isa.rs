//! The instruction set: the one table every engine, tool and document reads.
//!
//! An instruction is one little-endian `u64` word:
//!
//! ```text
//!  63            32 31      22 21  18 17  13 12   8 7     2 1  0
//! +----------------+----------+------+------+------+-------+----+
//! |      imm       | reserved | sel  |  rs  |  rd  | flags | op |
//! +----------------+----------+------+------+------+-------+----+
//! ```
//!
//! `op` is two bits (LOAD, STORE, ADD, BRANCH). Every field an opcode does not use must be zero,
//! so decoding is a bijection between valid words and [`Instruction`]s: one meaning, one encoding.

use core::fmt;

/// Number of general-purpose registers (`r0`–`r31`), each a `u64`.
pub const REGISTERS: usize = 32;
/// Registers `r16`–`r31` belong to microcode: a microcode call may change any of them.
pub const MICROCODE_FIRST_REGISTER: u8 = 16;
/// Maximum code size in instructions (512 KiB of bytecode).
pub const MAX_CODE_WORDS: u32 = 65_536;
/// Maximum call depth, counting the entrypoint's own frame.
pub const MAX_CALL_DEPTH: usize = 64;
/// Words per memory page: the unit of the write journal and of the dirty-page set (1 KiB).
pub const PAGE_WORDS: u32 = 128;
/// Gas charged for every instruction, whatever the opcode.
pub const GAS_PER_INSTRUCTION: u64 = 1;
/// Branch targets at or above this value are host calls (`CALL` only): id = target − base.
pub const HOST_CALL_BASE: u32 = 0xFFFF_0000;
/// Branch targets at or above this value are aborts (`JUMP` only): code = target − base.
pub const ABORT_BASE: u32 = 0xFFFF_FF00;
/// The abort code microcode uses for division by zero.
pub const ABORT_DIVISION_BY_ZERO: u8 = 0xF0;
/// The abort code microcode uses for a logarithm of a value below 1.
pub const ABORT_LN_DOMAIN: u8 = 0xF1;
/// Abort codes from this value up are reserved for the VM's microcode library.
pub const ABORT_RESERVED_FIRST: u8 = 0xF0;

/// The two-bit opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Opcode {
    /// `rd ← source`.
    Load = 0,
    /// `segment[address] ← rd`.
    Store = 1,
    /// `rd ← rd + source` with carry, negation and checking flags.
    Add = 2,
    /// Jumps, calls, returns, host calls and aborts, each optionally conditional.
    Branch = 3,
}

impl Opcode {
    /// All four, in encoding order.
    pub const ALL: [Opcode; 4] = [Opcode::Load, Opcode::Store, Opcode::Add, Opcode::Branch];

    /// The opcode of the two low bits of `word`.
    pub fn of(word: u64) -> Opcode {
        Opcode::ALL[(word & 3) as usize]
    }

    /// The assembly mnemonic.
    pub fn mnemonic(self) -> &'static str {
        OPCODE_TABLE[self as usize].mnemonic
    }
}

/// Memory segments, selected by the `sel` field of LOAD and STORE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// The read-only parameter table: the only place templates read script constants from.
    Params,
    /// The call's arguments (read-only).
    Args,
    /// The call's return words (zeroed at call start).
    Ret,
    /// Program scratch (zeroed at call start, discarded at call end).
    Scratch,
    /// The program's persistent slab (up to 10 MiB), journaled.
    Slab,
    /// A host-mapped account view `0..=7` (read-only or writable as declared), journaled.
    View(u8),
}

impl Segment {
    /// Number of distinct segment selectors (`sel` values 0–15).
    pub const SELECTORS: usize = 16;

    /// The segment of a `sel` value, if any.
    pub fn from_sel(sel: u8) -> Option<Segment> {
        Some(match sel {
            0 => Segment::Params,
            1 => Segment::Args,
            2 => Segment::Ret,
            3 => Segment::Scratch,
            4 => Segment::Slab,
            8..=15 => Segment::View(sel - 8),
            _ => return None,
        })
    }

    /// The `sel` value.
    pub fn sel(self) -> u8 {
        match self {
            Segment::Params => 0,
            Segment::Args => 1,
            Segment::Ret => 2,
            Segment::Scratch => 3,
            Segment::Slab => 4,
            Segment::View(index) => 8 + index,
        }
    }

    /// The assembly name (`params`, `args`, `ret`, `scratch`, `slab`, `view0`…`view7`).
    pub fn name(self) -> &'static str {
        match self {
            Segment::Params => "params",
            Segment::Args => "args",
            Segment::Ret => "ret",
            Segment::Scratch => "scratch",
            Segment::Slab => "slab",
            Segment::View(index) => [
                "view0", "view1", "view2", "view3", "view4", "view5", "view6", "view7",
            ][usize::from(index & 7)],
        }
    }

    /// The segment of an assembly name.
    pub fn from_name(name: &str) -> Option<Segment> {
        (0..16u8)
            .filter_map(Segment::from_sel)
            .find(|segment| segment.name() == name)
    }

    /// Whether a STORE may name this segment at all (views are checked against their mapping).
    pub fn storable(self) -> bool {
        !matches!(self, Segment::Params | Segment::Args)
    }

    /// Whether writes survive the call (and are therefore journaled and reported as dirty pages).
    pub fn persistent(self) -> bool {
        matches!(self, Segment::Slab | Segment::View(_))
    }
}

/// Branch conditions, selected by the `sel` field of BRANCH.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cond {
    /// Always taken.
    Always = 0,
    /// Taken when `rs == 0`.
    Zero = 1,
    /// Taken when `rs != 0`.
    NonZero = 2,
    /// Taken when the carry flag is set.
    Carry = 3,
    /// Taken when the carry flag is clear.
    NoCarry = 4,
}

impl Cond {
    /// All conditions, in encoding order.
    pub const ALL: [Cond; 5] = [
        Cond::Always,
        Cond::Zero,
        Cond::NonZero,
        Cond::Carry,
        Cond::NoCarry,
    ];

    /// The condition of a `sel` value, if any.
    pub fn from_sel(sel: u8) -> Option<Cond> {
        Cond::ALL.get(usize::from(sel)).copied()
    }

    /// Whether the condition reads the `rs` register.
    pub fn reads_register(self) -> bool {
        matches!(self, Cond::Zero | Cond::NonZero)
    }

    /// The mnemonic suffix (empty for `Always`).
    pub fn suffix(self) -> &'static str {
        ["", "z", "nz", "c", "nc"][self as usize]
    }
}

/// What a BRANCH does when taken (the low two flag bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BranchKind {
    /// Continue at `imm`; at or above [`ABORT_BASE`] abort with code `imm − ABORT_BASE`.
    Jump = 0,
    /// Push `pc + 1` and continue at `imm`; at or above [`HOST_CALL_BASE`] call host function
    /// `imm − HOST_CALL_BASE` instead.
    Call = 1,
    /// Pop the return address; with an empty stack, the entrypoint returns.
    Ret = 2,
}

/// LOAD and STORE operand modes (the low two flag bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoadMode {
    /// The immediate (LOAD only).
    Immediate = 0,
    /// Register `rs` (LOAD only).
    Register = 1,
    /// Memory at the static word address `imm` of segment `sel`.
    Direct = 2,
    /// Memory at the word address `rs + imm` of segment `sel` (the addition must not wrap).
    Indirect = 3,
}

/// Flag bits (bits 2–7 of the word, numbered from 0 here).
pub mod flag {
    /// LOAD/STORE: the mode occupies flag bits 0–1.
    pub const MODE_MASK: u8 = 0b11;
    /// LOAD immediate: `rd ← imm << 32`.
    pub const LOAD_HIGH: u8 = 1 << 2;
    /// LOAD immediate / ADD immediate: sign-extend the 32-bit immediate.
    pub const LOAD_SIGN_EXTEND: u8 = 1 << 3;
    /// ADD: the source is the immediate (else register `rs`).
    pub const ADD_IMMEDIATE: u8 = 1 << 0;
    /// ADD: sign-extend the immediate.
    pub const ADD_SIGN_EXTEND: u8 = 1 << 1;
    /// ADD: add the complement of the source, plus one without `CARRY_IN` (i.e. subtract).
    pub const ADD_NEGATE: u8 = 1 << 2;
    /// ADD: add the carry flag (replacing the `+1` of `NEGATE`: subtract with borrow).
    pub const ADD_CARRY_IN: u8 = 1 << 3;
    /// ADD: trap with `overflow` on unsigned overflow (carry out), or on borrow when negating.
    pub const ADD_CHECKED: u8 = 1 << 4;
    /// ADD: do not write `rd`; only the carry flag changes (compare).
    pub const ADD_NO_WRITE: u8 = 1 << 5;
    /// BRANCH: the kind occupies flag bits 0–1.
    pub const BRANCH_KIND_MASK: u8 = 0b11;
}

/// One row of the opcode table.
pub struct OpcodeInfo {
    /// The opcode.
    pub opcode: Opcode,
    /// Assembly mnemonic.
    pub mnemonic: &'static str,
    /// Which fields it uses.
    pub fields: &'static str,
    /// Flags and modes, one `(name, meaning)` per entry.
    pub flags: &'static [(&'static str, &'static str)],
    /// Semantics in one paragraph.
    pub semantics: &'static str,
    /// Gas charged.
    pub gas: u64,
    /// Traps it can raise at run time.
    pub traps: &'static str,
}

/// The opcode table: layout, semantics, gas and traps. SPEC.md's ISA section is generated from it
/// and a test fails when the two differ.
pub const OPCODE_TABLE: [OpcodeInfo; 4] = [
    OpcodeInfo {
        opcode: Opcode::Load,
        mnemonic: "load",
        fields: "rd, rs (register/indirect), sel (memory modes), imm",
        flags: &[
            ("mode=0 `#imm`", "rd ← imm (zero-extended)"),
            ("mode=1 `rs`", "rd ← rs"),
            ("mode=2 `seg[imm]`", "rd ← seg[imm]"),
            ("mode=3 `seg[rs+imm]`", "rd ← seg[rs + imm]"),
            ("`.hi` (mode 0)", "rd ← imm << 32"),
            (
                "`.sx` (mode 0)",
                "rd ← sign_extend(imm); exclusive with `.hi`",
            ),
        ],
        semantics: "Writes rd. The carry flag is unchanged.",
        gas: GAS_PER_INSTRUCTION,
        traps: "`out_of_bounds` (mode 3: rs + imm wraps or is past the segment's end)",
    },
    OpcodeInfo {
        opcode: Opcode::Store,
        mnemonic: "store",
        fields: "rd (value), rs (indirect), sel, imm",
        flags: &[
            ("mode=2 `seg[imm]`", "seg[imm] ← rd"),
            ("mode=3 `seg[rs+imm]`", "seg[rs + imm] ← rd"),
        ],
        semantics: "Writes one word of a writable segment (`ret`, `scratch`, `slab`, a writable \
                    view); the first write to a page of a persistent segment in a call journals \
                    that page. The carry flag is unchanged.",
        gas: GAS_PER_INSTRUCTION,
        traps: "`out_of_bounds` (mode 3), `read_only` (a view mapped read-only)",
    },
    OpcodeInfo {
        opcode: Opcode::Add,
        mnemonic: "add",
        fields: "rd, rs (register source), imm (immediate source)",
        flags: &[
            ("`#imm`", "source = imm (zero-extended) instead of rs"),
            ("`.sx`", "sign-extend the immediate source"),
            (
                "`.neg`",
                "add !source and +1 (subtract); carry out = no borrow",
            ),
            ("`.cin`", "add the carry flag (replaces the +1 of `.neg`)"),
            (
                "`.chk`",
                "trap on carry out (without `.neg`) or on borrow (with `.neg`)",
            ),
            ("`.nw`", "do not write rd (compare)"),
        ],
        semantics: "t = rd + (neg ? !src : src) + (cin ? C : neg ? 1 : 0) over 65 bits; \
                    rd ← t mod 2^64 unless `.nw`; C ← t >> 64.",
        gas: GAS_PER_INSTRUCTION,
        traps: "`overflow` (`.chk` only; rd and C are not written)",
    },
    OpcodeInfo {
        opcode: Opcode::Branch,
        mnemonic: "jump / call / ret / host / abort",
        fields: "rs (condition register), sel (condition), imm (target)",
        flags: &[
            (
                "kind=0 `jump`",
                "pc ← imm; imm ≥ 0xFFFFFF00 aborts with code imm − 0xFFFFFF00 (`abort`)",
            ),
            (
                "kind=1 `call`",
                "push pc+1, pc ← imm; imm ≥ 0xFFFF0000 calls host function imm − 0xFFFF0000 (`host`)",
            ),
            (
                "kind=2 `ret`",
                "pop pc; an empty stack returns from the entrypoint; imm = 0",
            ),
            ("cond=0", "always"),
            ("cond=1 `.z rs`", "if rs = 0"),
            ("cond=2 `.nz rs`", "if rs ≠ 0"),
            ("cond=3 `.c`", "if C = 1"),
            ("cond=4 `.nc`", "if C = 0"),
        ],
        semantics: "When the condition fails, continues at pc+1. Registers and C are unchanged \
                    (a host call may write the registers its signature names).",
        gas: GAS_PER_INSTRUCTION,
        traps: "`call_depth` (call beyond the maximum depth), `abort` (abort targets), \
                host traps (host calls)",
    },
];

/// A register index `0..32`.
pub type Reg = u8;

/// One decoded, validated instruction: the raw fields of a word that passed [`Instruction::decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instruction {
    /// Opcode.
    pub op: Opcode,
    /// Six flag bits (meaning per opcode, see [`flag`]).
    pub flags: u8,
    /// Destination (LOAD, ADD) or value (STORE) register.
    pub rd: Reg,
    /// Source (LOAD register mode, ADD), base (indirect) or condition register.
    pub rs: Reg,
    /// Segment (LOAD/STORE memory modes) or condition (BRANCH).
    pub sel: u8,
    /// Immediate, address offset or branch target.
    pub imm: u32,
}

/// Why a word is not an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Bits 22–31 must be zero.
    ReservedBits,
    /// A flag combination the opcode does not define.
    BadFlags {
        /// The opcode.
        op: Opcode,
        /// The flags.
        flags: u8,
    },
    /// A `sel` value that names no segment or condition.
    BadSelector(u8),
    /// STORE to a read-only segment (`params`, `args`).
    StoreToReadOnly(Segment),
    /// A field the opcode and mode do not use is not zero.
    UnusedField(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::ReservedBits => write!(f, "reserved bits 22-31 are not zero"),
            DecodeError::BadFlags { op, flags } => {
                write!(
                    f,
                    "flags {flags:#08b} are not defined for {}",
                    op.mnemonic()
                )
            }
            DecodeError::BadSelector(sel) => {
                write!(f, "selector {sel} names no segment or condition")
            }
            DecodeError::StoreToReadOnly(segment) => {
                write!(f, "store to the read-only segment `{}`", segment.name())
            }
            DecodeError::UnusedField(field) => write!(f, "unused field `{field}` is not zero"),
        }
    }
}

const fn bits(word: u64, shift: u32, width: u32) -> u64 {
    (word >> shift) & ((1 << width) - 1)
}

impl Instruction {
    /// Encodes the fields (no validation; use [`Instruction::decode`] to check a word).
    pub fn encode(self) -> u64 {
        (self.op as u64)
            | (u64::from(self.flags & 0x3F) << 2)
            | (u64::from(self.rd & 0x1F) << 8)
            | (u64::from(self.rs & 0x1F) << 13)
            | (u64::from(self.sel & 0xF) << 18)
            | (u64::from(self.imm) << 32)
    }

    /// Decodes and validates one word.
    pub fn decode(word: u64) -> Result<Instruction, DecodeError> {
        if bits(word, 22, 10) != 0 {
            return Err(DecodeError::ReservedBits);
        }
        let insn = Instruction {
            op: Opcode::of(word),
            flags: bits(word, 2, 6) as u8,
            rd: bits(word, 8, 5) as u8,
            rs: bits(word, 13, 5) as u8,
            sel: bits(word, 18, 4) as u8,
            imm: (word >> 32) as u32,
        };
        insn.validate()?;
        Ok(insn)
    }

    fn bad_flags(self) -> DecodeError {
        DecodeError::BadFlags {
            op: self.op,
            flags: self.flags,
        }
    }

    fn require_zero(value: u32, field: &'static str) -> Result<(), DecodeError> {
        if value == 0 {
            Ok(())
        } else {
            Err(DecodeError::UnusedField(field))
        }
    }

    fn validate(self) -> Result<(), DecodeError> {
        match self.op {
            Opcode::Load | Opcode::Store => {
                let mode = self.load_mode();
                let extra = self.flags & !flag::MODE_MASK;
                match mode {
                    LoadMode::Immediate | LoadMode::Register if self.op == Opcode::Store => {
                        return Err(self.bad_flags());
                    }
                    LoadMode::Immediate => {
                        let allowed = [0, flag::LOAD_HIGH, flag::LOAD_SIGN_EXTEND];
                        if !allowed.contains(&extra) {
                            return Err(self.bad_flags());
                        }
                        Self::require_zero(self.rs.into(), "rs")?;
                        Self::require_zero(self.sel.into(), "sel")?;
                    }
                    LoadMode::Register => {
                        if extra != 0 {
                            return Err(self.bad_flags());
                        }
                        Self::require_zero(self.sel.into(), "sel")?;
                        Self::require_zero(self.imm, "imm")?;
                    }
                    LoadMode::Direct | LoadMode::Indirect => {
                        if extra != 0 {
                            return Err(self.bad_flags());
                        }
                        let segment = Segment::from_sel(self.sel)
                            .ok_or(DecodeError::BadSelector(self.sel))?;
                        if self.op == Opcode::Store && !segment.storable() {
                            return Err(DecodeError::StoreToReadOnly(segment));
                        }
                        if mode == LoadMode::Direct {
                            Self::require_zero(self.rs.into(), "rs")?;
                        }
                    }
                }
            }
            Opcode::Add => {
                let immediate = self.flags & flag::ADD_IMMEDIATE != 0;
                if self.flags & flag::ADD_SIGN_EXTEND != 0 && !immediate {
                    return Err(self.bad_flags());
                }
                if immediate {
                    Self::require_zero(self.rs.into(), "rs")?;
                } else {
                    Self::require_zero(self.imm, "imm")?;
                }
                Self::require_zero(self.sel.into(), "sel")?;
            }
            Opcode::Branch => {
                if self.flags & !flag::BRANCH_KIND_MASK != 0 {
                    return Err(self.bad_flags());
                }
                let kind = self.branch_kind().ok_or_else(|| self.bad_flags())?;
                let cond = Cond::from_sel(self.sel).ok_or(DecodeError::BadSelector(self.sel))?;
                if !cond.reads_register() {
                    Self::require_zero(self.rs.into(), "rs")?;
                }
                Self::require_zero(self.rd.into(), "rd")?;
                if kind == BranchKind::Ret {
                    Self::require_zero(self.imm, "imm")?;
                }
            }
        }
        Ok(())
    }

    /// LOAD/STORE mode.
    pub fn load_mode(self) -> LoadMode {
        [
            LoadMode::Immediate,
            LoadMode::Register,
            LoadMode::Direct,
            LoadMode::Indirect,
        ][usize::from(self.flags & flag::MODE_MASK)]
    }

    /// LOAD/STORE memory segment (memory modes of a valid instruction).
    pub fn segment(self) -> Option<Segment> {
        match self.op {
            Opcode::Load | Opcode::Store
                if matches!(self.load_mode(), LoadMode::Direct | LoadMode::Indirect) =>
            {
                Segment::from_sel(self.sel)
            }
            _ => None,
        }
    }

    /// BRANCH kind (`None` for the undefined kind 3).
    pub fn branch_kind(self) -> Option<BranchKind> {
        match self.flags & flag::BRANCH_KIND_MASK {
            0 => Some(BranchKind::Jump),
            1 => Some(BranchKind::Call),
            2 => Some(BranchKind::Ret),
            _ => None,
        }
    }

    /// BRANCH condition (valid instructions only).
    pub fn cond(self) -> Cond {
        Cond::from_sel(self.sel).unwrap_or(Cond::Always)
    }

    /// Whether the flag bit is set.
    pub fn has(self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    /// The value a LOAD immediate or ADD immediate operand stands for.
    pub fn immediate_value(self) -> u64 {
        let sign_extend = match self.op {
            Opcode::Load => self.has(flag::LOAD_SIGN_EXTEND),
            Opcode::Add => self.has(flag::ADD_SIGN_EXTEND),
            _ => false,
        };
        if self.op == Opcode::Load && self.has(flag::LOAD_HIGH) {
            u64::from(self.imm) << 32
        } else if sign_extend {
            self.imm as i32 as i64 as u64
        } else {
            u64::from(self.imm)
        }
    }

    /// What a BRANCH targets.
    pub fn branch_target(self) -> BranchTarget {
        match self.branch_kind() {
            Some(BranchKind::Ret) | None => BranchTarget::Return,
            Some(BranchKind::Jump) if self.imm >= ABORT_BASE => {
                BranchTarget::Abort((self.imm - ABORT_BASE) as u8)
            }
            Some(BranchKind::Call) if self.imm >= HOST_CALL_BASE => {
                BranchTarget::Host((self.imm - HOST_CALL_BASE) as u16)
            }
            Some(BranchKind::Jump) => BranchTarget::Jump(self.imm),
            Some(BranchKind::Call) => BranchTarget::Call(self.imm),
        }
    }
}

/// The resolved meaning of a BRANCH's target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BranchTarget {
    /// A code address.
    Jump(u32),
    /// A subroutine call to a code address.
    Call(u32),
    /// Return.
    Return,
    /// A host call.
    Host(u16),
    /// An abort with a code.
    Abort(u8),
}

/// The ISA section of SPEC.md, generated from [`OPCODE_TABLE`] and the constants above.
pub fn spec_tables() -> String {
    use core::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| op | mnemonic | fields | gas | semantics | run-time traps |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for row in &OPCODE_TABLE {
        let _ = writeln!(
            out,
            "| {} `{:?}` | {} | {} | {} | {} | {} |",
            row.opcode as u8,
            row.opcode,
            row.mnemonic,
            row.fields,
            row.gas,
            row.semantics,
            row.traps
        );
    }
    for row in &OPCODE_TABLE {
        let _ = writeln!(out, "\n**{:?} flags and modes**\n", row.opcode);
        let _ = writeln!(out, "| flag / mode | meaning |");
        let _ = writeln!(out, "|---|---|");
        for (name, meaning) in row.flags {
            let _ = writeln!(out, "| {name} | {meaning} |");
        }
    }
    let _ = writeln!(out, "\n**Segments** (`sel` of LOAD/STORE)\n");
    let _ = writeln!(out, "| sel | name | store | persistent |");
    let _ = writeln!(out, "|---|---|---|---|");
    for sel in 0..16u8 {
        if let Some(segment) = Segment::from_sel(sel) {
            let _ = writeln!(
                out,
                "| {sel} | `{}` | {} | {} |",
                segment.name(),
                if segment.storable() { "yes" } else { "no" },
                if segment.persistent() { "yes" } else { "no" }
            );
        }
    }
    let _ = writeln!(out, "\n**Limits**\n");
    let _ = writeln!(out, "| constant | value |");
    let _ = writeln!(out, "|---|---|");
    for (name, value) in [
        ("registers", REGISTERS as u64),
        (
            "first microcode register",
            u64::from(MICROCODE_FIRST_REGISTER),
        ),
        ("max code words", u64::from(MAX_CODE_WORDS)),
        ("max call depth", MAX_CALL_DEPTH as u64),
        ("page words", u64::from(PAGE_WORDS)),
        ("gas per instruction", GAS_PER_INSTRUCTION),
        ("host call base", u64::from(HOST_CALL_BASE)),
        ("abort base", u64::from(ABORT_BASE)),
        (
            "abort code: division by zero",
            u64::from(ABORT_DIVISION_BY_ZERO),
        ),
        ("abort code: ln domain", u64::from(ABORT_LN_DOMAIN)),
        (
            "max params words",
            u64::from(crate::module::MAX_PARAMS_WORDS),
        ),
        ("max args words", u64::from(crate::module::MAX_ARGS_WORDS)),
        ("max ret words", u64::from(crate::module::MAX_RET_WORDS)),
        (
            "max scratch words",
            u64::from(crate::module::MAX_SCRATCH_WORDS),
        ),
        (
            "max slab words (10 MiB)",
            u64::from(crate::module::MAX_SLAB_WORDS),
        ),
        ("max views", crate::module::MAX_VIEWS as u64),
        ("max entrypoints", u64::from(crate::module::MAX_ENTRIES)),
    ] {
        let _ = writeln!(out, "| {name} | {value:#x} ({value}) |");
    }
    out
}
