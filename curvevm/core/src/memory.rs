//! Segmented, bounds-checked memory with a page journal.
//!
//! The first write to a page of a segment during a call records the page: persistent segments
//! (slab, views) save a copy of it so that a trap can restore it; per-call segments (ret,
//! scratch) only remember it so that the call's end can zero it. Either way the work done at the
//! end of a call is proportional to the pages it wrote, never to the size of a segment, and the
//! committed pages of persistent segments accumulate in a dirty-page set for the runtime's
//! incremental state root.

use std::collections::BTreeSet;

use crate::isa::{PAGE_WORDS, Segment};

/// A page of a segment: `(segment selector, page index)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageId {
    /// The segment.
    pub segment: Segment,
    /// Page index (`word address / PAGE_WORDS`).
    pub page: u32,
}

/// One segment's words and its journal.
#[derive(Debug, Default)]
pub struct SegmentMemory {
    pub(crate) words: Vec<u64>,
    pub(crate) writable: bool,
    persistent: bool,
    /// One bit per page: written during the current call.
    written: Vec<u64>,
    /// Pages written during the current call, in first-write order.
    pages: Vec<u32>,
    /// Saved contents of `pages` (persistent segments only), `PAGE_WORDS` each.
    saved: Vec<u64>,
    /// The pages the last committed call wrote and their contents before it (persistent
    /// segments only): what an enclosing call's rollback restores (see [`Memory::take_committed`]).
    committed_pages: Vec<u32>,
    committed_saved: Vec<u64>,
    /// Words copied into `saved` or zeroed at call end since creation (a work counter for tests).
    pub(crate) journal_words: u64,
}

impl SegmentMemory {
    pub(crate) fn new(words: Vec<u64>, writable: bool, persistent: bool) -> SegmentMemory {
        let pages = words.len().div_ceil(PAGE_WORDS as usize);
        SegmentMemory {
            words,
            writable,
            persistent,
            written: vec![0; pages.div_ceil(64)],
            pages: Vec::new(),
            saved: Vec::new(),
            committed_pages: Vec::new(),
            committed_saved: Vec::new(),
            journal_words: 0,
        }
    }

    /// The words.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Writes `value` at `address`, journaling the page on its first write in this call.
    /// The caller has checked `address < len` and writability.
    #[inline(always)]
    pub(crate) fn write(&mut self, address: usize, value: u64) {
        let page = address / PAGE_WORDS as usize;
        let (slot, bit) = (page / 64, 1u64 << (page % 64));
        if self.written[slot] & bit == 0 {
            self.first_write(page);
            self.written[slot] |= bit;
        }
        self.words[address] = value;
    }

    #[cold]
    fn first_write(&mut self, page: usize) {
        self.pages.push(page as u32);
        if self.persistent {
            let start = page * PAGE_WORDS as usize;
            let end = (start + PAGE_WORDS as usize).min(self.words.len());
            self.saved.extend_from_slice(&self.words[start..end]);
            self.journal_words += (end - start) as u64;
        }
    }

    fn page_range(&self, page: u32) -> core::ops::Range<usize> {
        let start = page as usize * PAGE_WORDS as usize;
        start..(start + PAGE_WORDS as usize).min(self.words.len())
    }

    /// Ends the call: keeps (commit) or restores (rollback) persistent pages, zeroes per-call
    /// pages, and returns the pages written.
    fn end_call(&mut self, commit: bool) -> Vec<u32> {
        if self.pages.is_empty() {
            // Nothing written (most segments of most calls): only forget an older commit.
            self.committed_pages.clear();
            self.committed_saved.clear();
            return Vec::new();
        }
        let pages = std::mem::take(&mut self.pages);
        let mut saved_at = 0;
        for &page in &pages {
            let range = self.page_range(page);
            let len = range.len();
            if self.persistent {
                if !commit {
                    self.words[range].copy_from_slice(&self.saved[saved_at..saved_at + len]);
                }
                saved_at += len;
            } else {
                self.words[range].fill(0);
                self.journal_words += len as u64;
            }
            self.written[page as usize / 64] = 0;
        }
        self.committed_pages.clear();
        if self.persistent && commit {
            // Keep the pre-images (no copy: the buffers swap) until the next call ends.
            std::mem::swap(&mut self.saved, &mut self.committed_saved);
            self.committed_pages.extend_from_slice(&pages);
        }
        self.saved.clear();
        pages
    }
}

