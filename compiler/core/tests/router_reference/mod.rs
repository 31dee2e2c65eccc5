//! A plain-Rust reference model of the ROUTER template (registry with its per-slab exposure
//! caps, atomic multi-slab route, portfolio margin, liquidation and two-phase routes), written
//! from
//! `compiler/core/src/templates/router/README.md` (authoritative), the slab's README
//! (`commit`'s `margin` flag, the `exposure` view, `liquidation_call`) and
//! `shared/spec/percolator.md` §3.1, §4.1–4.5, §4.14–4.15, §4.17–4.19 (background) alone,
//! without reading the template or its tests. It exists only for the differential tests.
//!
//! It composes the slab's reference model (`crate::slab_reference`): every slab is a
//! [`SlabModel`] with its program id and its oracle marks, and the host's ledger (vaults,
//! escrows, caps, what each slab collected) is modelled here as the README's "Custody" section
//! describes it. A test that includes this module must also declare `mod slab_reference;` at
//! its crate root.
//!
//! Portfolio margin: per user a [`Portfolio`] of [`PORTFOLIO_LEGS`] leg slots `(slab,
//! instrument)` (a slot whose slab is 0 is free) with each slot's routed quantity `qty`
//! ([`Portfolio::qty`], a parallel array so the slots keep their `(slab, instrument)` shape)
//! and `locked`, the balance of the margin lock, which is the ledger's escrow `(user, 0)` (slab
//! id 0). The netting model is `isolated` unless [`RouterModel::set_cross_alpha`] chose
//! `cross_alpha`. Each record also keeps `flagged_ms`, when a liquidation's grace window opened
//! (0 for none).
//!
//! Correlation pairs (README "Portfolio margin" step 4, **Correlation pairs**): the ROUTER
//! block's `CORRELATION feed_a= feed_b= alpha_bps=` statements are
//! [`RouterModel::set_correlations`]'s `(key_a, key_b, alpha_bps)` tuples, in statement order,
//! at most [`CORRELATIONS_MAX`], kept as the parameter table keeps them (an unused pair all
//! zeros; none by default). The pairs are **disjoint**: no non-zero key is named by two pairs
//! and no pair names one non-zero key twice (the checker refuses both, so `set_correlations`
//! panics on them: a test bug). Under `cross_alpha` only, each feed key `f ≠ 0` among the legs
//! has its net `N_f = Σ im_pos` over its legs (0 for a key no leg has, and for key 0); each
//! pair `(a, b, α)` whose nets `N_a`, `N_b` are non-zero and of opposite signs offsets
//! `⌊α × min(|N_a|, |N_b|) / 10,000⌋`, computed from the nets directly (each net is in at most
//! one pair, so no bookkeeping between pairs and their order does not matter). `IM = IM_iso −
//! Σ per-feed offsets − Σ pair offsets`; MM likewise, independently, with its own nets `Σ
//! mm_pos`. Closing `d` of a feed's net lowers `|N|` by `d` and its one pair's offset by at
//! most `d`, so a closing trade never raises IM or MM (the README's reason for disjoint
//! pairs; chained pairs could hand a closed feed's partner to the next pair). Every IM/MM of
//! the model (`margin`, `sync_margin`, `route`'s and `route_commit`'s margin step,
//! liquidation's steps 2 and 7) comes from the one netting function, so all of them see the
//! pairs; liquidation's shares stay per feed (the pairs do not enter them).
//!
//! Liquidation: [`RouterModel::liquidate`] (README "Liquidation" steps 1–7) with the ROUTER
//! block's `LIQUIDATION` values of [`RouterModel::set_liquidation`] (the schema's defaults
//! otherwise: `band_bps` 200, `preliq_band_bps` 100, `preliq_buffer` 10,000,000, `grace_ms` 0).
//! Its liquidation legs call each slab model's `liquidation_call` with a cap minted for the leg;
//! [`RouterModel::liquidate_report`] gives the legs in detail.
//!
//! Exposure cap (E-max): each registry [`Entry`] carries `max_exposure` (0 = no cap) and
//! `open_qty`, kept equal to `Σ |qty|` over every portfolio leg on the slab: every change of a
//! leg's `qty` (a route's fill at step 6, a liquidation leg, a pruned leg) goes through one
//! function that moves `open_qty` by `|qty after| − |qty before|`.
//! [`RouterModel::set_max_exposure`] and [`RouterModel::slab_exposure`] are the README's two
//! entrypoints; [`RouterModel::leg_qtys`] reads a user's slots' `qty`.
//!
//! Two-phase routes (README "Two-phase routes"): [`RouterModel::route_reserve`],
//! [`RouterModel::route_commit`] (and `route_commit_report`) and [`RouterModel::route_sweep`].
//! The pending record is [`Portfolio::pending`], a [`PendingRoute`] with [`LEGS_MAX`]
//! [`PendingSlot`]s (`expiry_ms = 0`, every field 0, is none); [`RouterModel::pending`] reads
//! `(route_id, expiry_ms)`. `route_reserve` shares `route`'s own code for steps 1–4 (admission,
//! probes, allocation with the exposure rooms, fill-or-nothing) and both commits share one
//! funded-leg commit (`commit_leg`), so `route` behaves exactly as before. Between a reserve and
//! its commit or sweep the ledger holds the reservation: each kept hold's `max_charge` in the
//! escrow `(user, slab)` and its cap unburned. So "every escrow `(user, slab ≠ 0)` is 0 and every
//! cap burned after a call" holds only for users without a pending route; what holds always
//! (outside a call) is escrow `(user, slab ≠ 0)` = [`RouterModel::pending_charge`] and
//! [`RouterModel::unburned_caps_are_pending`] ([`RouterModel::all_caps_burned`] is literally
//! "every cap", false while a route is pending).
//!
//! Every entrypoint runs on a clone of the whole model (slabs, ledger, registry, portfolios,
//! counter) and keeps the clone only on success, so a failed call — an abort code or a host
//! refusal — leaves everything exactly as before, as the VM's rollback does.
//!
//! Choices where the README is silent or ambiguous (each also commented where it is made):
//! - Admission checks `UNLISTED` for every used leg first (in leg order) and only then
//!   `DUPLICATE_LEG` (the README lists the two conditions in that order), so legs `[A, A, X]`
//!   with `X` unlisted abort `UNLISTED`.
//! - Any `Err` of the slab model's `reserve` (an abort or anything else) is a refusal that leaves
//!   the leg empty; the same holds for the re-reserve of step 3 (it "filled" 0, `need` is
//!   unchanged) — unreachable without a cap, since the cancel freed the same orders; with one,
//!   a room off the lot makes the slab refuse the take (below, "Route step 3").
//! - Step 3 orders the non-empty legs by `vwap_px` (stable: ties keep leg order) and puts the
//!   empty legs after them, in leg order; an empty leg has no hold to cancel (no `cancel` call,
//!   which would be a no-op on the slab anyway).
//! - Any `Err` of the slab model's `commit`, including a host refusal of `safe_debit`, is
//!   `LEG_FAILED` (unreachable with the router's own cap: `MAX_CHARGE` is checked first, and the
//!   cap and escrow both hold exactly `max_charge`).
//! - Funded legs run in the step-3 (price) order, each completely (pledge, mint, commit,
//!   release, burn) before the next.
//! - Cap ids start at 1 and count up across the model's life; a failed route's caps and ids are
//!   rolled back with everything else. A cap's asset is 0.
//! - A host refusal of the pledge is [`RouteError::Host`]`("vault_balance")`. A leg naming a
//!   listed slab that has no model here (no program) is `Host("no_program")`.
//! - `list_slab` / `delist_slab` are governance-only by the runtime's direct-call rule, which
//!   the model does not represent (any caller may call them here). `list_slab` of an entry that
//!   is already active returns its index and changes nothing. Registry entries are never freed.
//! - `route` takes the batch time `now_ms`; cap expiry is `now + min(CAP_TTL, 120,000)`
//!   (saturating), and the reserve's TTL is `CAP_TTL` as given (the slab clamps it).
//! - Every commit passes `margin = 1`; a slab's `MAX_CHARGE` on a router-margined commit (a
//!   realised loss above the hold's `max_charge`) is an `Err` like any other: `LEG_FAILED`.
//! - `PORTFOLIOS_FULL` (code 11) depends on the keyed table's probing and is not modelled: the
//!   model's portfolio table never fills (the code is defined, never produced).
//! - A user's portfolio record is created by its first route that reaches the margin step (or
//!   its first successful `route_reserve`) and is never removed, even when every leg is cleared and `locked` is 0 (it then reads like no
//!   portfolio: `margin` gives zeros, `portfolio` free slots, `locked` 0).
//! - Margin step 1 adds the committed legs' `(slab, route instrument)` in commit order (the
//!   step-3 price order), each into the lowest free slot; a pair already present is not added
//!   again. Step 1 completes before any view, so a fifth pair aborts `PORTFOLIO_FULL` even when
//!   a leg of the portfolio is no longer open (it would only be cleared in step 2).
//! - Step 2 views every taken slot in slot order, two legs on one slab included, with the
//!   slab's marks as the model holds them; any `Err` of the slab's `exposure` is `MARGIN_VIEW`
//!   (at the first failing slot). A slab delisted since its leg was added is still viewed (the
//!   registry does not matter to the margin: positions on a delisted slab are untouched). A leg
//!   slab with no model here is `Host("no_program")` (unreachable: it was committed to). Legs
//!   whose `open` is 0 are cleared (set to `(0, 0)`) once all views are taken; they add nothing
//!   but their slab's account words (when they are that slab's first leg) and their
//!   `oracle_key` group (with `im_pos = mm_pos = 0`, which changes no offset).
//! - `cross_alpha` groups the legs by their view's `oracle_key` (legs of key 0 never net);
//!   `IM = IM_iso − Σ offsets` cannot go below 0 (the README's argument); the model panics if
//!   it would (a slab-model bug).
//! - Correlation pairs: "a feed key among the legs" is any key `≠ 0` of a taken slot's view,
//!   a leg not open included (its `im_pos = mm_pos = 0` adds nothing to `N`, so this is not
//!   observable). A pair naming key 0 (an unused pair is all zeros) or a key no leg has sees a
//!   net of 0 there and offsets nothing. The IM and MM passes are separate: a pair may offset
//!   MM but not IM (or the reverse) when only one of the two pairs of nets has opposite signs.
//!   `α` is taken as given (the checker proves `1 ≤ α ≤ 10,000`; it is not re-checked here):
//!   `α × min(|N_a|, |N_b|)` is exact (the model panics on an overflow, unreachable with real
//!   margins), and an `α` above 10,000 could make `IM` negative, which panics like any netted
//!   IM below 0. `set_correlations` replaces every pair (the slots it does not fill are
//!   zeros; `&[]` clears them all); under `isolated` the pairs are kept but unused. Its
//!   disjointness check (after the count check) ignores key 0 only: all-zero slots may repeat,
//!   and a pair with one key 0 (which the checker never produces) is accepted and offsets
//!   nothing.
//! - `required = max(0, IM − E)` in signed arithmetic; the pledge (a vault refusal is
//!   `Host("vault_balance")`) or release of the difference moves vault ↔ escrow `(user, 0)`,
//!   then `locked = required`. The route's `total_debit` stays the commits' debits (the lock is
//!   not a debit), and `routes` increments after the margin step.
//! - `margin(user)` is steps 2–4 on the stored legs with the current marks, `equity = locked +
//!   E`; a view error is `Err(Abort(MARGIN_VIEW))`; user 0 or a user without a record: zeros.
//! - `sync_margin(user)` is the route's steps 2–5 (the same code) on the stored legs with the
//!   current marks, run atomically like every entrypoint; it takes no batch time (no view needs
//!   one), does not count in `routes`, and the runtime's `Sender("user")` rule is not
//!   represented. User 0 or a user without a record: `Ok(0)`, nothing touched. A record whose
//!   slots are all free is still a portfolio: its steps 2–5 see no legs (`E = IM = 0`), so any
//!   lock is released in full and 0 returned; the record stays (records are never removed,
//!   also when `sync_margin` clears the last leg). A pledge or release of 0 is not made (the
//!   ledger is then untouched, e.g. no escrow `(user, 0)` entry appears).
//! - The lock step (margin step 5, in `route` and `sync_margin`) sets `flagged_ms = 0` whenever
//!   it completes (also when the lock did not move); a refused pledge changes nothing, the flag
//!   included.
//! - `set_liquidation` takes its values as given (`preliq_band_bps ≤ band_bps` is the checker's,
//!   not re-checked); a band a slab refuses (`BAD_BAND`: 0 or above 10,000) makes that slab's
//!   liquidation legs fail (`LEG_FAILED`).
//! - `liquidate(now, user)` takes the batch time (the grace window and the caps need it). It
//!   never counts in `routes`, and the caller (anyone, a keeper) is not represented. Status
//!   words: 0 saved, 1 in grace, 2 liquidated, 3 healthy ([`status`]); it has no abort code of
//!   its own.
//! - Short: with `T = locked + E` and `H = T − MM` (signed, exact), short when `H <
//!   preliq_buffer` and `T < IM` (signed against unsigned), `short = min(preliq_buffer − H, IM −
//!   T)`, 0 when not short (`preliq_buffer = 0`: short only when `H < 0` and `T < IM`).
//! - Step 1: "no portfolio record" is no record (`(3, 0, 0)`, nothing written). A record whose
//!   leg slots are all free (its legs were all cleared) is a portfolio, as for `sync_margin`:
//!   `E = IM = MM = 0`, `T = locked ≥ 0 = IM`, so it is never short: `(3, locked, 0)` with
//!   `flagged_ms = 0`.
//! - Step 2 is `margin`'s views (any refusal `MARGIN_VIEW`), no leg removed. Step 3 (not short)
//!   stores `flagged_ms = 0` (also when already 0) and returns `(3, H, 0)` with step 2's `H`;
//!   nothing else is written (no leg cleared, the lock untouched).
//! - Step 4: `free` is the vault's balance at that moment (before the pledge); the pledge is
//!   `min(free, short)` into the lock (not made when 0); `short` is recomputed from `H + p` and
//!   `T + p` against step 2's `IM` and `preliq_buffer`. "Saved" returns `(0, H, 0)` with `H`
//!   after the pledge, stores `flagged_ms = 0`, and leaves the whole pledge in the lock (it may
//!   exceed `max(0, IM − E)`: the next route or `sync_margin` releases the excess).
//! - Step 5: `flagged_ms` is set to `now` only when it is 0; at batch time 0 that stores 0 again
//!   ("none"), so the window re-opens at the next call. The window is open while `now <
//!   flagged_ms + grace_ms` (saturating). In grace the state is kept (the pledge, the flag) and
//!   `(1, H, short)` returned, both after the pledge; no leg is removed.
//! - Step 6: `deficit = short` and the band (`band_bps` when `H < 0`, else `preliq_band_bps`)
//!   use the values after step 4's pledge. The whole lock is released first (not made when 0),
//!   so the legs' pledges can reach it. The legs are the step-2 slots in slot order and "open"
//!   and `mm_pos` are the step-2 views' (a leg's `liquidation_call` moves only its own `(slab,
//!   instrument)` position of the user, so the other legs' views are unchanged at their turn).
//!   A leg not open in those views, or with `d = min(deficit_left, share) = 0` (share 0, or the
//!   deficit already covered), is skipped: no pledge, cap, call or release; a leg not open
//!   leaves the portfolio at step 7.
//! - Shares: per leg from its own `mm_pos`, also when several legs share a slab (no per-slab
//!   aggregation; each such leg is its own liquidation leg with its own pledge and cap).
//!   `cross_alpha`: `N` sums `mm_pos` over every portfolio leg of the key (a leg not open adds
//!   0); "the earlier legs of that key on that side" are the earlier slots of the key whose
//!   `mm_pos` has `N`'s sign, and their `|mm_pos|` counts (not their shares or `d`), so a share
//!   is `min(|mm_pos|, max(0, |N| − that sum))`; a leg of `oracle_key` 0 (never produced by a
//!   slab: keys have their low bit set) does not net and gets `|mm_pos|`, as in `isolated`.
//! - A liquidation leg, in the README's order: `amount` = the vault's balance at that moment
//!   (after the lock's release and the earlier legs' releases); pledge of `amount` (made even
//!   when 0, like the route's funded leg); cap mint for `amount`, TTL `CAP_TTL` (clamped to
//!   120 s); the slab's `liquidation_call(d, band)` with that slab's marks, the escrow `(user,
//!   slab)` after the pledge and the cap's view; the slab's `debit` moves escrow → `collected`
//!   and off the cap's `remaining` (the host's `safe_debit`, as for commit debits); release of
//!   `amount − debit`; burn. Any `Err` of the slab (its aborts or a host refusal of the debit) is
//!   `LEG_FAILED`, and the whole call is undone. `deficit_left −= d − residual` (the model
//!   panics if a slab returned `residual > d`, a slab-model bug). A slab delisted since the leg
//!   was added is still liquidated (the registry does not matter, as for the margin views).
//! - Step 6's `qty` move: after the leg's release, burn and `deficit_left`, the slot's `qty`
//!   moves `min(closed_qty, |qty|)` towards 0 (a slab that closed more than the router routed
//!   there — the user also traded directly — leaves `qty` at 0, never past it) and its slab's
//!   `open_qty` falls as much; a skipped leg's `qty` is untouched.
//! - Step 7: the views again (any refusal `MARGIN_VIEW`, unreachable: same marks), legs not open
//!   cleared (their slab's `open_qty −= |qty|`); `required = max(0, IM − E)` with `E = Σ
//!   equity_s` of these views (the lock is 0 then); `free` is the vault's balance after the sweep; the pledge of `min(required, free)`
//!   is not made when 0; `flagged_ms` is kept (the one step 5 stored). `H after = Σ equity_s +
//!   locked − MM` of these views with the new `locked`. The result's residual is `deficit_left`.
//! - Exposure cap: `set_max_exposure` finds the first entry naming the slab, active or not
//!   (`UNLISTED` otherwise), sets its cap and returns its index; it touches nothing else (an
//!   `open_qty` above the new cap stays). `slab_exposure` reads the same entry. Neither
//!   represents its caller. `list_slab` starts a new entry at `(0, 0)`; re-listing (and
//!   delisting) keeps both words.
//! - Route step 3: each used leg's room is computed before the walk from the registry's
//!   `open_qty` and the user's `qty` on that (slab, route instrument) as they stand before the
//!   route (the legs are on distinct slabs and nothing moves these words before step 6). A
//!   user without a portfolio, or without a slot for the pair, has `closable = 0`; so has a
//!   leg whose `qty` is 0 or on the route's side. `room = max(0, max_exposure − open_qty) +
//!   closable` (u128, no overflow); a slab with `max_exposure = 0` is unbounded. A leg is
//!   capped only inside the walk's "need > 0 and filled something" branch, when `room <
//!   min(need, filled)`; a take of 0 makes no re-reserve (no hold id is used); a take the slab
//!   refuses (a room that is not a multiple of the lot: the README does not round the room to
//!   the lot) fills 0, as any refused re-reserve.
//! - Route step 4: `need > 0` → `EXPOSURE_CAP` when any leg was capped, also when the legs'
//!   probes could not have filled `qty` without the caps either (the README's rule is "a leg
//!   was capped"; its "the limit could be met" is read as explanation), else `UNFILLED`.
//! - Route step 6: per committed leg in commit (price) order, step 1 for it (its slot found or
//!   taken), then its `qty` moves by the commit's `filled_qty` (+ buy, − sell) and the slab's
//!   `open_qty` by `|after| − |before|`; a `PORTFOLIO_FULL` undoes everything anyway, so the
//!   interleaving of step 1 with the moves is not observable. Then steps 2–5, where a leg not
//!   open is cleared after all views: `open_qty −= |qty|`, slot `(0, 0)` with `qty` 0 — the
//!   same pruning as `sync_margin` and liquidation step 7 (`margin` and liquidation step 2
//!   prune nothing).
//! - Two-phase routes, `route_reserve`: admission (route step 1, the same code) comes before the
//!   `ROUTE_PENDING` check, as the README numbers them; `PORTFOLIOS_FULL` is not produced (as
//!   everywhere in this model). A new record is written only when the reserve succeeds (a
//!   refused one leaves no record; an empty record and none are the same to the rooms). The
//!   funding runs in rank (price) order, each kept hold's pledge then its mint, before the
//!   record is written; a refused pledge is `Host("vault_balance")` and undoes everything.
//! - `expiry_ms` (returned, stored) is the caps' own expiry, `now + min(CAP_TTL, 120 s)`
//!   (saturating) — the README's `now + CAP_TTL`, since it says `CAP_TTL` never exceeds 120 s;
//!   the slab holds are reserved with TTL `CAP_TTL` as `route` does (the slab clamps it).
//! - Slot `k` holds the hold kept for the leg ranked `k`, ranks being positions in step 3's
//!   order (non-empty probes by price, then the empty ones): slots are not compacted, so a
//!   ranked leg that kept nothing (the quantity already met, a take of 0 under a cap, a
//!   refused re-reserve) leaves its slot empty and a later rank keeps its own slot. Only ranks
//!   of non-empty probes ever keep a hold, so where the empty legs rank does not matter.
//! - A reserve at batch time 0 with `CAP_TTL = 0` stores `expiry_ms = 0`, which the README's
//!   encoding reads as "no pending route": the record is stored as it is (slots included), its
//!   pledges and caps stay in the ledger with nothing able to commit or sweep them, and a later
//!   `route_reserve` overwrites the record. (Unreachable with any positive `CAP_TTL`.)
//! - `route` and `liquidate` ignore a pending route (the README refuses only `route_reserve`
//!   with `ROUTE_PENDING`); their legs on a slab of the pending route find the escrow `(user,
//!   slab)` holding the reservation too (the slab model gets that whole balance, the cap bounds
//!   the debit), and they leave it there. `sync_margin`, `margin` and liquidation keep the
//!   record's `pending` as it is. A reservation is not a position: no leg, `qty`, `open_qty`,
//!   lock or `routes` moves at the reserve.
//! - `route_commit`: `NO_PENDING` covers no record, a record with `expiry_ms = 0` and another
//!   `route_id`; `EXPIRED` is checked before any leg (so the slab's own hold expiry, at the same
//!   moment, is never what refuses). Per slot in slot order: `UNLISTED` (an active registry
//!   entry), then `EXPOSURE_CAP` when `filled > room` (the room of route step 3 for the stored
//!   `side` and `instrument`, computed at the slot's turn — the same as at the call's start,
//!   since the slabs are distinct and no `qty` moves before the margin step; unbounded without
//!   a cap), then the slab model's `commit` with the stored hold and the cap's current view,
//!   salt 0, margin 1, with the whole escrow `(user, slab)` (any `Err` → `LEG_FAILED`), the
//!   debit through the cap, the release of `charge − debit`, the burn — each slot completely
//!   before the next. Then the record is cleared (stored), then route step 6 with the committed
//!   legs in slot order (= rank order, the order `route` commits in), then `routes += 1`.
//!   `filled_qty` is the stored `qty`; `legs` the slots committed.
//! - `route_sweep`: `NO_PENDING` as for the commit; `NOT_EXPIRED` when `now ≤ expiry_ms`. Per
//!   non-empty slot in slot order: the slab model's `cancel(hold)` (its `Err`, never produced,
//!   would be `LEG_FAILED`; a slab with no model here `Host("no_program")`), the release of the
//!   whole `charge` into the vault, the cap's burn. The registry does not matter (a delisted
//!   slab's hold is cancelled too). It does not count in `routes`, touches no portfolio leg or
//!   lock, and the caller (anyone) is not represented. A cap's `remaining` is left as it was
//!   (the full charge: nothing debited it).

