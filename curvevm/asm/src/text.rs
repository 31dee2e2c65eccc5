//! The `.cvm` text form: [`assemble`] and [`disassemble`], which round-trip byte for byte.
//!
//! ```text
//! .params 2                ; segment sizes in words (canonical order: params args ret scratch slab)
//! .args 2
//! .ret 1
//! .scratch 0
//! .slab 16
//! .view 4 rw               ; view0 (rw or ro)
//! .capabilities clock sha256 ; host-call capabilities the code may use
//! .entry main args=2 ret=1 ; starts at label `main`
//! main:
//!     load r1, args[0]     ; direct; `seg[rS+imm]` indirect; `#imm`, `#+imm`/`#-imm` (sign-extended)
//!     add.neg.chk r1, #3   ; flags .neg .cin .chk .nw, in that order
//!     jump.nz r1, main     ; .z/.nz take a register, .c/.nc do not
//!     call @mul128         ; microcode: placed by `.microcode mul128` or appended at the end
//!     host sha256          ; a host call by name (or id)
//!     store r1, ret[0]
//!     ret
//! .word 0x0                ; a raw word (how undecodable words disassemble)
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use curvevm::hostcall::{self, Capability, CapabilitySet};
use curvevm::isa::{
    ABORT_BASE, BranchKind, Cond, HOST_CALL_BASE, Instruction, LoadMode, Opcode, Segment, flag,
};
use curvevm::microcode::{self, ROUTINES};
use curvevm::module::{Entry, Layout, Module, Placement, ViewDecl, is_identifier};

/// An assembly error with its 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmError {
    /// Line number (1-based; 0 for whole-file errors).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for AsmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for AsmError {}

/// A branch target before label resolution.
#[derive(Clone, Debug)]
enum Target {
    Address(u32),
    Label { name: String, offset: u32 },
}

#[derive(Clone, Debug)]
enum Item {
    Insn(Instruction),
    /// A raw word, written verbatim (not relocated, not checked).
    Word(u64),
    Branch {
        insn: Instruction,
        target: Target,
    },
    Routine(u16),
}

struct Parser {
    layout: Layout,
    capabilities: CapabilitySet,
    entries: Vec<(usize, String, u16, u16)>,
    items: Vec<(usize, Item)>,
    labels: BTreeMap<String, (usize, u32)>,
    pc: u32,
}

fn error(line: usize, message: impl Into<String>) -> AsmError {
    AsmError {
        line,
        message: message.into(),
    }
}

/// A u64 in decimal or `0x` hex, `_` separators allowed (assembly, file tests, `curve run`).
pub fn parse_number(text: &str) -> Option<u64> {
    let text = text.replace('_', "");
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn parse_u32(line: usize, text: &str) -> Result<u32, AsmError> {
    parse_number(text)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            error(
                line,
                format!("expected a number below 2^32, found `{text}`"),
            )
        })
}

fn parse_register(line: usize, text: &str) -> Result<u8, AsmError> {
    text.strip_prefix('r')
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|&n| n < 32 && text.len() <= 3 && !(n > 0 && text.starts_with("r0")))
        .ok_or_else(|| error(line, format!("expected a register r0..r31, found `{text}`")))
}

/// `#imm` (zero-extended), `#+imm` / `#-imm` (sign-extended): returns (imm, sign_extended).
fn parse_immediate(line: usize, text: &str) -> Result<(u32, bool), AsmError> {
    let body = text
        .strip_prefix('#')
        .ok_or_else(|| error(line, format!("expected `#imm`, found `{text}`")))?;
    let bad = || error(line, format!("immediate `{text}` does not fit in 32 bits"));
    if let Some(magnitude) = body.strip_prefix('-') {
        let value = parse_number(magnitude)
            .filter(|&m| m <= 1 << 31)
            .ok_or_else(bad)?;
        Ok(((value as i64).wrapping_neg() as i32 as u32, true))
    } else if let Some(magnitude) = body.strip_prefix('+') {
        let value = parse_number(magnitude)
            .filter(|&m| m < 1 << 31)
            .ok_or_else(bad)?;
        Ok((value as u32, true))
    } else {
        Ok((
            parse_number(body)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(bad)?,
            false,
        ))
    }
}

