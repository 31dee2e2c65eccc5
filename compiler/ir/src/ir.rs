//! The IR: programs of entrypoint functions over typed variables.
//!
//! **Signed values** follow one convention: an i64 is a `u64` word and an i128 a `u128` pair
//! holding the two's complement, as the interface descriptors' `i64`/`i128` fields do. Plain
//! operations are unsigned; the signed ones are their own [`Rvalue`]s ([`Rvalue::AddSigned`],
//! [`Rvalue::SubSigned`], [`Rvalue::Neg`], [`Rvalue::MulDivSigned`]) and conditions
//! ([`Cond::LtSigned`], [`Cond::LeSigned`]), each trapping `overflow` outside the signed range
//! (microcode routines `adds`, `subs`, `adds128`, `subs128`, `muldivs`; compares inline).
//!
//! Script values never appear as constants: templates read them from the parameter segment
//! ([`Addr::Param`]), so one bytecode serves every parameter set of a layout. [`Rvalue::Const`]
//! is for the template's own constants (offsets, sizes, codes).

use curvevm::hostcall::CapabilitySet;
use curvevm::isa::Segment;
use curvevm::module::ViewDecl;

/// A value's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ty {
    /// One word.
    U64,
    /// Two words, low first.
    U128,
}

impl Ty {
    /// Words the type occupies.
    pub fn words(self) -> u32 {
        match self {
            Ty::U64 => 1,
            Ty::U128 => 2,
        }
    }
}

/// A variable of a function (index into [`Function::vars`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Var(pub u32);

/// A memory location. `u128` values occupy two consecutive words, low first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    /// A fixed word of a segment.
    Fixed(Segment, u32),
    /// `segment[index + offset]`, `index` a `u64` variable (bounds-checked by the VM).
    Indexed(Segment, Var, u32),
    /// Field `field` of record `index` of `table`, by name: the lowering computes
    /// `base + index × record words + field offset` and aborts with the table's code when
    /// `index ≥ capacity`, so no hand-computed offset can reach another record or pool.
    Field(Table, Var, &'static str),
}

/// A record: its name and its fields with their words (a `u128` field takes two, low first).
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    /// Name (the pool's region name).
    pub name: &'static str,
    /// Fields in order, with their words.
    pub fields: &'static [(&'static str, u32)],
}

impl Record {
    /// Words per record.
    pub const fn words(&self) -> u32 {
        let mut total = 0;
        let mut i = 0;
        while i < self.fields.len() {
            total += self.fields[i].1;
            i += 1;
        }
        total
    }

    /// The word offset of `field`, at compile time (`const STATE_PRICE: u32 =
    /// STATE.offset("price")`): a missing field fails the build.
    ///
    /// # Panics
    /// If the record has no such field.
    pub const fn offset(&self, field: &str) -> u32 {
        let mut offset = 0;
        let mut i = 0;
        while i < self.fields.len() {
            if str_eq(self.fields[i].0, field) {
                return offset;
            }
            offset += self.fields[i].1;
            i += 1;
        }
        panic!("the record has no such field")
    }

    /// A fixed field of the single record at word `base` of `segment` (a template's own state).
    pub const fn at(&self, segment: Segment, base: u32, field: &str) -> Addr {
        Addr::Fixed(segment, base + self.offset(field))
    }

    /// The word offset and width of `field`, if the record has it.
    pub fn offset_of(&self, field: &str) -> Option<(u32, u32)> {
        let mut offset = 0;
        for (name, words) in self.fields {
            if *name == field {
                return Some((offset, *words));
            }
            offset += words;
        }
        None
    }