#![allow(dead_code)]

use std::collections::BTreeMap;

use crate::slab_reference::reference::{
    Abort as SlabAbort, CapView, Committed, Model as SlabModel,
};
use crate::slab_reference::state::SlabState;

/// Registry capacity (README "State").
pub const SLABS_MAX: usize = 16;
/// The host's longest cap TTL; a longer one is clamped to it.
pub const CAP_TTL_MAX_MS: u64 = 120_000;
/// Correlation pairs the ROUTER block may declare (README "Portfolio margin", `CORRELATIONS_MAX`).
pub const CORRELATIONS_MAX: usize = 4;
/// Leg slots per portfolio (README "Portfolios").
pub const PORTFOLIO_LEGS: usize = 4;
/// The margin lock's slab id: the lock is the escrow `(user, LOCK_SLAB)`.
pub const LOCK_SLAB: u64 = 0;
/// Leg slots of a pending route (README "Two-phase routes": `LEGS_MAX`).
pub const LEGS_MAX: usize = 3;

/// The README's abort codes.
pub mod code {
    /// User 0.
    pub const BAD_USER: u8 = 1;
    /// Side > 1.
    pub const BAD_SIDE: u8 = 2;
    /// Qty 0.
    pub const BAD_QTY: u8 = 3;
    /// Every leg slab 0.
    pub const NO_LEGS: u8 = 4;
    /// A leg's slab is not an active registry entry (also `delist_slab` of such a slab).
    pub const UNLISTED: u8 = 5;
    /// A slab twice in one route.
    pub const DUPLICATE_LEG: u8 = 6;
    /// The legs cannot fill `qty` within the limit.
    pub const UNFILLED: u8 = 7;
    /// A leg's commit failed.
    pub const LEG_FAILED: u8 = 8;
    /// Listing slab 0.
    pub const BAD_SLAB: u8 = 9;
    /// No free registry entry.
    pub const REGISTRY_FULL: u8 = 10;
    /// No portfolio record free for a new user within the probes (not modelled: never
    /// produced by the model).
    pub const PORTFOLIOS_FULL: u8 = 11;
    /// A fifth (slab, instrument) pair in one portfolio.
    pub const PORTFOLIO_FULL: u8 = 12;
    /// A slab refused `exposure` (no mark, …).
    pub const MARGIN_VIEW: u8 = 13;
    /// The legs could fill `qty` but a slab's exposure cap leaves too little room (also
    /// `route_commit` when a slot's fill exceeds its slab's room at the commit).
    pub const EXPOSURE_CAP: u8 = 14;
    /// `route_reserve` for a user whose route is pending.
    pub const ROUTE_PENDING: u8 = 17;
    /// `route_commit` or `route_sweep` naming no pending route of the user.
    pub const NO_PENDING: u8 = 18;
    /// `route_commit` after the route's `expiry_ms`.
    pub const EXPIRED: u8 = 19;
    /// `route_sweep` at or before the route's `expiry_ms`.
    pub const NOT_EXPIRED: u8 = 20;
    /// An entrypoint of a later part.
    pub const NOT_BUILT: u8 = 40;
}

