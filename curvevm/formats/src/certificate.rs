//! The invariant certificate's statement (version 2): condition rows, size classes, and the
//! three hashes a Groth16 certificate binds as public inputs.
//!
//! A program's **parameter table** is `n` little-endian `u64` words (`params.bin`). Its
//! **condition rows** say what must hold of the table; each row is `(kind, i, j, bits)`:
//!
//! | kind | code | holds when |
//! |---|---|---|
//! | `NOP` | 0 | always (padding) |
//! | `RANGE` | 1 | `p[i] < 2^bits` |
//! | `LE` | 2 | `p[i] ≤ p[j]` |
//! | `ADD_NO_OVF` | 3 | `p[i] + p[j] < 2^bits` |
//! | `MUL_NO_OVF` | 4 | `p[i] × p[j] < 2^bits` |
//!
//! with `i, j < n` and `bits ≤ 128` for every row but `NOP`. A row packs into 48 bits:
//! `kind | i << 8 | j << 24 | bits << 40`; the canonical form of a row zeroes the fields its
//! kind does not read.
//!
//! A **size class** `(P, V)` fixes the circuit: at most `P` parameters and `V` rows. Tables and
//! row lists are padded (zero words, `NOP` rows) to the class, so the hashes depend on the class:
//!
//! * `H_params = Poseidon_Params([n, e_0, …])`, three padded words per element
//!   (`e = p_0 + 2^64 p_1 + 2^128 p_2`);
//! * `H_conditions = Poseidon_Conditions([m, f_0, …])`, five padded rows per element
//!   (`f = r_0 + 2^48 r_1 + …`);
//! * `H_code` = the program identity hash over the code, descriptor and layout hashes
//!   ([`crate::program::ProgramIdentity`]; version 1 hashed the bytecode alone with Poseidon, so
//!   a certificate said nothing about the interface and layout a registry files it under).
//!
//! The public inputs are `[VERSION, H_code, H_conditions, H_params]`. The circuit proves the
//! rows hold over the table; whoever verifies recomputes all three hashes from the exact bytes
//! that will be loaded.

use crate::poseidon::{Domain, hash_fields};
use crate::program::ProgramIdentity;
use alloc::vec::Vec;
use ark_bn254::Fr;
use core::fmt;

/// The statement version, the first public input.
pub const VERSION: u64 = 2;
/// Parameter words packed into one field element.
pub const PARAMS_PER_ELEMENT: usize = 3;
/// Rows packed into one field element.
pub const ROWS_PER_ELEMENT: usize = 5;
/// Bits of one packed row.
pub const ROW_BITS: u32 = 48;
/// The widest `bits` a row may name.
pub const MAX_BITS: u8 = 128;
/// Number of public inputs.
pub const PUBLIC_INPUTS: usize = 4;

/// A size class: the circuit shape one set of keys serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SizeClass {
    /// 16 parameters × 16 rows.
    C16,
    /// 64 parameters × 64 rows.
    C64,
    /// 256 parameters × 256 rows.
    C256,
}

impl SizeClass {
    /// Every class, smallest first.
    pub const ALL: [SizeClass; 3] = [SizeClass::C16, SizeClass::C64, SizeClass::C256];

    /// Parameter slots `P`.
    pub const fn params(self) -> usize {
        match self {
            SizeClass::C16 => 16,
            SizeClass::C64 => 64,
            SizeClass::C256 => 256,
        }
    }

    /// Row slots `V`.
    pub const fn rows(self) -> usize {
        self.params()
    }

    /// Bits of an index below `P`.
    pub const fn index_bits(self) -> u32 {
        self.params().trailing_zeros()
    }

    /// `"16x16"`.
    pub const fn name(self) -> &'static str {
        match self {
            SizeClass::C16 => "16x16",
            SizeClass::C64 => "64x64",
            SizeClass::C256 => "256x256",
        }
    }

    /// The class called `name`.
    pub fn from_name(name: &str) -> Option<SizeClass> {
        SizeClass::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The smallest class that holds `params` parameters and `rows` rows.
    pub fn smallest_for(params: usize, rows: usize) -> Option<SizeClass> {
        SizeClass::ALL
            .into_iter()
            .find(|c| params <= c.params() && rows <= c.rows())
    }
}

