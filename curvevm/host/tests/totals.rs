//! The ledger's running class sums stay equal to its entries summed one by one through random
//! pledges, releases, cap mints and debits inside nested calls that commit or roll back, and
//! through direct writes; a seeded generator whose seed is printed (`LEDGER_SEED=<n>` replays).

use curvevm_host::{Ledger, LedgerTotals};

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The sums by hand, from the public maps.
fn by_hand(ledger: &Ledger) -> LedgerTotals {
    LedgerTotals {
        vaults: ledger.vaults.values().sum(),
        escrows: ledger.escrows.values().map(|e| e.balance).sum(),
        accounts: ledger.accounts.values().sum(),
    }
}

#[test]
fn running_sums_follow_every_write_commit_and_rollback() {
    #[allow(clippy::disallowed_methods, reason = "a test reads its replay seed")]
    let seed = std::env::var("LEDGER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1ED6E5);
    println!("seed {seed} (LEDGER_SEED={seed} replays)");
    let mut rng = Rng(seed);
    let mut ledger = Ledger::default();
    let mut depth = 0;
    let mut caps = Vec::new();
    for step in 0..20_000 {
        let (user, slab, asset) = (rng.below(4), 1 + rng.below(3), rng.below(2));
        let amount = u128::from(rng.below(500));
        match rng.below(10) {
            0 => ledger.set_vault(user, asset, u128::from(rng.below(10_000))),
            1 => {
                ledger.begin_call();
                depth += 1;
            }
            2 if depth > 0 => {
                ledger.end_call(rng.below(3) != 0);
                depth -= 1;
            }
            3 => {
                let _ = ledger.pledge(user, slab, asset, amount);
            }
            4 => {
                let _ = ledger.release(user, slab, asset, amount);
            }
            5 => caps.push(ledger.mint_cap(user, slab, asset, amount, 60_000, 1_000)),
            6 if !caps.is_empty() => {
                let cap = caps[rng.below(caps.len() as u64) as usize];
                let _ = ledger.safe_debit(cap, user, slab, asset, amount, 1_000);
            }
            7 => ledger.set_escrow(user, slab, asset, u128::from(rng.below(1_000))),
            8 => ledger.set_account(slab, asset, u128::from(rng.below(1_000))),
            _ => {}
        }
        assert_eq!(
            ledger.totals(),
            by_hand(&ledger),
            "seed {seed}, step {step}"
        );
        assert!(ledger.audit());
    }
    while depth > 0 {
        ledger.end_call(false);
        depth -= 1;
        assert_eq!(ledger.totals(), by_hand(&ledger));
    }
    // Maps filled directly drift until the sums are recomputed.
    ledger.vaults.insert((9, 0), 5);
    assert!(!ledger.audit());
    ledger.recompute_totals();
    assert!(ledger.audit());
}