/// `seg[imm]` or `seg[rS+imm]` / `seg[rS]`: (segment, mode, rs, imm).
fn parse_address(line: usize, text: &str) -> Result<(Segment, LoadMode, u8, u32), AsmError> {
    let bad = || error(line, format!("expected `segment[address]`, found `{text}`"));
    let (name, rest) = text.split_once('[').ok_or_else(bad)?;
    let inner = rest.strip_suffix(']').ok_or_else(bad)?;
    let segment =
        Segment::from_name(name).ok_or_else(|| error(line, format!("unknown segment `{name}`")))?;
    if inner.starts_with('r') {
        let (base, offset) = match inner.split_once('+') {
            Some((base, offset)) => (base, parse_u32(line, offset)?),
            None => (inner, 0),
        };
        Ok((
            segment,
            LoadMode::Indirect,
            parse_register(line, base)?,
            offset,
        ))
    } else {
        Ok((segment, LoadMode::Direct, 0, parse_u32(line, inner)?))
    }
}

fn parse_target(line: usize, text: &str) -> Result<Target, AsmError> {
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        return Ok(Target::Address(parse_u32(line, text)?));
    }
    let (name, offset) = match text.split_once('+') {
        Some((name, offset)) => (name, parse_u32(line, offset)?),
        None => (text, 0),
    };
    let plain = name.strip_prefix('@').unwrap_or(name);
    if !is_identifier(plain.as_bytes()) {
        return Err(error(line, format!("expected a label, found `{text}`")));
    }
    Ok(Target::Label {
        name: name.to_string(),
        offset,
    })
}

impl Parser {
    fn push(&mut self, line: usize, item: Item) {
        self.pc += match &item {
            Item::Routine(id) => ROUTINES[usize::from(*id)].instruction_count(),
            _ => 1,
        };
        self.items.push((line, item));
    }

    fn define(&mut self, line: usize, name: &str) -> Result<(), AsmError> {
        if self
            .labels
            .insert(name.to_string(), (line, self.pc))
            .is_some()
        {
            return Err(error(line, format!("label `{name}` is defined twice")));
        }
        Ok(())
    }

    fn directive(&mut self, line: usize, name: &str, args: &[&str]) -> Result<(), AsmError> {
        let size = |index: usize| -> Result<u32, AsmError> {
            parse_u32(
                line,
                args.get(index)
                    .ok_or_else(|| error(line, format!("`.{name}` needs a size")))?,
            )
        };
        match name {
            "params" => self.layout.params = size(0)?,
            "args" => self.layout.args = size(0)?,
            "ret" => self.layout.ret = size(0)?,
            "scratch" => self.layout.scratch = size(0)?,
            "slab" => self.layout.slab = size(0)?,
            "capabilities" => {
                for name in args {
                    let capability = Capability::from_name(name).ok_or_else(|| {
                        let known: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
                        error(
                            line,
                            format!("unknown capability `{name}` (known: {})", known.join(", ")),
                        )
                    })?;
                    self.capabilities.0 |= capability.bit();
                }
            }
            "view" => {
                let writable = match args.get(1).copied() {
                    Some("rw") => true,
                    Some("ro") => false,
                    _ => return Err(error(line, "`.view WORDS rw|ro`")),
                };
                self.layout.views.push(ViewDecl {
                    words: size(0)?,
                    writable,
                });
            }
            "entry" => {
                let usage = || error(line, "`.entry NAME args=N ret=N`");
                let [entry, args_kv, ret_kv] = args else {
                    return Err(usage());
                };
                let count = |kv: &str, key: &str| -> Result<u16, AsmError> {
                    kv.strip_prefix(key)
                        .and_then(parse_number)
                        .and_then(|n| u16::try_from(n).ok())
                        .ok_or_else(usage)
                };
                if !is_identifier(entry.as_bytes()) || entry.len() > 32 {
                    return Err(error(
                        line,
                        format!("entry name `{entry}` is not an identifier of at most 32 bytes"),
                    ));
                }
                self.entries.push((
                    line,
                    entry.to_string(),
                    count(args_kv, "args=")?,
                    count(ret_kv, "ret=")?,
                ));
            }
            "word" => {
                let text = args.first().ok_or_else(|| error(line, "`.word VALUE`"))?;
                let word =
                    parse_number(text).ok_or_else(|| error(line, format!("bad word `{text}`")))?;
                self.push(line, Item::Word(word));
            }
            "microcode" => {
                let routine = args
                    .first()
                    .ok_or_else(|| error(line, "`.microcode NAME`"))?;
                let (id, _) = microcode::find(routine)
                    .ok_or_else(|| error(line, format!("unknown microcode routine `{routine}`")))?;
                self.define(line, &format!("@{routine}"))?;
                self.push(line, Item::Routine(id));
            }
            _ => return Err(error(line, format!("unknown directive `.{name}`"))),
        }
        Ok(())
    }

