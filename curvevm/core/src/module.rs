//! The module: bytecode plus everything a loader needs (segment layout, entrypoints, microcode
//! placements), in the canonical encoding of `curve-formats`.
//!
//! ```text
//! magic "CVM\x01" | capabilities u32 | layout | entries: seq<Entry> | microcode: seq<Placement>
//!                  | code: seq<u64>
//! layout  = params u32 | args u32 | ret u32 | scratch u32 | slab u32 | views: seq<View>
//! View    = words u32 | writable bool
//! Entry   = name: seq<u8> (1..=32 bytes, [A-Za-z_][A-Za-z0-9_]*) | pc u32 | args u16 | ret u16
//! Placement = routine u16 | pc u32
//! ```
//!
//! Decoding checks structure only (bounds on every count); [`crate::verify`] checks meaning.

use crate::hostcall::CapabilitySet;
use curve_formats::encoding::{
    Decode, DecodeError, DecodeErrorKind, Encode, Reader, decode_seq, encode_seq,
};

/// The first four bytes of every module (version 1).
pub const MAGIC: [u8; 4] = *b"CVM\x01";
/// Maximum words of the parameter segment.
pub const MAX_PARAMS_WORDS: u32 = 65_536;
/// Maximum words of the argument segment.
pub const MAX_ARGS_WORDS: u32 = 256;
/// Maximum words of the return segment.
pub const MAX_RET_WORDS: u32 = 256;
/// Maximum words of the scratch segment (512 KiB).
pub const MAX_SCRATCH_WORDS: u32 = 65_536;
/// Maximum words of the slab segment (10 MiB).
pub const MAX_SLAB_WORDS: u32 = 1_310_720;
/// Maximum words of one account view (10 MiB).
pub const MAX_VIEW_WORDS: u32 = 1_310_720;
/// Maximum account views.
pub const MAX_VIEWS: usize = 8;
/// Maximum entrypoints.
pub const MAX_ENTRIES: u32 = 256;
/// Maximum entrypoint name length in bytes.
pub const MAX_ENTRY_NAME: u32 = 32;
/// Maximum microcode placements.
pub const MAX_PLACEMENTS: u32 = 64;

/// Declared size and access of one host-mapped account view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewDecl {
    /// Size in words; the host must map exactly this many.
    pub words: u32,
    /// Whether STORE may write it.
    pub writable: bool,
}

/// Segment sizes in words.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Parameter table.
    pub params: u32,
    /// Arguments (an entry's arguments fill the front, the rest is zero).
    pub args: u32,
    /// Return words.
    pub ret: u32,
    /// Scratch.
    pub scratch: u32,
    /// Slab.
    pub slab: u32,
    /// Account views, `view0` first.
    pub views: Vec<ViewDecl>,
}

/// One entrypoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Name callers select it by.
    pub name: String,
    /// First instruction.
    pub pc: u32,
    /// Number of argument words a call must supply.
    pub args: u16,
    /// Number of return words the caller receives.
    pub ret: u16,
}

/// A microcode routine placed in the code; the verifier checks the bytes are its exact expansion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Routine id (index in [`crate::microcode::ROUTINES`]).
    pub routine: u16,
    /// Its first instruction.
    pub pc: u32,
}

/// A module as stored and hashed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Module {
    /// The host-call capabilities its code may use (checked at load against what the host grants
    /// the module's role, and at every host call).
    pub capabilities: CapabilitySet,
    /// Segment sizes.
    pub layout: Layout,
    /// Entrypoints.
    pub entries: Vec<Entry>,
    /// Microcode placements.
    pub microcode: Vec<Placement>,
    /// Instruction words.
    pub code: Vec<u64>,
}

impl Module {
    /// The entrypoint called `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.name == name)
    }
}

impl Encode for ViewDecl {
    fn encode(&self, out: &mut Vec<u8>) {
        self.words.encode(out);
        self.writable.encode(out);
    }
}

impl Decode for ViewDecl {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ViewDecl {
            words: u32::decode(reader)?,
            writable: bool::decode(reader)?,
        })
    }
}

impl Encode for Layout {
    fn encode(&self, out: &mut Vec<u8>) {
        for words in [self.params, self.args, self.ret, self.scratch, self.slab] {
            words.encode(out);
        }
        encode_seq(&self.views, out);
    }
}

impl Decode for Layout {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Layout {
            params: u32::decode(reader)?,
            args: u32::decode(reader)?,
            ret: u32::decode(reader)?,
            scratch: u32::decode(reader)?,
            slab: u32::decode(reader)?,
            views: decode_seq(reader, MAX_VIEWS as u32)?,
        })
    }
}

impl Encode for Entry {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_seq(self.name.as_bytes(), out);
        self.pc.encode(out);
        self.args.encode(out);
        self.ret.encode(out);
    }
}

impl Decode for Entry {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = reader.offset();
        let bytes: Vec<u8> = decode_seq(reader, MAX_ENTRY_NAME)?;
        // Names are identifiers: ASCII, so the bytes are valid UTF-8 by construction.
        if !is_identifier(&bytes) {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::NonZeroReserved,
            });
        }
        Ok(Entry {
            name: bytes.iter().map(|&b| char::from(b)).collect(),
            pc: u32::decode(reader)?,
            args: u16::decode(reader)?,
            ret: u16::decode(reader)?,
        })
    }
}

/// Whether `bytes` is `[A-Za-z_][A-Za-z0-9_]*` (non-empty).
pub fn is_identifier(bytes: &[u8]) -> bool {
    match bytes.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphabetic() || *first == b'_')
                && rest.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }
        None => false,
    }
}

impl Encode for Placement {
    fn encode(&self, out: &mut Vec<u8>) {
        self.routine.encode(out);
        self.pc.encode(out);
    }
}

impl Decode for Placement {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Placement {
            routine: u16::decode(reader)?,
            pc: u32::decode(reader)?,
        })
    }
}

impl Encode for Module {
    fn encode(&self, out: &mut Vec<u8>) {
        MAGIC.encode(out);
        self.capabilities.0.encode(out);
        self.layout.encode(out);
        encode_seq(&self.entries, out);
        encode_seq(&self.microcode, out);
        encode_seq(&self.code, out);
    }
}

impl Decode for Module {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if reader.array::<4>()? != MAGIC {
            return Err(DecodeError {
                offset: 0,
                kind: DecodeErrorKind::BadMagic,
            });
        }
        let at = reader.offset();
        let capabilities = u32::decode(reader)?;
        if capabilities & !CapabilitySet::VALID_BITS != 0 {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::NonZeroReserved,
            });
        }
        Ok(Module {
            capabilities: CapabilitySet(capabilities),
            layout: Layout::decode(reader)?,
            entries: decode_seq(reader, MAX_ENTRIES)?,
            microcode: decode_seq(reader, MAX_PLACEMENTS)?,
            code: decode_seq(reader, crate::isa::MAX_CODE_WORDS)?,
        })
    }
}
