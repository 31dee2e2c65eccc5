//! The sequencer's consensus core: chained HotStuff-2 (the Jolteon / HotShot 2-chain variant) as
//! a pure state machine.
//!
//! [`Core::step`] takes one [`Input`] (a peer's message, a timer, a transaction, an executed
//! height) and returns the [`Action`]s the driver must perform, in order: persist records (a
//! synced persist is a barrier: nothing after it may happen until it is durable), send or
//! broadcast messages, set the one view timer, execute decided blocks, publish anchor
//! certificates, raise alarms. The core has no async runtime, sockets, disk, clock or randomness;
//! the node (tokio, libp2p, RocksDB) and the deterministic simulator are two drivers of the same
//! code.
//!
//! The protocol, for a committee of n = 3f + 1 replicas with round-robin leaders:
//! - the leader of view v proposes a block extending its highest QC, with the TC of v − 1 when
//!   v − 1 produced no QC;
//! - a replica votes once per view, only in its current view, only for a proposal whose justify
//!   is from v − 1 or is at least as high as every QC reported in the TC (the lock), and only
//!   after persisting that it voted; the vote goes to the leader of v + 1;
//! - a quorum (⌊2n/3⌋ + 1 = 2f + 1) of votes is a QC; a block certified in view v whose child is
//!   certified in view v + 1 is decided with all its ancestors (2-chain rule);
//! - a replica whose view timer fires persists that it gave up on the view, then broadcasts a
//!   timeout with its highest QC; 2f + 1 timeouts are a TC; f + 1 make others join; the timer
//!   doubles from the second consecutive failed view on and resets on progress;
//! - missing ancestors are fetched by hash from the peer that referred to them, then from the
//!   others in turn;
//! - optionally (a node's setting; 0 in the simulator), a leader whose block is not full waits
//!   up to a block interval from entering its view, and one with nothing to propose or decide
//!   waits an idle delay, asking the driver to wake it ([`Action::Wake`]);
//! - decided blocks (with the leader's timestamp, the rollup's only clock) go to an
//!   [`Executor`]; every `attest_every` heights each replica signs the batch header it computed
//!   (`Tag(BatchHeader) ‖ header`, what the Anchor program's `post_batch` verifies); 2f + 1
//!   signatures on one header form an [`AnchorCertificate`].
//!
//! Messages with bad signatures, from non-members, for far-future views, duplicated or oversized
//! are ignored; safety never depends on the network.

mod checkpoint;
mod committee;
mod core;
mod executor;
pub mod fuzz;
pub mod record;
pub mod types;

pub use crate::checkpoint::{Checkpoint, CheckpointError};
pub use crate::committee::{Committee, CommitteeError, ConsensusKey, Ed25519Verifier, Verifier};
pub use crate::core::{
    Action, Alarm, Config, Core, DecidedBlock, FUTURE_VIEWS, Input, Mutation,
    RECENTLY_DECIDED_HEIGHTS, RestoreError, Status, VIEW_LIMIT,
};
pub use crate::executor::{Executor, execute_decided};
pub use crate::record::{Record, SafetyState};
pub use crate::types::{
    AnchorCertificate, Block, CertifiedBlock, Hash, Message, Proposal, QuorumCert, ReplicaId,
    Signature, SignedAttestation, Timeout, TimeoutCert, TimeoutShare, View, Vote, tx_digest,
};