    fn instruction(
        &mut self,
        line: usize,
        mnemonic: &str,
        operands: &[&str],
    ) -> Result<(), AsmError> {
        let mut parts = mnemonic.split('.');
        let base = parts.next().unwrap_or_default();
        let suffixes: Vec<&str> = parts.collect();
        let arity = |n: usize| -> Result<(), AsmError> {
            if operands.len() == n {
                Ok(())
            } else {
                Err(error(
                    line,
                    format!(
                        "`{mnemonic}` takes {n} operand(s), found {}",
                        operands.len()
                    ),
                ))
            }
        };
        let insn = |op, flags, rd, rs, sel, imm| Instruction {
            op,
            flags,
            rd,
            rs,
            sel,
            imm,
        };
        match base {
            "load" | "store" => {
                let op = if base == "load" {
                    Opcode::Load
                } else {
                    Opcode::Store
                };
                arity(2)?;
                let rd = parse_register(line, operands[0])?;
                let source = operands[1];
                let extra = match suffixes.as_slice() {
                    [] => 0,
                    ["hi"] if op == Opcode::Load => flag::LOAD_HIGH,
                    _ => return Err(error(line, format!("unknown mnemonic `{mnemonic}`"))),
                };
                let item = if source.starts_with('#') {
                    if op == Opcode::Store {
                        return Err(error(line, "store takes a register and an address"));
                    }
                    let (imm, signed) = parse_immediate(line, source)?;
                    if signed && extra != 0 {
                        return Err(error(line, "`load.hi` takes an unsigned immediate"));
                    }
                    let flags = extra | if signed { flag::LOAD_SIGN_EXTEND } else { 0 };
                    insn(op, flags, rd, 0, 0, imm)
                } else if source.contains('[') {
                    let (segment, mode, rs, imm) = parse_address(line, source)?;
                    insn(op, mode as u8, rd, rs, segment.sel(), imm)
                } else if op == Opcode::Load && extra == 0 {
                    insn(
                        op,
                        LoadMode::Register as u8,
                        rd,
                        parse_register(line, source)?,
                        0,
                        0,
                    )
                } else {
                    return Err(error(line, format!("bad operand `{source}`")));
                };
                Instruction::decode(item.encode()).map_err(|e| error(line, e.to_string()))?;
                self.push(line, Item::Insn(item));
            }
            "add" => {
                arity(2)?;
                let mut flags = 0;
                let order = [
                    ("neg", flag::ADD_NEGATE),
                    ("cin", flag::ADD_CARRY_IN),
                    ("chk", flag::ADD_CHECKED),
                    ("nw", flag::ADD_NO_WRITE),
                ];
                let mut next = 0;
                for suffix in &suffixes {
                    let position = order[next..].iter().position(|(name, _)| name == suffix).ok_or_else(|| {
                        error(line, format!("unknown or out-of-order flag `.{suffix}` (order: .neg .cin .chk .nw)"))
                    })?;
                    flags |= order[next + position].1;
                    next += position + 1;
                }
                let rd = parse_register(line, operands[0])?;
                let item = if operands[1].starts_with('#') {
                    let (imm, signed) = parse_immediate(line, operands[1])?;
                    flags |= flag::ADD_IMMEDIATE | if signed { flag::ADD_SIGN_EXTEND } else { 0 };
                    insn(Opcode::Add, flags, rd, 0, 0, imm)
                } else {
                    insn(
                        Opcode::Add,
                        flags,
                        rd,
                        parse_register(line, operands[1])?,
                        0,
                        0,
                    )
                };
                self.push(line, Item::Insn(item));
            }
            "jump" | "call" | "ret" | "host" | "abort" => {
                let cond = match suffixes.as_slice() {
                    [] => Cond::Always,
                    [suffix] => Cond::ALL
                        .into_iter()
                        .find(|cond| cond.suffix() == *suffix && *cond != Cond::Always)
                        .ok_or_else(|| error(line, format!("unknown condition `.{suffix}`")))?,
                    _ => return Err(error(line, format!("unknown mnemonic `{mnemonic}`"))),
                };
                let (rs, rest) = if cond.reads_register() {
                    let (first, rest) = operands.split_first().ok_or_else(|| {
                        error(line, format!("`{mnemonic}` needs a condition register"))
                    })?;
                    (parse_register(line, first)?, rest)
                } else {
                    (0, operands)
                };
                let expected = usize::from(base != "ret");
                if rest.len() != expected {
                    return Err(error(
                        line,
                        format!("`{mnemonic}` takes {expected} target operand(s)"),
                    ));
                }
                let kind = match base {
                    "jump" | "abort" => BranchKind::Jump,
                    "call" | "host" => BranchKind::Call,
                    _ => BranchKind::Ret,
                };
                let mut branch = insn(Opcode::Branch, kind as u8, 0, rs, cond as u8, 0);
                match base {
                    "ret" => self.push(line, Item::Insn(branch)),
                    "host" => {
                        let id = hostcall::by_name(rest[0])
                            .map(|function| u64::from(function.id))
                            .or_else(|| parse_number(rest[0]))
                            .filter(|&id| id < u64::from(ABORT_BASE - HOST_CALL_BASE));
                        let id = id.ok_or_else(|| {
                            error(line, format!("bad host call id `{}`", rest[0]))
                        })?;
                        branch.imm = HOST_CALL_BASE + id as u32;
                        self.push(line, Item::Insn(branch));
                    }
                    "abort" => {
                        let code = parse_number(rest[0]).filter(|&code| code <= 255);
                        let code = code
                            .ok_or_else(|| error(line, format!("bad abort code `{}`", rest[0])))?;
                        branch.imm = ABORT_BASE + code as u32;
                        self.push(line, Item::Insn(branch));
                    }
                    _ => {
                        let target = parse_target(line, rest[0])?;
                        self.push(
                            line,
                            Item::Branch {
                                insn: branch,
                                target,
                            },
                        );
                    }
                }
            }
            _ => return Err(error(line, format!("unknown mnemonic `{mnemonic}`"))),
        }
        Ok(())
    }
}