/// `liquidate`'s status words (README "Liquidation").
pub mod status {
    /// The re-pledge made the account no longer short: nothing was closed.
    pub const SAVED: u64 = 0;
    /// Short, but inside the grace window: the pledge stays, no slab was touched.
    pub const IN_GRACE: u64 = 1;
    /// The sweep ran: the lock went back to the vault, slabs closed, the lock was re-made.
    pub const LIQUIDATED: u64 = 2;
    /// Not short (or no portfolio record): only `flagged_ms` was cleared.
    pub const HEALTHY: u64 = 3;
}

/// The ROUTER block's `LIQUIDATION` values (README "Liquidation").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiquidationParams {
    /// Hard liquidation's band (health below 0).
    pub band_bps: u64,
    /// Pre-liquidation's band (a short account with health `H ≥ 0`).
    pub preliq_band_bps: u64,
    /// The health below which an account not at initial margin is short.
    pub preliq_buffer: u128,
    /// The grace window, from the first call that finds the account short.
    pub grace_ms: u64,
}

impl Default for LiquidationParams {
    /// The schema's defaults: `band_bps` 200, `preliq_band_bps` 100, `preliq_buffer`
    /// 10,000,000, `grace_ms` 0.
    fn default() -> LiquidationParams {
        LiquidationParams {
            band_bps: 200,
            preliq_band_bps: 100,
            preliq_buffer: 10_000_000,
            grace_ms: 0,
        }
    }
}

/// Why a router call failed. Either way nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// The router aborted with one of the README's codes ([`code`]).
    Abort(u8),
    /// The host refused a call (a trap carrying the refusal's name, e.g. `"vault_balance"`).
    Host(&'static str),
}

/// One capability the router minted (the host's ledger).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cap {
    /// Its id, assigned in minting order from 1.
    pub id: u64,
    /// The user whose escrow it debits.
    pub user: u64,
    /// The slab it is scoped to.
    pub slab: u64,
    /// What it may still debit.
    pub remaining: u128,
    /// Batch time after which it is expired (`now > expiry_ms`).
    pub expiry_ms: u64,
    /// Burned.
    pub burned: bool,
}

/// The host's ledger as the router uses it (asset 0 only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Vault balances by user.
    pub vaults: BTreeMap<u64, u128>,
    /// Escrow balances by (user, slab).
    pub escrows: BTreeMap<(u64, u64), u128>,
    /// Every cap minted, in id order.
    pub caps: Vec<Cap>,
    /// What each slab took through `safe_debit`, by slab.
    pub collected: BTreeMap<u64, u128>,
}

impl Ledger {
    fn vault(&self, user: u64) -> u128 {
        self.vaults.get(&user).copied().unwrap_or(0)
    }

    fn escrow(&self, user: u64, slab: u64) -> u128 {
        self.escrows.get(&(user, slab)).copied().unwrap_or(0)
    }

    /// `vault_pledge(user, slab, 0, amount)`: vault → escrow; refused above the vault balance.
    fn pledge(&mut self, user: u64, slab: u64, amount: u128) -> Result<(), RouteError> {
        let v = self.vault(user);
        if amount > v {
            return Err(RouteError::Host("vault_balance"));
        }
        self.vaults.insert(user, v - amount);
        let e = self.escrow(user, slab);
        self.escrows.insert((user, slab), e + amount);
        Ok(())
    }

    /// `vault_release(user, slab, 0, amount)`: escrow → vault; refused above the escrow balance
    /// (never in a route: the release is what the pledge put there and the commit did not take).
    fn release(&mut self, user: u64, slab: u64, amount: u128) -> Result<(), RouteError> {
        let e = self.escrow(user, slab);
        if amount > e {
            return Err(RouteError::Host("escrow_balance"));
        }
        self.escrows.insert((user, slab), e - amount);
        let v = self.vault(user);
        self.vaults.insert(user, v + amount);
        Ok(())
    }

    /// `cap_mint(user, slab, 0, amount, ttl)`: the next id; TTL clamped to 120 s.
    fn mint(&mut self, now_ms: u64, user: u64, slab: u64, amount: u128, ttl_ms: u64) -> u64 {
        let id = self.caps.len() as u64 + 1;
        self.caps.push(Cap {
            id,
            user,
            slab,
            remaining: amount,
            expiry_ms: now_ms.saturating_add(ttl_ms.min(CAP_TTL_MAX_MS)),
            burned: false,
        });
        id
    }

    fn cap_mut(&mut self, id: u64) -> &mut Cap {
        &mut self.caps[(id - 1) as usize]
    }
}

/// One registry entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The slab's program id.
    pub slab: u64,
    /// Whether it may be routed to.
    pub active: bool,
    /// The exposure cap in contracts (0 = no cap, the listing default).
    pub max_exposure: u64,
    /// The routed open interest: `Σ |qty|` over every portfolio leg on this slab.
    pub open_qty: u64,
}

/// A user's portfolio record (README "Portfolios").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Portfolio {
    /// The margin lock's balance (equal to the escrow `(user, 0)`).
    pub locked: u128,
    /// Leg slots `(slab, instrument)`; a slot with slab 0 is free (and reads `(0, 0)`).
    pub legs: [(u64, u64); PORTFOLIO_LEGS],
    /// Each slot's routed quantity `qty` (signed contracts, a long positive; 0 for a free
    /// slot): what the router's routes and liquidations moved on that (slab, instrument).
    pub qty: [i128; PORTFOLIO_LEGS],
    /// When a liquidation's grace window opened (the batch time of the first `liquidate` that
    /// found the account short); 0 for none.
    pub flagged_ms: u64,
    /// The user's pending route (README "Two-phase routes"); `expiry_ms = 0` (the default,
    /// every field 0) is none.
    pub pending: PendingRoute,
}

/// A pending route's record (README "Two-phase routes"): every field 0 when none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PendingRoute {
    /// The route's id.
    pub route_id: u64,
    /// The instrument.
    pub instrument: u64,
    /// 0 a buy, 1 a sell.
    pub side: u64,
    /// The quantity (what the kept holds fill together).
    pub qty: u64,
    /// The caps' expiry (and the record's: 0 = no pending route).
    pub expiry_ms: u64,
    /// Slot `k` holds the hold kept for the leg ranked `k` by route step 3, or nothing.
    pub slots: [PendingSlot; LEGS_MAX],
}

/// One leg slot of a pending route; `hold = 0` is an empty slot (every field 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PendingSlot {
    /// The slab.
    pub slab: u64,
    /// The slab's hold id.
    pub hold: u64,
    /// The cap minted for the leg.
    pub cap: u64,
    /// The hold's filled quantity.
    pub filled: u64,
    /// The hold's `max_charge`: what was pledged into the escrow `(user, slab)` and the cap's
    /// amount.
    pub charge: u128,
}

/// What margin steps 2–4 make of a portfolio's legs.
#[derive(Clone, Copy, Debug)]
struct MarginView {
    /// `E = Σ equity_s` over the distinct slabs.
    equity: i128,
    /// The model's IM.
    im: u128,
    /// The model's MM.
    mm: u128,
    /// Per slot: taken and its position open.
    open: [bool; PORTFOLIO_LEGS],
    /// Per slot: the position's signed `mm_pos` (0 for a free slot or a position not open).
    mm_pos: [i128; PORTFOLIO_LEGS],
    /// Per slot: the instrument's `oracle_key` (0 for a free slot).
    key: [u64; PORTFOLIO_LEGS],
}

/// One slab the router can reach: its model and its oracle marks (one per instrument; 0 = none).
#[derive(Clone, Debug)]
pub struct Slab {
    /// Its program id.
    pub id: u64,
    /// The slab's reference model.
    pub model: SlabModel,
    /// `marks[i]` is instrument `i`'s mark.
    pub marks: Vec<u64>,
}

/// A leg's probe hold (README `route` step 2).
#[derive(Clone, Copy, Debug)]
struct Probe {
    hold_id: u64,
    filled: u64,
    vwap_px: u64,
}

/// A hold kept by route step 3: its rank (position in the price order), slab, hold id, filled
/// quantity and `max_charge`.
#[derive(Clone, Copy, Debug)]
struct Kept {
    rank: usize,
    slab: u64,
    hold_id: u64,
    filled: u64,
    max_charge: u128,
}

/// One committed leg of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegReport {
    /// The slab.
    pub slab: u64,
    /// The kept hold (the step-3 re-reserve).
    pub hold_id: u64,
    /// The hold's `max_charge` (what was pledged and the cap's amount).
    pub max_charge: u128,
    /// The cap minted for the leg.
    pub cap_id: u64,
    /// What the slab's commit returned.
    pub committed: Committed,
}

/// A route's result in detail: the README's four words plus the committed legs in price order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteReport {
    /// `qty`.
    pub filled_qty: u64,
    /// Σ filled_i × avg_px_i.
    pub notional: u128,
    /// Σ the commits' debits.
    pub total_debit: u128,
    /// The committed legs, in the order they were committed (price order).
    pub legs: Vec<LegReport>,
}

