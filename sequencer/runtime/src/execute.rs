//! Batch and transaction execution.

use curve_compiler::abi;
use curve_formats::batch::BatchHeader;
use curve_formats::deposit::DepositRecord;
use curve_formats::encoding::Decode;
use curve_formats::leaf::{Origin, PayoutLeaf};
use curve_formats::merkle::MerkleTree;
use curve_formats::tx::{
    Action, Arg, CommitteeSignature, ProgramImage, PublicKey, SIGNATURE_LEN, SignedTransaction,
};
use std::collections::BTreeSet;

use curvevm::interp::Instance;
use curvevm::isa::PAGE_WORDS;
use curvevm_host::{Clock, Event, InvokeHost, Programs, RollupHost};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::calls::ChainPrograms;
use crate::protocol::{self, COLLATERAL};
use crate::receipt::{Receipt, Rejection, Revert, Status};
use crate::registry::DirectCall;
use crate::state::{DepositNullifier, Key, ProgramId};
use crate::templates::{self, VerifyingKeys};
use crate::{
    Batch, BatchOutcome, LedgerClass, LiveProgram, MAX_BATCH_TRANSACTIONS, Runtime, RuntimeError,
    Storage, check_committee, registry,
};

/// A withdrawal waiting for the batch's payout tree.
struct PendingWithdrawal {
    recipient: PublicKey,
    amount: u128,
}

/// What a successful (committed or reverted) action did besides its intrinsic gas.
struct Executed {
    vm_gas: u64,
    result: Result<Vec<u64>, Revert>,
    events: Vec<Event>,
    program: Option<ProgramId>,
}

impl Executed {
    fn system() -> Executed {
        Executed {
            vm_gas: 0,
            result: Ok(Vec::new()),
            events: Vec::new(),
            program: None,
        }
    }
}

/// The batch-wide context of one transaction.
struct Context {
    clock: Clock,
    gas_left: u64,
    pending: Vec<PendingWithdrawal>,
}

/// Verifies every candidate's signature (`curve_formats::signatures`: one batch check, one by
/// one only when it fails). Weak (small-order) keys are refused first, so that a signature is
/// valid alone exactly when it is valid in a batch. A candidate is `(slot, transaction, its
/// bytes)`.
fn verify_signatures(candidates: &[(usize, &SignedTransaction, &[u8])], count: usize) -> Vec<bool> {
    let mut valid = vec![false; count];
    let mut messages = Vec::new();
    let mut signatures = Vec::new();
    let mut keys = Vec::new();
    let mut slots = Vec::new();
    for (slot, signed, bytes) in candidates {
        let Ok(key) = VerifyingKey::from_bytes(&signed.tx.sender) else {
            continue;
        };
        if key.is_weak() {
            continue;
        }
        // The signed message is the bytes before the signature: decoding accepts only the
        // canonical encoding, so they equal `signing_message()` without encoding it again.
        messages.push(&bytes[..bytes.len() - SIGNATURE_LEN]);
        signatures.push(Signature::from_bytes(&signed.signature));
        keys.push(key);
        slots.push(*slot);
    }
    let verified = curve_formats::signatures::verify_each(&messages, &signatures, &keys);
    for (slot, ok) in slots.into_iter().zip(verified) {
        valid[slot] = ok;
    }
    valid
}

/// The words of a call's arguments, checked field by field against the descriptor.
pub(crate) fn call_words(entry: &abi::Entry, args: &[Arg]) -> Result<Vec<u64>, String> {
    if args.len() != entry.args.len() {
        return Err(format!(
            "`{}` takes {} argument(s) ({}), found {}",
            entry.name,
            entry.args.len(),
            entry
                .args
                .iter()
                .map(|f| f.name)
                .collect::<Vec<_>>()
                .join(", "),
            args.len()
        ));
    }
    let mut words = Vec::with_capacity(usize::from(entry.arg_words()));
    for (position, (field, arg)) in entry.args.iter().zip(args).enumerate() {
        let wrong = |found: String| {
            format!(
                "argument {} (`{}`) of `{}` is a {}{}; found {found}",
                position + 1,
                field.name,
                entry.name,
                field.ty.name(),
                if field.count > 1 {
                    format!(" array of {}", field.count)
                } else {
                    String::new()
                }
            )
        };
        let values = match (field.count, arg) {
            (1, Arg::One(value)) => std::slice::from_ref(value),
            (count, Arg::Many(values)) if count > 1 && values.len() == usize::from(count) => {
                values.as_slice()
            }
            (_, Arg::One(value)) => return Err(wrong(format!("a single {}", value.type_name()))),
            (_, Arg::Many(values)) => return Err(wrong(format!("{} values", values.len()))),
        };
        for value in values {
            if value.type_name() != field.ty.name() {
                return Err(wrong(format!("a {}", value.type_name())));
            }
            value.push_words(&mut words);
        }
    }
    Ok(words)
}