/// Assembles `.cvm` text into a module.
pub fn assemble(text: &str) -> Result<Module, AsmError> {
    let mut parser = Parser {
        layout: Layout::default(),
        capabilities: CapabilitySet::EMPTY,
        entries: Vec::new(),
        items: Vec::new(),
        labels: BTreeMap::new(),
        pc: 0,
    };
    for (index, raw_line) in text.lines().enumerate() {
        let line = index + 1;
        let mut content = raw_line.split(';').next().unwrap_or_default().trim();
        while let Some((label, rest)) = content.split_once(':') {
            let label = label.trim();
            let plain = label.strip_prefix('@').unwrap_or(label);
            if !is_identifier(plain.as_bytes()) {
                break;
            }
            parser.define(line, label)?;
            content = rest.trim();
        }
        if content.is_empty() {
            continue;
        }
        let (head, tail) = content
            .split_once(char::is_whitespace)
            .unwrap_or((content, ""));
        let operands: Vec<&str> = tail
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(directive) = head.strip_prefix('.') {
            let words: Vec<&str> = tail.split_whitespace().collect();
            parser.directive(line, directive, &words)?;
        } else {
            parser.instruction(line, head, &operands)?;
        }
    }

    // Microcode called but not placed goes at the end, in the order of first use.
    let mut appended: Vec<String> = Vec::new();
    for (_, item) in &parser.items {
        if let Item::Branch {
            target: Target::Label { name, .. },
            ..
        } = item
            && let Some(routine) = name.strip_prefix('@')
            && !parser.labels.contains_key(name)
            && !appended.iter().any(|r| r == routine)
        {
            appended.push(routine.to_string());
        }
    }
    for routine in appended {
        let (id, _) = microcode::find(&routine)
            .ok_or_else(|| error(0, format!("unknown microcode routine `@{routine}`")))?;
        parser.define(0, &format!("@{routine}"))?;
        parser.push(0, Item::Routine(id));
    }

    let mut module = Module {
        layout: parser.layout,
        capabilities: parser.capabilities,
        ..Module::default()
    };
    for (line, name, args, ret) in parser.entries {
        let &(_, pc) = parser
            .labels
            .get(&name)
            .ok_or_else(|| error(line, format!("entry `{name}` has no label")))?;
        module.entries.push(Entry {
            name,
            pc,
            args,
            ret,
        });
    }
    for (line, item) in parser.items {
        match item {
            Item::Insn(insn) => module.code.push(insn.encode()),
            Item::Word(word) => module.code.push(word),
            Item::Branch { mut insn, target } => {
                insn.imm = match target {
                    Target::Address(address) => address,
                    Target::Label { name, offset } => {
                        let &(_, pc) = parser
                            .labels
                            .get(&name)
                            .ok_or_else(|| error(line, format!("undefined label `{name}`")))?;
                        pc.checked_add(offset)
                            .ok_or_else(|| error(line, "target overflows"))?
                    }
                };
                module.code.push(insn.encode());
            }
            Item::Routine(id) => {
                let pc = module.code.len() as u32;
                module.microcode.push(Placement { routine: id, pc });
                module.code.extend(
                    ROUTINES[usize::from(id)]
                        .expand(pc)
                        .iter()
                        .map(|insn| insn.encode()),
                );
            }
        }
    }
    Ok(module)
}

