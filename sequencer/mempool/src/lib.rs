//! The sequencer's transaction pool: what a leader proposes from.
//!
//! **Admission** ([`Mempool::admit`]) takes a signed transaction's bytes and refuses, with a
//! reason and before storing anything: bytes that do not decode, another chain, a transaction
//! already pooled (by hash), a nonce below the sender's account nonce or more than
//! [`Limits::nonce_window`] above it, a signature that does not verify (checked once, here;
//! weak keys refused), a sender holding [`Limits::per_sender`] transactions, and — the pool
//! being full in count or bytes — [`AdmitError::Busy`], an answer a client retries rather than
//! an error that stops the node. A pooled transaction replaced at the same (sender, nonce) is
//! refused too: the first one wins. [`Mempool::admit_all`] admits many with the same answers
//! and verifies their signatures together, at about half the cost.
//!
//! **Selection** ([`Mempool::select`]) is round-robin over senders, one transaction per sender
//! per round, each sender's transactions in nonce order from its account nonce with no gaps
//! (a gap waits), starting each batch one sender after where the last started, so no sender is
//! favoured by its key. It looks only at senders something happened to since their run last
//! ended (an admission, a prune, an eviction), so a leader refilling often pays for what
//! arrived, not for every sender pooled. **Pruning** ([`Mempool::prune`]) drops what the chain's nonces have
//! passed. Deterministic: ordered maps only, no clock.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use curve_formats::encoding::Decode;
use curve_formats::signatures::{self, Signature, VerifyingKey};
use curve_formats::tx::{PublicKey, SIGNATURE_LEN, SignedTransaction, limits};
use sha2::{Digest, Sha256};

/// A transaction's hash: SHA-256 of its signed bytes (what receipts carry).
pub type TxHash = [u8; 32];

/// Pool bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most transactions pooled.
    pub transactions: usize,
    /// Most bytes pooled.
    pub bytes: usize,
    /// Most transactions pooled per sender.
    pub per_sender: usize,
    /// How far above its account nonce a sender's nonce may be.
    pub nonce_window: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            transactions: 100_000,
            bytes: 256 << 20,
            per_sender: 256,
            nonce_window: 256,
        }
    }
}

/// Why a transaction was not pooled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// The bytes are not a signed transaction.
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// Larger than any transaction can be.
    #[error("a transaction of {0} bytes: the largest is {max}", max = limits::TRANSACTION_BYTES)]
    TooLarge(usize),
    /// Signed for another chain.
    #[error("signed for chain {found:#x}, this chain is {expected:#x}")]
    WrongChain {
        /// This chain.
        expected: u64,
        /// The transaction's.
        found: u64,
    },
    /// Already pooled.
    #[error("already pooled")]
    Duplicate,
    /// The sender already pooled another transaction with this nonce.
    #[error("nonce {0} is already pooled for this sender")]
    NonceTaken(u64),
    /// Below the sender's account nonce (executed or replayed).
    #[error("nonce {found} is below the sender's next nonce {next}")]
    Stale {
        /// The account's next nonce.
        next: u64,
        /// The transaction's.
        found: u64,
    },
    /// Too far above the sender's account nonce.
    #[error("nonce {found} is more than {window} above the sender's next nonce {next}")]
    TooFarAhead {
        /// The account's next nonce.
        next: u64,
        /// The transaction's.
        found: u64,
        /// The window.
        window: u64,
    },
    /// The signature does not verify (or the key is weak).
    #[error("the signature does not verify under the sender's key")]
    BadSignature,
    /// The sender holds the most transactions one sender may pool.
    #[error("the sender already pools {0} transactions")]
    SenderFull(usize),
    /// The pool is full: retry later.
    #[error("busy: the pool is full ({transactions} transactions, {bytes} bytes)")]
    Busy {
        /// Pooled transactions.
        transactions: usize,
        /// Pooled bytes.
        bytes: usize,
    },
}

/// A transaction that passed every check of admission but its signature's.
#[derive(Clone, Copy, Debug)]
struct Checked {
    hash: TxHash,
    sender: PublicKey,
    nonce: u64,
    key: VerifyingKey,
    signature: Signature,
}

impl Checked {
    /// Whether the signature verifies over `bytes` (this transaction's): decoding accepts only
    /// the canonical encoding, so the signed message is the bytes before the signature.
    fn verify_strict(&self, bytes: &[u8]) -> bool {
        let message = &bytes[..bytes.len() - SIGNATURE_LEN];
        self.key.verify_strict(message, &self.signature).is_ok()
    }
}

/// A pooled transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pooled {
    hash: TxHash,
    bytes: Vec<u8>,
}

