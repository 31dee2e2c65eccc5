//! The canonical binary encoding (version 1).
//!
//! - Unsigned integers: fixed width, little-endian (`u8`, `u16`, `u32`, `u64`, `u128`).
//! - `bool`: one byte, `0` or `1`; anything else is rejected.
//! - `[u8; N]`: the N bytes.
//! - `Option<T>`: one byte `0` (none) or `1` followed by `T`; anything else is rejected.
//! - Sequences: a `u32` little-endian count, then the items; a count above the caller's bound is
//!   rejected before anything is allocated.
//! - Structs: fields in declaration order, no padding, no field tags.
//! - A value decodes from exactly its bytes: trailing bytes are rejected.
//!
//! Each value has exactly one encoding, so `encode(decode(b)) == b` for every accepted `b`
//! (property-tested and fuzzed).

use alloc::vec::Vec;
use core::fmt;

/// Why bytes were rejected, and at which offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What is wrong.
    pub kind: DecodeErrorKind,
}

/// The kinds of decoding failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The input ended early.
    Truncated {
        /// Bytes still needed.
        needed: usize,
    },
    /// Bytes remain after the value.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A `bool` byte other than 0 or 1.
    InvalidBool(u8),
    /// An `Option` tag other than 0 or 1.
    InvalidOptionTag(u8),
    /// An enum discriminant the format does not define.
    InvalidDiscriminant(u8),
    /// A sequence count above its bound.
    LengthTooLarge {
        /// The count read.
        length: u32,
        /// The bound.
        max: u32,
    },
    /// A domain tag without the `CURV` magic.
    BadMagic,
    /// A domain tag of another kind.
    WrongKind {
        /// Expected kind byte.
        expected: u8,
        /// Found kind byte.
        found: u8,
    },
    /// A domain tag of another chain.
    WrongChain {
        /// Expected chain id.
        expected: u64,
        /// Found chain id.
        found: u64,
    },
    /// A format version this code does not read.
    UnsupportedVersion(u16),
    /// A field that must be zero for this variant is not (e.g. the origin of a withdrawal).
    NonZeroReserved,
    /// A name that is empty or not made of `[a-z0-9_]`.
    InvalidName,
    /// A sorted sequence whose items are not strictly increasing.
    Unordered,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DecodeErrorKind::Truncated { needed } => write!(
                f,
                "truncated at byte {}: {needed} more byte(s) needed",
                self.offset
            ),
            DecodeErrorKind::TrailingBytes { count } => write!(
                f,
                "{count} trailing byte(s) after the value at byte {}",
                self.offset
            ),
            DecodeErrorKind::InvalidBool(b) => {
                write!(f, "invalid bool {b:#04x} at byte {}", self.offset)
            }
            DecodeErrorKind::InvalidOptionTag(b) => {
                write!(f, "invalid option tag {b:#04x} at byte {}", self.offset)
            }
            DecodeErrorKind::InvalidDiscriminant(b) => {
                write!(f, "invalid discriminant {b:#04x} at byte {}", self.offset)
            }
            DecodeErrorKind::LengthTooLarge { length, max } => write!(
                f,
                "length {length} above the limit {max} at byte {}",
                self.offset
            ),
            DecodeErrorKind::BadMagic => {
                write!(f, "missing CURV domain tag at byte {}", self.offset)
            }
            DecodeErrorKind::WrongKind { expected, found } => write!(
                f,
                "domain tag of kind {found}, expected {expected}, at byte {}",
                self.offset
            ),
            DecodeErrorKind::WrongChain { expected, found } => write!(
                f,
                "domain tag of chain {found}, expected {expected}, at byte {}",
                self.offset
            ),
            DecodeErrorKind::UnsupportedVersion(v) => {
                write!(f, "unsupported format version {v} at byte {}", self.offset)
            }
            DecodeErrorKind::NonZeroReserved => {
                write!(f, "non-zero reserved field at byte {}", self.offset)
            }
            DecodeErrorKind::Unordered => {
                write!(f, "item out of order at byte {}", self.offset)
            }
            DecodeErrorKind::InvalidName => write!(
                f,
                "a name must be 1 to 32 bytes of [a-z0-9_], at byte {}",
                self.offset
            ),
        }
    }
}

/// A cursor over input bytes.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, offset: 0 }
    }

    /// The current offset.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// An error of `kind` at the current offset.
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset: self.offset,
            kind,
        }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let available = self.bytes.len() - self.offset;
        if available < n {
            return Err(self.error(DecodeErrorKind::Truncated {
                needed: n - available,
            }));
        }
        let slice = &self.bytes[self.offset..self.offset + n];
        self.offset += n;
        Ok(slice)
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        let count = self.bytes.len() - self.offset;
        if count == 0 {
            Ok(())
        } else {
            Err(self.error(DecodeErrorKind::TrailingBytes { count }))
        }
    }

    /// Reads a sequence count, rejecting counts above `max`.
    pub fn length(&mut self, max: u32) -> Result<usize, DecodeError> {
        let at = self.offset;
        let length = u32::decode(self)?;
        if length > max {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::LengthTooLarge { length, max },
            });
        }
        Ok(length as usize)
    }
}

/// Writes the canonical encoding.
pub trait Encode {
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The encoding as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Reads the canonical encoding.
pub trait Decode: Sized {
    /// Reads one value.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Reads one value that must span all of `bytes`.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::decode(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}

macro_rules! integer {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
        impl Decode for $t {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(<$t>::from_le_bytes(reader.array()?))
            }
        }
    )*};
}
integer!(u8, u16, u32, u64, u128);

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Decode for bool {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = reader.offset();
        match u8::decode(reader)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::InvalidBool(other),
            }),
        }
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl<const N: usize> Decode for [u8; N] {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.array()
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode(out);
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = reader.offset();
        match u8::decode(reader)? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(reader)?)),
            other => Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::InvalidOptionTag(other),
            }),
        }
    }
}

/// Little-endian bytes as words (the VM's word order for parameter tables, memory pages and
/// byte-string arguments); `None` when the length is not a whole number of words.
pub fn le_words(bytes: &[u8]) -> Option<Vec<u64>> {
    if !bytes.len().is_multiple_of(8) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|chunk| u64::from_le_bytes(chunk.try_into().expect("eight bytes")))
            .collect(),
    )
}

/// Words as little-endian bytes (the inverse of [`le_words`]).
pub fn le_bytes(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|word| word.to_le_bytes()).collect()
}

/// Encodes a sequence: `u32` count, then the items.
pub fn encode_seq<T: Encode>(items: &[T], out: &mut Vec<u8>) {
    let count = u32::try_from(items.len()).expect("sequences are bounded far below 2^32 items");
    count.encode(out);
    for item in items {
        item.encode(out);
    }
}

/// Decodes a sequence of at most `max` items.
pub fn decode_seq<T: Decode>(reader: &mut Reader<'_>, max: u32) -> Result<Vec<T>, DecodeError> {
    let count = reader.length(max)?;
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        items.push(T::decode(reader)?);
    }
    Ok(items)
}