fn immediate_text(imm: u32, signed: bool) -> String {
    if signed {
        let value = imm as i32;
        if value < 0 {
            format!("#-{}", (value as i64).unsigned_abs())
        } else {
            format!("#+{value}")
        }
    } else {
        format!("#{imm}")
    }
}

fn address_text(insn: &Instruction) -> String {
    let segment = Segment::from_sel(insn.sel).map_or("?", Segment::name);
    match insn.load_mode() {
        LoadMode::Indirect if insn.imm == 0 => format!("{segment}[r{}]", insn.rs),
        LoadMode::Indirect => format!("{segment}[r{}+{}]", insn.rs, insn.imm),
        _ => format!("{segment}[{}]", insn.imm),
    }
}

/// Disassembles a module into canonical `.cvm` text (`assemble` of it gives the same bytes).
pub fn disassemble(module: &Module) -> String {
    let mut out = String::new();
    let layout = &module.layout;
    if module.capabilities != CapabilitySet::EMPTY {
        let names: Vec<&str> = module.capabilities.iter().map(|c| c.name()).collect();
        let _ = writeln!(out, ".capabilities {}", names.join(" "));
    }
    for (name, words) in [
        ("params", layout.params),
        ("args", layout.args),
        ("ret", layout.ret),
        ("scratch", layout.scratch),
        ("slab", layout.slab),
    ] {
        let _ = writeln!(out, ".{name} {words}");
    }
    for view in &layout.views {
        let _ = writeln!(
            out,
            ".view {} {}",
            view.words,
            if view.writable { "rw" } else { "ro" }
        );
    }
    for entry in &module.entries {
        let _ = writeln!(
            out,
            ".entry {} args={} ret={}",
            entry.name, entry.args, entry.ret
        );
    }

    // Where each placement sits, and label names for every pc that needs one.
    let mut placement_at: BTreeMap<u32, (u16, u32)> = BTreeMap::new();
    for placement in &module.microcode {
        if let Some(routine) = ROUTINES.get(usize::from(placement.routine)) {
            placement_at.insert(
                placement.pc,
                (placement.routine, routine.instruction_count()),
            );
        }
    }
    let inside_placement = |pc: u32| -> Option<(u32, u16)> {
        placement_at
            .range(..=pc)
            .next_back()
            .filter(|(start, (_, len))| pc < *start + len)
            .map(|(start, (id, _))| (*start, *id))
    };
    let mut labels: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for entry in &module.entries {
        let names = labels.entry(entry.pc).or_default();
        if !names.contains(&entry.name) {
            names.push(entry.name.clone());
        }
    }
    let target_name = |target: u32, labels: &BTreeMap<u32, Vec<String>>| -> String {
        if let Some((start, id)) = inside_placement(target) {
            let name = format!("@{}", ROUTINES[usize::from(id)].name);
            return if target == start {
                name
            } else {
                format!("{name}+{}", target - start)
            };
        }
        if target as usize >= module.code.len() {
            return target.to_string();
        }
        labels
            .get(&target)
            .and_then(|names| names.first().cloned())
            .unwrap_or_else(|| format!("L{target}"))
    };
    for (pc, &word) in module.code.iter().enumerate() {
        if inside_placement(pc as u32).is_some() {
            continue;
        }
        if let Ok(insn) = Instruction::decode(word)
            && let Some(BranchKind::Jump | BranchKind::Call) =
                insn.branch_kind().filter(|_| insn.op == Opcode::Branch)
        {
            let target = insn.imm;
            let is_special = matches!(
                insn.branch_target(),
                curvevm::isa::BranchTarget::Host(_) | curvevm::isa::BranchTarget::Abort(_)
            );
            if !is_special
                && (target as usize) < module.code.len()
                && inside_placement(target).is_none()
            {
                labels
                    .entry(target)
                    .or_insert_with(|| vec![format!("L{target}")]);
            }
        }
    }

    let mut pc = 0u32;
    while (pc as usize) < module.code.len() {
        if let Some(names) = labels.get(&pc) {
            for name in names {
                let _ = writeln!(out, "{name}:");
            }
        }
        if let Some(&(id, len)) = placement_at.get(&pc)
            && pc as usize + len as usize <= module.code.len()
        {
            let name = ROUTINES[usize::from(id)].name;
            let _ = writeln!(out, "    .microcode {name}");
            pc += len;
            continue;
        }
        let word = module.code[pc as usize];
        let _ = writeln!(
            out,
            "    {}",
            instruction_text(word, &|target| target_name(target, &labels))
        );
        pc += 1;
    }
    // An entry labelled after the last instruction (the assembler accepts it; the verifier
    // refuses it) keeps its label, so that the text assembles to the same module.
    if let Some(names) = labels.get(&(module.code.len() as u32)) {
        for name in names {
            let _ = writeln!(out, "{name}:");
        }
    }
    out
}