/// Everything observable, for "nothing changed" comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The host ledger.
    pub ledger: Ledger,
    /// Registry entries in use, in order.
    pub registry: Vec<Entry>,
    /// Routes committed.
    pub routes: u64,
    /// Each slab's id, state and marks, in the model's order.
    pub slabs: Vec<(u64, SlabState, Vec<u64>)>,
    /// Portfolio records (legs and locks), by user.
    pub portfolios: BTreeMap<u64, Portfolio>,
}

/// `liquidate`'s result in detail: the README's three words plus what happened on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiquidationReport {
    /// [`status`]: saved, in grace, liquidated or healthy.
    pub status: u64,
    /// `H` of step 2 (healthy; 0 without a portfolio record), after the re-pledge (saved, in
    /// grace) or after the re-lock (liquidated).
    pub health: i128,
    /// `short` after the re-pledge in grace, `deficit_left` after a sweep, 0 when saved or
    /// healthy.
    pub residual: u128,
    /// Step 4's pledge into the lock (`min(free, short)`).
    pub repledged: u128,
    /// The liquidation legs, in slot order.
    pub legs: Vec<LiquidationLeg>,
    /// Step 7's lock (0 unless liquidated).
    pub relocked: u128,
}

/// One liquidation leg of a sweep (README "Liquidation" step 6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiquidationLeg {
    /// The portfolio slot.
    pub slot: usize,
    /// The slab.
    pub slab: u64,
    /// The instrument.
    pub instrument: u64,
    /// The leg's share of the deficit.
    pub share: u128,
    /// `d = min(deficit_left, share)`, the deficit sent to the slab.
    pub deficit: u128,
    /// The band sent to the slab (the router's, before the slab's clamp).
    pub band_bps: u64,
    /// What was pledged into the escrow and the cap's amount (the vault's balance then).
    pub amount: u128,
    /// The cap minted for the leg.
    pub cap_id: u64,
    /// What the slab's `liquidation_call` returned.
    pub residual: u128,
    /// Contracts the slab closed.
    pub closed_qty: u64,
    /// What the slab debited through the cap.
    pub debit: u128,
}

/// `H = locked + E − MM` in signed arithmetic.
fn health(locked: u128, equity: i128, mm: u128) -> i128 {
    let locked = i128::try_from(locked).expect("reference model: lock above i128");
    let mm = i128::try_from(mm).expect("reference model: MM above i128");
    locked
        .checked_add(equity)
        .and_then(|x| x.checked_sub(mm))
        .expect("reference model: H overflows")
}

/// `target − x` for a signed `x` and an unsigned `target` when `x < target`, else 0.
fn gap(target: u128, x: i128) -> u128 {
    if x < 0 {
        target
            .checked_add(x.unsigned_abs())
            .expect("reference model: target − x overflows")
    } else {
        target.saturating_sub(x as u128)
    }
}

/// What an account is short by (README "Liquidation"): with `T = locked + E` and `H = T − MM`,
/// short when `H < preliq_buffer` and `T < IM`, by `min(preliq_buffer − H, IM − T)`; 0 when
/// not short.
fn shortfall(buffer: u128, h: i128, im: u128, t: i128) -> u128 {
    gap(buffer, h).min(gap(im, t))
}

/// Σ of the correlation pairs' offsets over the feeds' `nets` (README "Portfolio margin" step
/// 4, **Correlation pairs**). `nets` maps each feed key `≠ 0` among the legs to its net `N_f`
/// (`Σ im_pos` for IM, `Σ mm_pos` for MM); a key not in it (a key no leg has, key 0) has net 0.
/// Each pair `(a, b, α)` whose nets `N_a`, `N_b` are non-zero and of opposite signs offsets
/// `⌊α × min(|N_a|, |N_b|) / 10,000⌋`; any other pair — an unused all-zeros pair, a key no leg
/// has, a zero net or two on the same side — offsets nothing. The pairs are disjoint
/// ([`RouterModel::set_correlations`] refuses anything else), so each is computed from the
/// nets directly and their order does not matter.
fn pair_offsets(pairs: &[(u64, u64, u64)], nets: &BTreeMap<u64, i128>) -> u128 {
    let net = |k: u64| nets.get(&k).copied().unwrap_or(0);
    let mut total: u128 = 0;
    for &(a, b, alpha) in pairs {
        let (na, nb) = (net(a), net(b));
        // Opposite non-zero signs: one strictly positive and the other strictly negative.
        let opposite = (na > 0 && nb < 0) || (na < 0 && nb > 0);
        if !opposite {
            continue;
        }
        let m = na.unsigned_abs().min(nb.unsigned_abs());
        let offset = u128::from(alpha)
            .checked_mul(m)
            .expect("reference model: α × m overflows")
            / 10_000;
        total = total
            .checked_add(offset)
            .expect("reference model: pair offsets overflow");
    }
    total
}

/// The router, its host ledger and the slabs it routes to.
#[derive(Clone, Debug)]
pub struct RouterModel {
    cap_ttl_ms: u64,
    registry: Vec<Entry>,
    routes: u64,
    ledger: Ledger,
    slabs: Vec<Slab>,
    /// The netting model: `cross_alpha` (true) or `isolated` (false, the default).
    cross_alpha: bool,
    /// The ROUTER block's `CORRELATION` pairs `(key_a, key_b, alpha_bps)` in statement order,
    /// as the parameter table holds them: an unused pair is all zeros (so offsets nothing).
    correlations: [(u64, u64, u64); CORRELATIONS_MAX],
    /// The ROUTER block's `LIQUIDATION` values.
    liquidation: LiquidationParams,
    portfolios: BTreeMap<u64, Portfolio>,
}

impl RouterModel {
    /// A router with an empty registry and ledger, `routes = 0`, the given `CAP_TTL` and slabs
    /// `(program id, model, marks)`. Panics on a program id of 0 or a repeated one (test bugs).
    pub fn new(cap_ttl_ms: u64, slabs: Vec<(u64, SlabModel, Vec<u64>)>) -> RouterModel {
        let mut out = RouterModel {
            cap_ttl_ms,
            registry: Vec::new(),
            routes: 0,
            ledger: Ledger::default(),
            slabs: Vec::new(),
            cross_alpha: false,
            correlations: [(0, 0, 0); CORRELATIONS_MAX],
            liquidation: LiquidationParams::default(),
            portfolios: BTreeMap::new(),
        };
        for (id, model, marks) in slabs {
            out.add_slab(id, model, marks);
        }
        out
    }

    /// The ROUTER block's `PORTFOLIO_MARGIN model=`: `cross_alpha` when `cross`, else
    /// `isolated` (the default, as without the statement).
    pub fn set_cross_alpha(&mut self, cross: bool) {
        self.cross_alpha = cross;
    }

    /// Whether the netting model is `cross_alpha`.
    pub fn cross_alpha(&self) -> bool {
        self.cross_alpha
    }

    /// The ROUTER block's `CORRELATION feed_a= feed_b= alpha_bps=` statements: each tuple is
    /// `(key_a, key_b, alpha_bps)` with the feeds' `oracle_key`s, in statement order. Replaces
    /// every pair; the slots not given are all zeros (none by default; `&[]` clears every
    /// pair). Used by `cross_alpha` only. The checker refuses, so this panics on (a test bug):
    /// more than [`CORRELATIONS_MAX`] pairs (checked first); a pair naming one non-zero key
    /// twice (a feed paired with itself); a non-zero key named by two pairs (the pairs are
    /// disjoint). Key 0 is exempt: unused all-zeros slots may appear any number of times.
    /// `alpha_bps` is taken as given (`1 ≤ α ≤ 10,000` is the checker's, not re-checked).
    pub fn set_correlations(&mut self, pairs: &[(u64, u64, u64)]) {
        assert!(
            pairs.len() <= CORRELATIONS_MAX,
            "at most {CORRELATIONS_MAX} correlation pairs, got {}",
            pairs.len()
        );
        let mut named: Vec<u64> = Vec::new();
        for (i, &(a, b, _)) in pairs.iter().enumerate() {
            assert!(
                a == 0 || a != b,
                "correlation pair {i} pairs feed {a:#x} with itself"
            );
            for k in [a, b] {
                if k == 0 {
                    continue;
                }
                assert!(
                    !named.contains(&k),
                    "feed {k:#x} is named by two correlation pairs (pair {i} and an earlier one)"
                );
                named.push(k);
            }
        }
        self.correlations = [(0, 0, 0); CORRELATIONS_MAX];
        self.correlations[..pairs.len()].copy_from_slice(pairs);
    }

    /// The correlation pairs in force, as the parameter table holds them (unused ones zeros).
    pub fn correlations(&self) -> [(u64, u64, u64); CORRELATIONS_MAX] {
        self.correlations
    }

    /// The ROUTER block's `LIQUIDATION band_bps preliq_band_bps preliq_buffer grace_ms`; without
    /// this call the schema's defaults ([`LiquidationParams::default`]). Taken as given (the
    /// checker's `preliq_band_bps ≤ band_bps` is not re-checked; a band the slab refuses makes
    /// its liquidation legs fail, `LEG_FAILED`).
    pub fn set_liquidation(
        &mut self,
        band_bps: u64,
        preliq_band_bps: u64,
        preliq_buffer: u128,
        grace_ms: u64,
    ) {
        self.liquidation = LiquidationParams {
            band_bps,
            preliq_band_bps,
            preliq_buffer,
            grace_ms,
        };
    }

    /// The ROUTER block's `LIQUIDATION` values in force.
    pub fn liquidation_params(&self) -> LiquidationParams {
        self.liquidation
    }

    /// Adds a slab program (not listed: that is `list_slab`'s).
    pub fn add_slab(&mut self, id: u64, model: SlabModel, marks: Vec<u64>) {
        assert!(id != 0, "a slab's program id is nonzero");
        assert!(
            self.slabs.iter().all(|s| s.id != id),
            "slab {id} added twice"
        );
        self.slabs.push(Slab { id, model, marks });
    }

    /// Runs `f` on a clone and keeps the clone only on success.
    fn atomic<T>(
        &mut self,
        f: impl FnOnce(&mut RouterModel) -> Result<T, RouteError>,
    ) -> Result<T, RouteError> {
        let mut next = self.clone();
        let out = f(&mut next)?;
        *self = next;
        Ok(out)
    }

    // ---- host actions (the runtime's, not the router's) ----

    /// A deposit into `user`'s vault (asset 0).
    pub fn deposit(&mut self, user: u64, amount: u128) {
        let v = self.ledger.vault(user);
        self.ledger.vaults.insert(user, v + amount);
    }

    /// A withdrawal from `user`'s vault; refused above the balance (nothing changes).
    pub fn withdraw(&mut self, user: u64, amount: u128) -> Result<(), RouteError> {
        let v = self.ledger.vault(user);
        if amount > v {
            return Err(RouteError::Host("vault_balance"));
        }
        self.ledger.vaults.insert(user, v - amount);
        Ok(())
    }

    // ---- registry ----

    /// `list_slab(slab) -> index`: `BAD_SLAB` for 0; reactivates an existing entry for `slab`,
    /// else takes the next free entry (`REGISTRY_FULL` when all 16 are in use).
    pub fn list_slab(&mut self, slab: u64) -> Result<u64, RouteError> {
        if slab == 0 {
            return Err(RouteError::Abort(code::BAD_SLAB));
        }
        if let Some(i) = self.registry.iter().position(|e| e.slab == slab) {
            self.registry[i].active = true;
            return Ok(i as u64);
        }
        if self.registry.len() >= SLABS_MAX {
            return Err(RouteError::Abort(code::REGISTRY_FULL));
        }
        // A new entry: no cap, no routed open interest (a re-listed one keeps both).
        self.registry.push(Entry {
            slab,
            active: true,
            max_exposure: 0,
            open_qty: 0,
        });
        Ok(self.registry.len() as u64 - 1)
    }

    /// `delist_slab(slab) -> index`: `UNLISTED` unless an active entry names `slab`; then it
    /// becomes inactive (the slab's own state is untouched).
    pub fn delist_slab(&mut self, slab: u64) -> Result<u64, RouteError> {
        match self
            .registry
            .iter()
            .position(|e| e.slab == slab && e.active)
        {
            Some(i) => {
                self.registry[i].active = false;
                Ok(i as u64)
            }
            None => Err(RouteError::Abort(code::UNLISTED)),
        }
    }

