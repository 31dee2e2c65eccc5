//! Deposits into the vault and payouts out of it.

use crate::harness::*;
use anchor_lang::InstructionData;
use anchor_lang::ToAccountMetas;
use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use curve_anchor::{
    BatchRecord, DepositAccount, MAX_PAYOUT_DEPTH, Nullifier, SignedHeader, WithdrawArgs,
};
use curve_formats::leaf::{Origin, PayoutLeaf};
use curve_formats::merkle::MerkleTree;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// A funded depositor: a keypair and its token account holding `amount`.
pub async fn depositor(env: &mut Env, amount: u64) -> (Keypair, Pubkey) {
    let who = env.fresh("depositor");
    env.fund(who.pubkey()).await;
    let account = env.token_account(env.mint, who.pubkey()).await;
    env.mint_to(env.mint, account, amount).await;
    (who, account)
}

pub fn deposit_ix(who: &Keypair, source: Pubkey, sequence: u64, amount: u64) -> Instruction {
    Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::Deposit {
            depositor: who.pubkey(),
            config: pda::config(),
            record: pda::deposit(sequence),
            source,
            vault: pda::vault(),
            token_program: spl_token_interface::ID,
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::Deposit {
            amount,
            recipient: [0x52; 32],
        }
        .data(),
    }
}

#[tokio::test]
async fn deposits_move_collateral_and_are_numbered_once() {
    let env = &mut Env::new().await;
    let (who, source) = depositor(env, 1_000).await;
    for (sequence, amount) in [(0, 300), (1, 200)] {
        let ix = deposit_ix(&who, source, sequence, amount);
        env.send(&[ix], &[&who]).await.expect("deposit");
        let record: DepositAccount = env.account(pda::deposit(sequence)).await;
        // What the committee attests: the formats crate's record, chain id from the config.
        let expected = curve_formats::deposit::DepositRecord {
            chain_id: CHAIN_ID,
            sequence,
            depositor: who.pubkey().to_bytes(),
            recipient: [0x52; 32],
            amount,
            slot: env.slot().await,
        };
        assert_eq!(record.record(CHAIN_ID), expected);
    }
    assert_eq!(env.config().await.next_deposit, 2);
    assert_eq!(
        (env.balance(source).await, env.balance(pda::vault()).await),
        (500, 500)
    );
    let watched = [pda::config(), pda::vault(), source, pda::deposit(2)];

    let ix = deposit_ix(&who, source, 2, 0);
    env.refused(6027, &[ix], &[&who], &watched).await;
    // The next sequence number only: a record for another number is refused by its seeds.
    let ix = deposit_ix(&who, source, 7, 10);
    assert_eq!(custom_code(&env.send(&[ix], &[&who]).await), Some(2006));
    // Another mint's tokens.
    let other_mint = env.create_mint(spl_token_interface::ID).await;
    let other = env.token_account(other_mint, who.pubkey()).await;
    env.mint_to(other_mint, other, 100).await;
    let ix = deposit_ix(&who, other, 2, 10);
    env.refused(6023, &[ix], &[&who], &[pda::config(), pda::vault(), other])
        .await;
    env.set_paused(true).await;
    let ix = deposit_ix(&who, source, 2, 10);
    env.refused(6000, &[ix], &[&who], &watched).await;
}

/// A batch whose payout tree holds `leaves`, anchored with `total` declared, and a vault
/// holding enough to pay them.
struct Payouts {
    height: u64,
    leaves: Vec<PayoutLeaf>,
    tree: MerkleTree,
}

async fn anchor_payouts(
    env: &mut Env,
    leaves: Vec<(Pubkey, u128, Origin)>,
    total: u128,
) -> Payouts {
    let height = env.config().await.latest_height + 1;
    let leaves: Vec<PayoutLeaf> = leaves
        .into_iter()
        .enumerate()
        .map(|(index, (recipient, amount, origin))| PayoutLeaf {
            chain_id: CHAIN_ID,
            batch_height: height,
            index: index as u32,
            recipient: recipient.to_bytes(),
            amount,
            origin,
        })
        .collect();
    let bytes: Vec<Vec<u8>> = leaves.iter().map(PayoutLeaf::to_leaf_bytes).collect();
    let tree = MerkleTree::from_leaves(&bytes).expect("tree");
    env.post(tree.root(), tree.count(), total).await;
    let (who, source) = depositor(env, 10_000).await;
    let sequence = env.config().await.next_deposit;
    let ix = deposit_ix(&who, source, sequence, 10_000);
    env.send(&[ix], &[&who]).await.expect("fund the vault");
    Payouts {
        height,
        leaves,
        tree,
    }
}