/// One instruction word as text; `.word 0x…` when it does not decode.
pub fn instruction_text(word: u64, target_name: &dyn Fn(u32) -> String) -> String {
    let Ok(insn) = Instruction::decode(word) else {
        return format!(".word {word:#x}");
    };
    match insn.op {
        Opcode::Load | Opcode::Store => {
            let mnemonic = if insn.op == Opcode::Load {
                "load"
            } else {
                "store"
            };
            match insn.load_mode() {
                LoadMode::Immediate => {
                    let high = insn.has(flag::LOAD_HIGH);
                    let signed = insn.has(flag::LOAD_SIGN_EXTEND);
                    let suffix = if high { ".hi" } else { "" };
                    format!(
                        "{mnemonic}{suffix} r{}, {}",
                        insn.rd,
                        immediate_text(insn.imm, signed)
                    )
                }
                LoadMode::Register => format!("{mnemonic} r{}, r{}", insn.rd, insn.rs),
                _ => format!("{mnemonic} r{}, {}", insn.rd, address_text(&insn)),
            }
        }
        Opcode::Add => {
            let mut mnemonic = String::from("add");
            for (name, bit) in [
                ("neg", flag::ADD_NEGATE),
                ("cin", flag::ADD_CARRY_IN),
                ("chk", flag::ADD_CHECKED),
                ("nw", flag::ADD_NO_WRITE),
            ] {
                if insn.has(bit) {
                    mnemonic.push('.');
                    mnemonic.push_str(name);
                }
            }
            let source = if insn.has(flag::ADD_IMMEDIATE) {
                immediate_text(insn.imm, insn.has(flag::ADD_SIGN_EXTEND))
            } else {
                format!("r{}", insn.rs)
            };
            format!("{mnemonic} r{}, {source}", insn.rd)
        }
        Opcode::Branch => {
            let cond = insn.cond();
            let (base, operand) = match insn.branch_target() {
                curvevm::isa::BranchTarget::Jump(target) => ("jump", Some(target_name(target))),
                curvevm::isa::BranchTarget::Call(target) => ("call", Some(target_name(target))),
                curvevm::isa::BranchTarget::Return => ("ret", None),
                curvevm::isa::BranchTarget::Host(id) => (
                    "host",
                    Some(hostcall::function(id).map_or(id.to_string(), |f| f.name.to_string())),
                ),
                curvevm::isa::BranchTarget::Abort(code) => ("abort", Some(code.to_string())),
            };
            let mut text = String::from(base);
            if cond != Cond::Always {
                text.push('.');
                text.push_str(cond.suffix());
            }
            let mut operands = Vec::new();
            if cond.reads_register() {
                operands.push(format!("r{}", insn.rs));
            }
            operands.extend(operand);
            if !operands.is_empty() {
                text.push(' ');
                text.push_str(&operands.join(", "));
            }
            text
        }
    }
}
