//! The rollup runtime's own output, replayed on chain: `curve sim examples/payouts.scenario.toml`
//! (committed as `tests/fixtures/payouts.sim.json`; the CLI's tests keep it current) gives the
//! genesis root, three batch headers and seven payouts with their Merkle paths. Every header
//! anchors on top of the previous one, and every payout is paid with the runtime's path.

use crate::harness::*;
use crate::vault::{deposit_ix, depositor, withdraw_ix};
use anchor_lang::prelude::Pubkey;
use curve_anchor::{BatchRecord, SignedHeader, WithdrawArgs};
use curve_formats::batch::BatchHeader;
use serde_json::Value;
use solana_keypair::Keypair;
use std::collections::BTreeMap;

fn number(value: &Value) -> u128 {
    match value {
        Value::String(text) => text.parse().expect("a decimal amount"),
        other => other.as_u64().expect("a number").into(),
    }
}

#[tokio::test]
async fn the_runtimes_batches_anchor_and_its_payouts_are_paid() {
    let run: Value = serde_json::from_str(include_str!("../fixtures/payouts.sim.json"))
        .expect("the fixture is JSON");
    let chain_id = run["chain_id"].as_u64().expect("chain id");
    let batches = run["batches"].as_array().expect("batches");

    let mut env = Env::uninitialised().await;
    let mut args = init_args(&env.committee, true);
    args.chain_id = chain_id;
    args.genesis_root = hex32(&batches[0]["header"]["prev_root"]);
    let ix = env.initialize_ix(env.mint, args);
    let governance = env.governance.insecure_clone();
    env.send(&[ix], &[&governance]).await.expect("initialize");
    let env = &mut env;

    let members: Vec<Keypair> = env.committee.iter().map(|k| k.insecure_clone()).collect();
    let quorum: Vec<&Keypair> = members.iter().take(3).collect();
    for batch in batches {
        let fields = &batch["header"];
        let header = BatchHeader {
            height: batch["height"].as_u64().expect("height"),
            prev_root: hex32(&fields["prev_root"]),
            state_root: hex32(&fields["state_root"]),
            transactions_root: hex32(&fields["transactions_root"]),
            withdrawal_root: hex32(&fields["withdrawal_root"]),
            withdrawal_count: fields["withdrawal_count"].as_u64().expect("count"),
            withdrawal_total: number(&fields["withdrawal_total"]),
            timestamp_ms: batch["timestamp_ms"].as_u64().expect("time"),
        };
        let ixs = env.signed_batch(SignedHeader::new(chain_id, &header), &quorum, 2);
        env.send(&ixs, &[])
            .await
            .expect("the runtime's header anchors");
    }
    let config = env.config().await;
    assert_eq!(config.latest_height, batches.len() as u64);
    assert_eq!(config.latest_root, hex32(&run["state_root"]));

    // Collateral for every payout, then the delay.
    let owed: u128 = batches
        .iter()
        .map(|b| number(&b["header"]["withdrawal_total"]))
        .sum();
    let owed = u64::try_from(owed).expect("fits SPL");
    let (who, source) = depositor(env, owed).await;
    env.send(&[deposit_ix(&who, source, 0, owed)], &[&who])
        .await
        .expect("deposit");
    env.advance(DELAY).await;

    let mut expected: BTreeMap<[u8; 32], u64> = BTreeMap::new();
    let mut accounts: BTreeMap<[u8; 32], Pubkey> = BTreeMap::new();
    for batch in batches {
        let height = batch["height"].as_u64().expect("height");
        for payout in batch["payouts"].as_array().expect("payouts") {
            let recipient = hex32(&payout["recipient"]);
            let amount = number(&payout["amount"]);
            *expected.entry(recipient).or_default() += u64::try_from(amount).expect("u64");
            let token = match accounts.get(&recipient) {
                Some(token) => *token,
                None => {
                    let token = env
                        .token_account(env.mint, Pubkey::new_from_array(recipient))
                        .await;
                    accounts.insert(recipient, token);
                    token
                }
            };
            assert_eq!(payout["origin"], "withdrawal");
            let args = WithdrawArgs {
                height,
                index: payout["index"].as_u64().expect("index") as u32,
                recipient: Pubkey::new_from_array(recipient),
                amount,
                origin: 0,
                origin_id: hex32(&payout["market_id"]),
                proof: payout["proof"]
                    .as_array()
                    .expect("proof")
                    .iter()
                    .map(hex32)
                    .collect(),
            };
            env.send(&[withdraw_ix(env, args, token)], &[])
                .await
                .expect("the runtime's payout is paid");
        }
        let record: BatchRecord = env.account(pda::batch(height)).await;
        assert_eq!(record.withdrawn, record.header.withdrawal_total);
    }
    assert_eq!(expected.len(), 3, "three Solana recipients in the scenario");
    for (recipient, amount) in expected {
        assert_eq!(env.balance(accounts[&recipient]).await, amount);
    }
    assert_eq!(env.balance(pda::vault()).await, 0);
}
