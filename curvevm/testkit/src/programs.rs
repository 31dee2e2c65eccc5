//! Random valid programs for the differential harness and the JIT fuzz target: straight-line
//! ALU, every load/store mode in every segment, counted loops, forward branches, calls and a
//! recursive routine (call depth), microcode calls, host calls (all twelve functions — clock,
//! events, SHA-256, Poseidon, Merkle and Ed25519 checks, escrow read, `safe_debit`, cap mint and
//! burn, vault pledge and release — with arguments mostly valid, sometimes not, and the module
//! declaring a random subset of its role's capabilities, so that some calls are denied),
//! cross-program `invoke`s (of the harness's two callees, of the caller
//! itself, of an unknown program, with right and wrong entries, argument counts, interface
//! hashes, return pointers and gas caps) and aborts, built from a seeded generator so that a
//! failing case replays from its seed.

use curvevm::builder::Builder;
use curvevm::hostcall::{self, Capability, CapabilitySet, HOST_FUNCTIONS, id};
use curvevm::isa::{Cond, Reg, Segment, flag};
use curvevm::microcode::ROUTINES;
use curvevm::module::{Entry, Layout, Module, ViewDecl};
use curvevm_host::Role;

/// The seed a random test runs with: the environment variable `var` when it holds a number (to
/// replay a printed seed), else `default`.
pub fn replay_seed(var: &str, default: u64) -> u64 {
    #[allow(clippy::disallowed_methods, reason = "a test reads its replay seed")]
    let from_env = std::env::var(var).ok();
    from_env
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// SplitMix64: small, seedable, and the same on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next word.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A word biased towards edges (0, 1, small, all ones, high bit).
    pub fn word(&mut self) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => 1,
            2 => self.below(16),
            3 => u64::MAX - self.below(4),
            4 => 1 << 63,
            5 => self.below(1 << 20),
            _ => self.next_u64(),
        }
    }
}

/// Segment sizes every generated program uses.
pub const PARAMS: u32 = 8;
/// Argument words.
pub const ARGS: u32 = 4;
/// Return words.
pub const RET: u32 = 4;
/// Scratch words.
pub const SCRATCH: u32 = 64;
/// Slab words (two pages).
pub const SLAB: u32 = 256;
/// The writable view.
pub const VIEW0: u32 = 32;
/// The read-only view.
pub const VIEW1: u32 = 16;

/// What a generated program contains (for the coverage histogram).
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    /// A counted loop.
    pub looping: bool,
    /// A host call.
    pub host: bool,
    /// A slab access.
    pub slab: bool,
    /// A microcode call.
    pub microcode: bool,
    /// An `invoke`.
    pub invoke: bool,
    /// A view access.
    pub view: bool,
}

/// Program ids the harness gives: the generated caller, and its two generated callees.
pub const CALLER_ID: u64 = 1;
/// The callees.
pub const CALLEE_IDS: [u64; 2] = [2, 3];
/// Where the interface hash every callee reports is pinned: `params[4..8]`.
pub const INTERFACE_AT: u32 = 4;

/// A generated program.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The module.
    pub module: Module,
    /// What it contains.
    pub features: Features,
    /// The role it is loaded with: a router (vault and cap calls granted) or a slab (escrow
    /// debits granted). Its module declares a random subset of the role's capabilities.
    pub role: Role,
}

/// Data registers the snippets compute in; r13–r15 are loop counters and pointers.
const DATA: u64 = 13;
const LOOP: Reg = 14;
const DEPTH: Reg = 15;
const POINTER: Reg = 13;

struct Gen<'a> {
    rng: &'a mut Rng,
    b: Builder,
    features: Features,
    /// CALLs to patch: (index of the CALL, routine).
    micro_calls: Vec<(u32, u16)>,
    subroutine: curvevm::builder::Label,
    recursive: curvevm::builder::Label,
    /// A callee: its `view0` is read-only (an invoked program may map no writable view).
    callee: bool,
    /// The role the program is loaded with.
    role: Role,
}

fn data(rng: &mut Rng) -> Reg {
    rng.below(DATA) as Reg
}

