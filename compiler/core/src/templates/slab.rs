//! The SLAB layout: fixed offsets for every pool of a perpetuals slab inside one ≤ 10 MiB state
//! segment, and the static fit analyzer that rejects a script whose `POOLS` do not fit before
//! any code is generated.
//!
//! The segment is, in order: the header (counters and one pool header per pool), the DLP list,
//! the instrument table (always [`INSTRUMENTS_MAX`] rows, so adding an instrument never moves a
//! pool), then one region per pool sized by the script's `POOLS` capacities. Every record has a
//! fixed number of words and named fields ([`RECORDS`]); 128-bit values take two words, low first.
//!
//! Pools allocate in O(1) without an initialisation pass: a pool header holds `free_head` (a
//! freed slot, linked through the record's `next_free`, or 0 for none), `high_water` (slots ever
//! handed out) and `used`. Allocation pops the freelist, else takes slot `high_water` while it is
//! below the capacity, else fails `PoolFull`; freeing pushes onto the list. Links store
//! `index + 1`, so zeroed memory is an empty pool and 0 is the null link.
//!
//! Only the shape enters the layout hash — region names, offsets and sizes — so changing fees
//! keeps it and changing a pool capacity changes it; the runtime refuses an in-place upgrade
//! across layout hashes.

use curvescript_check::CheckedBlock;
use curvescript_syntax::{Code, Diagnostic};

use crate::Region;

/// Instrument rows (the schema's `INSTRUMENT` repeat bound).
pub const INSTRUMENTS_MAX: u32 = 32;

/// Designated-LP list entries.
pub const DLP_MAX: u32 = 100;

/// Bytes one state segment may hold (10 MiB).
pub const SLAB_BYTES_MAX: u64 = curvevm::module::MAX_SLAB_WORDS as u64 * 8;

pub use curve_ir::ir::Record;

/// The header's fields: counters, then one (free_head, high_water, used) triple per pool.
pub static HEADER: Record = Record {
    name: "header",
    fields: &[
        ("magic", 1),
        ("version", 1),
        ("next_order_id", 1),
        ("next_hold_id", 1),
        ("book_seqno", 1),
        ("current_ms", 1),
        ("dlp_count", 1),
        ("fees_collected", 2),
        ("insurance", 2),
        ("reserved", 5),
        ("pools", 3 * POOLS.len() as u32),
    ],
};

/// One instrument row.
pub static INSTRUMENT: Record = Record {
    name: "instruments",
    fields: &[
        ("index_price", 1),
        ("mark_price", 1),
        ("funding_rate", 1),
        ("cum_funding", 2),
        ("last_funding_ms", 1),
        ("bids_head", 1),
        ("asks_head", 1),
        ("bids_pending_head", 1),
        ("asks_pending_head", 1),
        ("epoch", 1),
        ("batch_open_ms", 1),
        ("freeze_until_ms", 1),
        ("open_interest", 1),
        ("reserved", 2),
    ],
};

/// Every pool, in segment order: the `POOLS` argument that sizes it and its record.
pub static POOLS: [(&str, Record); 7] = [
    (
        "accounts",
        Record {
            name: "accounts",
            fields: &[
                ("user", 1),
                ("cash", 2),
                ("im", 2),
                ("mm", 2),
                ("position_head", 1),
                ("flags", 1),
                ("next_free", 1),
                ("reserved", 2),
            ],
        },
    ),
    (
        "orders",
        Record {
            name: "orders",
            fields: &[
                ("order_id", 1),
                ("account", 1),
                ("instrument", 1),
                ("side_class_state", 1),
                ("eligible_epoch", 1),
                ("created_ms", 1),
                ("price", 1),
                ("qty", 1),
                ("reserved_qty", 1),
                ("qty_orig", 1),
                ("next", 1),
                ("prev", 1),
                ("next_free", 1),
            ],
        },
    ),
    (
        "positions",
        Record {
            name: "positions",
            fields: &[
                ("account", 1),
                ("instrument", 1),
                ("qty", 1),
                ("entry_px", 1),
                ("last_funding", 2),
                ("next_in_account", 1),
                ("next_free", 1),
            ],
        },
    ),
    (
        "reservations",
        Record {
            name: "reservations",
            fields: &[
                ("hold_id", 1),
                ("route_id", 1),
                ("account", 1),
                ("instrument", 1),
                ("side", 1),
                ("qty", 1),
                ("vwap_px", 1),
                ("worst_px", 1),
                ("max_charge", 2),
                ("commitment", 4),
                ("book_seqno", 1),
                ("expiry_ms", 1),
                ("slice_head", 1),
                ("slice_tail", 1),
                ("state", 1),
                ("next_free", 1),
            ],
        },
    ),
    (
        "slices",
        Record {
            name: "slices",
            fields: &[("order", 1), ("qty", 1), ("price", 1), ("next", 1)],
        },
    ),
    (
        "trades",
        Record {
            name: "trades",
            fields: &[
                ("ms", 1),
                ("maker_order", 1),
                ("route_id", 1),
                ("instrument", 1),
                ("side", 1),
                ("price", 1),
                ("qty", 1),
                ("hash", 4),
            ],
        },
    ),
    (
        "aggressor",
        Record {
            name: "aggressor",
            fields: &[
                ("account", 1),
                ("instrument", 1),
                ("epoch", 1),
                ("buy_qty", 1),
                ("buy_notional", 2),
                ("sell_qty", 1),
                ("sell_notional", 2),
                ("next_free", 1),
            ],
        },
    ),
];