    /// The word offset of `field` inside the record.
    ///
    /// # Panics
    /// If the record has no such field (a template bug).
    pub fn field(&self, field: &str) -> u32 {
        match self.offset_of(field) {
            Some((offset, _)) => offset,
            None => panic!("record `{}` has no field `{field}`", self.name),
        }
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A table of records in a segment: `capacity` records laid out from word `base`; an index at
/// or above the capacity aborts with `code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    /// The segment.
    pub segment: Segment,
    /// The first record's first word.
    pub base: u32,
    /// How many records.
    pub capacity: u32,
    /// The record layout.
    pub record: &'static Record,
    /// The abort code of an index out of range.
    pub code: u8,
}

/// What a variable is assigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rvalue {
    /// A template constant.
    Const(u128),
    /// Another variable of the same type.
    Copy(Var),
    /// A load.
    Load(Addr),
    /// `a + b`, trapping with `overflow` on a carry out.
    Add(Var, Var),
    /// `a − b`, trapping with `overflow` on a borrow.
    Sub(Var, Var),
    /// `a + b` modulo 2^64 (`u64` only).
    AddWrapping(Var, Var),
    /// The full `u128` product of two `u64` values.
    WideMul(Var, Var),
    /// `a × b` of two `u128` values, trapping on overflow.
    Mul(Var, Var),
    /// `⌊a × b / c⌋` of `u64` values with a `u128` intermediate; `c = 0` aborts, a result above
    /// `u64` traps.
    MulDiv(Var, Var, Var),
    /// `⌊a / b⌋` of two `u128` values (microcode `div128`); `b = 0` aborts.
    Div(Var, Var),
    /// `a >> n` (`u64`).
    Shr(Var, u8),
    /// `a << n` (`u64`, bits shifted out are lost).
    Shl(Var, u8),
    /// A `u64` widened to `u128`.
    Widen(Var),
    /// The low word of a `u128`.
    Low(Var),
    /// The high word of a `u128`.
    High(Var),
    /// A `u128` from its low and high `u64` words.
    Join(Var, Var),
    /// `1` if the condition holds, else `0`.
    Test(Cond),
    /// `a + b` of two's-complement values (`u64` words as i64, `u128` as i128), trapping
    /// with `overflow` outside the signed range.
    AddSigned(Var, Var),
    /// `a − b` of two's-complement values, trapping with `overflow` outside the signed range.
    SubSigned(Var, Var),
    /// `−a` of a two's-complement value, trapping with `overflow` on the most negative value.
    Neg(Var),
    /// `(a × b) / c` of i64 values with an i128 intermediate, truncated toward zero; `c = 0`
    /// aborts, a result outside i64 traps `overflow`.
    MulDivSigned(Var, Var, Var),
    /// `e^(−a)` of a Q64.64 `u128` (microcode `exp_neg`: 0 from 45 up; the rounding and error
    /// bound of `curvevm::fixed::exp_neg`).
    ExpNeg(Var),
    /// `ln a` of a Q64.64 `u128 ≥ 1` (microcode `ln`; below 1 aborts `ln_domain`).
    Ln(Var),
}

/// A condition over `u64` variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    /// `a < b`.
    Lt(Var, Var),
    /// `a ≤ b`.
    Le(Var, Var),
    /// `a < b` as i64 (two's complement).
    LtSigned(Var, Var),
    /// `a ≤ b` as i64 (two's complement).
    LeSigned(Var, Var),
    /// `a = b`.
    Eq(Var, Var),
    /// `a ≠ b`.
    Ne(Var, Var),
    /// `a = 0`.
    Zero(Var),
    /// `a ≠ 0`.
    NonZero(Var),
}

impl Cond {
    /// The condition that holds exactly when this one does not.
    pub fn negate(self) -> Cond {
        match self {
            Cond::Lt(a, b) => Cond::Le(b, a),
            Cond::Le(a, b) => Cond::Lt(b, a),
            Cond::LtSigned(a, b) => Cond::LeSigned(b, a),
            Cond::LeSigned(a, b) => Cond::LtSigned(b, a),
            Cond::Eq(a, b) => Cond::Ne(a, b),
            Cond::Ne(a, b) => Cond::Eq(a, b),
            Cond::Zero(a) => Cond::NonZero(a),
            Cond::NonZero(a) => Cond::Zero(a),
        }
    }