impl fmt::Display for SizeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a row checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum RowKind {
    /// Nothing (padding).
    Nop = 0,
    /// `p[i] < 2^bits`.
    Range = 1,
    /// `p[i] ≤ p[j]`.
    Le = 2,
    /// `p[i] + p[j] < 2^bits`.
    AddNoOverflow = 3,
    /// `p[i] × p[j] < 2^bits`.
    MulNoOverflow = 4,
}

impl RowKind {
    /// Every kind, in code order.
    pub const ALL: [RowKind; 5] = [
        RowKind::Nop,
        RowKind::Range,
        RowKind::Le,
        RowKind::AddNoOverflow,
        RowKind::MulNoOverflow,
    ];

    /// The kind with code `code`.
    pub fn from_code(code: u8) -> Option<RowKind> {
        RowKind::ALL.into_iter().find(|k| *k as u8 == code)
    }

    /// `"MUL_NO_OVF"`.
    pub const fn name(self) -> &'static str {
        match self {
            RowKind::Nop => "NOP",
            RowKind::Range => "RANGE",
            RowKind::Le => "LE",
            RowKind::AddNoOverflow => "ADD_NO_OVF",
            RowKind::MulNoOverflow => "MUL_NO_OVF",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<RowKind> {
        RowKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the kind reads `j`.
    pub const fn reads_j(self) -> bool {
        matches!(
            self,
            RowKind::Le | RowKind::AddNoOverflow | RowKind::MulNoOverflow
        )
    }

    /// Whether the kind reads `bits`.
    pub const fn reads_bits(self) -> bool {
        matches!(
            self,
            RowKind::Range | RowKind::AddNoOverflow | RowKind::MulNoOverflow
        )
    }
}

/// One condition row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Row {
    /// What it checks.
    pub kind: RowKind,
    /// First operand's slot.
    pub i: u16,
    /// Second operand's slot (0 when the kind reads one operand).
    pub j: u16,
    /// Width (0 when the kind reads none).
    pub bits: u8,
}

/// Why a row does not hold, or is not well formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowError {
    /// An operand names a slot at or past the table's length.
    IndexOutOfRange {
        /// The slot.
        index: u16,
        /// The table's length.
        params: usize,
    },
    /// An operand field names a slot past the size class (whatever the kind).
    OutsideClass {
        /// The slot.
        index: u16,
        /// The class.
        class: SizeClass,
    },
    /// `bits` is above [`MAX_BITS`] (whatever the kind).
    WidthTooLarge(u8),
    /// The row is well formed and false.
    Fails,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowError::IndexOutOfRange { index, params } => write!(
                f,
                "operand slot {index} is out of range (the table has {params} slots)"
            ),
            RowError::OutsideClass { index, class } => write!(
                f,
                "operand field {index} is past size class {class} ({} slots)",
                class.params()
            ),
            RowError::WidthTooLarge(bits) => {
                write!(f, "width {bits} is above the maximum {MAX_BITS}")
            }
            RowError::Fails => f.write_str("the condition does not hold"),
        }
    }
}

impl Row {
    /// The padding row.
    pub const NOP: Row = Row {
        kind: RowKind::Nop,
        i: 0,
        j: 0,
        bits: 0,
    };

    /// The row packed into its 48 bits.
    pub const fn pack(self) -> u64 {
        self.kind as u64 | (self.i as u64) << 8 | (self.j as u64) << 24 | (self.bits as u64) << 40
    }

    /// The row packed as `packed`, if that names a kind and has no bits above the 48.
    pub fn unpack(packed: u64) -> Option<Row> {
        if packed >> ROW_BITS != 0 {
            return None;
        }
        Some(Row {
            kind: RowKind::from_code(packed as u8)?,
            i: (packed >> 8) as u16,
            j: (packed >> 24) as u16,
            bits: (packed >> 40) as u8,
        })
    }

    /// The row with the fields its kind does not read set to zero.
    pub const fn canonical(self) -> Row {
        Row {
            kind: self.kind,
            i: if matches!(self.kind, RowKind::Nop) {
                0
            } else {
                self.i
            },
            j: if self.kind.reads_j() { self.j } else { 0 },
            bits: if self.kind.reads_bits() { self.bits } else { 0 },
        }
    }

