//! The chain's programs as `invoke` reaches them ([`ChainPrograms`]): who is running, whose state
//! is lent as a view, what the transaction declared.
//!
//! A running program is taken out of the program map (its instance moves into the call; its
//! record waits in `parked`), so a program can be neither invoked twice nor mapped while it
//! runs. Mapping a view lends the mapped program's slab words to the caller's view segment — a
//! move, the same cost for 1 KiB and 10 MiB — and the mapped program cannot run or be mapped
//! again until the words come back. Pages written through a writable view join the mapped
//! program's dirty pages, so they feed the state root like its own writes.

use std::collections::{BTreeMap, BTreeSet};

use curvevm::Segment;
use curvevm::hostcall::Refusal;
use curvevm::memory::CommittedPages;
use curvevm_host::{Callee, Caller, Programs, SlabId};

use crate::templates::Approved;
use crate::{LiveProgram, ProgramId, ProgramRecord, protocol, registry};

/// A running program's record while its instance is in the call.
struct Parked {
    record: ProgramRecord,
    approved: &'static Approved,
    trap_sites: curve_compiler::manifest::TrapSites,
}

/// The chain's programs during one transaction's call tree.
pub(crate) struct ChainPrograms<'a> {
    programs: &'a mut BTreeMap<ProgramId, LiveProgram>,
    /// The programs the transaction may reach (its access list and the called program).
    access: &'a BTreeSet<ProgramId>,
    parked: BTreeMap<ProgramId, Parked>,
    /// Programs whose slab is mapped as a view in the running call tree.
    lent: BTreeSet<ProgramId>,
}

impl<'a> ChainPrograms<'a> {
    pub(crate) fn new(
        programs: &'a mut BTreeMap<ProgramId, LiveProgram>,
        access: &'a BTreeSet<ProgramId>,
    ) -> ChainPrograms<'a> {
        ChainPrograms {
            programs,
            access,
            parked: BTreeMap::new(),
            lent: BTreeSet::new(),
        }
    }

    /// Why program `id` cannot be taken now, if it cannot.
    pub(crate) fn check(&self, id: ProgramId) -> Result<(), Refusal> {
        if self.parked.contains_key(&id) {
            return Err(Refusal::ProgramInUse);
        }
        let live = self.programs.get(&id).ok_or(Refusal::UnknownProgram)?;
        if !self.access.contains(&id) {
            return Err(Refusal::UndeclaredProgram);
        }
        if self.lent.contains(&id) {
            return Err(Refusal::ProgramInUse);
        }
        for target in &live.record.views {
            if !self.access.contains(target) {
                return Err(Refusal::UndeclaredProgram);
            }
            if self.parked.contains_key(target) || self.lent.contains(target) {
                return Err(Refusal::ProgramInUse);
            }
        }
        Ok(())
    }
}

impl Programs for ChainPrograms<'_> {
    fn take(&mut self, id: SlabId) -> Result<Callee, Refusal> {
        self.check(id)?;
        let LiveProgram {
            record,
            approved,
            instance,
            trap_sites,
        } = self.programs.remove(&id).expect("checked");
        let views = record
            .views
            .iter()
            .map(|target| {
                self.lent.insert(*target);
                let mapped = self.programs.get_mut(target).expect("bound views exist");
                mapped.instance.memory().lend(Segment::Slab)
            })
            .collect();
        let callee = Callee {
            instance,
            caller: Caller {
                id,
                role: approved.role,
            },
            interface_hash: approved.descriptor_hash,
            views,
        };
        self.parked.insert(
            id,
            Parked {
                record,
                approved,
                trap_sites,
            },
        );
        Ok(callee)
    }

    fn put(&mut self, id: SlabId, mut callee: Callee) {
        let Parked {
            record,
            approved,
            trap_sites,
        } = self.parked.remove(&id).expect("taken before");
        for (index, (target, words)) in record.views.iter().zip(callee.views).enumerate() {
            let segment = Segment::View(index as u8);
            let written = callee.instance.memory().take_dirty_pages_of(segment);
            let mapped = self.programs.get_mut(target).expect("bound views exist");
            mapped.instance.memory().give_back(Segment::Slab, words);
            mapped.instance.memory().mark_dirty(Segment::Slab, written);
            self.lent.remove(target);
        }
        self.programs.insert(
            id,
            LiveProgram {
                record,
                approved,
                instance: callee.instance,
                trap_sites,
            },
        );
    }

    fn restore(&mut self, id: SlabId, pages: CommittedPages) {
        // A frame restores when its own call ends, after every program it reached is back.
        if let Some(live) = self.programs.get_mut(&id) {
            live.instance.memory().restore(pages);
        }
    }

    fn may_invoke(&self, caller: Caller, callee: Caller, entry: &str) -> bool {
        let probe = |id| self.parked.get(&id).is_some_and(|p| p.approved.dev_only);
        if probe(caller.id) || probe(callee.id) {
            registry::may_invoke_probe(caller.role, callee.role, entry)
        } else {
            registry::may_invoke(caller.role, callee.role, entry)
        }
    }

    fn gas_bound(&self, id: SlabId, entry: &str) -> u64 {
        let approved = match self.parked.get(&id) {
            Some(parked) => parked.approved,
            None => match self.programs.get(&id) {
                Some(live) => live.approved,
                None => return 0,
            },
        };
        protocol::entry_budget(&approved.template, entry).unwrap_or(0)
    }
}