    /// The variables it reads.
    pub fn operands(self) -> Vec<Var> {
        match self {
            Cond::Lt(a, b)
            | Cond::Le(a, b)
            | Cond::LtSigned(a, b)
            | Cond::LeSigned(a, b)
            | Cond::Eq(a, b)
            | Cond::Ne(a, b) => vec![a, b],
            Cond::Zero(a) | Cond::NonZero(a) => vec![a],
        }
    }
}

/// Where a statement comes from: a named step of a template and, when a script statement
/// configures it, that statement's keyword (the source map resolves it to a script span).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// `template.entry/step`, e.g. `oracle.update/quorum`.
    pub step: &'static str,
    /// The script keyword whose values this step uses, e.g. `SIGNERS`.
    pub keyword: Option<&'static str>,
}

/// A statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    /// `var ← value`.
    Assign(Var, Rvalue),
    /// `addr ← var`.
    Store(Addr, Var),
    /// A conditional.
    If {
        /// The condition.
        cond: Cond,
        /// Run when it holds.
        then_body: Vec<Stmt>,
        /// Run when it does not.
        else_body: Vec<Stmt>,
    },
    /// `for index in 0..count { body }`, `count` a `u64` variable the VM checks against `max`
    /// first (aborting with `code` above it); `max` bounds the gas analysis.
    Loop {
        /// The loop index (a `u64` variable, 0-based).
        index: Var,
        /// The iteration count.
        count: Var,
        /// The static bound on `count`.
        max: u32,
        /// Abort code when `count > max`.
        code: u8,
        /// The body.
        body: Vec<Stmt>,
    },
    /// Abort with `code` unless `cond` holds: a runtime guard, never a proven property.
    Guard {
        /// What must hold.
        cond: Cond,
        /// The abort code when it does not.
        code: u8,
        /// What the guard protects, for the manifest (e.g. `signatures ≥ quorum`).
        what: &'static str,
    },
    /// A host call: `args` into r1…, results from r1/r2 into `results`.
    Host {
        /// Host function id.
        id: u16,
        /// Argument variables (`u64`).
        args: Vec<Var>,
        /// Result variables (`u64`).
        results: Vec<Var>,
        /// The largest value of the register the function's gas formula scales with.
        units_max: u64,
    },
    /// A cross-program call (`host invoke`): entrypoint `entry` (its index in the callee's
    /// table) of program `program`, with the `arg_words` words at `args_at` as arguments, its
    /// return words written at `ret_at`, the callee's interface hash pinned by the four words
    /// at `interface_at`. The callee may use at most `gas_max` gas (the VM enforces it), and the
    /// static bound counts all of it. `status` gets 0 or the callee's trap class, `detail` the
    /// trap's detail (`curvevm/SPEC.md` §8).
    Invoke(Invoke),
    /// A call of an internal subroutine (VM `call`/`ret`): `args` are copied into its
    /// parameters, `results` out of its results when it returns. Its static gas is its bound,
    /// found callee first along the call graph; recursion does not lower.
    Call {
        /// The subroutine's name.
        subroutine: String,
        /// The caller's variables passed in, one per parameter (same types).
        args: Vec<Var>,
        /// The caller's variables receiving the results, one per result (same types).
        results: Vec<Var>,
    },
    /// Return from the entrypoint or subroutine (an entrypoint's return words are whatever was
    /// stored in `ret`).
    Return,
    /// Following statements come from this origin.
    At(Origin),
}

/// A cross-program call: see [`Stmt::Invoke`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invoke {
    /// The callee's program id (`u64`).
    pub program: Var,
    /// The entrypoint's index in the callee's table.
    pub entry: u16,
    /// Where the argument words are.
    pub args_at: (Segment, u32),
    /// How many argument words.
    pub arg_words: u16,
    /// Where the return words go.
    pub ret_at: (Segment, u32),
    /// Where the pinned interface hash (4 words) is.
    pub interface_at: (Segment, u32),
    /// The most gas the callee may use.
    pub gas_max: u64,
    /// 0 when the callee returned, else its trap class (`u64`).
    pub status: Var,
    /// The trap's detail (`u64`).
    pub detail: Var,
}

