//! The chain behind the endpoint: solana-program-test's bank with `curve_anchor` loaded
//! natively, its slots advanced by a clock the way a cluster's are, its faucet, and the
//! addresses it has seen (the bank has no owner index; every account a client can create
//! arrives in a transaction, so the keys of those transactions are the candidates of
//! `getProgramAccounts`).

use std::collections::BTreeSet;
use std::sync::Mutex as StdMutex;

use anchor_lang::prelude::AccountInfo;
use anchor_lang::solana_program::entrypoint::ProgramResult;
use solana_keypair::Keypair;
use solana_program_test::{BanksClient, ProgramTest, ProgramTestContext, processor};
use solana_pubkey::Pubkey;
use tokio::sync::{Mutex, MutexGuard};

/// Anchor's generated `entry` ties every borrow to one lifetime; the runtime's builtin
/// interface hands out four. The program keeps nothing past the call, so narrowing them to
/// one is sound (otter-sec/anchor#2738; ../shared/spec/solana-anchor.md §1.3). The program's
/// own tests carry the same shim (`programs/curve-anchor/tests/runtime/harness.rs`).
fn process<'a, 'b, 'c, 'd>(
    id: &'a Pubkey,
    accounts: &'b [AccountInfo<'c>],
    data: &'d [u8],
) -> ProgramResult {
    // SAFETY: see above — nothing outlives the call.
    let id: &'c Pubkey = unsafe { core::mem::transmute(id) };
    let accounts: &'c [AccountInfo<'c>] = unsafe { core::mem::transmute(accounts) };
    let data: &'c [u8] = unsafe { core::mem::transmute(data) };
    curve_anchor::entry(id, accounts, data)
}

/// The bank, its client, its faucet and the addresses it has seen.
pub struct Chain {
    /// Held by every call into the bank and by a slot advance. A slot advance write-locks
    /// the bank forks and then the commitment cache; the banks server locks them in the
    /// opposite order in places (a signature status reads the cache, then the forks), and the
    /// program cache against the forks while executing: any call concurrent with an advance
    /// can deadlock the two (found by the bridge test). One lock makes them take turns.
    context: Mutex<ProgramTestContext>,
    banks: BanksClient,
    faucet: Keypair,
    seen: StdMutex<BTreeSet<Pubkey>>,
}

impl Chain {
    /// A bank at slot 1 with the program loaded, and the genesis mint as the faucet.
    pub async fn start() -> Chain {
        let mut test = ProgramTest::default();
        test.add_program("curve_anchor", curve_anchor::ID, processor!(process));
        let context = test.start_with_context().await;
        let banks = context.banks_client.clone();
        let faucet = context.payer.insecure_clone();
        Chain {
            context: Mutex::new(context),
            banks,
            faucet,
            seen: StdMutex::new(BTreeSet::new()),
        }
    }

    /// The bank's client, held until the returned guard drops (no slot advance meanwhile).
    pub async fn banks(&self) -> Banks<'_> {
        Banks {
            _context: self.context.lock().await,
            client: &self.banks,
        }
    }

    /// The key that pays airdrops.
    pub fn faucet(&self) -> &Keypair {
        &self.faucet
    }

    /// The current slot.
    pub async fn slot(&self) -> Result<u64, String> {
        let banks = self.banks().await;
        banks.get_root_slot().await.map_err(|e| e.to_string())
    }

    /// Moves to the next slot (a new blockhash with it), as a cluster does every slot time.
    pub async fn advance_slot(&self) -> Result<u64, String> {
        let mut context = self.context.lock().await;
        let slot = self.banks.get_root_slot().await;
        let next = slot.map_err(|e| e.to_string())? + 1;
        context
            .warp_to_slot(next)
            .map_err(|e| format!("warp to slot {next}: {e:?}"))?;
        Ok(next)
    }

    /// Remembers the addresses a processed transaction named.
    pub fn note(&self, keys: &[Pubkey]) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.extend(keys.iter().copied());
    }

    /// Every address seen, in order.
    pub fn seen(&self) -> Vec<Pubkey> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter().copied().collect()
    }
}

/// The bank's client under the chain's lock.
pub struct Banks<'a> {
    _context: MutexGuard<'a, ProgramTestContext>,
    client: &'a BanksClient,
}

impl std::ops::Deref for Banks<'_> {
    type Target = BanksClient;

    fn deref(&self) -> &BanksClient {
        self.client
    }
}
