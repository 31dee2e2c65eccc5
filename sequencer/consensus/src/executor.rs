//! The seam between ordering and execution: decided blocks go to an [`Executor`], whose batch
//! headers come back as [`Input::Executed`] for the replica to attest.

use crate::core::{DecidedBlock, Input};
use curve_formats::batch::BatchHeader;

/// Applies decided blocks in height order (the rollup runtime in a node, a hash chain in the
/// simulator). It keeps its own durable state; after a restart the core re-announces every
/// decided height above [`Executor::executed_height`].
pub trait Executor {
    /// The last height applied (0 before any).
    fn executed_height(&self) -> u64;
    /// Applies `block`, whose height is `executed_height() + 1`, and returns the header of the
    /// executed batch (its height, the roots before and after, the payout tree).
    fn execute(&mut self, block: &DecidedBlock) -> BatchHeader;
}

/// Runs the blocks of one [`crate::Action::Decided`] that `executor` has not applied yet and
/// returns the [`Input::Executed`] to feed back into the core, in order. Heights already applied
/// (re-announced after a restart) are skipped.
pub fn execute_decided<E: Executor + ?Sized>(
    executor: &mut E,
    blocks: &[DecidedBlock],
) -> Vec<Input> {
    let mut executed = Vec::new();
    for block in blocks {
        if block.height == executor.executed_height() + 1 {
            let header = executor.execute(block);
            executed.push(Input::Executed { header });
        }
    }
    executed
}