/// One entrypoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// Entrypoint name.
    pub name: String,
    /// Argument words.
    pub args: u16,
    /// Return words.
    pub ret: u16,
    /// Variable types, indexed by [`Var`], with names for the text form.
    pub vars: Vec<(String, Ty)>,
    /// The body; falling off its end returns.
    pub body: Vec<Stmt>,
}

/// An internal subroutine: a function (its `args` and `ret` are 0) with its parameter and
/// result variables. It has its own frame of scratch slots, disjoint from every other
/// function's, so a call never clobbers its caller's variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subroutine {
    /// The body and variables.
    pub function: Function,
    /// Parameters, in call order.
    pub params: Vec<Var>,
    /// Results, in call order.
    pub results: Vec<Var>,
}

impl Subroutine {
    /// The subroutine built by `b`, taking `params` and giving `results` (variables of `b`).
    pub fn new(b: FunctionBuilder, params: &[Var], results: &[Var]) -> Subroutine {
        Subroutine {
            function: b.finish(),
            params: params.to_vec(),
            results: results.to_vec(),
        }
    }
}

/// A program: entrypoints plus the segment sizes and capabilities the module declares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    /// Entrypoints, in order.
    pub functions: Vec<Function>,
    /// Internal subroutines the entrypoints call (placed after them).
    pub subroutines: Vec<Subroutine>,
    /// Parameter-table words.
    pub params: u32,
    /// Slab words.
    pub slab: u32,
    /// Scratch words the templates address directly (buffers); variables are placed after them.
    pub scratch_reserved: u32,
    /// Host capabilities the program declares.
    pub capabilities: CapabilitySet,
    /// Account views (other programs' state the runtime maps), `view0` first.
    pub views: Vec<ViewDecl>,
}

/// Builds a [`Function`] statement by statement; nested bodies are built with closures.
pub struct FunctionBuilder {
    function: Function,
    stack: Vec<Vec<Stmt>>,
}

impl FunctionBuilder {
    /// A function `name(args) -> ret`.
    pub fn new(name: &str, args: u16, ret: u16) -> FunctionBuilder {
        FunctionBuilder {
            function: Function {
                name: name.into(),
                args,
                ret,
                vars: Vec::new(),
                body: Vec::new(),
            },
            stack: vec![Vec::new()],
        }
    }

    /// A new variable.
    pub fn var(&mut self, name: &str, ty: Ty) -> Var {
        self.function.vars.push((name.into(), ty));
        Var(self.function.vars.len() as u32 - 1)
    }

    /// A new variable assigned `value`.
    pub fn let_(&mut self, name: &str, ty: Ty, value: Rvalue) -> Var {
        let var = self.var(name, ty);
        self.push(Stmt::Assign(var, value));
        var
    }

    /// A new `u64` variable holding a template constant.
    pub fn constant(&mut self, name: &str, value: u64) -> Var {
        self.let_(name, Ty::U64, Rvalue::Const(u128::from(value)))
    }

    /// Appends a statement.
    pub fn push(&mut self, stmt: Stmt) {
        self.stack
            .last_mut()
            .expect("the builder always has an open body")
            .push(stmt);
    }

    /// Following statements come from `step` (configured by `keyword`).
    pub fn at(&mut self, step: &'static str, keyword: Option<&'static str>) {
        self.push(Stmt::At(Origin { step, keyword }));
    }