    /// Checks the row over `params` (the native twin of the circuit's row check).
    pub fn holds(self, params: &[u64]) -> Result<(), RowError> {
        if self.kind == RowKind::Nop {
            return Ok(());
        }
        if self.bits > MAX_BITS {
            return Err(RowError::WidthTooLarge(self.bits));
        }
        let slot = |index: u16| {
            params
                .get(usize::from(index))
                .map(|v| u128::from(*v))
                .ok_or(RowError::IndexOutOfRange {
                    index,
                    params: params.len(),
                })
        };
        let a = slot(self.i)?;
        let b = if self.kind.reads_j() {
            slot(self.j)?
        } else {
            0
        };
        // `x < 2^bits` with `bits ≤ 128`, for x below 2^129.
        let below = |x: Option<u128>| match x {
            None => false,
            Some(x) => self.bits >= 128 || x < (1u128 << self.bits),
        };
        let holds = match self.kind {
            RowKind::Nop => true,
            RowKind::Range => below(Some(a)),
            RowKind::Le => a <= b,
            RowKind::AddNoOverflow => below(a.checked_add(b)),
            RowKind::MulNoOverflow => below(a.checked_mul(b)),
        };
        if holds { Ok(()) } else { Err(RowError::Fails) }
    }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.kind.name();
        match self.kind {
            RowKind::Nop => f.write_str(name),
            RowKind::Range => write!(f, "{name}(p{}, {})", self.i, self.bits),
            RowKind::Le => write!(f, "{name}(p{}, p{})", self.i, self.j),
            RowKind::AddNoOverflow | RowKind::MulNoOverflow => {
                write!(f, "{name}(p{}, p{}, {})", self.i, self.j, self.bits)
            }
        }
    }
}

/// Why a table and rows do not make a statement of a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementError {
    /// More parameters than the class has slots.
    TooManyParams {
        /// Parameters.
        params: usize,
        /// The class.
        class: SizeClass,
    },
    /// More rows than the class has.
    TooManyRows {
        /// Rows.
        rows: usize,
        /// The class.
        class: SizeClass,
    },
    /// No class is large enough.
    NoClass {
        /// Parameters.
        params: usize,
        /// Rows.
        rows: usize,
    },
}

impl fmt::Display for StatementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatementError::TooManyParams { params, class } => write!(
                f,
                "{params} parameters do not fit size class {class} ({} slots)",
                class.params()
            ),
            StatementError::TooManyRows { rows, class } => write!(
                f,
                "{rows} condition rows do not fit size class {class} ({} rows)",
                class.rows()
            ),
            StatementError::NoClass { params, rows } => write!(
                f,
                "no size class holds {params} parameters and {rows} condition rows (largest: {})",
                SizeClass::C256
            ),
        }
    }
}

/// The field elements `H_params` hashes: `[n, e_0, …]` over the table padded to `class`.
pub fn params_elements(class: SizeClass, params: &[u64]) -> Result<Vec<Fr>, StatementError> {
    if params.len() > class.params() {
        return Err(StatementError::TooManyParams {
            params: params.len(),
            class,
        });
    }
    let mut padded = params.to_vec();
    padded.resize(class.params(), 0);
    let mut elements = Vec::with_capacity(1 + class.params().div_ceil(PARAMS_PER_ELEMENT));
    elements.push(Fr::from(params.len() as u64));
    elements.extend(padded.chunks(PARAMS_PER_ELEMENT).map(|chunk| {
        let mut bytes = [0u8; 8 * PARAMS_PER_ELEMENT];
        for (k, word) in chunk.iter().enumerate() {
            bytes[8 * k..8 * k + 8].copy_from_slice(&word.to_le_bytes());
        }
        le_bytes_to_field(&bytes)
    }));
    Ok(elements)
}