/// The intrinsic gas of an action in a transaction of `bytes` bytes.
pub fn intrinsic_gas(action: &Action, bytes: usize) -> u64 {
    use protocol::*;
    // A shaped template's size is its stated shape's; one it cannot build is refused later.
    let words = |image: &ProgramImage| match templates::find(&image.template) {
        Some(listed) => u64::from(listed.program.module().layout.slab),
        None => templates::shaped_words(&image.template, &image.manifest).map_or(0, u64::from),
    };
    let shaped = |image: &ProgramImage| {
        if templates::SHAPED.contains(&image.template.as_str()) {
            SHAPED_BUILD_GAS
        } else {
            0
        }
    };
    let base = BASE_GAS + BYTE_GAS * bytes as u64;
    base + match action {
        Action::Transfer { .. } => TRANSFER_GAS,
        Action::Call { .. } | Action::RegisterOracleKey { .. } => CALL_GAS,
        Action::Deploy(image) | Action::Upgrade { image, .. } => {
            CERTIFICATE_GAS
                + shaped(image)
                + PAGE_GAS * words(image).div_ceil(u64::from(PAGE_WORDS))
        }
        Action::CreditDeposit { attestations, .. } => ATTESTATION_GAS * attestations.len() as u64,
        Action::Withdraw { .. } => WITHDRAW_GAS,
        Action::RegisterSlab { .. }
        | Action::BindViews { .. }
        | Action::SetVerifyingKey { .. }
        | Action::RotateCommittee { .. }
        | Action::SetGovernance { .. } => GOVERNANCE_GAS,
    }
}

fn rejected(tx_hash: [u8; 32], action: &'static str, rejection: Rejection) -> Receipt {
    Receipt {
        tx_hash,
        action,
        status: Status::Rejected(rejection),
        gas_used: 0,
        fee: 0,
        returns: Vec::new(),
        events: Vec::new(),
        program: None,
    }
}

impl<S: Storage> Runtime<S> {
    /// Executes `batch`: every transaction in order, then the conservation check, the payout
    /// tree and the new state root. The store receives every touched entry.
    pub fn apply_batch(&mut self, batch: &Batch) -> Result<BatchOutcome, RuntimeError> {
        self.apply_batch_indexed(batch, |_| false, |_, _, _| Vec::new())
    }

