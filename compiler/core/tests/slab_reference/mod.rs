//! The slab's plain-Rust reference model (written from the slab's README and percolator.md
//! alone, by someone who had not read the template) and the state both sides describe. It
//! exists only for the differential tests.
#![allow(dead_code)]

pub mod reference;
pub mod state;