impl Payouts {
    fn args(&self, index: usize) -> WithdrawArgs {
        let leaf = &self.leaves[index];
        let (origin, origin_id) = leaf.origin.to_parts();
        WithdrawArgs {
            height: self.height,
            index: leaf.index,
            recipient: Pubkey::new_from_array(leaf.recipient),
            amount: leaf.amount,
            origin,
            origin_id,
            proof: self.tree.proof(index as u64).expect("in the tree").siblings,
        }
    }
}

pub fn withdraw_ix(env: &Env, args: WithdrawArgs, recipient_token: Pubkey) -> Instruction {
    Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::Withdraw {
            payer: env.payer(),
            config: pda::config(),
            batch: pda::batch(args.height),
            nullifier: pda::nullifier(args.height, args.index),
            vault: pda::vault(),
            recipient_token,
            token_program: spl_token_interface::ID,
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::Withdraw { args }.data(),
    }
}

/// Expects `code` for paying `args` into `token`, with the batch, the leaf's nullifier, the vault
/// and `token` unchanged.
async fn refuse_withdraw(env: &mut Env, code: u32, args: WithdrawArgs, token: Pubkey) {
    let watched = [
        pda::batch(args.height),
        pda::nullifier(args.height, args.index),
        pda::vault(),
        token,
    ];
    let ix = withdraw_ix(env, args, token);
    env.refused(code, &[ix], &[], &watched).await;
}

#[tokio::test]
async fn payouts_are_paid_once_after_the_delay_within_the_total() {
    let env = &mut Env::new().await;
    let alice = keypair("alice");
    let bob = keypair("bob");
    let market = Origin::Settlement {
        market_id: [0x4D; 32],
    };
    let payouts = anchor_payouts(
        env,
        vec![
            (alice.pubkey(), 700, Origin::Withdrawal),
            (bob.pubkey(), 250, market),
            (bob.pubkey(), 100, Origin::Withdrawal),
        ],
        // Declared total below the leaves' sum: the program never pays beyond it.
        1_000,
    )
    .await;
    let alice_token = env.token_account(env.mint, alice.pubkey()).await;
    let bob_token = env.token_account(env.mint, bob.pubkey()).await;
    refuse_withdraw(env, 6022, payouts.args(0), alice_token).await;
    env.advance(DELAY).await;

    // A stranger may submit; the leaf's recipient is paid.
    let ix = withdraw_ix(env, payouts.args(0), alice_token);
    env.send(&[ix], &[]).await.expect("withdraw");
    assert_eq!(env.balance(alice_token).await, 700);
    let nullifier: Nullifier = env.account(pda::nullifier(payouts.height, 0)).await;
    assert_eq!(nullifier.amount, 700);
    let batch: BatchRecord = env.account(pda::batch(payouts.height)).await;
    assert_eq!(batch.withdrawn, 700);

    refuse_withdraw(env, 6020, payouts.args(0), alice_token).await;

    // A settlement leaf (market id in the leaf).
    let ix = withdraw_ix(env, payouts.args(1), bob_token);
    env.send(&[ix], &[]).await.expect("settlement payout");
    assert_eq!(env.balance(bob_token).await, 250);
    // 700 + 250 + 100 > 1,000.
    refuse_withdraw(env, 6021, payouts.args(2), bob_token).await;
    assert_eq!(env.balance(pda::vault()).await, 10_000 - 950);
}