    /// [`Runtime::apply_batch`] for a node: `verified` names transactions (by hash) whose
    /// signatures its mempool already checked with `verify_strict` — they are not checked
    /// again (a strictly valid signature passes the batch check too, so the outcome is the
    /// same with or without the cache) — and `index` entries (computed from the header,
    /// receipts and payout leaves) are written in the same atomic write as the batch's state (see
    /// [`WriteBatch::index`]).
    pub fn apply_batch_indexed(
        &mut self,
        batch: &Batch,
        verified: impl Fn(&[u8; 32]) -> bool,
        index: impl FnOnce(&BatchHeader, &[Receipt], &[PayoutLeaf]) -> Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<BatchOutcome, RuntimeError> {
        if let Some(reason) = &self.halted {
            return Err(RuntimeError::Halted(reason.clone()));
        }
        if batch.height != self.meta.height + 1 {
            return Err(RuntimeError::Height {
                expected: self.meta.height + 1,
                found: batch.height,
            });
        }
        if batch.timestamp_ms < self.meta.timestamp_ms {
            return Err(RuntimeError::TimeBackwards {
                last: self.meta.timestamp_ms,
                found: batch.timestamp_ms,
            });
        }
        if batch.transactions.len() > MAX_BATCH_TRANSACTIONS {
            return Err(RuntimeError::TooManyTransactions(batch.transactions.len()));
        }
        let prev_root = self.root;
        let hashes: Vec<[u8; 32]> = batch
            .transactions
            .iter()
            .map(|bytes| Sha256::digest(bytes).into())
            .collect();
        let decoded: Vec<_> = batch
            .transactions
            .iter()
            .map(|bytes| SignedTransaction::from_bytes(bytes))
            .collect();
        let candidates: Vec<(usize, &SignedTransaction, &[u8])> = decoded
            .iter()
            .zip(&batch.transactions)
            .enumerate()
            .filter_map(|(i, (d, bytes))| d.as_ref().ok().map(|s| (i, s, bytes.as_slice())))
            .filter(|(_, s, _)| s.tx.chain_id == self.config.chain_id)
            .collect();
        let (cached, candidates): (Vec<_>, Vec<_>) = candidates
            .into_iter()
            .partition(|(i, ..)| verified(&hashes[*i]));
        let mut signatures = verify_signatures(&candidates, decoded.len());
        for (i, ..) in cached {
            signatures[i] = true;
        }
        let mut context = Context {
            clock: Clock {
                now_ms: batch.timestamp_ms,
                height: batch.height,
                chain_id: self.config.chain_id,
            },
            gas_left: protocol::BLOCK_GAS_LIMIT,
            pending: Vec::new(),
        };
        let mut receipts = Vec::with_capacity(decoded.len());
        for (((bytes, signed), signature_ok), tx_hash) in batch
            .transactions
            .iter()
            .zip(decoded)
            .zip(signatures)
            .zip(hashes)
        {
            let receipt = match signed {
                Err(error) => rejected(
                    tx_hash,
                    "malformed",
                    Rejection::Malformed(error.to_string()),
                ),
                Ok(signed) => self.apply_transaction(
                    tx_hash,
                    bytes.len(),
                    &signed,
                    signature_ok,
                    &mut context,
                ),
            };
            receipts.push(receipt);
        }

        self.meta.height = batch.height;
        self.meta.timestamp_ms = batch.timestamp_ms;
        self.touched.insert(Key::Meta);
        let pending_total: u128 = context.pending.iter().map(|p| p.amount).sum();
        if let Err(error) = self.conservation_with(&LedgerClass::ALL, pending_total) {
            self.halted = Some(error.to_string());
            return Err(RuntimeError::Conservation(error));
        }
        let payouts: Vec<PayoutLeaf> = context
            .pending
            .iter()
            .enumerate()
            .map(|(index, p)| PayoutLeaf {
                chain_id: self.config.chain_id,
                batch_height: batch.height,
                index: index as u32,
                recipient: p.recipient,
                amount: p.amount,
                origin: Origin::Withdrawal,
            })
            .collect();
        self.meta.withdrawals_finalised += pending_total;
        let mut write = self.stage();

        let leaves: Vec<Vec<u8>> = payouts.iter().map(PayoutLeaf::to_leaf_bytes).collect();
        let payout_tree = MerkleTree::from_leaves(&leaves).expect("at most 2^16 payouts");
        let transactions_root = MerkleTree::from_leaves(&batch.transactions)
            .expect("at most 2^16 transactions")
            .root();
        let header = BatchHeader {
            height: batch.height,
            prev_root,
            state_root: self.root,
            transactions_root,
            withdrawal_root: payout_tree.root(),
            withdrawal_count: payouts.len() as u64,
            withdrawal_total: pending_total,
            timestamp_ms: batch.timestamp_ms,
        };
        write.index = index(&header, &receipts, &payouts);
        if let Err(error) = self.storage.write(write) {
            self.halted = Some(error.to_string());
            return Err(RuntimeError::Storage(error));
        }
        Ok(BatchOutcome {
            header,
            receipts,
            payouts,
            payout_tree,
        })
    }

    fn apply_transaction(
        &mut self,
        tx_hash: [u8; 32],
        size: usize,
        signed: &SignedTransaction,
        signature_ok: bool,
        context: &mut Context,
    ) -> Receipt {
        let tx = &signed.tx;
        let name = tx.action.name();
        let reject = |rejection| rejected(tx_hash, name, rejection);
        if tx.chain_id != self.config.chain_id {
            return reject(Rejection::WrongChain {
                expected: self.config.chain_id,
                found: tx.chain_id,
            });
        }
        if !signature_ok {
            return reject(Rejection::BadSignature);
        }
        if tx.gas_limit > protocol::BLOCK_GAS_LIMIT {
            return reject(Rejection::GasAboveBlockLimit {
                limit: tx.gas_limit,
                max: protocol::BLOCK_GAS_LIMIT,
            });
        }
        if tx.gas_limit > context.gas_left {
            return reject(Rejection::BlockGasExhausted {
                limit: tx.gas_limit,
                left: context.gas_left,
            });
        }
        let expected_nonce = self.accounts.get(&tx.sender).map_or(0, |a| a.nonce);
        if tx.nonce != expected_nonce {
            return reject(Rejection::BadNonce {
                expected: expected_nonce,
                found: tx.nonce,
            });
        }
        let intrinsic = intrinsic_gas(&tx.action, size);
        if tx.gas_limit < intrinsic {
            return reject(Rejection::GasBelowIntrinsic {
                limit: tx.gas_limit,
                intrinsic,
            });
        }
        if tx.action.is_governance() && tx.sender != self.config.governance {
            return reject(Rejection::NotGovernance(name));
        }
        let max_fee = u128::from(tx.gas_limit) * u128::from(tx.fee_per_gas);
        let amount = match tx.action {
            Action::Transfer { amount, .. } | Action::Withdraw { amount, .. } => amount,
            _ => 0,
        };
        let available = self
            .user_of(&tx.sender)
            .map_or(0, |user| self.ledger.vault_balance(user, COLLATERAL));
        let needed = max_fee.saturating_add(amount);
        if needed > available {
            return reject(Rejection::InsufficientBalance { needed, available });
        }

        let vm_gas_limit = tx.gas_limit - intrinsic;
        let executed = match self.execute_action(tx.sender, &tx.action, vm_gas_limit, context) {
            Ok(executed) => executed,
            Err(rejection) => return reject(rejection),
        };

        // Committed or reverted: the nonce moves and the gas is paid.
        let gas_used = intrinsic + executed.vm_gas;
        context.gas_left -= gas_used;
        let sender = self.account_or_create(&tx.sender);
        self.accounts
            .get_mut(&tx.sender)
            .expect("just created")
            .nonce += 1;
        self.touched.insert(Key::Account(tx.sender));
        let balance = self.ledger.vault_balance(sender.user, COLLATERAL);
        // The check above reserved the fee; a call that moved the sender's own vault may leave
        // less, and the fee then takes what is there.
        let fee = (u128::from(gas_used) * u128::from(tx.fee_per_gas)).min(balance);
        if fee > 0 {
            self.ledger
                .set_vault(sender.user, COLLATERAL, balance - fee);
            self.meta.fees += fee;
            self.touched.insert(Key::Meta);
        }
        let (status, returns) = match executed.result {
            Ok(returns) => (Status::Committed, returns),
            Err(revert) => (Status::Reverted(revert), Vec::new()),
        };
        Receipt {
            tx_hash,
            action: name,
            status,
            gas_used,
            fee,
            returns,
            events: executed.events,
            program: executed.program,
        }
    }

    /// Checks and performs an action. `Err` changes nothing.
    fn execute_action(
        &mut self,
        sender: PublicKey,
        action: &Action,
        vm_gas_limit: u64,
        context: &mut Context,
    ) -> Result<Executed, Rejection> {
        match action {
            Action::Transfer { to, amount } => {
                if *amount == 0 {
                    return Err(Rejection::Invalid("a transfer of zero".into()));
                }
                if *to == sender {
                    return Err(Rejection::Invalid("a transfer to the sender itself".into()));
                }
                let from = self.user_of(&sender).expect("a funded sender exists");
                let to = self.account_or_create(to).user;
                let from_balance = self.ledger.vault_balance(from, COLLATERAL);
                let to_balance = self.ledger.vault_balance(to, COLLATERAL);
                let credited = to_balance.checked_add(*amount).ok_or_else(|| {
                    Rejection::Invalid("the recipient's balance would overflow".into())
                })?;
                self.ledger
                    .set_vault(from, COLLATERAL, from_balance - amount);
                self.ledger.set_vault(to, COLLATERAL, credited);
                Ok(Executed::system())
            }
            Action::Call {
                program,
                entry,
                args,
                access,
            } => {
                let live = self
                    .programs
                    .get(program)
                    .ok_or(Rejection::UnknownProgram(*program))?;
                let descriptor =
                    live.approved
                        .template
                        .interface
                        .entry(entry)
                        .ok_or_else(|| Rejection::UnknownEntry {
                            program: *program,
                            entry: entry.clone(),
                        })?;
                if let Some((_, action)) = live
                    .approved
                    .reserved_entries()
                    .iter()
                    .find(|(reserved, _)| reserved == entry)
                {
                    return Err(Rejection::ReservedEntry {
                        program: *program,
                        entry: entry.clone(),
                        action,
                    });
                }
                let words = call_words(descriptor, args).map_err(Rejection::BadArguments)?;
                self.check_direct_call(sender, *program, live.approved, descriptor, &words)?;
                let access = self.check_access(*program, access)?;
                Ok(self.run(*program, entry, &words, &access, vm_gas_limit, context))
            }
            Action::RegisterOracleKey { program, key } => {
                let live = self
                    .programs
                    .get(program)
                    .ok_or(Rejection::UnknownProgram(*program))?;
                if live.approved.template.name != "oracle" {
                    return Err(Rejection::Invalid(format!(
                        "program {program} is a `{}`, not an oracle",
                        live.approved.template.name
                    )));
                }
                if ed25519_dalek::VerifyingKey::from_bytes(key).map_or(true, |k| k.is_weak()) {
                    return Err(Rejection::Invalid(
                        "the key is not a valid Ed25519 key".into(),
                    ));
                }
                let mut words = Vec::new();
                curve_formats::tx::Value::Bytes32(*key).push_words(&mut words);
                let access = BTreeSet::from([*program]);
                Ok(self.run(
                    *program,
                    "register_key",
                    &words,
                    &access,
                    vm_gas_limit,
                    context,
                ))
            }
            Action::Deploy(image) => {
                let admitted = templates::admit(image, &self.vks, self.config.dev_mode)
                    .map_err(Rejection::Deploy)?;
                let id = self.meta.next_program;
                self.meta.next_program += 1;
                let instance = Instance::new(admitted.approved.program.clone(), &admitted.params)
                    .map_err(|e| Rejection::Deploy(e.to_string()))?;
                let slab_words = instance.words(curvevm::Segment::Slab).len() as u32;
                for page in 0..slab_words.div_ceil(PAGE_WORDS) {
                    self.touched
                        .insert(Key::Page(id, curvevm::Segment::Slab.sel(), page));
                }
                self.touched.extend([Key::Meta, Key::Program(id)]);
                self.programs.insert(
                    id,
                    LiveProgram::new(admitted.record, admitted.approved, instance),
                );
                Ok(Executed {
                    program: Some(id),
                    ..Executed::system()
                })
            }
            Action::Upgrade { program, image } => self.upgrade(*program, image),
            Action::RegisterSlab { program } => {
                let live = self
                    .programs
                    .get_mut(program)
                    .ok_or(Rejection::UnknownProgram(*program))?;
                if live.approved.role != curvevm_host::Role::Slab {
                    return Err(Rejection::Invalid(format!(
                        "program {program} is a `{}`, not a slab",
                        live.approved.template.name
                    )));
                }
                if live.record.registered_slab {
                    return Err(Rejection::Invalid(format!(
                        "slab {program} is already registered"
                    )));
                }
                live.record.registered_slab = true;
                self.touched.insert(Key::Program(*program));
                Ok(Executed::system())
            }
            Action::CreditDeposit {
                record,
                attestations,
            } => {
                self.check_deposit(record, attestations)
                    .map_err(Rejection::Deposit)?;
                let user = self.account_or_create(&record.recipient).user;
                let balance = self.ledger.vault_balance(user, COLLATERAL);
                let credited = balance
                    .checked_add(u128::from(record.amount))
                    .ok_or_else(|| {
                        Rejection::Deposit("the recipient's balance would overflow".into())
                    })?;
                self.ledger.set_vault(user, COLLATERAL, credited);
                self.deposits.insert(
                    record.sequence,
                    DepositNullifier {
                        user,
                        amount: record.amount,
                        height: context.clock.height,
                    },
                );
                self.meta.deposits_credited += u128::from(record.amount);
                self.touched
                    .extend([Key::Meta, Key::Deposit(record.sequence)]);
                Ok(Executed::system())
            }
            Action::Withdraw { amount, recipient } => {
                if *amount == 0 {
                    return Err(Rejection::Invalid("a withdrawal of zero".into()));
                }
                let user = self.user_of(&sender).expect("a funded sender exists");
                let balance = self.ledger.vault_balance(user, COLLATERAL);
                self.ledger.set_vault(user, COLLATERAL, balance - amount);
                context.pending.push(PendingWithdrawal {
                    recipient: *recipient,
                    amount: *amount,
                });
                Ok(Executed::system())
            }
            Action::SetVerifyingKey { class, vk } => {
                let key = VerifyingKeys::check(*class, vk, self.config.dev_mode)
                    .map_err(|e| Rejection::Invalid(format!("verifying key refused: {e}")))?;
                self.vks.insert(*class, key);
                let keys = &mut self.config.verifying_keys;
                keys.retain(|(c, _)| c != class);
                keys.push((*class, vk.clone()));
                keys.sort_by_key(|(c, _)| *c);
                self.touched.insert(Key::Config);
                Ok(Executed::system())
            }
            Action::RotateCommittee { keys, quorum } => {
                check_committee(keys, *quorum).map_err(Rejection::Invalid)?;
                self.config.committee = keys.clone();
                self.config.quorum = *quorum;
                self.touched.insert(Key::Config);
                Ok(Executed::system())
            }
            Action::SetGovernance { key } => {
                self.config.governance = *key;
                self.touched.insert(Key::Config);
                Ok(Executed::system())
            }
            Action::BindViews { program, views } => {
                self.check_views(*program, views)
                    .map_err(Rejection::Invalid)?;
                let live = self.programs.get_mut(program).expect("checked");
                live.record.views = views.clone();
                self.touched.insert(Key::Program(*program));
                Ok(Executed::system())
            }
        }
    }

    /// The registry's rule for calling `entry` from a transaction (`DIRECT_CALL_RULES`).
    fn check_direct_call(
        &self,
        sender: PublicKey,
        program: ProgramId,
        approved: &templates::Approved,
        entry: &abi::Entry,
        words: &[u64],
    ) -> Result<(), Rejection> {
        match registry::direct_call(approved.template.name, entry.name) {
            None => Ok(()),
            Some(DirectCall::InvokeOnly) => Err(Rejection::InvokeOnly {
                program,
                entry: entry.name.to_string(),
                rule: "a router program's",
            }),
            Some(DirectCall::Governance) if sender != self.config.governance => {
                Err(Rejection::NotGovernance(entry.name))
            }
            Some(DirectCall::Governance) => Ok(()),
            Some(DirectCall::Sender(arg)) => {
                let at = entry
                    .args
                    .iter()
                    .take_while(|field| field.name != arg)
                    .map(|field| usize::from(field.words()))
                    .sum::<usize>();
                let found = words.get(at).copied().unwrap_or_default();
                let user = self.user_of(&sender).unwrap_or_default();
                if user == 0 || found != user {
                    return Err(Rejection::NotSender {
                        entry: entry.name.to_string(),
                        arg,
                        sender: user,
                        found,
                    });
                }
                Ok(())
            }
        }
    }

    /// The programs a call may reach: its access list (strictly ascending, existing programs,
    /// not the called one) and the called program. Every program the called program's views
    /// map must be listed and bound, so a call that would touch an undeclared program is
    /// refused before anything runs.
    fn check_access(
        &self,
        program: ProgramId,
        access: &[ProgramId],
    ) -> Result<BTreeSet<ProgramId>, Rejection> {
        if access.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(Rejection::Access(
                "program ids must be strictly ascending".into(),
            ));
        }
        for id in access {
            if *id == program {
                return Err(Rejection::Access(format!(
                    "lists the called program {program} (it is always reachable)"
                )));
            }
            if !self.programs.contains_key(id) {
                return Err(Rejection::Access(format!("no program {id}")));
            }
        }
        let live = self.programs.get(&program).expect("checked by the caller");
        let declared = live.instance.program().module().layout.views.len();
        if live.record.views.len() != declared {
            return Err(Rejection::Access(format!(
                "program {program} declares {declared} view(s) that governance has not bound"
            )));
        }
        if let Some(missing) = live.record.views.iter().find(|v| !access.contains(v)) {
            return Err(Rejection::Access(format!(
                "program {program} maps program {missing} as a view; the access list must name it"
            )));
        }
        Ok(access.iter().copied().chain([program]).collect())
    }

