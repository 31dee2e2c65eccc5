//! The rollup ledger the host calls act on, with an undo log so that a trapped call leaves no
//! trace. Ordered maps only: the runtime hashes this state, so iteration order is part of it.

use std::collections::{BTreeMap, BTreeSet};

use curvevm::hostcall::{MAX_CAP_TTL_MS, Refusal};

/// A user's dense id (assigned by the runtime on first deposit).
pub type UserId = u64;
/// A slab's (or any program's) id.
pub type SlabId = u64;
/// An asset's id.
pub type AssetId = u64;
/// A cap's id (sequential).
pub type CapId = u64;

/// Funds pledged by a user to one slab for one asset (percolator P4–P5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Escrow {
    /// Balance.
    pub balance: u128,
    /// Bumped by every credit and debit (anti-replay).
    pub nonce: u64,
}

/// A debit allowance scoped to one (user, slab, asset) (percolator P6–P7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    /// The user whose escrow it debits.
    pub user: UserId,
    /// The only slab that may use it.
    pub slab: SlabId,
    /// The asset.
    pub asset: AssetId,
    /// The allowance at mint.
    pub amount_max: u128,
    /// What is left of it.
    pub remaining: u128,
    /// Last valid batch time (`now == expiry` is still valid).
    pub expiry_ms: u64,
    /// Burned by the router.
    pub burned: bool,
    /// Bumped by every debit.
    pub nonce: u64,
}

impl Cap {
    /// A fresh cap: the whole allowance remaining, not burned.
    pub fn new(user: UserId, slab: SlabId, asset: AssetId, amount: u128, expiry_ms: u64) -> Cap {
        Cap {
            user,
            slab,
            asset,
            amount_max: amount,
            remaining: amount,
            expiry_ms,
            burned: false,
            nonce: 0,
        }
    }
}

/// An entry of the ledger, as the runtime's state tree names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LedgerKey {
    /// A vault balance.
    Vault(UserId, AssetId),
    /// An escrow.
    Escrow(UserId, SlabId, AssetId),
    /// A cap.
    Cap(CapId),
    /// The next cap id.
    NextCap,
    /// A slab account.
    Account(SlabId, AssetId),
}

#[derive(Clone, Debug)]
enum Undo {
    Vault((UserId, AssetId), Option<u128>),
    Escrow((UserId, SlabId, AssetId), Option<Escrow>),
    Cap(CapId, Option<Cap>),
    NextCap(CapId),
    Account((SlabId, AssetId), Option<u128>),
}

/// Running sums of the ledger classes the runtime's conservation check adds up, kept by every
/// write (modulo 2^128: a sum that overflowed shows as a mismatch, and [`Ledger::audit`] names
/// it). They make the per-batch check cost O(1) instead of a pass over every entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    /// Σ vault balances.
    pub vaults: u128,
    /// Σ escrow balances.
    pub escrows: u128,
    /// Σ slab accounts.
    pub accounts: u128,
}

/// Vault balances, escrows, caps and slab accounts. Write through the setters (or call
/// [`Ledger::recompute_totals`] after filling the maps directly), so that the running
/// [`LedgerTotals`] stay exact.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Each user's free balance per asset (deposits land here).
    pub vaults: BTreeMap<(UserId, AssetId), u128>,
    /// Escrows per (user, slab, asset).
    pub escrows: BTreeMap<(UserId, SlabId, AssetId), Escrow>,
    /// Caps by id.
    pub caps: BTreeMap<CapId, Cap>,
    /// The id the next cap gets.
    pub next_cap: CapId,
    /// What slabs collected through `safe_debit`, per (slab, asset).
    pub accounts: BTreeMap<(SlabId, AssetId), u128>,
    undo: Vec<Undo>,
    /// Where each open nested call's entries start in `undo` (innermost last).
    marks: Vec<usize>,
    /// Entries written since the last [`Ledger::take_touched`] (committed, rolled back or
    /// direct): what the runtime re-hashes.
    touched: BTreeSet<LedgerKey>,
    totals: LedgerTotals,
}

