//! A slab's order book and recent trades, read from its executed state for `curve_getBook` and
//! the dashboard. The slab's memory is laid out as its manifest's shape says
//! (`curve_compiler::templates::slab::SlabLayout`): a book side is a list of price levels, best
//! first, each a FIFO of orders; trades are a ring. Links are slot + 1 (0 ends a list). The
//! walk is bounded by the pools' capacities, so a corrupt list cannot loop.

use curve_compiler::templates::slab::{
    BOOK, HEADER, INSTRUMENTS_MAX, LEVEL, POOLS, Record, SlabLayout,
};
use serde_json::{Value, json};

/// The words of one record field.
struct Table<'a> {
    words: &'a [u64],
    offset: usize,
    record: &'static Record,
    capacity: usize,
}

impl<'a> Table<'a> {
    fn new(words: &'a [u64], layout: &SlabLayout, record: &'static Record) -> Result<Self, String> {
        let region = layout
            .region(record.name)
            .ok_or_else(|| format!("the slab's layout has no `{}` region", record.name))?;
        let (offset, size) = (region.offset as usize, region.words as usize);
        if offset + size > words.len() {
            return Err(format!(
                "the `{}` region is past the state's end",
                record.name
            ));
        }
        Ok(Table {
            words,
            offset,
            record,
            capacity: size / record.words() as usize,
        })
    }

    /// Field `field` of record `slot` (0 past the table: a bad link reads as an empty one).
    fn get(&self, slot: usize, field: &str) -> u64 {
        if slot >= self.capacity {
            return 0;
        }
        let at =
            self.offset + slot * self.record.words() as usize + self.record.offset(field) as usize;
        self.words.get(at).copied().unwrap_or(0)
    }

    /// The slot a link names, if any.
    fn slot(&self, link: u64) -> Option<usize> {
        let slot = usize::try_from(link.checked_sub(1)?).ok()?;
        (slot < self.capacity).then_some(slot)
    }
}

fn pool(name: &str) -> &'static Record {
    &POOLS
        .iter()
        .find(|(pool, _)| *pool == name)
        .expect("the slab's pools are fixed")
        .1
}

/// One side of `instrument`'s book, best level first: `[price, qty, orders]` per level, at
/// most `depth` levels (`qty` counts what rests, reserved or not).
fn side(
    layout: &SlabLayout,
    words: &[u64],
    instrument: u64,
    side: u64,
    depth: usize,
) -> Result<Vec<Value>, String> {
    let books = Table::new(words, layout, &BOOK)?;
    let levels = Table::new(words, layout, &LEVEL)?;
    let orders = Table::new(words, layout, pool("orders"))?;
    let book = usize::try_from(2 * instrument + side).map_err(|_| "instrument out of range")?;
    // (`instrument` < INSTRUMENTS_MAX, checked by the caller: the sum cannot overflow.)
    let mut out = Vec::new();
    let mut level = levels.slot(books.get(book, "best"));
    let mut steps = 0usize;
    while let Some(at) = level {
        if out.len() >= depth || steps > levels.capacity {
            break;
        }
        let (mut qty, mut count) = (0u64, 0u64);
        let mut order = orders.slot(levels.get(at, "head"));
        let mut walked = 0usize;
        while let Some(o) = order {
            if walked > orders.capacity {
                break;
            }
            qty = qty.saturating_add(orders.get(o, "qty"));
            count += 1;
            walked += 1;
            order = orders.slot(orders.get(o, "next"));
        }
        out.push(json!([levels.get(at, "price"), qty, count]));
        steps += 1;
        level = levels.slot(levels.get(at, "next"));
    }
    Ok(out)
}

/// The book of `instrument` (bids and asks, `depth` levels each) and its last `trades` trades,
/// newest first: `{ms, side, price, qty}` (side of the taker: 0 buy, 1 sell).
pub fn book_json(
    manifest: &[u8],
    words: &[u64],
    instrument: u64,
    depth: usize,
    trades: usize,
) -> Result<Value, String> {
    if instrument >= u64::from(INSTRUMENTS_MAX) {
        return Err(format!(
            "instrument {instrument}: a slab has at most {INSTRUMENTS_MAX} (0–{})",
            INSTRUMENTS_MAX - 1
        ));
    }
    let layout = curve_runtime::templates::slab_layout_of(manifest)?;
    let bids = side(&layout, words, instrument, 0, depth)?;
    let asks = side(&layout, words, instrument, 1, depth)?;
    let header = Table::new(words, &layout, &HEADER)?;
    let ring = Table::new(words, &layout, pool("trades"))?;
    let written = header.get(0, "trades_written") as usize;
    let next = header.get(0, "trades_next") as usize;
    let mut recent = Vec::new();
    if ring.capacity > 0 {
        for back in 1..=written.min(ring.capacity) {
            if recent.len() >= trades {
                break;
            }
            // `next` is the header's word: reduced first, so a corrupt one cannot overflow.
            let slot = (next % ring.capacity + ring.capacity - back) % ring.capacity;
            if ring.get(slot, "instrument") != instrument {
                continue;
            }
            recent.push(json!({
                "ms": ring.get(slot, "ms"),
                "side": ring.get(slot, "side"),
                "price": ring.get(slot, "price"),
                "qty": ring.get(slot, "qty"),
            }));
        }
    }
    Ok(json!({"instrument": instrument, "bids": bids, "asks": asks, "trades": recent}))
}