    /// What `bind_views` needs: one existing, distinct program per declared view, other than
    /// the program itself, of a role the registry lets it map with the view's access, whose
    /// state is exactly the declared size.
    fn check_views(&self, program: ProgramId, views: &[ProgramId]) -> Result<(), String> {
        let live = self
            .programs
            .get(&program)
            .ok_or_else(|| format!("no program {program}"))?;
        let declared = &live.instance.program().module().layout.views;
        if views.len() != declared.len() {
            return Err(format!(
                "program {program} declares {} view(s); {} given",
                declared.len(),
                views.len()
            ));
        }
        for (index, (target, decl)) in views.iter().zip(declared).enumerate() {
            if *target == program || views[..index].contains(target) {
                return Err(format!(
                    "view{index}: program {target} is the program itself or mapped twice"
                ));
            }
            let mapped = self
                .programs
                .get(target)
                .ok_or_else(|| format!("view{index}: no program {target}"))?;
            let words = mapped.instance.program().module().layout.slab;
            if words != decl.words {
                return Err(format!(
                    "view{index} is declared with {} words; program {target}'s state has {words}",
                    decl.words
                ));
            }
            let (role, mapped_role) = (live.approved.role, mapped.approved.role);
            let may_map = if live.approved.dev_only || mapped.approved.dev_only {
                registry::may_map_probe
            } else {
                registry::may_map
            };
            if !may_map(role, mapped_role, decl.writable) {
                return Err(format!(
                    "view{index}: a {} may not map a {}'s state{}",
                    role.name(),
                    mapped_role.name(),
                    if decl.writable { " writable" } else { "" }
                ));
            }
        }
        Ok(())
    }