#[tokio::test]
async fn bad_proofs_accounts_and_leaves_are_refused() {
    let env = &mut Env::new().await;
    let alice = keypair("alice");
    let huge = keypair("huge");
    let payouts = anchor_payouts(
        env,
        vec![
            (alice.pubkey(), 700, Origin::Withdrawal),
            (huge.pubkey(), 1 << 64, Origin::Withdrawal),
        ],
        u128::MAX,
    )
    .await;
    env.advance(DELAY).await;
    let alice_token = env.token_account(env.mint, alice.pubkey()).await;
    let mut bad = payouts.args(0);
    bad.proof[0][0] ^= 1;
    refuse_withdraw(env, 6019, bad, alice_token).await;
    let mut more = payouts.args(0);
    more.amount += 1;
    refuse_withdraw(env, 6019, more, alice_token).await;
    let mut short = payouts.args(0);
    short.proof.pop();
    refuse_withdraw(env, 6019, short, alice_token).await;
    let mut origin = payouts.args(0);
    origin.origin = 2;
    refuse_withdraw(env, 6028, origin, alice_token).await;
    let mut origin = payouts.args(0);
    origin.origin_id = [1; 32];
    refuse_withdraw(env, 6028, origin, alice_token).await;

    // The recipient's token account must be of the collateral mint and owned by the recipient.
    let other_mint = env.create_mint(spl_token_interface::ID).await;
    let wrong_mint = env.token_account(other_mint, alice.pubkey()).await;
    refuse_withdraw(env, 6023, payouts.args(0), wrong_mint).await;
    let mallory = keypair("mallory").pubkey();
    let mallory_token = env.token_account(env.mint, mallory).await;
    refuse_withdraw(env, 6024, payouts.args(0), mallory_token).await;

    // A leaf above u64 cannot be an SPL transfer.
    let huge_token = env.token_account(env.mint, huge.pubkey()).await;
    refuse_withdraw(env, 6025, payouts.args(1), huge_token).await;

    env.set_paused(true).await;
    refuse_withdraw(env, 6000, payouts.args(0), alice_token).await;
    env.set_paused(false).await;

    // Lamports sent to the nullifier's address beforehand do not block the withdrawal.
    let nullifier = pda::nullifier(payouts.height, 0);
    let gift = solana_system_interface::instruction::transfer(&env.payer(), &nullifier, 1_000_000);
    env.send(&[gift], &[]).await.expect("gift");
    env.send(&[withdraw_ix(env, payouts.args(0), alice_token)], &[])
        .await
        .expect("withdraw");
    assert_eq!(env.balance(alice_token).await, 700);
    let paid: Nullifier = env.account(nullifier).await;
    assert_eq!(paid.amount, 700);
}

/// A payout of the deepest tree a batch may anchor, with a compute-budget instruction, fits one
/// transaction; a header naming a deeper tree is refused.
#[tokio::test]
async fn the_deepest_payout_proof_fits_one_transaction() {
    let env = &mut Env::new().await;
    let args = WithdrawArgs {
        height: 1,
        index: 0,
        recipient: Pubkey::new_from_array([1; 32]),
        amount: 1,
        origin: 0,
        origin_id: [0; 32],
        proof: vec![[0; 32]; MAX_PAYOUT_DEPTH as usize],
    };
    let budget =
        solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(400_000);
    let ix = withdraw_ix(env, args, Pubkey::new_from_array([2; 32]));
    let size = wire_size(&env.transaction(&[budget, ix], &[]));
    println!("withdraw with a {MAX_PAYOUT_DEPTH}-level proof: {size} bytes");
    assert!(size <= 1232, "{size} bytes");

    let config = env.config().await;
    let deepest = 1u64 << MAX_PAYOUT_DEPTH;
    for (count, code) in [(deepest + 1, Some(6030)), (deepest, None)] {
        let header = next_header(&config, [9; 32], count, 1);
        let members: Vec<Keypair> = env.committee.iter().map(|k| k.insecure_clone()).collect();
        let signers: Vec<&Keypair> = members.iter().take(3).collect();
        let ixs = env.signed_batch(SignedHeader::new(CHAIN_ID, &header), &signers, 2);
        match code {
            Some(code) => {
                env.refused(code, &ixs, &[], &[pda::config(), pda::batch(1)])
                    .await
            }
            None => env
                .send(&ixs, &[])
                .await
                .expect("the deepest tree is accepted"),
        }
    }
}

fn revoke_ix(signer: Pubkey, to_height: u64, kept: bool) -> Instruction {
    Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::RevokeBatches {
            governance: signer,
            config: pda::config(),
            first_revoked: pda::batch(to_height + 1),
            kept: kept.then(|| pda::batch(to_height)),
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::RevokeBatches { to_height }.data(),
    }
}