/// `total − old + new`, modulo 2^128.
fn replace_in(total: &mut u128, old: u128, new: u128) {
    *total = total.wrapping_sub(old).wrapping_add(new);
}

// Two ledgers are equal by their contents; the undo log is transient.
impl PartialEq for Ledger {
    fn eq(&self, other: &Ledger) -> bool {
        (
            &self.vaults,
            &self.escrows,
            &self.caps,
            self.next_cap,
            &self.accounts,
        ) == (
            &other.vaults,
            &other.escrows,
            &other.caps,
            other.next_cap,
            &other.accounts,
        )
    }
}

impl Eq for Ledger {}

impl Ledger {
    /// The escrow balance (zero when absent).
    pub fn escrow_balance(&self, user: UserId, slab: SlabId, asset: AssetId) -> u128 {
        self.escrow(user, slab, asset).balance
    }

    /// The vault balance (zero when absent).
    pub fn vault_balance(&self, user: UserId, asset: AssetId) -> u128 {
        self.vaults.get(&(user, asset)).copied().unwrap_or(0)
    }

    /// The slab account balance (zero when absent).
    pub fn account_balance(&self, slab: SlabId, asset: AssetId) -> u128 {
        self.accounts.get(&(slab, asset)).copied().unwrap_or(0)
    }

    /// Sets a vault balance outside any call (deposits, tests).
    pub fn set_vault(&mut self, user: UserId, asset: AssetId, balance: u128) {
        let old = self.vaults.insert((user, asset), balance);
        replace_in(&mut self.totals.vaults, old.unwrap_or(0), balance);
        self.touched.insert(LedgerKey::Vault(user, asset));
    }

    /// Sets an escrow balance outside any call (tests).
    pub fn set_escrow(&mut self, user: UserId, slab: SlabId, asset: AssetId, balance: u128) {
        let escrow = self.escrows.entry((user, slab, asset)).or_default();
        replace_in(&mut self.totals.escrows, escrow.balance, balance);
        escrow.balance = balance;
        self.touched.insert(LedgerKey::Escrow(user, slab, asset));
    }

    /// Sets a slab account outside any call (tests).
    pub fn set_account(&mut self, slab: SlabId, asset: AssetId, balance: u128) {
        let old = self.accounts.insert((slab, asset), balance);
        replace_in(&mut self.totals.accounts, old.unwrap_or(0), balance);
        self.touched.insert(LedgerKey::Account(slab, asset));
    }

    /// The running class sums.
    pub fn totals(&self) -> LedgerTotals {
        self.totals
    }

    /// The class sums computed entry by entry (`None` for a sum above u128).
    pub fn summed(&self) -> Option<LedgerTotals> {
        fn sum(mut values: impl Iterator<Item = u128>) -> Option<u128> {
            values.try_fold(0u128, u128::checked_add)
        }
        Some(LedgerTotals {
            vaults: sum(self.vaults.values().copied())?,
            escrows: sum(self.escrows.values().map(|e| e.balance))?,
            accounts: sum(self.accounts.values().copied())?,
        })
    }

    /// Whether the running sums equal the entry-by-entry ones (the full audit).
    pub fn audit(&self) -> bool {
        self.summed() == Some(self.totals)
    }

    /// Sets the running sums from the entries (after filling the maps directly, e.g. when a
    /// store is opened), modulo 2^128.
    pub fn recompute_totals(&mut self) {
        fn sum(values: impl Iterator<Item = u128>) -> u128 {
            values.fold(0, u128::wrapping_add)
        }
        self.totals = LedgerTotals {
            vaults: sum(self.vaults.values().copied()),
            escrows: sum(self.escrows.values().map(|e| e.balance)),
            accounts: sum(self.accounts.values().copied()),
        };
    }

    /// Adds a cap outside any call (genesis, tests); its id.
    pub fn add_cap(&mut self, cap: Cap) -> CapId {
        let id = self.next_cap;
        self.next_cap += 1;
        self.caps.insert(id, cap);
        self.touched
            .extend([LedgerKey::Cap(id), LedgerKey::NextCap]);
        id
    }