    /// Runs an entrypoint with at most its budget of gas, reaching the programs in `access`
    /// through `invoke` and its views; a trap is a revert.
    fn run(
        &mut self,
        program: ProgramId,
        entry: &str,
        words: &[u64],
        access: &BTreeSet<ProgramId>,
        vm_gas_limit: u64,
        context: &Context,
    ) -> Executed {
        let live = self.programs.get(&program).expect("checked by the caller");
        let budget = protocol::entry_budget(&live.approved.template, entry)
            .expect("descriptor entries are module entries");
        let index = live
            .instance
            .entry_index(entry)
            .expect("descriptor entries are module entries");
        let gas = vm_gas_limit.min(budget);
        let mut programs = ChainPrograms::new(&mut self.programs, access);
        let mut callee = programs.take(program).expect("the access list was checked");
        let mut host = RollupHost::new(
            std::mem::take(&mut self.ledger),
            context.clock,
            callee.caller,
        );
        let outcome = self.engine.with(|engine| {
            let mut invoke = InvokeHost::new(&mut host, &mut programs, engine);
            engine.call(
                &mut callee.instance,
                index,
                words,
                gas,
                &mut callee.views,
                &mut invoke,
            )
        });
        programs.put(program, callee);
        self.ledger = host.ledger;
        let outcome = outcome.expect("arguments and views were checked");
        let live = &self.programs[&program];
        Executed {
            vm_gas: outcome.gas_used,
            result: outcome.result.map_err(|trap| Revert {
                // The template's name for an abort code, when its interface names it.
                trap: match trap.kind {
                    curvevm::TrapKind::Abort { code } => {
                        match live.approved.template.interface.abort_name(code) {
                            Some(name) => format!("{trap} ({name})"),
                            None => trap.to_string(),
                        }
                    }
                    _ => trap.to_string(),
                },
                kind: trap.kind.name(),
                pc: trap.pc,
                location: live.trap_sites.at(trap.pc).map(|site| site.to_string()),
            }),
            events: host.events,
            program: None,
        }
    }

