//! `initialize` and the governance instructions.

use crate::harness::*;
use anchor_lang::AccountDeserialize;
use anchor_lang::InstructionData;
use anchor_spl::token::TokenAccount;
use curve_anchor::instruction;
use solana_signer::Signer;

#[tokio::test]
async fn initialize_creates_the_config_and_a_vault_owned_by_its_pda() {
    let env = &mut Env::new().await;
    let config = env.config().await;
    assert_eq!(config.governance, env.governance.pubkey());
    assert_eq!(config.chain_id, CHAIN_ID);
    assert!(config.dev_mode && !config.paused);
    assert_eq!((config.mint, config.vault), (env.mint, pda::vault()));
    assert_eq!(config.committee, keys(&env.committee));
    assert_eq!(config.quorum, 3);
    assert_eq!((config.latest_height, config.latest_root), (0, [0x60; 32]));
    assert_eq!(config.recent_roots.len(), 1);
    assert_eq!(config.recent_roots[0].state_root, [0x60; 32]);
    assert_eq!((config.next_deposit, config.committee_epoch), (0, 0));
    let (data, _) = env.raw(pda::vault()).await;
    let vault = TokenAccount::try_deserialize(&mut &data[..]).expect("a token account");
    assert_eq!(
        (vault.mint, vault.owner, vault.amount),
        (env.mint, pda::vault(), 0)
    );
    // A second initialisation is refused by the runtime: the config account exists.
    let ix = env.initialize_ix(env.mint, init_args(&env.committee, false));
    let governance = env.governance.insecure_clone();
    env.refused_by_runtime(&[ix], &[&governance], &[pda::config(), pda::vault()])
        .await;
}

/// A change to the standard initialize arguments.
type Change = Box<dyn Fn(&mut curve_anchor::InitializeArgs)>;

#[tokio::test]
async fn initialize_refuses_token_2022_bad_committees_and_a_zero_delay() {
    let env = &mut Env::uninitialised().await;
    let governance = env.governance.insecure_clone();
    let watched = [pda::config(), pda::vault()];
    let token_2022 = env
        .create_mint(anchor_lang::prelude::pubkey!(
            "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
        ))
        .await;
    let ix = env.initialize_ix(token_2022, init_args(&env.committee, true));
    env.refused(6026, &[ix], &[&governance], &watched).await;

    let cases: [(u32, Change); 6] = [
        (6002, Box::new(|a| a.committee.clear())),
        (
            6002,
            Box::new(|a| a.committee = keys(&committee(8, "eight"))),
        ),
        (6003, Box::new(|a| a.committee[3] = a.committee[0])),
        (6004, Box::new(|a| a.quorum = 2)),
        (6004, Box::new(|a| a.quorum = 5)),
        (6029, Box::new(|a| a.withdrawal_delay_slots = 0)),
    ];
    for (code, change) in cases {
        let mut args = init_args(&env.committee, true);
        change(&mut args);
        let ix = env.initialize_ix(env.mint, args);
        env.refused(code, &[ix], &[&governance], &watched).await;
    }
    // Nothing above left a config behind; the real one still goes through.
    let ix = env.initialize_ix(env.mint, init_args(&env.committee, true));
    env.send(&[ix], &[&governance]).await.expect("initialize");
}

#[tokio::test]
async fn governance_pauses_rotates_and_hands_over() {
    let env = &mut Env::new().await;
    let governance = env.governance.insecure_clone();
    let stranger = keypair("stranger");
    let watched = [pda::config()];

    let pause = instruction::SetPaused { paused: true }.data();
    let ix = env.govern_ix(stranger.pubkey(), pause.clone());
    env.refused(6001, &[ix], &[&stranger], &watched).await;
    let ix = env.govern_ix(governance.pubkey(), pause);
    env.send(&[ix], &[&governance]).await.expect("pause");
    assert!(env.config().await.paused);
    env.set_paused(false).await;
    assert!(!env.config().await.paused);

    let seven = keys(&committee(7, "seven"));
    let rotate = |committee: Vec<[u8; 32]>, quorum| {
        instruction::RotateCommittee { committee, quorum }.data()
    };
    for (code, data) in [
        (6001, None),
        (6002, Some(rotate(vec![], 0))),
        (6003, Some(rotate(vec![seven[0], seven[0]], 2))),
        (6004, Some(rotate(seven.clone(), 4))),
        // Six signatures would not fit one post_batch transaction with a priority fee.
        (6004, Some(rotate(seven.clone(), 6))),
    ] {
        let (signer, data) = match data {
            None => (&stranger, rotate(seven.clone(), 5)),
            Some(data) => (&governance, data),
        };
        let ix = env.govern_ix(signer.pubkey(), data);
        env.refused(code, &[ix], &[signer], &watched).await;
    }
    let ix = env.govern_ix(governance.pubkey(), rotate(seven.clone(), 5));
    env.send(&[ix], &[&governance]).await.expect("rotate");
    let config = env.config().await;
    assert_eq!(
        (config.committee, config.quorum, config.committee_epoch),
        (seven, 5, 1)
    );

    let nobody = instruction::SetGovernance {
        governance: anchor_lang::prelude::Pubkey::default(),
    }
    .data();
    let ix = env.govern_ix(governance.pubkey(), nobody);
    env.refused(6031, &[ix], &[&governance], &watched).await;

    let next = keypair("next governance");
    let hand_over = instruction::SetGovernance {
        governance: next.pubkey(),
    }
    .data();
    let ix = env.govern_ix(stranger.pubkey(), hand_over.clone());
    env.refused(6001, &[ix], &[&stranger], &watched).await;
    let ix = env.govern_ix(governance.pubkey(), hand_over);
    env.send(&[ix], &[&governance]).await.expect("hand over");
    assert_eq!(env.config().await.governance, next.pubkey());
    let ix = env.govern_ix(
        governance.pubkey(),
        instruction::SetPaused { paused: true }.data(),
    );
    env.refused(6001, &[ix], &[&governance], &watched).await;
    let ix = env.govern_ix(
        next.pubkey(),
        instruction::SetPaused { paused: true }.data(),
    );
    env.send(&[ix], &[&next])
        .await
        .expect("the new authority governs");
    assert!(env.config().await.paused);
}