impl Gen<'_> {
    fn segment(&mut self, store: bool) -> (Segment, u32) {
        let choices: &[(Segment, u32)] = if store && self.callee {
            &[
                (Segment::Ret, RET),
                (Segment::Scratch, SCRATCH),
                (Segment::Slab, SLAB),
                (Segment::Slab, SLAB),
            ]
        } else if store {
            &[
                (Segment::Ret, RET),
                (Segment::Scratch, SCRATCH),
                (Segment::Slab, SLAB),
                (Segment::Slab, SLAB),
                (Segment::View(0), VIEW0),
            ]
        } else {
            &[
                (Segment::Params, PARAMS),
                (Segment::Args, ARGS),
                (Segment::Ret, RET),
                (Segment::Scratch, SCRATCH),
                (Segment::Slab, SLAB),
                (Segment::View(0), VIEW0),
                (Segment::View(1), VIEW1),
            ]
        };
        let choice = choices[self.rng.below(choices.len() as u64) as usize];
        match choice.0 {
            Segment::Slab => self.features.slab = true,
            Segment::View(_) => self.features.view = true,
            _ => {}
        }
        choice
    }

    fn alu(&mut self) {
        let (rd, rs) = (data(self.rng), data(self.rng));
        match self.rng.below(6) {
            0 => self.b.load_imm(rd, self.rng.next_u64() as u32),
            1 => {
                let word = self.rng.word();
                self.b.load_high(rd, (word >> 32) as u32);
            }
            2 => self.b.mov(rd, rs),
            3 => self.b.add(0, rd, rs),
            4 => self.b.add_imm(
                if self.rng.chance(50) {
                    flag::ADD_SIGN_EXTEND
                } else {
                    0
                },
                rd,
                self.rng.word() as u32,
            ),
            _ => {
                // Any combination of the ADD flags (checked adds trap on overflow).
                let mut flags = 0;
                for bit in [
                    flag::ADD_NEGATE,
                    flag::ADD_CARRY_IN,
                    flag::ADD_CHECKED,
                    flag::ADD_NO_WRITE,
                ] {
                    if self.rng.chance(35) {
                        flags |= bit;
                    }
                }
                if self.rng.chance(50) {
                    self.b.add(flags, rd, rs);
                } else {
                    self.b
                        .add_imm(flags | flag::ADD_SIGN_EXTEND, rd, self.rng.word() as u32);
                }
            }
        }
    }

    fn memory(&mut self) {
        let store = self.rng.chance(45);
        let (segment, size) = self.segment(store);
        let reg = data(self.rng);
        match self.rng.below(4) {
            // Direct: always in bounds (the verifier insists).
            0 | 1 => {
                let address = self.rng.below(u64::from(size)) as u32;
                if store {
                    self.b.store(reg, segment, address);
                } else {
                    self.b.load(reg, segment, address);
                }
            }
            // Indirect through a pointer register set just before: mostly in bounds.
            2 => {
                let base = self.rng.below(u64::from(size) + 2) as u32;
                self.b.load_imm(POINTER, base);
                let offset = self.rng.below(3) as u32;
                if store {
                    self.b.store_indirect(reg, segment, POINTER, offset);
                } else {
                    self.b.load_indirect(reg, segment, POINTER, offset);
                }
            }
            // Indirect through a data register: any address, often out of bounds.
            _ => {
                let base = data(self.rng);
                let offset = if self.rng.chance(20) {
                    u32::MAX
                } else {
                    self.rng.below(8) as u32
                };
                if store {
                    self.b.store_indirect(reg, segment, base, offset);
                } else {
                    self.b.load_indirect(reg, segment, base, offset);
                }
            }
        }
    }

    fn simple(&mut self) {
        if self.rng.chance(60) {
            self.alu();
        } else {
            self.memory();
        }
    }

    fn looped(&mut self) {
        self.features.looping = true;
        // The trip count: a constant, or an argument (so inputs change the gas a lot).
        if self.rng.chance(50) {
            self.b.load_imm(LOOP, 1 + self.rng.below(24) as u32);
        } else {
            self.b
                .load(LOOP, Segment::Args, self.rng.below(u64::from(ARGS)) as u32);
            // A zero argument would loop 2^64 times: make it at least one.
            self.b.add_imm(0, LOOP, 1);
        }
        let top = self.b.label();
        self.b.bind(top);
        for _ in 0..1 + self.rng.below(4) {
            self.simple();
        }
        if self.rng.chance(15) {
            self.host();
        }
        self.b.decrement(LOOP);
        self.b.jump(Cond::NonZero, LOOP, top);
    }

    fn forward_branch(&mut self) {
        let skip = self.b.label();
        let cond =
            [Cond::Zero, Cond::NonZero, Cond::Carry, Cond::NoCarry][self.rng.below(4) as usize];
        self.b.jump(cond, data(self.rng), skip);
        for _ in 0..1 + self.rng.below(3) {
            self.simple();
        }
        self.b.bind(skip);
    }

    fn micro(&mut self) {
        self.features.microcode = true;
        for reg in 16..21 {
            if self.rng.chance(70) {
                self.b.mov(reg, data(self.rng));
            } else {
                self.b.load_imm(reg, self.rng.word() as u32);
            }
        }
        let routine = self.rng.below(ROUTINES.len() as u64) as u16;
        self.micro_calls.push((self.b.pc(), routine));
        self.b.call_addr(Cond::Always, 0, 0);
        self.b.mov(data(self.rng), 16);
    }

    /// A host call: mostly one its role is granted (so the call runs, unless its capability
    /// was left out of the module), sometimes any (a denial). The cheap functions weigh 4,
    /// the custody calls (a router's) 6, the checks costing 17,000–44,000 gas 2.
    fn host(&mut self) {
        self.features.host = true;
        let granted = self.role.grants();
        let any = self.rng.chance(8);
        let candidates: Vec<(u16, u64)> = HOST_FUNCTIONS
            .iter()
            .filter(|f| f.id != id::INVOKE && (any || granted.contains(f.capability)))
            .map(|f| {
                let weight = match f.id {
                    id::POSEIDON | id::MERKLE_VERIFY | id::ED25519_VERIFY => 2,
                    // A router's own calls.
                    id::CAP_MINT | id::CAP_BURN | id::VAULT_PLEDGE | id::VAULT_RELEASE => 6,
                    _ => 4,
                };
                (f.id, weight)
            })
            .collect();
        let mut pick = self.rng.below(candidates.iter().map(|(_, w)| w).sum());
        let function = candidates
            .iter()
            .find(|&&(_, weight)| {
                let here = pick < weight;
                pick = pick.saturating_sub(weight);
                here
            })
            .map_or(id::CLOCK, |&(function, _)| function);
        self.host_call(function);
    }

    /// Sets up the arguments of host function `function` — pointers into scratch (zeroed at
    /// call start, so mostly canonical field elements), users, slabs, assets and caps of the
    /// standard ledger mostly, lengths and amounts sometimes out of range — and calls it.
    fn host_call(&mut self, function: u16) {
        let scratch = hostcall::pointer(Segment::Scratch, 0);
        let slab = [CALLER_ID, 2][usize::from(self.rng.chance(20))];
        match function {
            id::CLOCK => {}
            id::EVENT => {
                self.b.load_imm(1, self.rng.below(4) as u32);
                self.set_wide(2, scratch);
                // Sometimes more than 32 words: bad_length.
                self.b.load_imm(3, self.rng.below(36) as u32);
            }
            id::SHA256 => {
                self.set_wide(1, scratch);
                self.b.load_imm(2, self.rng.below(200) as u32);
                self.set_wide(3, scratch + 8);
            }
            id::POSEIDON => {
                self.set_wide(1, scratch);
                let elements = if self.rng.chance(10) {
                    [0, 17][self.rng.below(2) as usize]
                } else {
                    1 + self.rng.below(4)
                };
                self.b.load_imm(2, elements as u32);
                self.set_wide(3, scratch + 40);
            }
            id::MERKLE_VERIFY => {
                self.set_wide(1, scratch);
                self.b.load_imm(2, self.rng.below(8) as u32);
                self.b.load_imm(3, self.rng.below(9) as u32);
                self.set_wide(4, scratch + 8);
                self.set_wide(5, scratch + 24);
            }
            id::ED25519_VERIFY => {
                self.set_wide(1, scratch);
                self.set_wide(2, scratch + 4);
                self.set_wide(3, scratch + 16);
                self.b.load_imm(4, self.rng.below(64) as u32);
            }
            id::ESCROW_READ => {
                self.b.load_imm(1, self.rng.below(3) as u32);
                self.b.load_imm(2, self.rng.below(3) as u32);
            }
            id::SAFE_DEBIT => {
                // Often cap 0's own scope (user 0, asset 0) within escrow (0, 0)'s 100.
                let (cap, user, asset, amount, high) = if self.rng.chance(60) {
                    (0, 0, 0, self.rng.below(100), false)
                } else {
                    (
                        self.rng.below(4),
                        self.rng.below(3),
                        self.rng.below(3),
                        self.rng.below(400),
                        self.rng.chance(10),
                    )
                };
                self.b.load_imm(1, cap as u32);
                self.b.load_imm(2, user as u32);
                self.b.load_imm(3, asset as u32);
                self.b.load_imm(4, amount as u32);
                self.b.load_imm(5, u32::from(high));
            }
            id::CAP_MINT => {
                self.b.load_imm(1, self.rng.below(3) as u32);
                self.b.load_imm(2, slab as u32);
                self.b.load_imm(3, self.rng.below(3) as u32);
                self.b.load_imm(4, self.rng.below(500) as u32);
                self.b.load_imm(5, 0);
                self.b.load_imm(6, self.rng.below(200_000) as u32);
            }
            id::CAP_BURN => self.b.load_imm(1, self.rng.below(6) as u32),
            _ => {
                // Vault pledge or release: vaults hold 1,000, escrows 100–500.
                let most = if function == id::VAULT_PLEDGE {
                    1_500
                } else {
                    700
                };
                self.b.load_imm(1, self.rng.below(3) as u32);
                self.b.load_imm(2, slab as u32);
                self.b.load_imm(3, self.rng.below(3) as u32);
                self.b.load_imm(4, self.rng.below(most) as u32);
                self.b.load_imm(5, u32::from(self.rng.chance(5)));
            }
        }
        self.b.host(Cond::Always, 0, function);
    }

    /// An `invoke`: mostly well-formed (a callee, entry 0, its argument count, a pinned hash
    /// that matches, a return pointer into scratch), else one thing wrong — the caller itself,
    /// an unknown program or entry, too few arguments, another hash, return words aimed at a
    /// read-only view or past scratch — with a small, large or register-chosen gas cap.
    fn invoke(&mut self) {
        self.features.invoke = true;
        let program = match self.rng.below(10) {
            0..=4 => CALLEE_IDS[0],
            5..=6 => CALLEE_IDS[1],
            7 => CALLER_ID,
            _ => 9,
        };
        self.b.load_imm(1, program as u32);
        self.b.load_imm(2, u32::from(self.rng.chance(15)));
        self.set_wide(3, hostcall::pointer(Segment::Args, 0));
        let words = if self.rng.chance(90) { ARGS } else { 2 };
        self.b.load_imm(4, words);
        let ret = match self.rng.below(12) {
            0 => hostcall::pointer(Segment::View(1), 0),
            1 => hostcall::pointer(Segment::Scratch, SCRATCH - 2),
            _ => hostcall::pointer(Segment::Scratch, 32),
        };
        self.set_wide(5, ret);
        let hash_at = if self.rng.chance(90) { INTERFACE_AT } else { 0 };
        self.set_wide(6, hostcall::pointer(Segment::Params, hash_at));
        match self.rng.below(4) {
            0 => self.b.load_imm(7, self.rng.below(400) as u32),
            1 => self.b.mov(7, data(self.rng)),
            _ => self.b.load_high(7, 1),
        }
        self.b.host(Cond::Always, 0, id::INVOKE);
    }

    /// `rd ← value` for a 64-bit value (LOAD.HI then ADD).
    fn set_wide(&mut self, rd: Reg, value: u64) {
        self.b.load_high(rd, (value >> 32) as u32);
        self.b.add_imm(0, rd, value as u32);
    }

    fn snippet(&mut self) {
        match self.rng.below(100) {
            0..=28 => self.simple(),
            29..=43 => self.looped(),
            44..=51 => self.forward_branch(),
            52..=61 => self.micro(),
            62..=75 => self.host(),
            76..=81 => self.invoke(),
            82..=86 => {
                let cond = if self.rng.chance(50) {
                    Cond::Zero
                } else {
                    Cond::NonZero
                };
                self.b.call_to(cond, data(self.rng), self.subroutine);
            }
            87..=90 => {
                // Recursion as deep as an argument says: ≥ 63 traps call_depth.
                self.b
                    .load(DEPTH, Segment::Args, self.rng.below(u64::from(ARGS)) as u32);
                self.b.call_to(Cond::Always, 0, self.recursive);
            }
            91..=94 => {
                self.b
                    .abort(Cond::NonZero, data(self.rng), self.rng.below(0xF0) as u8);
            }
            _ => {
                let flags = flag::ADD_CHECKED
                    | if self.rng.chance(50) {
                        flag::ADD_NEGATE
                    } else {
                        0
                    };
                self.b.add(flags, data(self.rng), data(self.rng));
            }
        }
    }
}