/// The pool.
#[derive(Clone, Debug)]
pub struct Mempool {
    chain_id: u64,
    limits: Limits,
    /// Per sender, by nonce.
    senders: BTreeMap<PublicKey, BTreeMap<u64, Pooled>>,
    /// Every pooled hash with its sender and nonce: duplicates are refused without decoding,
    /// and an executed transaction is found by its hash.
    hashes: BTreeMap<TxHash, (PublicKey, u64)>,
    bytes: usize,
    /// The sender the next selection starts after.
    cursor: Option<PublicKey>,
    /// The senders a selection looks at: all but those whose run ended, at the last
    /// selection, at a nonce they have no transaction for — until they are admitted one, pruned
    /// or evicted (see [`Mempool::select`]). Selection then costs what changed, not the pool.
    ready: BTreeSet<PublicKey>,
    /// Senders' keys, decompressed (a fifth of a signature check), at most
    /// [`KEY_CACHE_MAX`]; weak keys are never cached.
    keys: BTreeMap<PublicKey, VerifyingKey>,
}

/// Decompressed sender keys kept (the cache starts over when full).
pub const KEY_CACHE_MAX: usize = 65_536;

impl Mempool {
    /// An empty pool for `chain_id`.
    pub fn new(chain_id: u64, limits: Limits) -> Mempool {
        Mempool {
            chain_id,
            limits,
            senders: BTreeMap::new(),
            hashes: BTreeMap::new(),
            bytes: 0,
            cursor: None,
            ready: BTreeSet::new(),
            keys: BTreeMap::new(),
        }
    }

    /// Pooled transactions.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether nothing is pooled.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Pooled bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether `hash` is pooled.
    pub fn contains(&self, hash: &TxHash) -> bool {
        self.hashes.contains_key(hash)
    }

    /// Admits `bytes` given the sender's account nonce (`next_nonce`); its hash, or why not.
    /// A refusal changes nothing.
    pub fn admit(
        &mut self,
        bytes: Vec<u8>,
        next_nonce: impl FnOnce(&PublicKey) -> u64,
    ) -> Result<TxHash, AdmitError> {
        let checked = self.check(&bytes, next_nonce)?;
        // The signature last: the dearest check, done once per transaction.
        if !checked.verify_strict(&bytes) {
            return Err(AdmitError::BadSignature);
        }
        Ok(self.insert(bytes, &checked))
    }

    /// Admits each of `batch` in order, with the answers [`Mempool::admit`] one by one would
    /// give, at about half the cost of its signature checks: everything but the signatures
    /// is checked and pooled in order, then the signatures are verified together
    /// (`curve_formats::signatures`). When one does not verify (rare: a client's or a peer's
    /// fault), the batch is taken out again and admitted once more in order with each
    /// signature's result known — a transaction refused for its signature must not have
    /// refused a later one (the same sender and nonce, say) on its way.
    pub fn admit_all(
        &mut self,
        batch: Vec<Vec<u8>>,
        next_nonce: impl Fn(&PublicKey) -> u64,
    ) -> Vec<Result<TxHash, AdmitError>> {
        let mut answers = Vec::with_capacity(batch.len());
        let mut pooled = Vec::new();
        let mut refused = Vec::new();
        for bytes in batch {
            match self.check(&bytes, &next_nonce) {
                Ok(checked) => {
                    pooled.push((answers.len(), checked));
                    answers.push(Ok(self.insert(bytes, &checked)));
                }
                Err(error) => {
                    refused.push((answers.len(), bytes));
                    answers.push(Err(error));
                }
            }
        }
        let valid = {
            let messages: Vec<&[u8]> = pooled
                .iter()
                .map(|(_, checked)| {
                    let bytes = &self.senders[&checked.sender][&checked.nonce].bytes;
                    &bytes[..bytes.len() - SIGNATURE_LEN]
                })
                .collect();
            let signatures: Vec<Signature> = pooled.iter().map(|(_, c)| c.signature).collect();
            let keys: Vec<VerifyingKey> = pooled.iter().map(|(_, c)| c.key).collect();
            signatures::verify_each(&messages, &signatures, &keys)
        };
        if valid.iter().all(|&ok| ok) {
            return answers;
        }
        // Every result is `verify_strict`'s now (the batch check failed): admit again in order.
        let mut again: Vec<Option<Vec<u8>>> = vec![None; answers.len()];
        let mut known = BTreeMap::new();
        for ((slot, checked), ok) in pooled.into_iter().zip(valid) {
            again[slot] = self.remove(&checked.hash).map(|p| p.bytes);
            known.insert(checked.hash, ok);
        }
        for (slot, bytes) in refused {
            again[slot] = Some(bytes);
        }
        again
            .into_iter()
            .map(|bytes| {
                let bytes = bytes.expect("every slot was taken out");
                let checked = self.check(&bytes, &next_nonce)?;
                let ok = known
                    .get(&checked.hash)
                    .copied()
                    .unwrap_or_else(|| checked.verify_strict(&bytes));
                if !ok {
                    return Err(AdmitError::BadSignature);
                }
                Ok(self.insert(bytes, &checked))
            })
            .collect()
    }