    fn upgrade(&mut self, program: ProgramId, image: &ProgramImage) -> Result<Executed, Rejection> {
        let live = self
            .programs
            .get(&program)
            .ok_or(Rejection::UnknownProgram(program))?;
        let admitted =
            templates::admit(image, &self.vks, self.config.dev_mode).map_err(Rejection::Deploy)?;
        if admitted.record.layout_hash != live.record.layout_hash {
            return Err(Rejection::Deploy(format!(
                "an upgrade keeps the state layout: program {program} has layout {}, the new image {}",
                hex::encode(live.record.layout_hash),
                hex::encode(admitted.record.layout_hash)
            )));
        }
        let slab = live.instance.words(curvevm::Segment::Slab).to_vec();
        let mut instance = Instance::new(admitted.approved.program.clone(), &admitted.params)
            .map_err(|e| Rejection::Deploy(e.to_string()))?;
        instance
            .set_slab(slab)
            .map_err(|e| Rejection::Deploy(e.to_string()))?;
        if admitted.approved.program.module().layout.views
            != live.instance.program().module().layout.views
        {
            return Err(Rejection::Deploy(format!(
                "an upgrade keeps the declared views: program {program}'s differ from the new image's"
            )));
        }
        let registered_slab = live.record.registered_slab;
        let views = live.record.views.clone();
        self.programs.insert(
            program,
            LiveProgram::new(
                crate::ProgramRecord {
                    registered_slab,
                    views,
                    ..admitted.record
                },
                admitted.approved,
                instance,
            ),
        );
        self.touched.insert(Key::Program(program));
        Ok(Executed::system())
    }