    /// One named step of a template (`oracle.update/price-range`), configured by the script
    /// statement `keyword`: `body` emits it (and returns what later steps use), and every
    /// instruction it lowers to maps back to the step (and the keyword's script line) in the
    /// source map.
    pub fn step<T>(
        &mut self,
        step: &'static str,
        keyword: Option<&'static str>,
        body: impl FnOnce(&mut FunctionBuilder) -> T,
    ) -> T {
        self.at(step, keyword);
        body(self)
    }

    /// `name ← load addr`, a `u64`.
    pub fn load(&mut self, name: &str, addr: Addr) -> Var {
        self.let_(name, Ty::U64, Rvalue::Load(addr))
    }

    /// `name ← a + b` (checked), of `a`'s type.
    pub fn add(&mut self, name: &str, a: Var, b: Var) -> Var {
        let ty = self.ty(a);
        self.let_(name, ty, Rvalue::Add(a, b))
    }

    /// `name ← a − b` (checked), of `a`'s type.
    pub fn sub(&mut self, name: &str, a: Var, b: Var) -> Var {
        let ty = self.ty(a);
        self.let_(name, ty, Rvalue::Sub(a, b))
    }

    /// The type of a variable of this function.
    ///
    /// # Panics
    /// If `var` is not one of its variables (a template bug).
    pub fn ty(&self, var: Var) -> Ty {
        self.function.vars[var.0 as usize].1
    }

    /// `var ← value`.
    pub fn assign(&mut self, var: Var, value: Rvalue) {
        self.push(Stmt::Assign(var, value));
    }

    /// `addr ← var`.
    pub fn store(&mut self, addr: Addr, var: Var) {
        self.push(Stmt::Store(addr, var));
    }

    /// A guard.
    pub fn guard(&mut self, cond: Cond, code: u8, what: &'static str) {
        self.push(Stmt::Guard { cond, code, what });
    }

    /// A host call.
    pub fn host(&mut self, id: u16, args: &[Var], results: &[Var], units_max: u64) {
        self.push(Stmt::Host {
            id,
            args: args.to_vec(),
            results: results.to_vec(),
            units_max,
        });
    }

    /// A call of subroutine `name`: `args` in, `results` out.
    pub fn call(&mut self, name: &str, args: &[Var], results: &[Var]) {
        self.push(Stmt::Call {
            subroutine: name.into(),
            args: args.to_vec(),
            results: results.to_vec(),
        });
    }

    /// A cross-program call.
    pub fn invoke(&mut self, invoke: Invoke) {
        self.push(Stmt::Invoke(invoke));
    }

    /// Return now.
    pub fn ret(&mut self) {
        self.push(Stmt::Return);
    }

    fn body(&mut self, build: impl FnOnce(&mut FunctionBuilder)) -> Vec<Stmt> {
        self.stack.push(Vec::new());
        build(self);
        self.stack.pop().expect("pushed above")
    }

    /// `if cond { then } else { otherwise }`.
    pub fn if_else(
        &mut self,
        cond: Cond,
        then: impl FnOnce(&mut FunctionBuilder),
        otherwise: impl FnOnce(&mut FunctionBuilder),
    ) {
        let then_body = self.body(then);
        let else_body = self.body(otherwise);
        self.push(Stmt::If {
            cond,
            then_body,
            else_body,
        });
    }

    /// `if cond { then }`.
    pub fn if_(&mut self, cond: Cond, then: impl FnOnce(&mut FunctionBuilder)) {
        self.if_else(cond, then, |_| {});
    }

    /// `for index in 0..count (count ≤ max, else abort code) { body(index) }`.
    pub fn for_each(
        &mut self,
        count: Var,
        max: u32,
        code: u8,
        body: impl FnOnce(&mut FunctionBuilder, Var),
    ) {
        let index = self.var("i", Ty::U64);
        let body = self.body(|b| body(b, index));
        self.push(Stmt::Loop {
            index,
            count,
            max,
            code,
            body,
        });
    }

    /// The finished function.
    pub fn finish(mut self) -> Function {
        self.function.body = self.stack.pop().expect("the root body");
        self.function
    }
}