    /// `set_max_exposure(slab, max_qty) -> index` (README "Exposure cap"): `UNLISTED` when no
    /// entry, active or not, names `slab`; otherwise its `max_exposure = max_qty` (0 lifts the
    /// cap) and its index. `open_qty` and the positions already open are untouched.
    /// (Governance-only by the runtime's direct-call rule, which is not represented.)
    pub fn set_max_exposure(&mut self, slab: u64, max_qty: u64) -> Result<u64, RouteError> {
        let i = self
            .registry
            .iter()
            .position(|e| e.slab == slab)
            .ok_or(RouteError::Abort(code::UNLISTED))?;
        self.registry[i].max_exposure = max_qty;
        Ok(i as u64)
    }

    /// `slab_exposure(slab) -> (max_exposure, open_qty)`: `UNLISTED` when no entry, active or
    /// not, names `slab`.
    pub fn slab_exposure(&self, slab: u64) -> Result<(u64, u64), RouteError> {
        self.registry
            .iter()
            .find(|e| e.slab == slab)
            .map(|e| (e.max_exposure, e.open_qty))
            .ok_or(RouteError::Abort(code::UNLISTED))
    }

    /// The room a route of `user` on `side` of `instrument` has on `slab` (README "Exposure
    /// cap"), from the registry's `open_qty` and the user's leg `qty` as they stand now: `None`
    /// (unbounded) without a cap, else `max(0, max_exposure − open_qty) + closable` with
    /// `closable = |qty|` of the user's (slab, instrument) leg when it is on the other side of
    /// the route (a long for a sell, a short for a buy), else 0.
    fn room(&self, user: u64, slab: u64, instrument: u64, side: u64) -> Option<u128> {
        let e = self
            .registry
            .iter()
            .find(|e| e.slab == slab)
            .expect("reference model: a routed slab has a registry entry");
        if e.max_exposure == 0 {
            return None;
        }
        let qty = self.portfolios.get(&user).map_or(0, |pf| {
            pf.legs
                .iter()
                .position(|&l| l.0 != 0 && l == (slab, instrument))
                .map_or(0, |slot| pf.qty[slot])
        });
        let closable = if (side == 1 && qty > 0) || (side == 0 && qty < 0) {
            qty.unsigned_abs()
        } else {
            0
        };
        Some(e.max_exposure.saturating_sub(e.open_qty) as u128 + closable)
    }

    /// Sets `pf`'s slot `slot` (taken) to `qty` and moves its slab's registry `open_qty` by
    /// `|qty after| − |qty before|`.
    fn set_leg_qty(&mut self, pf: &mut Portfolio, slot: usize, qty: i128) {
        let slab = pf.legs[slot].0;
        let before = pf.qty[slot].unsigned_abs();
        let after = qty.unsigned_abs();
        let e = self
            .registry
            .iter_mut()
            .find(|e| e.slab == slab)
            .expect("reference model: a leg's slab has a registry entry");
        let open = (e.open_qty as u128 + after)
            .checked_sub(before)
            .expect("reference model: open_qty below 0");
        e.open_qty = u64::try_from(open).expect("reference model: open_qty above u64");
        pf.qty[slot] = qty;
    }

    /// Removes `pf`'s slot `slot` from the portfolio: its slab's `open_qty −= |qty|` and the
    /// slot is emptied (slab, instrument and qty 0).
    fn clear_leg(&mut self, pf: &mut Portfolio, slot: usize) {
        self.set_leg_qty(pf, slot, 0);
        pf.legs[slot] = (0, 0);
    }

    // ---- route ----

    /// `route(user, route_id, instrument, side, qty, limit_px, slab_a, slab_b, slab_c) ->
    /// (filled_qty, notional, total_debit, legs)` at batch time `now_ms` (README steps 1–7).
    #[allow(clippy::too_many_arguments)]
    pub fn route(
        &mut self,
        now_ms: u64,
        user: u64,
        route_id: u64,
        instrument: u64,
        side: u64,
        qty: u64,
        limit_px: u64,
        legs: [u64; 3],
    ) -> Result<(u64, u128, u128, u64), RouteError> {
        let r = self.route_report(
            now_ms, user, route_id, instrument, side, qty, limit_px, legs,
        )?;
        Ok((r.filled_qty, r.notional, r.total_debit, r.legs.len() as u64))
    }

