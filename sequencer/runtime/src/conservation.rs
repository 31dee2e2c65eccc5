//! Conservation of collateral: after every batch, the funds held in every ledger class add up
//! to credited deposits minus finalised withdrawals. Each batch checks the ledger's running
//! class sums (O(1)); `Runtime::audit` sums every entry again and compares. The classes are an enumerated registry;
//! a holding whose class is not registered fails the check (and a test), so a new place that
//! holds funds cannot be forgotten.

/// A place collateral can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LedgerClass {
    /// Users' free balances.
    Vaults,
    /// Funds pledged to a slab or market per (user, slab, asset).
    Escrows,
    /// What slabs and markets collected through `safe_debit`.
    SlabAccounts,
    /// Fees collected.
    Fees,
    /// Withdrawals requested in the batch being executed, not yet in its payout tree.
    PendingWithdrawals,
}

impl LedgerClass {
    /// The registry: every class that may hold funds.
    pub const ALL: [LedgerClass; 5] = [
        LedgerClass::Vaults,
        LedgerClass::Escrows,
        LedgerClass::SlabAccounts,
        LedgerClass::Fees,
        LedgerClass::PendingWithdrawals,
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            LedgerClass::Vaults => "vaults",
            LedgerClass::Escrows => "escrows",
            LedgerClass::SlabAccounts => "slab_accounts",
            LedgerClass::Fees => "fees",
            LedgerClass::PendingWithdrawals => "pending_withdrawals",
        }
    }
}

/// The sums of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Totals {
    /// Σ per registered class, in registry order.
    pub classes: Vec<(LedgerClass, u128)>,
    /// Σ credited deposits.
    pub deposits_credited: u128,
    /// Σ finalised withdrawals.
    pub withdrawals_finalised: u128,
}

/// Why conservation failed: a bug, so the runtime halts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConservationError {
    /// Funds sit in a class the registry does not list.
    #[error("{amount} base units held in the unregistered ledger class `{}`", class.name())]
    Unregistered {
        /// The class.
        class: LedgerClass,
        /// How much it holds.
        amount: u128,
    },
    /// A class total overflowed u128.
    #[error("the `{}` total overflows u128", .0.name())]
    Overflow(LedgerClass),
    /// A running class sum differs from the entries summed again (the full audit).
    #[error("the running `{}` sum is {running}, but its entries add up to {summed}", class.name())]
    Drift {
        /// The class.
        class: LedgerClass,
        /// The ledger's running sum.
        running: u128,
        /// The entries summed one by one.
        summed: u128,
    },
    /// The classes do not add up.
    #[error(
        "collateral is not conserved: the ledger classes hold {held}, but credited deposits − finalised withdrawals = {expected} ({classes})"
    )]
    Mismatch {
        /// Σ classes.
        held: u128,
        /// Deposits − withdrawals (negative as a wrapped value is reported as such).
        expected: i128,
        /// Per-class sums, for the log.
        classes: String,
    },
}

/// Checks `holdings` against `registry`.
pub fn check(
    registry: &[LedgerClass],
    holdings: impl IntoIterator<Item = (LedgerClass, u128)>,
    deposits_credited: u128,
    withdrawals_finalised: u128,
) -> Result<Totals, ConservationError> {
    let mut sums: Vec<(LedgerClass, u128)> = registry.iter().map(|c| (*c, 0)).collect();
    for (class, amount) in holdings {
        if amount == 0 {
            continue;
        }
        let Some(slot) = sums.iter_mut().find(|(c, _)| *c == class) else {
            return Err(ConservationError::Unregistered { class, amount });
        };
        slot.1 = slot
            .1
            .checked_add(amount)
            .ok_or(ConservationError::Overflow(class))?;
    }
    let held = sums.iter().try_fold(0u128, |acc, (class, sum)| {
        acc.checked_add(*sum)
            .ok_or(ConservationError::Overflow(*class))
    })?;
    let expected = deposits_credited as i128 - withdrawals_finalised as i128;
    if i128::try_from(held).ok() != Some(expected) {
        let classes = sums
            .iter()
            .map(|(c, s)| format!("{} {s}", c.name()))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ConservationError::Mismatch {
            held,
            expected,
            classes,
        });
    }
    Ok(Totals {
        classes: sums,
        deposits_credited,
        withdrawals_finalised,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_lists_every_class() {
        // Adding a variant without registering it breaks this match and this count.
        for class in LedgerClass::ALL {
            match class {
                LedgerClass::Vaults
                | LedgerClass::Escrows
                | LedgerClass::SlabAccounts
                | LedgerClass::Fees
                | LedgerClass::PendingWithdrawals => {}
            }
        }
        let mut sorted = LedgerClass::ALL.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 5);
    }

    #[test]
    fn an_unregistered_class_and_a_mismatch_fail() {
        let holdings = [(LedgerClass::Vaults, 60), (LedgerClass::Escrows, 40)];
        let totals = check(&LedgerClass::ALL, holdings, 150, 50).expect("conserved");
        assert_eq!(totals.classes[0], (LedgerClass::Vaults, 60));
        let registry = [LedgerClass::Vaults, LedgerClass::Fees];
        assert_eq!(
            check(&registry, holdings, 150, 50),
            Err(ConservationError::Unregistered {
                class: LedgerClass::Escrows,
                amount: 40
            })
        );
        assert!(matches!(
            check(&LedgerClass::ALL, holdings, 151, 50),
            Err(ConservationError::Mismatch {
                held: 100,
                expected: 101,
                ..
            })
        ));
    }
}