    /// A deposit credit needs: this chain, a sequence never credited, a positive amount, and
    /// `quorum` signatures of distinct committee members (indices strictly increasing), every
    /// one valid over the record.
    fn check_deposit(
        &self,
        record: &DepositRecord,
        attestations: &[CommitteeSignature],
    ) -> Result<(), String> {
        if record.chain_id != self.config.chain_id {
            return Err(format!(
                "the record is for chain {:#x}, this chain is {:#x}",
                record.chain_id, self.config.chain_id
            ));
        }
        if let Some(credited) = self.deposits.get(&record.sequence) {
            return Err(format!(
                "deposit {} was already credited at height {}",
                record.sequence, credited.height
            ));
        }
        if record.amount == 0 {
            return Err("a deposit of zero".into());
        }
        let quorum = usize::from(self.config.quorum);
        if attestations.len() < quorum {
            return Err(format!(
                "{} committee signature(s), the quorum is {quorum}",
                attestations.len()
            ));
        }
        let message = record.attestation_message();
        let mut last = None;
        for attestation in attestations {
            let member = usize::from(attestation.member);
            if last.is_some_and(|last| last >= member) {
                return Err(format!(
                    "committee member {member} signs twice or out of order (indices must increase)"
                ));
            }
            last = Some(member);
            let key = self.config.committee.get(member).ok_or_else(|| {
                format!(
                    "no committee member {member} (the committee has {})",
                    self.config.committee.len()
                )
            })?;
            let key = VerifyingKey::from_bytes(key).expect("committee keys are checked");
            key.verify_strict(&message, &Signature::from_bytes(&attestation.signature))
                .map_err(|_| format!("committee member {member}'s signature does not verify"))?;
        }
        Ok(())
    }
}