/// Pre-images of the persistent pages one committed call wrote: `(segment, pages, the pages'
/// words before the call, concatenated)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommittedPages {
    pages: Vec<(Segment, Vec<u32>, Vec<u64>)>,
}

impl CommittedPages {
    /// How many pages it restores.
    pub fn page_count(&self) -> usize {
        self.pages.iter().map(|(_, pages, _)| pages.len()).sum()
    }
}

/// Raw view of one segment for a compiled engine: its words and its page-written bit set. Valid
/// while the memory is neither moved nor reinstalled (for the duration of one call).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct RawSegment {
    /// First word.
    pub words: *mut u64,
    /// Length in words.
    pub len: u64,
    /// One bit per page, set once the page is journaled in this call; a store to a page whose
    /// bit is clear must go through [`Memory::write`].
    pub written: *mut u64,
}

/// Every segment of one running program, indexed by selector.
#[derive(Debug, Default)]
pub struct Memory {
    /// Boxed so that an instance is a few words to move (`invoke` takes callees out of and back
    /// into the chain's program map on every call).
    pub(crate) segments: Box<[SegmentMemory; Segment::SELECTORS]>,
    dirty: BTreeSet<PageId>,
}

/// Why a memory access failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// Address past the end of the segment.
    OutOfBounds,
    /// Store to a view mapped read-only.
    ReadOnly,
}

impl Memory {
    pub(crate) fn install(&mut self, segment: Segment, memory: SegmentMemory) {
        self.segments[usize::from(segment.sel())] = memory;
    }

    /// Maps `words` as a view for one call. The page bit set is reused when the size allows, so
    /// mapping costs the same for a 1 KiB and a 10 MiB view (the words move, never copy).
    pub(crate) fn map_view(&mut self, segment: Segment, words: Vec<u64>, writable: bool) {
        let memory = self.segment_mut(segment);
        let slots = words.len().div_ceil(PAGE_WORDS as usize).div_ceil(64);
        if memory.persistent && memory.written.len() == slots && memory.pages.is_empty() {
            memory.words = words;
            memory.writable = writable;
            memory.committed_pages.clear();
            memory.committed_saved.clear();
        } else {
            self.install(segment, SegmentMemory::new(words, writable, true));
        }
    }

    pub(crate) fn segment_mut(&mut self, segment: Segment) -> &mut SegmentMemory {
        &mut self.segments[usize::from(segment.sel())]
    }

    /// The words of a segment.
    pub fn words(&self, segment: Segment) -> &[u64] {
        &self.segments[usize::from(segment.sel())].words
    }

    /// Whether stores to `segment` are allowed (`ret`, `scratch`, the slab, writable views).
    pub fn is_writable(&self, segment: Segment) -> bool {
        self.segments[usize::from(segment.sel())].writable
    }

    /// Reads one word (for host calls and tools).
    pub fn read(&self, segment: Segment, address: u64) -> Result<u64, AccessError> {
        let words = self.words(segment);
        usize::try_from(address)
            .ok()
            .and_then(|address| words.get(address).copied())
            .ok_or(AccessError::OutOfBounds)
    }

    /// Writes one word through the journal (for host calls and tools).
    pub fn write(&mut self, segment: Segment, address: u64, value: u64) -> Result<(), AccessError> {
        let memory = self.segment_mut(segment);
        let address = usize::try_from(address).map_err(|_| AccessError::OutOfBounds)?;
        if address >= memory.words.len() {
            return Err(AccessError::OutOfBounds);
        }
        if !memory.writable {
            return Err(AccessError::ReadOnly);
        }
        memory.write(address, value);
        Ok(())
    }