    /// The entries written since the last call, in key order (and forgets them).
    pub fn take_touched(&mut self) -> Vec<LedgerKey> {
        std::mem::take(&mut self.touched).into_iter().collect()
    }

    /// The escrow of (user, slab, asset) (empty when absent).
    fn escrow(&self, user: UserId, slab: SlabId, asset: AssetId) -> Escrow {
        self.escrows
            .get(&(user, slab, asset))
            .copied()
            .unwrap_or_default()
    }

    fn set_vault_logged(&mut self, key: (UserId, AssetId), balance: u128) {
        let old = self.vaults.insert(key, balance);
        replace_in(&mut self.totals.vaults, old.unwrap_or(0), balance);
        self.undo.push(Undo::Vault(key, old));
        self.touched.insert(LedgerKey::Vault(key.0, key.1));
    }

    fn set_escrow_logged(&mut self, key: (UserId, SlabId, AssetId), escrow: Escrow) {
        let old = self.escrows.insert(key, escrow);
        replace_in(
            &mut self.totals.escrows,
            old.map_or(0, |e| e.balance),
            escrow.balance,
        );
        self.undo.push(Undo::Escrow(key, old));
        self.touched.insert(LedgerKey::Escrow(key.0, key.1, key.2));
    }

    fn set_cap_logged(&mut self, id: CapId, cap: Cap) {
        let old = self.caps.insert(id, cap);
        self.undo.push(Undo::Cap(id, old));
        self.touched.insert(LedgerKey::Cap(id));
    }

    fn set_account_logged(&mut self, key: (SlabId, AssetId), balance: u128) {
        let old = self.accounts.insert(key, balance);
        replace_in(&mut self.totals.accounts, old.unwrap_or(0), balance);
        self.undo.push(Undo::Account(key, old));
        self.touched.insert(LedgerKey::Account(key.0, key.1));
    }

    /// Starts a call: changes from here on are undone by the matching rollback. Calls nest
    /// (a program invoking another); a call without `begin_call` spans the whole undo log.
    pub fn begin_call(&mut self) {
        self.marks.push(self.undo.len());
    }