/// The field elements `H_conditions` hashes: `[m, f_0, …]` over the rows padded to `class`.
pub fn rows_elements(class: SizeClass, rows: &[Row]) -> Result<Vec<Fr>, StatementError> {
    if rows.len() > class.rows() {
        return Err(StatementError::TooManyRows {
            rows: rows.len(),
            class,
        });
    }
    let mut padded = rows.to_vec();
    padded.resize(class.rows(), Row::NOP);
    let mut elements = Vec::with_capacity(1 + class.rows().div_ceil(ROWS_PER_ELEMENT));
    elements.push(Fr::from(rows.len() as u64));
    elements.extend(padded.chunks(ROWS_PER_ELEMENT).map(|chunk| {
        let mut bytes = [0u8; 6 * ROWS_PER_ELEMENT];
        for (k, row) in chunk.iter().enumerate() {
            bytes[6 * k..6 * k + 6].copy_from_slice(&row.pack().to_le_bytes()[..6]);
        }
        le_bytes_to_field(&bytes)
    }));
    Ok(elements)
}

fn le_bytes_to_field(bytes: &[u8]) -> Fr {
    use ark_ff::PrimeField;
    // At most 240 bits: always below the modulus, so the reduction never happens.
    Fr::from_le_bytes_mod_order(bytes)
}

/// `H_params` of `params` in `class`.
pub fn params_hash(class: SizeClass, params: &[u64]) -> Result<Fr, StatementError> {
    Ok(hash_fields(
        Domain::Params,
        &params_elements(class, params)?,
    ))
}

/// `H_conditions` of `rows` in `class`.
pub fn conditions_hash(class: SizeClass, rows: &[Row]) -> Result<Fr, StatementError> {
    Ok(hash_fields(
        Domain::Conditions,
        &rows_elements(class, rows)?,
    ))
}

/// `H_code` of a program.
pub fn program_hash(program: &ProgramIdentity) -> Fr {
    use ark_ff::PrimeField;
    // Below 2^253: the reduction never happens.
    Fr::from_le_bytes_mod_order(&program.h_code_le())
}

/// What a certificate proves: the rows hashing to `conditions` hold over the table hashing to
/// `params`, for the program whose identity hashes to `code`, in `class`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The size class (which keys verify it).
    pub class: SizeClass,
    /// `H_code`: the program identity ([`program_hash`]).
    pub code: Fr,
    /// `H_conditions`.
    pub conditions: Fr,
    /// `H_params`.
    pub params: Fr,
}

impl Statement {
    /// The statement about `program`, `params` and `rows`, in the smallest class that holds
    /// them.
    pub fn new(
        program: &ProgramIdentity,
        params: &[u64],
        rows: &[Row],
    ) -> Result<Statement, StatementError> {
        let class =
            SizeClass::smallest_for(params.len(), rows.len()).ok_or(StatementError::NoClass {
                params: params.len(),
                rows: rows.len(),
            })?;
        Statement::in_class(class, program, params, rows)
    }

    /// The statement about `program`, `params` and `rows` in `class`.
    pub fn in_class(
        class: SizeClass,
        program: &ProgramIdentity,
        params: &[u64],
        rows: &[Row],
    ) -> Result<Statement, StatementError> {
        Ok(Statement {
            class,
            code: program_hash(program),
            conditions: conditions_hash(class, rows)?,
            params: params_hash(class, params)?,
        })
    }

    /// The Groth16 public inputs, in order.
    pub fn public_inputs(&self) -> [Fr; PUBLIC_INPUTS] {
        [Fr::from(VERSION), self.code, self.conditions, self.params]
    }
}

impl Row {
    /// Checks that the row's fields fit `class` whatever its kind (the circuit range-checks
    /// every field of every row so that the packing is unambiguous), then that it holds.
    pub fn holds_in(self, class: SizeClass, params: &[u64]) -> Result<(), RowError> {
        for index in [self.i, self.j] {
            if usize::from(index) >= class.params() {
                return Err(RowError::OutsideClass { index, class });
            }
        }
        if self.bits > MAX_BITS {
            return Err(RowError::WidthTooLarge(self.bits));
        }
        self.holds(params)
    }
}

/// Checks every row over `params` in `class` (the native twin of the whole certificate
/// circuit): the first failing row's index and why.
pub fn check_rows(class: SizeClass, params: &[u64], rows: &[Row]) -> Result<(), (usize, RowError)> {
    rows.iter()
        .enumerate()
        .try_for_each(|(index, row)| row.holds_in(class, params).map_err(|e| (index, e)))
}

impl core::error::Error for RowError {}
impl core::error::Error for StatementError {}