/// Fraud recovery. Batch 1 is honest and final; batch 2, anchored by a committee that then turns
/// out dishonest, pays its accomplice. During batch 2's delay governance rotates the committee
/// and revokes back to batch 1: the thief's leaf pays nothing, ever; the new committee anchors a
/// new batch 2 over the kept root (overwriting the revoked record), and its payout is paid. A
/// batch past its delay can no longer be revoked, and only governance revokes.
#[tokio::test]
async fn a_revoked_batch_pays_nothing_and_the_chain_continues_from_the_kept_root() {
    let env = &mut Env::new().await;
    let honest = keypair("honest");
    let thief = keypair("thief");
    let first = anchor_payouts(env, vec![(honest.pubkey(), 100, Origin::Withdrawal)], 100).await;
    env.advance(DELAY).await;
    let kept_root = env.config().await.latest_root;
    let stolen = anchor_payouts(
        env,
        vec![(thief.pubkey(), 5_000, Origin::Withdrawal)],
        5_000,
    )
    .await;
    assert_eq!(stolen.height, 2);
    let old_committee: Vec<Keypair> = env.committee.iter().map(|k| k.insecure_clone()).collect();

    let governance = env.governance.insecure_clone();
    let watched = [pda::config(), pda::batch(1), pda::batch(2)];
    // Only governance; not past the tip; not to a height whose record is not the kept batch.
    let stranger = keypair("stranger");
    env.fund(stranger.pubkey()).await;
    let ix = revoke_ix(stranger.pubkey(), 1, true);
    env.refused(6001, &[ix], &[&stranger], &watched).await;
    let ix = revoke_ix(governance.pubkey(), 0, true);
    let result = env.send(&[ix], &[&governance]).await;
    assert!(result.is_err(), "height 0 has no batch record to keep");
    let ix = revoke_ix(governance.pubkey(), 1, false);
    env.refused(6034, &[ix], &[&governance], &watched).await;
    // Batch 1 is past its delay: revoking it (back to genesis) is too late.
    let ix = revoke_ix(governance.pubkey(), 0, false);
    env.refused(6033, &[ix], &[&governance], &watched).await;

    // Rotate out the committee that signed batch 2, then revoke it.
    let new_committee = committee(4, "honest-committee");
    let rotate = curve_anchor::instruction::RotateCommittee {
        committee: keys(&new_committee),
        quorum: 3,
    }
    .data();
    let ix = env.govern_ix(governance.pubkey(), rotate);
    env.send(&[ix], &[&governance]).await.expect("rotate");
    let ix = revoke_ix(governance.pubkey(), 1, true);
    env.send(&[ix], &[&governance]).await.expect("revoke");
    let config = env.config().await;
    assert_eq!((config.latest_height, config.latest_root), (1, kept_root));
    assert!(config.recent_roots.iter().all(|r| r.height <= 1));
    // Nothing above the tip remains to revoke.
    let ix = revoke_ix(governance.pubkey(), 1, true);
    env.refused(6034, &[ix], &[&governance], &watched).await;

    // The thief's leaf is refused however long one waits.
    let thief_token = env.token_account(env.mint, thief.pubkey()).await;
    env.advance(2 * DELAY).await;
    refuse_withdraw(env, 6032, stolen.args(0), thief_token).await;
    // The batch that was final still pays.
    let honest_token = env.token_account(env.mint, honest.pubkey()).await;
    let ix = withdraw_ix(env, first.args(0), honest_token);
    env.send(&[ix], &[]).await.expect("the kept batch pays");
    assert_eq!(env.balance(honest_token).await, 100);

    // The rotated-out committee cannot extend the chain again; the new one anchors a new
    // batch 2 on the kept root, over the revoked record, and its payout is paid.
    let header = next_header(&env.config().await, [0; 32], 0, 0);
    assert_eq!((header.height, header.prev_root), (2, kept_root));
    let stale = env.signed_batch(
        SignedHeader::new(CHAIN_ID, &header),
        &[&old_committee[0], &old_committee[1], &old_committee[2]],
        2,
    );
    env.refused(6013, &stale, &[], &[pda::config(), pda::batch(2)])
        .await;
    env.committee = new_committee;
    let replacement =
        anchor_payouts(env, vec![(honest.pubkey(), 40, Origin::Withdrawal)], 40).await;
    assert_eq!(replacement.height, 2);
    let record: BatchRecord = env.account(pda::batch(2)).await;
    assert_eq!(record.header.withdrawal_total, 40);
    assert_eq!(record.withdrawn, 0);
    assert_eq!(record.committee_epoch, 1);
    env.advance(DELAY).await;
    let ix = withdraw_ix(env, replacement.args(0), honest_token);
    env.send(&[ix], &[])
        .await
        .expect("the replacement batch pays");
    assert_eq!(env.balance(honest_token).await, 140);
    // The thief's old proof is against the revoked tree: it does not match the new one.
    refuse_withdraw(env, 6019, stolen.args(0), thief_token).await;
}