    /// Ends the innermost call: keep its changes (commit; they stay undoable by an enclosing
    /// call's rollback until the outermost call commits) or replay them backwards (rollback).
    pub fn end_call(&mut self, commit: bool) {
        let mark = self.marks.pop().unwrap_or(0);
        if commit {
            if self.marks.is_empty() {
                self.undo.clear();
            }
            return;
        }
        let undo = self.undo.split_off(mark);
        /// Puts `old` back; the value it replaces.
        fn restore<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, old: Option<V>) -> Option<V> {
            match old {
                Some(value) => map.insert(key, value),
                None => map.remove(&key),
            }
        }
        let balance = |escrow: Option<Escrow>| escrow.map_or(0, |e| e.balance);
        for entry in undo.into_iter().rev() {
            match entry {
                Undo::Vault(key, old) => {
                    let undone = restore(&mut self.vaults, key, old);
                    replace_in(
                        &mut self.totals.vaults,
                        undone.unwrap_or(0),
                        old.unwrap_or(0),
                    );
                }
                Undo::Escrow(key, old) => {
                    let undone = restore(&mut self.escrows, key, old);
                    replace_in(&mut self.totals.escrows, balance(undone), balance(old));
                }
                Undo::Cap(key, old) => {
                    restore(&mut self.caps, key, old);
                }
                Undo::Account(key, old) => {
                    let undone = restore(&mut self.accounts, key, old);
                    replace_in(
                        &mut self.totals.accounts,
                        undone.unwrap_or(0),
                        old.unwrap_or(0),
                    );
                }
                Undo::NextCap(next) => self.next_cap = next,
            }
        }
    }

    /// Moves `amount` from the user's vault into escrow (user, slab, asset); the new escrow
    /// balance.
    pub fn pledge(
        &mut self,
        user: UserId,
        slab: SlabId,
        asset: AssetId,
        amount: u128,
    ) -> Result<u128, Refusal> {
        let vault = self.vault_balance(user, asset);
        let mut escrow = self.escrow(user, slab, asset);
        let vault = vault.checked_sub(amount).ok_or(Refusal::VaultBalance)?;
        escrow.balance = escrow
            .balance
            .checked_add(amount)
            .ok_or(Refusal::BalanceOverflow)?;
        escrow.nonce = escrow.nonce.wrapping_add(1);
        self.set_vault_logged((user, asset), vault);
        self.set_escrow_logged((user, slab, asset), escrow);
        Ok(escrow.balance)
    }

    /// Moves `amount` from escrow (user, slab, asset) back to the user's vault; the new escrow
    /// balance.
    pub fn release(
        &mut self,
        user: UserId,
        slab: SlabId,
        asset: AssetId,
        amount: u128,
    ) -> Result<u128, Refusal> {
        let mut escrow = self.escrow(user, slab, asset);
        escrow.balance = escrow
            .balance
            .checked_sub(amount)
            .ok_or(Refusal::EscrowBalance)?;
        let vault = self
            .vault_balance(user, asset)
            .checked_add(amount)
            .ok_or(Refusal::BalanceOverflow)?;
        escrow.nonce = escrow.nonce.wrapping_add(1);
        self.set_escrow_logged((user, slab, asset), escrow);
        self.set_vault_logged((user, asset), vault);
        Ok(escrow.balance)
    }

    /// Mints a cap expiring at `now + min(ttl, MAX_CAP_TTL_MS)`; its id.
    pub fn mint_cap(
        &mut self,
        user: UserId,
        slab: SlabId,
        asset: AssetId,
        amount: u128,
        ttl_ms: u64,
        now_ms: u64,
    ) -> CapId {
        let id = self.next_cap;
        self.undo.push(Undo::NextCap(id));
        self.touched.insert(LedgerKey::NextCap);
        self.next_cap += 1;
        let expiry_ms = now_ms.saturating_add(ttl_ms.min(MAX_CAP_TTL_MS));
        self.set_cap_logged(id, Cap::new(user, slab, asset, amount, expiry_ms));
        id
    }

    /// Burns a cap; the allowance it had left.
    pub fn burn_cap(&mut self, id: CapId) -> Result<u128, Refusal> {
        let mut cap = *self.caps.get(&id).ok_or(Refusal::UnknownCap)?;
        if cap.burned {
            return Err(Refusal::CapExpired);
        }
        cap.burned = true;
        self.set_cap_logged(id, cap);
        Ok(cap.remaining)
    }

    /// The one path by which escrow leaves for a slab (percolator R4/R6): every check before
    /// any write, in the order of `Cap::debit` — expired, scope, remaining — then the escrow
    /// balance. The cap's remaining allowance after.
    #[allow(clippy::too_many_arguments)]
    pub fn safe_debit(
        &mut self,
        cap_id: CapId,
        user: UserId,
        slab: SlabId,
        asset: AssetId,
        amount: u128,
        now_ms: u64,
    ) -> Result<u128, Refusal> {
        let mut cap = *self.caps.get(&cap_id).ok_or(Refusal::UnknownCap)?;
        if cap.burned || now_ms > cap.expiry_ms {
            return Err(Refusal::CapExpired);
        }
        if (cap.user, cap.slab, cap.asset) != (user, slab, asset) {
            return Err(Refusal::CapScope);
        }
        if amount > cap.remaining {
            return Err(Refusal::CapRemaining);
        }
        let mut escrow = self.escrow(user, slab, asset);
        if amount > escrow.balance {
            return Err(Refusal::EscrowBalance);
        }
        let account = self
            .account_balance(slab, asset)
            .checked_add(amount)
            .ok_or(Refusal::BalanceOverflow)?;
        cap.remaining -= amount;
        cap.nonce = cap.nonce.wrapping_add(1);
        escrow.balance -= amount;
        escrow.nonce = escrow.nonce.wrapping_add(1);
        self.set_cap_logged(cap_id, cap);
        self.set_escrow_logged((user, slab, asset), escrow);
        self.set_account_logged((slab, asset), account);
        Ok(cap.remaining)
    }
}