    /// Every check of admission but the signature's, in the order of [`Mempool::admit`]'s
    /// refusals; the sender's key decompressed (from the cache when it can be).
    fn check(
        &mut self,
        bytes: &[u8],
        next_nonce: impl FnOnce(&PublicKey) -> u64,
    ) -> Result<Checked, AdmitError> {
        if bytes.len() > limits::TRANSACTION_BYTES as usize {
            return Err(AdmitError::TooLarge(bytes.len()));
        }
        let hash: TxHash = Sha256::digest(bytes).into();
        if self.hashes.contains_key(&hash) {
            return Err(AdmitError::Duplicate);
        }
        let signed = SignedTransaction::from_bytes(bytes)
            .map_err(|error| AdmitError::Malformed(error.to_string()))?;
        let tx = &signed.tx;
        if tx.chain_id != self.chain_id {
            return Err(AdmitError::WrongChain {
                expected: self.chain_id,
                found: tx.chain_id,
            });
        }
        let next = next_nonce(&tx.sender);
        if tx.nonce < next {
            return Err(AdmitError::Stale {
                next,
                found: tx.nonce,
            });
        }
        if tx.nonce - next > self.limits.nonce_window {
            return Err(AdmitError::TooFarAhead {
                next,
                found: tx.nonce,
                window: self.limits.nonce_window,
            });
        }
        let pooled = self.senders.get(&tx.sender);
        if pooled.is_some_and(|by_nonce| by_nonce.contains_key(&tx.nonce)) {
            return Err(AdmitError::NonceTaken(tx.nonce));
        }
        let held = pooled.map_or(0, BTreeMap::len);
        if held >= self.limits.per_sender {
            return Err(AdmitError::SenderFull(held));
        }
        if self.len() >= self.limits.transactions || self.bytes + bytes.len() > self.limits.bytes {
            return Err(AdmitError::Busy {
                transactions: self.len(),
                bytes: self.bytes,
            });
        }
        let key = match self.keys.get(&tx.sender) {
            Some(key) => *key,
            None => {
                let key =
                    VerifyingKey::from_bytes(&tx.sender).map_err(|_| AdmitError::BadSignature)?;
                // Refused here so that batch and single verification agree (see
                // `curve_formats::signatures`).
                if key.is_weak() {
                    return Err(AdmitError::BadSignature);
                }
                if self.keys.len() >= KEY_CACHE_MAX {
                    self.keys.clear();
                }
                self.keys.insert(tx.sender, key);
                key
            }
        };
        Ok(Checked {
            hash,
            sender: tx.sender,
            nonce: tx.nonce,
            key,
            signature: Signature::from_bytes(&signed.signature),
        })
    }

    /// Pools checked `bytes`; their hash.
    fn insert(&mut self, bytes: Vec<u8>, checked: &Checked) -> TxHash {
        self.bytes += bytes.len();
        self.hashes
            .insert(checked.hash, (checked.sender, checked.nonce));
        self.ready.insert(checked.sender);
        self.senders.entry(checked.sender).or_default().insert(
            checked.nonce,
            Pooled {
                hash: checked.hash,
                bytes,
            },
        );
        checked.hash
    }