/// A slab's layout: the regions in segment order and the capacity of each pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabLayout {
    /// Regions, contiguous from word 0.
    pub regions: Vec<Region>,
    /// Pool capacities, in [`POOLS`] order.
    pub capacities: Vec<u32>,
}

impl SlabLayout {
    /// Words the segment needs.
    pub fn words(&self) -> u32 {
        self.regions.last().map_or(0, |r| r.offset + r.words)
    }

    /// The layout hash ([`crate::manifest::layout_hash_of`]).
    pub fn hash(&self) -> String {
        crate::manifest::layout_hash_of("slab", self.words(), &self.regions)
    }

    /// The region called `name`.
    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }
}

fn thousands(n: u64) -> String {
    curvescript_check::schema::show_number(u128::from(n))
}

/// Lays out `block`'s slab, or explains at the `POOLS` line why it does not fit.
pub fn layout(block: &CheckedBlock) -> Result<SlabLayout, Diagnostic> {
    // u64 arithmetic first: a capacity is at most 10^6 and a record tens of words, so sizes
    // cannot overflow here even when they overflow the segment.
    let fixed = [
        ("header", u64::from(HEADER.words())),
        ("dlp", u64::from(DLP_MAX)),
        (
            "instruments",
            u64::from(INSTRUMENTS_MAX) * u64::from(INSTRUMENT.words()),
        ),
    ];
    // (argument, capacity, words of the region, words per record)
    let pools: Vec<(&'static str, u32, u64, u32)> = POOLS
        .iter()
        .map(|(arg, record)| {
            let capacity = block
                .number("POOLS", arg)
                .and_then(|n| u32::try_from(n).ok())
                .expect("the checker fills every POOLS default, ≤ 10^6");
            let words = u64::from(capacity) * u64::from(record.words());
            (*arg, capacity, words, record.words())
        })
        .collect();
    let total: u64 =
        fixed.iter().map(|(_, w)| w).sum::<u64>() + pools.iter().map(|(_, _, w, _)| w).sum::<u64>();
    if total * 8 > SLAB_BYTES_MAX {
        let (largest, _, largest_words, record_words) = *pools
            .iter()
            .max_by_key(|(_, _, words, _)| *words)
            .expect("seven pools");
        let span = block
            .statement("POOLS")
            .and_then(|s| s.arg_span(largest))
            .unwrap_or(block.header_span);
        let breakdown: Vec<String> = pools
            .iter()
            .map(|(arg, _, words, _)| format!("{arg} {} B", thousands(words * 8)))
            .collect();
        return Err(Diagnostic::error(
            Code::LayoutTooLarge,
            span,
            format!(
                "the slab's pools need {} bytes; a slab holds {} (10 MiB)",
                thousands(total * 8),
                thousands(SLAB_BYTES_MAX)
            ),
        )
        .with_label(format!(
            "`{largest}` alone takes {} bytes ({} per record)",
            thousands(largest_words * 8),
            record_words * 8
        ))
        .with_help(format!(
            "lower the POOLS capacities by {} bytes in all ({})",
            thousands(total * 8 - SLAB_BYTES_MAX),
            breakdown.join(", ")
        )));
    }
    let mut regions = Vec::new();
    let mut offset = 0u32;
    let mut push = |name: &'static str, words: u64| {
        let words = u32::try_from(words).expect("fits: checked against the segment size");
        regions.push(Region {
            name,
            offset,
            words,
        });
        offset += words;
    };
    for (name, words) in fixed {
        push(name, words);
    }
    for (arg, _, words, _) in &pools {
        push(arg, *words);
    }
    Ok(SlabLayout {
        regions,
        capacities: pools.iter().map(|(_, capacity, _, _)| *capacity).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_fields_are_unique_and_named_offsets_add_up() {
        for record in std::iter::once(&HEADER)
            .chain(std::iter::once(&INSTRUMENT))
            .chain(POOLS.iter().map(|(_, r)| r))
        {
            let mut names: Vec<_> = record.fields.iter().map(|(n, _)| *n).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), record.fields.len(), "{}", record.name);
            let (last, words) = record.fields.last().expect("fields");
            assert_eq!(
                record.field(last) + words,
                record.words(),
                "{}",
                record.name
            );
        }
        for (arg, record) in &POOLS {
            assert_eq!(*arg, record.name);
        }
    }
}