    /// Raw pointers to every segment (index = selector), for compiled engines.
    pub fn raw_segments(&mut self) -> [RawSegment; Segment::SELECTORS] {
        core::array::from_fn(|sel| {
            let segment = &mut self.segments[sel];
            RawSegment {
                words: segment.words.as_mut_ptr(),
                len: segment.words.len() as u64,
                written: segment.written.as_mut_ptr(),
            }
        })
    }

    /// Ends a call on every segment; committed pages of persistent segments join the dirty set.
    pub(crate) fn end_call(&mut self, commit: bool) {
        for sel in 0..Segment::SELECTORS as u8 {
            let Some(segment) = Segment::from_sel(sel) else {
                continue;
            };
            let pages = self.segments[usize::from(sel)].end_call(commit);
            if commit && segment.persistent() {
                self.dirty
                    .extend(pages.into_iter().map(|page| PageId { segment, page }));
            }
        }
    }

    /// The pre-images of the persistent pages the last call wrote, if it committed (empty after
    /// a rollback, or once taken): a program invoked by another keeps them so that the caller's
    /// rollback can undo the callee's committed writes ([`Memory::restore`]).
    pub fn take_committed(&mut self) -> CommittedPages {
        let mut pages = Vec::new();
        for sel in 0..Segment::SELECTORS as u8 {
            let Some(segment) = Segment::from_sel(sel).filter(|s| s.persistent()) else {
                continue;
            };
            let memory = &mut self.segments[usize::from(sel)];
            if !memory.committed_pages.is_empty() {
                pages.push((
                    segment,
                    std::mem::take(&mut memory.committed_pages),
                    std::mem::take(&mut memory.committed_saved),
                ));
            }
        }
        CommittedPages { pages }
    }

    /// Puts back the pre-images [`Memory::take_committed`] returned (outside any call): the
    /// pages read as before that call. They stay in the dirty-page set.
    pub fn restore(&mut self, committed: CommittedPages) {
        for (segment, pages, saved) in committed.pages {
            let memory = &mut self.segments[usize::from(segment.sel())];
            let mut at = 0;
            for &page in &pages {
                let range = memory.page_range(page);
                let len = range.len();
                memory.words[range].copy_from_slice(&saved[at..at + len]);
                at += len;
                self.dirty.insert(PageId { segment, page });
            }
        }
    }

    /// Pages of persistent segments changed by committed calls since the last take, in order.
    pub fn take_dirty_pages(&mut self) -> Vec<PageId> {
        std::mem::take(&mut self.dirty).into_iter().collect()
    }

    /// Lends a persistent segment's words out (to be mapped as another program's view); the
    /// segment reads as empty until [`Memory::give_back`]. A move, whatever the size.
    pub fn lend(&mut self, segment: Segment) -> Vec<u64> {
        std::mem::take(&mut self.segment_mut(segment).words)
    }

    /// Returns words [`Memory::lend`] took.
    pub fn give_back(&mut self, segment: Segment, words: Vec<u64>) {
        self.segment_mut(segment).words = words;
    }

    /// The dirty pages of one segment, taken out of the dirty set (a view's pages belong to the
    /// program whose state was mapped).
    pub fn take_dirty_pages_of(&mut self, segment: Segment) -> Vec<u32> {
        let range = PageId { segment, page: 0 }..=PageId {
            segment,
            page: u32::MAX,
        };
        let pages: Vec<u32> = self.dirty.range(range).map(|id| id.page).collect();
        for &page in &pages {
            self.dirty.remove(&PageId { segment, page });
        }
        pages
    }

    /// Adds pages to the dirty set (another program's call wrote them through a view).
    pub fn mark_dirty(&mut self, segment: Segment, pages: impl IntoIterator<Item = u32>) {
        self.dirty
            .extend(pages.into_iter().map(|page| PageId { segment, page }));
    }

    /// Words saved to or zeroed from the journal since creation (rollback work, for tests).
    pub fn journal_words(&self) -> u64 {
        self.segments
            .iter()
            .map(|segment| segment.journal_words)
            .sum()
    }
}
