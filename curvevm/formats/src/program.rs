//! A program's identity (version 1): the three hashes a deployed program is known by, and the
//! field element that binds them in its invariant certificate.
//!
//! A program is its module bytes (`code_hash`, SHA-256), the interface it implements
//! (`descriptor_hash`) and its state layout (`layout_hash`). The certificate's second public input
//! `H_code` is `SHA-256(Tag(Program, ANY_CHAIN) ‖ code_hash ‖ descriptor_hash ‖ layout_hash)` read
//! as a little-endian integer with its top three bits cleared (below 2^253, so a canonical BN254
//! scalar). A proof is therefore about exactly these three hashes: filed under another program's
//! hashes it does not verify. SHA-256 rather than Poseidon, so the Anchor program recomputes the
//! input from the hashes it stores (Solana has a SHA-256 syscall, and no Poseidon with these
//! parameters).

use crate::domain::{ANY_CHAIN, Kind, Tag};
use crate::encoding::{Decode, DecodeError, Encode, Reader};
use alloc::vec::Vec;
use sha2::{Digest, Sha256};

/// The hashes a program is known by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProgramIdentity {
    /// SHA-256 of the module bytes.
    pub code_hash: [u8; 32],
    /// The interface descriptor hash.
    pub descriptor_hash: [u8; 32],
    /// The state layout hash.
    pub layout_hash: [u8; 32],
}

impl Encode for ProgramIdentity {
    fn encode(&self, out: &mut Vec<u8>) {
        self.code_hash.encode(out);
        self.descriptor_hash.encode(out);
        self.layout_hash.encode(out);
    }
}

impl Decode for ProgramIdentity {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ProgramIdentity {
            code_hash: reader.array()?,
            descriptor_hash: reader.array()?,
            layout_hash: reader.array()?,
        })
    }
}

impl ProgramIdentity {
    /// The identity of `module` bytes implementing `descriptor_hash` with `layout_hash`.
    pub fn of_module(module: &[u8], descriptor_hash: [u8; 32], layout_hash: [u8; 32]) -> Self {
        ProgramIdentity {
            code_hash: Sha256::digest(module).into(),
            descriptor_hash,
            layout_hash,
        }
    }

    /// `H_code` as 32 little-endian bytes (below 2^253).
    pub fn h_code_le(&self) -> [u8; 32] {
        let mut bytes = Tag::new(Kind::Program, ANY_CHAIN).digest(&self.to_bytes());
        bytes[31] &= 0x1f;
        bytes
    }

    /// `H_code` as 32 big-endian bytes (the `alt_bn128` public-input layout).
    pub fn h_code_be(&self) -> [u8; 32] {
        let mut bytes = self.h_code_le();
        bytes.reverse();
        bytes
    }
}
