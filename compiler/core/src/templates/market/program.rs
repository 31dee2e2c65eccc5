//! The MARKET program of a layout: its entrypoints in the interface's order, the scratch it
//! addresses and the capabilities it declares.

use curve_ir::Function;
use curve_ir::ir::Program;
use curvevm::hostcall::{Capability, CapabilitySet};

use super::{MarketLayout, Mutation, code, prior, scratch_words, trade};

/// An entrypoint of a later issue (aborts `NOT_BUILT`).
fn not_built(name: &str) -> Function {
    crate::templates::not_built(
        &crate::abi::MARKET,
        name,
        "market.not_built",
        code::NOT_BUILT,
    )
}

/// The MARKET program for `layout` (the same for every parameter set of it).
pub fn program(layout: &MarketLayout) -> Program {
    build(layout, Mutation::None)
}

/// The program with a planted bug (mutation tests only).
#[cfg(feature = "planted-mutations")]
pub fn program_with_mutation(layout: &MarketLayout, mutation: Mutation) -> Program {
    build(layout, mutation)
}

fn build(layout: &MarketLayout, mutation: Mutation) -> Program {
    Program {
        functions: vec![
            prior::open(layout, mutation),
            trade::buy(layout, mutation),
            trade::spend(layout, mutation),
            trade::sell(layout, mutation),
            trade::quote(layout, mutation),
            trade::position(layout),
            trade::summary(layout),
            not_built("place_order"),
            not_built("cancel_order"),
            not_built("clear_tick"),
            not_built("eliminate"),
            not_built("resolve"),
            not_built("redeem"),
        ],
        subroutines: Vec::new(),
        params: super::params::names(layout).len() as u32,
        slab: layout.words(),
        scratch_reserved: scratch_words(layout),
        capabilities: CapabilitySet::of(&[Capability::Clock, Capability::EscrowDebit]),
        views: Vec::new(),
    }
}