/// A random program from `rng`: entry `main(4 args) -> 4 words`; a `callee` maps its `view0`
/// read-only.
pub fn program(rng: &mut Rng, callee: bool) -> Generated {
    let role = if !callee && rng.chance(40) {
        Role::Router
    } else {
        Role::Slab
    };
    // Each capability of the role is declared with probability 0.92: a call whose capability
    // is missing traps `capability_denied`.
    let granted = role.grants();
    let declared: Vec<Capability> = Capability::ALL
        .into_iter()
        .filter(|&c| granted.contains(c) && (c == Capability::Invoke || !rng.chance(8)))
        .collect();
    let mut b = Builder::new(0);
    let subroutine = b.label();
    let recursive = b.label();
    let mut g = Gen {
        rng,
        b,
        features: Features::default(),
        micro_calls: Vec::new(),
        subroutine,
        recursive,
        callee,
        role,
    };
    for reg in 0..4 {
        g.b.load(reg, Segment::Args, u32::from(reg));
    }
    // Callees are shorter, so that more of them return to their caller.
    let snippets = if callee {
        1 + g.rng.below(4)
    } else {
        2 + g.rng.below(14)
    };
    for _ in 0..snippets {
        g.snippet();
    }
    if callee {
        // A callee that returns has written its state: what its caller's rollback must undo.
        let address = g.rng.below(u64::from(SLAB)) as u32;
        g.b.store(0, Segment::Slab, address);
        g.features.slab = true;
    }
    for reg in 0..4 {
        g.b.store(reg, Segment::Ret, u32::from(reg));
    }
    g.b.ret(Cond::Always, 0);

    // A leaf subroutine and a recursive one.
    g.b.bind(subroutine);
    for _ in 0..1 + g.rng.below(4) {
        g.simple();
    }
    g.b.ret(Cond::Always, 0);
    g.b.bind(recursive);
    g.b.decrement(DEPTH);
    g.b.call_to(Cond::NonZero, DEPTH, recursive);
    g.b.ret(Cond::Always, 0);

    let Gen {
        b,
        features,
        micro_calls,
        ..
    } = g;
    let mut code = b.finish();
    let placements = curvevm::microcode::place(&mut code, &micro_calls);
    let module = Module {
        capabilities: CapabilitySet::of(&declared),
        layout: Layout {
            params: PARAMS,
            args: ARGS,
            ret: RET,
            scratch: SCRATCH,
            slab: SLAB,
            views: vec![
                ViewDecl {
                    words: VIEW0,
                    writable: !callee,
                },
                ViewDecl {
                    words: VIEW1,
                    writable: false,
                },
            ],
        },
        entries: vec![Entry {
            name: "main".into(),
            pc: 0,
            args: ARGS as u16,
            ret: RET as u16,
        }],
        microcode: placements,
        code: code.iter().map(|insn| insn.encode()).collect(),
    };
    Generated {
        module,
        features,
        role,
    }
}
