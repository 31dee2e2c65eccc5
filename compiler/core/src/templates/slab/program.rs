//! The SLAB program of a layout: its entrypoints in the interface's order, the level walk as a
//! subroutine, the parameter table's size and the capabilities it declares.

use curve_ir::ir::Program;
use curvevm::hostcall::{Capability, CapabilitySet};

use super::book::{self, SlabTables};
use curvevm::module::ViewDecl;

use super::{Mutation, SlabLayout, commit, funding, guard, hold, liquidation, maker, params};
use crate::templates::oracle;

/// The SLAB program for `layout` (the same for every parameter set of it).
pub fn program(layout: &SlabLayout) -> Program {
    build(SlabTables::new(layout, Mutation::None))
}

/// The program with a planted bug (mutation tests only).
#[cfg(feature = "planted-mutations")]
pub fn program_with_mutation(layout: &SlabLayout, mutation: Mutation) -> Program {
    build(SlabTables::new(layout, mutation))
}

fn build(t: SlabTables) -> Program {
    let layout_words = t.words;
    Program {
        functions: vec![
            hold::reserve(&t),
            commit::commit(&t),
            hold::cancel(&t),
            maker::place_order(&t),
            maker::cancel_order(&t),
            maker::batch_open(&t),
            liquidation::liquidation_call(&t),
            maker::account(&t),
            maker::set_maker_class(&t),
            maker::exposure(&t),
            guard::band(&t),
            guard::set_fee_caps(&t),
            funding::apply_funding(&t),
            liquidation::cover_bad_debt(&t),
        ],
        subroutines: vec![
            book::find_level_subroutine(&t),
            hold::walk_subroutine(&t),
            commit::find_position_subroutine(&t),
            commit::apply_fill_subroutine(&t),
            commit::risk_subroutine(&t),
            commit::position_value_subroutine(&t),
            guard::ledger_subroutine(&t),
            funding::apply_subroutine(&t),
            liquidation::sweep_subroutine(&t),
        ],
        params: params::PARAM_NAMES.len() as u32,
        slab: layout_words,
        scratch_reserved: guard::SCRATCH_WORDS,
        // SHA-256 opens commitments (M6); a liquidation reads the escrow it may take (L2).
        capabilities: CapabilitySet::of(&[
            Capability::Clock,
            Capability::EscrowRead,
            Capability::EscrowDebit,
            Capability::Sha256,
        ]),
        // One read-only view of each distinct oracle's state, for the marks.
        views: vec![
            ViewDecl {
                words: oracle::state::WORDS,
                writable: false,
            };
            t.views as usize
        ],
    }
}