    /// Up to `max_transactions` transactions of at most `max_bytes` together, round-robin
    /// over senders (one per sender per round), each sender's in nonce order from its account
    /// nonce without gaps. They stay pooled until [`Mempool::prune`] sees them executed.
    ///
    /// A sender whose run ends at a nonce it holds no transaction for (a gap, or none left) is
    /// not looked at again until it is admitted a transaction, or [`Mempool::prune`] or
    /// [`Mempool::evict`] touches it: callers pass a `next_nonce` that only grows in between
    /// (past what they were handed), and call [`Mempool::reconsider_all`] when it goes back.
    pub fn select(
        &mut self,
        max_transactions: usize,
        max_bytes: usize,
        next_nonce: impl Fn(&PublicKey) -> u64,
    ) -> Vec<Vec<u8>> {
        // The rotation: the ready senders after the last batch's first, then from the start.
        let rotation: Vec<PublicKey> = match self.cursor {
            Some(cursor) => self
                .ready
                .range((Bound::Excluded(cursor), Bound::Unbounded))
                .chain(self.ready.range(..=cursor))
                .copied()
                .collect(),
            None => self.ready.iter().copied().collect(),
        };
        let mut next: Vec<(PublicKey, u64)> = rotation
            .iter()
            .map(|sender| (*sender, next_nonce(sender)))
            .collect();
        let mut active: Vec<usize> = (0..next.len()).collect();
        let (mut chosen, mut bytes) = (Vec::new(), 0);
        while !active.is_empty() && chosen.len() < max_transactions {
            let mut still = Vec::with_capacity(active.len());
            for (at, &i) in active.iter().enumerate() {
                if chosen.len() == max_transactions {
                    // Not reached this round: still ready.
                    still.extend_from_slice(&active[at..]);
                    break;
                }
                let (sender, nonce) = next[i];
                match self
                    .senders
                    .get(&sender)
                    .and_then(|by_nonce| by_nonce.get(&nonce))
                {
                    // A sender with no transaction at its next nonce is done until something
                    // about it changes.
                    None => {
                        self.ready.remove(&sender);
                    }
                    // One whose next does not fit is done for this batch only.
                    Some(pooled) if bytes + pooled.bytes.len() > max_bytes => {}
                    Some(pooled) => {
                        bytes += pooled.bytes.len();
                        chosen.push(pooled.bytes.clone());
                        next[i].1 += 1;
                        still.push(i);
                    }
                }
            }
            active = still;
        }
        // The next batch starts after this one's first pooled sender, ready or not: the
        // rotation is the same as if every sender were looked at.
        let first = match self.cursor {
            Some(cursor) => self
                .senders
                .range((Bound::Excluded(cursor), Bound::Unbounded))
                .next()
                .or_else(|| self.senders.first_key_value()),
            None => self.senders.first_key_value(),
        };
        if let Some((first, _)) = first {
            self.cursor = Some(*first);
        }
        chosen
    }

    /// Makes every pooled sender looked at again by [`Mempool::select`] (its caller's
    /// `next_nonce` went back: it will hand again what it handed before).
    pub fn reconsider_all(&mut self) {
        self.ready = self.senders.keys().copied().collect();
    }

    /// Drops transaction `hash` (one a block carried that the runtime rejected: it left no
    /// trace, so its nonce stays free and [`Mempool::prune`] would keep it forever); whether
    /// it was pooled, its sender and nonce.
    pub fn evict(&mut self, hash: &TxHash) -> Option<(PublicKey, u64)> {
        let (sender, nonce) = *self.hashes.get(hash)?;
        self.remove(hash);
        Some((sender, nonce))
    }

    /// Takes transaction `hash` out of the pool.
    fn remove(&mut self, hash: &TxHash) -> Option<Pooled> {
        let (sender, nonce) = self.hashes.remove(hash)?;
        self.ready.insert(sender);
        let by_nonce = self.senders.get_mut(&sender)?;
        let pooled = by_nonce.remove(&nonce)?;
        self.bytes -= pooled.bytes.len();
        if by_nonce.is_empty() {
            self.senders.remove(&sender);
        }
        Some(pooled)
    }

    /// Drops every transaction whose nonce is below its sender's account nonce (executed or
    /// superseded); how many. A sender left holding the transaction at its account nonce is
    /// ready for [`Mempool::select`] again (others may have executed what it handed).
    pub fn prune(&mut self, next_nonce: impl Fn(&PublicKey) -> u64) -> usize {
        let senders: Vec<PublicKey> = self.senders.keys().copied().collect();
        self.prune_senders(&senders, next_nonce)
    }

    /// [`Mempool::prune`] for `senders` only: after a block, the senders it carried are the
    /// only ones whose account nonce moved, so a node pays for the block, not for the pool.
    pub fn prune_senders<'a>(
        &mut self,
        senders: impl IntoIterator<Item = &'a PublicKey>,
        next_nonce: impl Fn(&PublicKey) -> u64,
    ) -> usize {
        let mut dropped = 0;
        for sender in senders {
            let Some(by_nonce) = self.senders.get_mut(sender) else {
                continue;
            };
            let next = next_nonce(sender);
            let kept = by_nonce.split_off(&next);
            for pooled in by_nonce.values() {
                self.hashes.remove(&pooled.hash);
                self.bytes -= pooled.bytes.len();
                dropped += 1;
            }
            if kept.is_empty() {
                self.senders.remove(sender);
                self.ready.remove(sender);
                continue;
            }
            // Others may have executed what it handed: its next transaction is ready.
            if kept
                .first_key_value()
                .is_some_and(|(&nonce, _)| nonce == next)
            {
                self.ready.insert(*sender);
            }
            *by_nonce = kept;
        }
        dropped
    }
}