    /// [`RouterModel::route`] with the committed legs in detail.
    #[allow(clippy::too_many_arguments)]
    pub fn route_report(
        &mut self,
        now_ms: u64,
        user: u64,
        route_id: u64,
        instrument: u64,
        side: u64,
        qty: u64,
        limit_px: u64,
        legs: [u64; 3],
    ) -> Result<RouteReport, RouteError> {
        self.atomic(|m| {
            m.route_inner(
                now_ms, user, route_id, instrument, side, qty, limit_px, legs,
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn route_inner(
        &mut self,
        now_ms: u64,
        user: u64,
        route_id: u64,
        instrument: u64,
        side: u64,
        qty: u64,
        limit_px: u64,
        legs: [u64; 3],
    ) -> Result<RouteReport, RouteError> {
        // 1. Admission.
        let used = self.admit(user, side, qty, legs)?;
        let ttl = self.cap_ttl_ms;

        // 2.–4. Probe, allocate by price, fill or nothing.
        let kept = self.allocate(
            now_ms, user, route_id, instrument, side, qty, limit_px, &used,
        )?;

        // 5. Commit: a funded leg per kept hold, in price order.
        let mut report = RouteReport {
            filled_qty: qty,
            notional: 0,
            total_debit: 0,
            legs: Vec::new(),
        };
        for k in kept {
            let (s, hold_id, max_charge) = (k.slab, k.hold_id, k.max_charge);
            self.ledger.pledge(user, s, max_charge)?;
            let cap_id = self.ledger.mint(now_ms, user, s, max_charge, ttl);
            let c = self.commit_leg(now_ms, user, s, hold_id, cap_id, max_charge)?;
            report.notional += c.filled_qty as u128 * c.avg_px as u128;
            report.total_debit += c.total_debit;
            report.legs.push(LegReport {
                slab: s,
                hold_id,
                max_charge,
                cap_id,
                committed: c,
            });
        }

        // 6. Margin: portfolio margin's step 1 and the legs' qty, then steps 2–5.
        let committed: Vec<(u64, u64)> = report
            .legs
            .iter()
            .map(|l| (l.slab, l.committed.filled_qty))
            .collect();
        self.margin_step(user, instrument, side, &committed)?;

        // 7. Result.
        self.routes += 1;
        Ok(report)
    }

    /// Route step 1, admission: `BAD_USER`, `BAD_SIDE`, `BAD_QTY`, `NO_LEGS`, `UNLISTED`,
    /// `DUPLICATE_LEG`, in that order. Returns the used legs' slabs in leg order.
    fn admit(
        &self,
        user: u64,
        side: u64,
        qty: u64,
        legs: [u64; 3],
    ) -> Result<Vec<u64>, RouteError> {
        if user == 0 {
            return Err(RouteError::Abort(code::BAD_USER));
        }
        if side > 1 {
            return Err(RouteError::Abort(code::BAD_SIDE));
        }
        if qty == 0 {
            return Err(RouteError::Abort(code::BAD_QTY));
        }
        let used: Vec<u64> = legs.iter().copied().filter(|&s| s != 0).collect();
        if used.is_empty() {
            return Err(RouteError::Abort(code::NO_LEGS));
        }
        // Choice: every leg's UNLISTED check (in leg order) before the distinctness check.
        for &s in &used {
            if !self.is_active(s) {
                return Err(RouteError::Abort(code::UNLISTED));
            }
        }
        for (i, &s) in used.iter().enumerate() {
            if used[..i].contains(&s) {
                return Err(RouteError::Abort(code::DUPLICATE_LEG));
            }
        }
        Ok(used)
    }

    /// Whether an active registry entry names `slab`.
    fn is_active(&self, slab: u64) -> bool {
        self.registry.iter().any(|e| e.slab == slab && e.active)
    }

    /// Route steps 2–4 on the admitted legs `used` (in leg order): the probes, the allocation by
    /// price with the exposure rooms, and fill-or-nothing (`EXPOSURE_CAP` / `UNFILLED`). Returns
    /// the kept holds in price (rank) order. The caller runs it atomically: an `Err` may leave
    /// holds behind.
    #[allow(clippy::too_many_arguments)]
    fn allocate(
        &mut self,
        now_ms: u64,
        user: u64,
        route_id: u64,
        instrument: u64,
        side: u64,
        qty: u64,
        limit_px: u64,
        used: &[u64],
    ) -> Result<Vec<Kept>, RouteError> {
        let ttl = self.cap_ttl_ms;

        // 2. Probe: per used leg, its slab and the probe hold (None: the reserve was refused).
        let mut probes: Vec<(u64, Option<Probe>)> = Vec::new();
        for &s in used {
            let slab = self.slab_entry_mut(s)?;
            let probe = slab
                .model
                .reserve(
                    now_ms,
                    route_id,
                    user,
                    instrument,
                    side,
                    qty,
                    limit_px,
                    ttl,
                    [0; 4],
                    &slab.marks,
                )
                .ok()
                .map(|r| Probe {
                    hold_id: r.hold_id,
                    filled: r.filled_qty,
                    vwap_px: r.vwap_px,
                });
            probes.push((s, probe));
        }

        // 3. Allocate by price: non-empty legs by vwap (ascending to buy, descending to sell;
        // stable, so ties keep leg order), then the empty legs.
        let mut order: Vec<usize> = (0..probes.len()).collect();
        order.sort_by(|&a, &b| match (probes[a].1, probes[b].1) {
            (Some(pa), Some(pb)) => {
                if side == 0 {
                    pa.vwap_px.cmp(&pb.vwap_px)
                } else {
                    pb.vwap_px.cmp(&pa.vwap_px)
                }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        let mut need = qty;
        // Each leg's room, from the registry's open_qty and the user's leg qty as they stand
        // before the route (nothing in the route moves them before step 6; the legs' slabs are
        // distinct, so one leg's take never changes another's room).
        let rooms: Vec<Option<u128>> = probes
            .iter()
            .map(|&(s, _)| self.room(user, s, instrument, side))
            .collect();
        // Whether a leg was capped: its room below min(need, filled).
        let mut capped = false;
        // Kept holds in price order, each with its rank (its position in `order`).
        let mut kept: Vec<Kept> = Vec::new();
        for (rank, &i) in order.iter().enumerate() {
            let (s, probe) = probes[i];
            let Some(Probe {
                hold_id, filled, ..
            }) = probe
            else {
                continue; // An empty leg: no hold to cancel, nothing to reserve.
            };
            let slab = self.slab_entry_mut(s)?;
            slab.model
                .cancel(now_ms, hold_id)
                .expect("the slab model's cancel never aborts");
            if need > 0 && filled > 0 {
                let want = need.min(filled);
                // take = min(need, filled, room); the room is unbounded without a cap.
                let take = match rooms[i] {
                    Some(room) if room < want as u128 => {
                        capped = true;
                        room as u64
                    }
                    _ => want,
                };
                if take == 0 {
                    continue; // A take of 0 reserves nothing.
                }
                // Choice: a refused re-reserve filled 0. Without a cap it is unreachable (the
                // cancel freed the same orders, which come back first); a room that is not a
                // multiple of the instrument's lot makes the slab refuse the take (`LOT`), so
                // that leg fills nothing.
                if let Ok(r) = slab.model.reserve(
                    now_ms,
                    route_id,
                    user,
                    instrument,
                    side,
                    take,
                    limit_px,
                    ttl,
                    [0; 4],
                    &slab.marks,
                ) {
                    need -= r.filled_qty;
                    kept.push(Kept {
                        rank,
                        slab: s,
                        hold_id: r.hold_id,
                        filled: r.filled_qty,
                        max_charge: r.max_charge,
                    });
                }
            }
        }

        // 4. Fill or nothing: EXPOSURE_CAP when a leg was capped, else UNFILLED.
        if need > 0 {
            let code = if capped {
                code::EXPOSURE_CAP
            } else {
                code::UNFILLED
            };
            return Err(RouteError::Abort(code));
        }
        Ok(kept)
    }

    /// A funded leg's steps 3–4 once its pledge and cap exist: the slab's `commit(hold_id, cap,
    /// salt 0, margin 1)` with the escrow `(user, slab)` as it stands, the debit through the cap
    /// (`safe_debit`: escrow → what the slab collected, off the cap's `remaining`), the release
    /// of `charge − debit` and the cap's burn. Any `Err` of the slab's commit is `LEG_FAILED`.
    /// The caller runs it atomically.
    fn commit_leg(
        &mut self,
        now_ms: u64,
        user: u64,
        s: u64,
        hold_id: u64,
        cap_id: u64,
        charge: u128,
    ) -> Result<Committed, RouteError> {
        let view = self.cap_view(cap_id);
        let escrow = self.ledger.escrow(user, s);
        let slab = self.slab_entry_mut(s)?;
        let marks = slab.marks.clone();
        // The router margins the account: margin = 1.
        let committed: Result<Committed, SlabAbort> =
            slab.model
                .commit(now_ms, hold_id, Some(view), s, escrow, &marks, [0; 4], 1);
        let Ok(c) = committed else {
            return Err(RouteError::Abort(code::LEG_FAILED));
        };
        // safe_debit: the escrow and the cap pay the slab.
        let taken = c.total_debit;
        self.ledger.escrows.insert((user, s), escrow - taken);
        self.ledger.cap_mut(cap_id).remaining -= taken;
        *self.ledger.collected.entry(s).or_insert(0) += taken;
        // 4. of the funded leg: what the commit did not take goes back; the cap is burned.
        self.ledger.release(user, s, charge - taken)?;
        self.ledger.cap_mut(cap_id).burned = true;
        Ok(c)
    }

    // ---- two-phase routes ----

    /// `route_reserve(user, route_id, instrument, side, qty, limit_px, slab_a, slab_b, slab_c)
    /// -> (filled_qty, legs, expiry_ms)` at batch time `now_ms` (README "Two-phase routes"
    /// steps 1–5), atomic like every entrypoint. The kept holds' pledges and caps stay in the
    /// ledger (escrows `(user, slab)` hold each leg's `max_charge`, the caps unburned) until
    /// [`RouterModel::route_commit`] or [`RouterModel::route_sweep`]. (The runtime's
    /// `Sender("user")` rule is not represented.)
    #[allow(clippy::too_many_arguments)]
    pub fn route_reserve(
        &mut self,
        now_ms: u64,
        user: u64,
        route_id: u64,
        instrument: u64,
        side: u64,
        qty: u64,
        limit_px: u64,
        legs: [u64; 3],
    ) -> Result<(u64, u64, u64), RouteError> {
        self.atomic(|m| {
            m.route_reserve_inner(
                now_ms, user, route_id, instrument, side, qty, limit_px, legs,
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn route_reserve_inner(
        &mut self,
        now_ms: u64,
        user: u64,
        route_id: u64,
        instrument: u64,
        side: u64,
        qty: u64,
        limit_px: u64,
        legs: [u64; 3],
    ) -> Result<(u64, u64, u64), RouteError> {
        // 1. Admission: route's step 1.
        let used = self.admit(user, side, qty, legs)?;
        // 2. Pending: the record found or created (PORTFOLIOS_FULL is not modelled: the table
        // never fills); ROUTE_PENDING when it holds a pending route (expiry_ms ≠ 0).
        let mut pf = self.portfolios.get(&user).cloned().unwrap_or_default();
        if pf.pending.expiry_ms != 0 {
            return Err(RouteError::Abort(code::ROUTE_PENDING));
        }
        // 3. Probe, allocate, fill or nothing: route's steps 2–4 (the same code). A new record
        // is stored only at step 5 (an empty record and none give the same rooms).
        let kept = self.allocate(
            now_ms, user, route_id, instrument, side, qty, limit_px, &used,
        )?;
        // 4. Fund, in rank order: pledge max_charge (a vault that cannot pay is the host's
        // vault_balance: everything undone), mint a cap for it with CAP_TTL.
        let ttl = self.cap_ttl_ms;
        // Choice: expiry_ms is the caps' expiry, now + min(CAP_TTL, 120 s) (saturating): the
        // README's `now + CAP_TTL` whenever CAP_TTL ≤ 120 s, which it says always holds.
        let expiry_ms = now_ms.saturating_add(ttl.min(CAP_TTL_MAX_MS));
        let mut pending = PendingRoute {
            route_id,
            instrument,
            side,
            qty,
            expiry_ms,
            slots: [PendingSlot::default(); LEGS_MAX],
        };
        for k in &kept {
            self.ledger.pledge(user, k.slab, k.max_charge)?;
            let cap_id = self.ledger.mint(now_ms, user, k.slab, k.max_charge, ttl);
            debug_assert_eq!(self.ledger.caps[(cap_id - 1) as usize].expiry_ms, expiry_ms);
            // 5. The hold kept for the leg ranked k goes into slot k (slots are not compacted:
            // a rank that kept no hold leaves its slot empty).
            pending.slots[k.rank] = PendingSlot {
                slab: k.slab,
                hold: k.hold_id,
                cap: cap_id,
                filled: k.filled,
                charge: k.max_charge,
            };
        }
        // 5. Record. Choice: at batch time 0 with CAP_TTL 0 the record's expiry_ms is 0, which
        // reads as "no pending route" (the README's encoding): the record is stored as it is and
        // its pledges and caps stay in the ledger with nothing naming them.
        pf.pending = pending;
        self.portfolios.insert(user, pf);
        Ok((qty, kept.len() as u64, expiry_ms))
    }

    /// `route_commit(user, route_id) -> (filled_qty, notional, total_debit, legs)` at batch
    /// time `now_ms` (README "Two-phase routes" steps 1–6), atomic like every entrypoint: an
    /// abort (`BAD_USER`, `NO_PENDING`, `EXPIRED`, `UNLISTED`, `EXPOSURE_CAP`, `LEG_FAILED`,
    /// `PORTFOLIO_FULL`, `MARGIN_VIEW`) or a host refusal leaves the route pending as it was.
    /// (The runtime's `Sender("user")` rule is not represented.)
    pub fn route_commit(
        &mut self,
        now_ms: u64,
        user: u64,
        route_id: u64,
    ) -> Result<(u64, u128, u128, u64), RouteError> {
        let r = self.route_commit_report(now_ms, user, route_id)?;
        Ok((r.filled_qty, r.notional, r.total_debit, r.legs.len() as u64))
    }

    /// [`RouterModel::route_commit`] with the committed legs in detail (slot order).
    pub fn route_commit_report(
        &mut self,
        now_ms: u64,
        user: u64,
        route_id: u64,
    ) -> Result<RouteReport, RouteError> {
        self.atomic(|m| m.route_commit_inner(now_ms, user, route_id))
    }

    fn route_commit_inner(
        &mut self,
        now_ms: u64,
        user: u64,
        route_id: u64,
    ) -> Result<RouteReport, RouteError> {
        // 1. A nonzero user with a pending route of this route_id.
        let mut pf = self.pending_record(user, route_id)?;
        let p = pf.pending;
        // 2. F1: an expired route cannot commit (nothing changes).
        if now_ms > p.expiry_ms {
            return Err(RouteError::Abort(code::EXPIRED));
        }
        // 3. Legs, in slot order.
        let mut report = RouteReport {
            filled_qty: p.qty,
            notional: 0,
            total_debit: 0,
            legs: Vec::new(),
        };
        for slot in p.slots {
            if slot.hold == 0 {
                continue;
            }
            // a. Listed and active now.
            if !self.is_active(slot.slab) {
                return Err(RouteError::Abort(code::UNLISTED));
            }
            // b. The slot's fill within the slab's room now (the legs are on distinct slabs and
            // no qty moves before step 5, so this is the room as the call found it).
            if let Some(room) = self.room(user, slot.slab, p.instrument, p.side)
                && slot.filled as u128 > room
            {
                return Err(RouteError::Abort(code::EXPOSURE_CAP));
            }
            // c.–d. The commit with the stored hold and cap, the debit, the release of
            // charge − debit, the burn.
            let c = self.commit_leg(now_ms, user, slot.slab, slot.hold, slot.cap, slot.charge)?;
            report.notional += c.filled_qty as u128 * c.avg_px as u128;
            report.total_debit += c.total_debit;
            report.legs.push(LegReport {
                slab: slot.slab,
                hold_id: slot.hold,
                max_charge: slot.charge,
                cap_id: slot.cap,
                committed: c,
            });
        }
        // 4. The pending record is cleared.
        pf.pending = PendingRoute::default();
        self.portfolios.insert(user, pf);
        // 5. Margin: route's step 6 for the committed legs (in slot order; the commit's fill
        // moves the leg's qty, as in route).
        let committed: Vec<(u64, u64)> = report
            .legs
            .iter()
            .map(|l| (l.slab, l.committed.filled_qty))
            .collect();
        self.margin_step(user, p.instrument, p.side, &committed)?;
        // 6. Result: route's step 7.
        self.routes += 1;
        Ok(report)
    }

    /// `route_sweep(user, route_id) -> (released, legs)` at batch time `now_ms` (README
    /// "Two-phase routes"), atomic like every entrypoint: `BAD_USER`, `NO_PENDING`,
    /// `NOT_EXPIRED` (`now ≤ expiry_ms`), a refused cancel `LEG_FAILED`. Anyone may call it (the
    /// caller is not represented). It does not count in `routes`.
    pub fn route_sweep(
        &mut self,
        now_ms: u64,
        user: u64,
        route_id: u64,
    ) -> Result<(u128, u64), RouteError> {
        self.atomic(|m| m.route_sweep_inner(now_ms, user, route_id))
    }

    fn route_sweep_inner(
        &mut self,
        now_ms: u64,
        user: u64,
        route_id: u64,
    ) -> Result<(u128, u64), RouteError> {
        // 1. A nonzero user with a pending route of this route_id.
        let mut pf = self.pending_record(user, route_id)?;
        let p = pf.pending;
        // 2. Before its expiry a route is its user's to commit.
        if now_ms <= p.expiry_ms {
            return Err(RouteError::Abort(code::NOT_EXPIRED));
        }
        // 3. Per non-empty slot in slot order: cancel the hold (idempotent), release the whole
        // charge, burn the cap. (Choice: the registry does not matter here — a delisted slab's
        // hold is cancelled too.)
        let mut released: u128 = 0;
        let mut legs: u64 = 0;
        for slot in p.slots {
            if slot.hold == 0 {
                continue;
            }
            let slab = self.slab_entry_mut(slot.slab)?;
            if slab.model.cancel(now_ms, slot.hold).is_err() {
                return Err(RouteError::Abort(code::LEG_FAILED));
            }
            self.ledger.release(user, slot.slab, slot.charge)?;
            self.ledger.cap_mut(slot.cap).burned = true;
            released += slot.charge;
            legs += 1;
        }
        // 4. The pending record is cleared.
        pf.pending = PendingRoute::default();
        self.portfolios.insert(user, pf);
        Ok((released, legs))
    }

    /// Step 1 of `route_commit` and `route_sweep`: `BAD_USER` for user 0, `NO_PENDING` unless
    /// `user`'s record holds a pending route (`expiry_ms ≠ 0`) of `route_id`. Returns the record.
    fn pending_record(&self, user: u64, route_id: u64) -> Result<Portfolio, RouteError> {
        if user == 0 {
            return Err(RouteError::Abort(code::BAD_USER));
        }
        match self.portfolios.get(&user) {
            Some(pf) if pf.pending.expiry_ms != 0 && pf.pending.route_id == route_id => {
                Ok(pf.clone())
            }
            _ => Err(RouteError::Abort(code::NO_PENDING)),
        }
    }

    /// The user's pending route, if any: `(route_id, expiry_ms)` (a record whose `expiry_ms` is
    /// 0 holds none).
    pub fn pending(&self, user: u64) -> Option<(u64, u64)> {
        self.pending_route(user).map(|p| (p.route_id, p.expiry_ms))
    }

    /// The user's whole pending record, if a route is pending.
    pub fn pending_route(&self, user: u64) -> Option<&PendingRoute> {
        self.portfolios
            .get(&user)
            .map(|pf| &pf.pending)
            .filter(|p| p.expiry_ms != 0)
    }

    /// What `user`'s pending route holds pledged in the escrow `(user, slab)` (its slot's
    /// `charge` on that slab; 0 without one). Outside a route's call, every escrow `(user,
    /// slab ≠ 0)` equals this.
    pub fn pending_charge(&self, user: u64, slab: u64) -> u128 {
        self.pending_route(user).map_or(0, |p| {
            p.slots
                .iter()
                .filter(|s| s.hold != 0 && s.slab == slab)
                .map(|s| s.charge)
                .sum()
        })
    }

    /// Whether every cap not burned is a cap of a pending route's slot (true with none): outside
    /// a call, only pending routes hold live caps.
    pub fn unburned_caps_are_pending(&self) -> bool {
        self.ledger.caps.iter().filter(|c| !c.burned).all(|c| {
            self.pending_route(c.user)
                .is_some_and(|p| p.slots.iter().any(|s| s.hold != 0 && s.cap == c.id))
        })
    }

    /// Route step 6 for `user` after a route's commits `committed` (in commit order) of
    /// `instrument` on `side`, each `(slab, filled)`: portfolio margin step 1 per leg (its
    /// pair into the lowest free slot if missing), its `qty` moved by the fill (+ for a buy,
    /// − for a sell) with its slab's `open_qty`, then portfolio margin steps 2–5.
    fn margin_step(
        &mut self,
        user: u64,
        instrument: u64,
        side: u64,
        committed: &[(u64, u64)],
    ) -> Result<(), RouteError> {
        let mut pf = self.portfolios.get(&user).cloned().unwrap_or_default();
        for &(s, filled) in committed {
            // 1. Portfolio: the committed (slab, instrument) into the lowest free slot if
            // missing (a free slot's qty is 0).
            let pair = (s, instrument);
            let slot = match pf.legs.iter().position(|&l| l == pair) {
                Some(slot) => slot,
                None => {
                    let free = pf
                        .legs
                        .iter()
                        .position(|l| l.0 == 0)
                        .ok_or(RouteError::Abort(code::PORTFOLIO_FULL))?;
                    pf.legs[free] = pair;
                    free
                }
            };
            // The leg's qty moves by the fill; open_qty by |after| − |before|.
            let fill = filled as i128;
            let after = if side == 0 {
                pf.qty[slot] + fill
            } else {
                pf.qty[slot] - fill
            };
            self.set_leg_qty(&mut pf, slot, after);
        }
        self.settle_margin(user, pf)?;
        Ok(())
    }

    /// Portfolio margin steps 2–5 for `user`'s portfolio `pf` (its legs after step 1, its
    /// `locked` as stored): the views, sums and netting, the legs not open cleared, the lock
    /// brought to `max(0, IM − E)`; stores `pf` and returns the lock after. The caller runs it
    /// atomically: an `Err` may leave the ledger half-moved.
    fn settle_margin(&mut self, user: u64, mut pf: Portfolio) -> Result<u128, RouteError> {
        // 2.–4. Views, sums, netting; then the legs not open are cleared (open_qty −= |qty|).
        let view = self.margin_view(user, &pf.legs)?;
        for slot in 0..PORTFOLIO_LEGS {
            if pf.legs[slot].0 != 0 && !view.open[slot] {
                self.clear_leg(&mut pf, slot);
            }
        }
        // 5. Lock: required = max(0, IM − E).
        let im = i128::try_from(view.im).expect("reference model: IM above i128");
        let required: u128 = if im > view.equity {
            (im - view.equity) as u128
        } else {
            0
        };
        if required > pf.locked {
            self.ledger.pledge(user, LOCK_SLAB, required - pf.locked)?;
        } else if required < pf.locked {
            self.ledger.release(user, LOCK_SLAB, pf.locked - required)?;
        }
        pf.locked = required;
        // At initial margin the account is out of any liquidation's grace window.
        pf.flagged_ms = 0;
        self.portfolios.insert(user, pf);
        Ok(required)
    }

    /// `sync_margin(user) -> locked`: portfolio margin steps 2–5 for `user`'s stored portfolio
    /// without a trade — each leg's view with the current marks (a leg not open is cleared),
    /// the sums, the netting, and the lock brought to `max(0, IM − E)` by a pledge from or a
    /// release to `user`'s vault. Returns the lock after. User 0 or a user without a portfolio
    /// record: `Ok(0)`, nothing changes. A view refused by a slab is `MARGIN_VIEW`, a vault that
    /// cannot pay the pledge `Host("vault_balance")`; either way nothing changes. `routes` is
    /// not counted. (The runtime's `Sender("user")` rule is not represented.)
    pub fn sync_margin(&mut self, user: u64) -> Result<u128, RouteError> {
        if user == 0 {
            return Ok(0);
        }
        let Some(pf) = self.portfolios.get(&user).cloned() else {
            return Ok(0);
        };
        self.atomic(|m| m.settle_margin(user, pf))
    }

    /// Portfolio margin steps 2–4 for `user`'s `legs`, changing nothing.
    fn margin_view(
        &self,
        user: u64,
        legs: &[(u64, u64); PORTFOLIO_LEGS],
    ) -> Result<MarginView, RouteError> {
        let mut out = MarginView {
            equity: 0,
            im: 0,
            mm: 0,
            open: [false; PORTFOLIO_LEGS],
            mm_pos: [0; PORTFOLIO_LEGS],
            key: [0; PORTFOLIO_LEGS],
        };
        let mut seen: Vec<u64> = Vec::new();
        // Per oracle_key ≠ 0: (Σ im_pos, Σ |im_pos|, Σ mm_pos, Σ |mm_pos|).
        let mut groups: BTreeMap<u64, (i128, u128, i128, u128)> = BTreeMap::new();
        for (slot, &(s, instrument)) in legs.iter().enumerate() {
            if s == 0 {
                continue;
            }
            let slab = self
                .slabs
                .iter()
                .find(|x| x.id == s)
                .ok_or(RouteError::Host("no_program"))?;
            let (equity, im, mm, im_pos, mm_pos, key, open) = slab
                .model
                .exposure(user, instrument, &slab.marks)
                .map_err(|_| RouteError::Abort(code::MARGIN_VIEW))?;
            // 3. A slab's account words count at its first leg only.
            if !seen.contains(&s) {
                seen.push(s);
                out.equity = out
                    .equity
                    .checked_add(equity)
                    .expect("reference model: E overflows");
                out.im = out
                    .im
                    .checked_add(im)
                    .expect("reference model: IM overflows");
                out.mm = out
                    .mm
                    .checked_add(mm)
                    .expect("reference model: MM overflows");
            }
            if key != 0 {
                let g = groups.entry(key).or_default();
                g.0 += im_pos;
                g.1 += im_pos.unsigned_abs();
                g.2 += mm_pos;
                g.3 += mm_pos.unsigned_abs();
            }
            out.open[slot] = open == 1;
            out.mm_pos[slot] = mm_pos;
            out.key[slot] = key;
        }
        // 4. Netting: cross_alpha saves G − |N| per feed, then each correlation pair's offset
        // from its feeds' nets; isolated keeps the per-slab sums (and ignores the pairs).
        if self.cross_alpha {
            for &(n_im, g_im, n_mm, g_mm) in groups.values() {
                let im_offset = g_im - n_im.unsigned_abs();
                let mm_offset = g_mm - n_mm.unsigned_abs();
                out.im = out
                    .im
                    .checked_sub(im_offset)
                    .expect("reference model: netted IM below 0");
                out.mm = out
                    .mm
                    .checked_sub(mm_offset)
                    .expect("reference model: netted MM below 0");
            }
            // The nets per feed key ≠ 0 among the legs: N_f = Σ im_pos for IM and, separately,
            // Σ mm_pos for MM.
            let n_im: BTreeMap<u64, i128> = groups.iter().map(|(&k, g)| (k, g.0)).collect();
            let n_mm: BTreeMap<u64, i128> = groups.iter().map(|(&k, g)| (k, g.2)).collect();
            out.im = out
                .im
                .checked_sub(pair_offsets(&self.correlations, &n_im))
                .expect("reference model: IM below 0 after the correlation pairs");
            out.mm = out
                .mm
                .checked_sub(pair_offsets(&self.correlations, &n_mm))
                .expect("reference model: MM below 0 after the correlation pairs");
        }
        Ok(out)
    }

    /// `margin(user) -> (equity, im, mm, locked)`: steps 2–4 for `user` without changing
    /// anything (no leg is removed), `equity = locked + E`. A user without a portfolio: zeros.
    /// A view refused by a slab is `MARGIN_VIEW`.
    pub fn margin(&self, user: u64) -> Result<(i128, u128, u128, u128), RouteError> {
        let Some(pf) = self.portfolios.get(&user) else {
            return Ok((0, 0, 0, 0));
        };
        let view = self.margin_view(user, &pf.legs)?;
        let locked = i128::try_from(pf.locked).expect("reference model: lock above i128");
        Ok((locked + view.equity, view.im, view.mm, pf.locked))
    }

    // ---- liquidation ----

    /// `liquidate(user) -> (status, health, residual)` at batch time `now_ms` (README
    /// "Liquidation", steps 1–7), atomic like every entrypoint: an abort (`BAD_USER`,
    /// `MARGIN_VIEW`, `LEG_FAILED`) or a host refusal changes nothing. Anyone may
    /// call it (the caller is not represented).
    pub fn liquidate(&mut self, now_ms: u64, user: u64) -> Result<(u64, i128, u128), RouteError> {
        let r = self.liquidate_report(now_ms, user)?;
        Ok((r.status, r.health, r.residual))
    }

    /// [`RouterModel::liquidate`] with its re-pledge and liquidation legs in detail.
    pub fn liquidate_report(
        &mut self,
        now_ms: u64,
        user: u64,
    ) -> Result<LiquidationReport, RouteError> {
        self.atomic(|m| m.liquidate_inner(now_ms, user))
    }

    fn liquidate_inner(&mut self, now_ms: u64, user: u64) -> Result<LiquidationReport, RouteError> {
        let lp = self.liquidation;
        let buffer = lp.preliq_buffer;
        let mut report = LiquidationReport {
            status: status::HEALTHY,
            health: 0,
            residual: 0,
            repledged: 0,
            legs: Vec::new(),
            relocked: 0,
        };
        // 1. A nonzero user; no portfolio record: healthy, nothing changes (choice: a record
        // whose slots are all free is still a portfolio, as for sync_margin).
        if user == 0 {
            return Err(RouteError::Abort(code::BAD_USER));
        }
        let Some(mut pf) = self.portfolios.get(&user).cloned() else {
            return Ok(report);
        };
        // 2. Views (steps 2–4 of portfolio margin, no leg removed): T = locked + E, H = T − MM.
        let view = self.margin_view(user, &pf.legs)?;
        let lock_i = |l: u128| i128::try_from(l).expect("reference model: lock above i128");
        let mut t = lock_i(pf.locked)
            .checked_add(view.equity)
            .expect("reference model: T overflows");
        let mut h = health(pf.locked, view.equity, view.mm);
        let mut short = shortfall(buffer, h, view.im, t);
        // 3. Not short: flagged_ms = 0 (the only write) and (3, H, 0).
        if short == 0 {
            pf.flagged_ms = 0;
            self.portfolios.insert(user, pf);
            report.health = h;
            return Ok(report);
        }
        // 4. Re-pledge: min(free, short) from the vault into the lock (free = the vault's
        // balance now; a pledge of 0 is not made); T and H grow by it, short recomputed.
        let free = self.ledger.vault(user);
        let pledge = free.min(short);
        if pledge > 0 {
            self.ledger.pledge(user, LOCK_SLAB, pledge)?;
        }
        pf.locked = pf
            .locked
            .checked_add(pledge)
            .expect("reference model: lock overflows");
        let p = lock_i(pledge);
        t = t.checked_add(p).expect("reference model: T overflows");
        h = h.checked_add(p).expect("reference model: H overflows");
        short = shortfall(buffer, h, view.im, t);
        report.repledged = pledge;
        if short == 0 {
            pf.flagged_ms = 0;
            self.portfolios.insert(user, pf);
            report.status = status::SAVED;
            report.health = h;
            return Ok(report);
        }
        // 5. Grace: the window opens at the first call that finds the account short (choice: a
        // call at batch time 0 stores 0, i.e. "none": the window re-opens at the next call).
        if pf.flagged_ms == 0 {
            pf.flagged_ms = now_ms;
        }
        if now_ms < pf.flagged_ms.saturating_add(lp.grace_ms) {
            self.portfolios.insert(user, pf);
            report.status = status::IN_GRACE;
            report.health = h;
            report.residual = short;
            return Ok(report);
        }
        // 6. Sweep. The deficit (short after the re-pledge) and the band from H after it.
        let deficit = short;
        let band = if h < 0 {
            lp.band_bps
        } else {
            lp.preliq_band_bps
        };
        // The lock back to the vault (a release of 0 is not made).
        if pf.locked > 0 {
            self.ledger.release(user, LOCK_SLAB, pf.locked)?;
        }
        pf.locked = 0;
        // Shares from the step-2 views (the positions of the other legs are untouched by a
        // leg's liquidation_call, so these are also their values at their turn).
        let shares = self.sweep_shares(&view);
        let mut left = deficit;
        let legs = pf.legs;
        for (slot, &(s, instrument)) in legs.iter().enumerate() {
            if s == 0 || !view.open[slot] {
                continue;
            }
            let d = left.min(shares[slot]);
            if d == 0 {
                continue;
            }
            // A liquidation leg: pledge the whole vault, a cap for it, the slab's call, the
            // debit through the cap, release what was not taken, burn.
            let amount = self.ledger.vault(user);
            self.ledger.pledge(user, s, amount)?;
            let cap_id = self.ledger.mint(now_ms, user, s, amount, self.cap_ttl_ms);
            let cap = self.cap_view(cap_id);
            let escrow = self.ledger.escrow(user, s);
            let slab = self.slab_entry_mut(s)?;
            let marks = slab.marks.clone();
            let called = slab.model.liquidation_call(
                now_ms,
                user,
                instrument,
                d,
                band,
                Some(cap),
                s,
                escrow,
                &marks,
            );
            let Ok((residual, closed_qty, debit)) = called else {
                return Err(RouteError::Abort(code::LEG_FAILED));
            };
            // safe_debit: the escrow and the cap pay the slab.
            self.ledger.escrows.insert((user, s), escrow - debit);
            self.ledger.cap_mut(cap_id).remaining -= debit;
            *self.ledger.collected.entry(s).or_insert(0) += debit;
            self.ledger.release(user, s, amount - debit)?;
            self.ledger.cap_mut(cap_id).burned = true;
            // deficit_left −= d − residual (the slab's residual = max(0, d − covered) ≤ d).
            left -= d
                .checked_sub(residual)
                .expect("reference model: a slab's residual above its deficit");
            // The leg's qty moves min(closed_qty, |qty|) towards 0; open_qty falls as much.
            let q = pf.qty[slot];
            let moved = (closed_qty as u128).min(q.unsigned_abs()) as i128;
            let after = if q > 0 { q - moved } else { q + moved };
            self.set_leg_qty(&mut pf, slot, after);
            report.legs.push(LiquidationLeg {
                slot,
                slab: s,
                instrument,
                share: shares[slot],
                deficit: d,
                band_bps: band,
                amount,
                cap_id,
                residual,
                closed_qty,
                debit,
            });
        }
        // 7. Re-lock: the views again (legs not open leave), required = max(0, IM − E) with the
        // lock at 0, pledged as far as the vault pays; flagged_ms kept.
        let after = self.margin_view(user, &pf.legs)?;
        for slot in 0..PORTFOLIO_LEGS {
            if pf.legs[slot].0 != 0 && !after.open[slot] {
                self.clear_leg(&mut pf, slot);
            }
        }
        let im = i128::try_from(after.im).expect("reference model: IM above i128");
        let required: u128 = if im > after.equity {
            (im - after.equity) as u128
        } else {
            0
        };
        let lock = required.min(self.ledger.vault(user));
        if lock > 0 {
            self.ledger.pledge(user, LOCK_SLAB, lock)?;
        }
        pf.locked = lock;
        self.portfolios.insert(user, pf);
        report.status = status::LIQUIDATED;
        report.health = health(lock, after.equity, after.mm);
        report.residual = left;
        report.relocked = lock;
        Ok(report)
    }

    /// Step 6's share of the deficit per slot, from the step-2 views: `isolated`, `|mm_pos|`;
    /// `cross_alpha`, for a leg of `oracle_key ≠ 0` on the side of `N = Σ mm_pos` over that
    /// key's legs, `min(|mm_pos|, |N| − Σ |mm_pos| of the earlier legs of that key on that
    /// side)` (0 when they already reach `|N|`), any other leg of that key 0 (choice: a leg of
    /// key 0, which never nets, gets `|mm_pos|`). A free slot or a position not open gets 0.
    fn sweep_shares(&self, view: &MarginView) -> [u128; PORTFOLIO_LEGS] {
        let mut shares = [0u128; PORTFOLIO_LEGS];
        if !self.cross_alpha {
            for (slot, share) in shares.iter_mut().enumerate() {
                if view.open[slot] {
                    *share = view.mm_pos[slot].unsigned_abs();
                }
            }
            return shares;
        }
        let mut net: BTreeMap<u64, i128> = BTreeMap::new();
        for slot in 0..PORTFOLIO_LEGS {
            if view.key[slot] != 0 {
                *net.entry(view.key[slot]).or_default() += view.mm_pos[slot];
            }
        }
        // Per key: Σ |mm_pos| of the legs seen so far on N's side.
        // (Every earlier leg on that side counts, open or not: a leg not open has mm_pos 0 in
        // practice, so this changes nothing.)
        let mut earlier: BTreeMap<u64, u128> = BTreeMap::new();
        for (slot, out) in shares.iter_mut().enumerate() {
            let (key, mm, open) = (view.key[slot], view.mm_pos[slot], view.open[slot]);
            if key == 0 {
                if open {
                    *out = mm.unsigned_abs();
                }
                continue;
            }
            let n = net[&key];
            if (mm > 0 && n > 0) || (mm < 0 && n < 0) {
                let e = earlier.entry(key).or_default();
                if open {
                    *out = mm.unsigned_abs().min(n.unsigned_abs().saturating_sub(*e));
                }
                *e += mm.unsigned_abs();
            }
        }
        shares
    }

    /// The host's view of cap `id` as the slab's `safe_debit` sees it (asset 0).
    fn cap_view(&self, id: u64) -> CapView {
        let cap = &self.ledger.caps[(id - 1) as usize];
        CapView {
            user: cap.user,
            slab: cap.slab,
            asset: 0,
            remaining: cap.remaining,
            expiry_ms: cap.expiry_ms,
            burned: cap.burned,
        }
    }

    fn slab_entry_mut(&mut self, id: u64) -> Result<&mut Slab, RouteError> {
        self.slabs
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(RouteError::Host("no_program"))
    }

    // ---- accessors ----

    /// The router's `CAP_TTL`.
    pub fn cap_ttl_ms(&self) -> u64 {
        self.cap_ttl_ms
    }

    /// `user`'s vault balance (asset 0).
    pub fn vault(&self, user: u64) -> u128 {
        self.ledger.vault(user)
    }

    /// `user`'s margin lock (`locked` of its portfolio; 0 without one). It equals the escrow
    /// `(user, 0)`.
    pub fn locked(&self, user: u64) -> u128 {
        self.portfolios.get(&user).map_or(0, |p| p.locked)
    }

    /// `user`'s portfolio leg slots `(slab, instrument)` (`(0, 0)` is free; all free without a
    /// portfolio).
    pub fn portfolio(&self, user: u64) -> [(u64, u64); PORTFOLIO_LEGS] {
        self.portfolios
            .get(&user)
            .map_or([(0, 0); PORTFOLIO_LEGS], |p| p.legs)
    }

    /// `user`'s legs' routed quantities `qty`, in slot order (0 for a free slot; all 0 without
    /// a portfolio).
    pub fn leg_qtys(&self, user: u64) -> [i128; PORTFOLIO_LEGS] {
        self.portfolios
            .get(&user)
            .map_or([0; PORTFOLIO_LEGS], |p| p.qty)
    }

    /// `user`'s `flagged_ms` (0 without a portfolio or a grace window).
    pub fn flagged_ms(&self, user: u64) -> u64 {
        self.portfolios.get(&user).map_or(0, |p| p.flagged_ms)
    }

    /// Every portfolio record, by user.
    pub fn portfolios(&self) -> &BTreeMap<u64, Portfolio> {
        &self.portfolios
    }

    /// The escrow balance of (`user`, `slab`) (asset 0).
    pub fn escrow(&self, user: u64, slab: u64) -> u128 {
        self.ledger.escrow(user, slab)
    }

    /// What `slab` took through `safe_debit` so far.
    pub fn collected(&self, slab: u64) -> u128 {
        self.ledger.collected.get(&slab).copied().unwrap_or(0)
    }

    /// Caps minted so far.
    pub fn caps_count(&self) -> usize {
        self.ledger.caps.len()
    }

    /// Whether every cap minted is burned (true with none). False while a route is pending
    /// (its caps live until its commit or sweep): see [`RouterModel::unburned_caps_are_pending`].
    pub fn all_caps_burned(&self) -> bool {
        self.ledger.caps.iter().all(|c| c.burned)
    }

    /// The caps, in id order.
    pub fn caps(&self) -> &[Cap] {
        &self.ledger.caps
    }

    /// The whole host ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The header's `routes`.
    pub fn routes(&self) -> u64 {
        self.routes
    }

    /// The header's `slabs_listed` (entries in use, active or not).
    pub fn slabs_listed(&self) -> u64 {
        self.registry.len() as u64
    }

    /// Registry entries in use, in index order, as `(slab, active)`.
    pub fn registry(&self) -> Vec<(u64, bool)> {
        self.registry.iter().map(|e| (e.slab, e.active)).collect()
    }

    /// The slabs' program ids, in the order they were added.
    pub fn slab_ids(&self) -> Vec<u64> {
        self.slabs.iter().map(|s| s.id).collect()
    }

    /// The slab model of program `id` (panics when there is none: a test bug).
    pub fn slab(&self, id: u64) -> &SlabModel {
        &self
            .slabs
            .iter()
            .find(|s| s.id == id)
            .expect("no such slab")
            .model
    }

    /// The slab model of program `id`, mutable (to place maker orders, open batches, …).
    pub fn slab_mut(&mut self, id: u64) -> &mut SlabModel {
        &mut self.slab_entry_mut(id).expect("no such slab").model
    }

    /// Slab `id`'s marks.
    pub fn marks(&self, id: u64) -> &[u64] {
        &self
            .slabs
            .iter()
            .find(|s| s.id == id)
            .expect("no such slab")
            .marks
    }

    /// Replaces slab `id`'s marks.
    pub fn set_marks(&mut self, id: u64, marks: Vec<u64>) {
        self.slab_entry_mut(id).expect("no such slab").marks = marks;
    }

    /// Everything observable, for equality checks.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            ledger: self.ledger.clone(),
            registry: self.registry.clone(),
            routes: self.routes,
            slabs: self
                .slabs
                .iter()
                .map(|s| (s.id, s.model.state(), s.marks.clone()))
                .collect(),
            portfolios: self.portfolios.clone(),
        }
    }
}
