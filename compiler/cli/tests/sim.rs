//! `curve sim` as a user meets it: the example scenarios run with every expectation met, prints
//! the same final state root twice, gives the same root in JSON and the same document on both
//! engines, and a broken scenario exits 1;
//! the payout scenario is the Anchor program's fixture.

use std::path::Path;
use std::process::Output;

mod common;
use common::{curve_command, workspace};

fn sim(args: &[&str]) -> Output {
    curve_command(&[&["sim"], args].concat())
        .env(
            "CURVE_KEYS_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("curve-keys"),
        )
        .current_dir(workspace())
        .output()
        .expect("run curve")
}

/// Runs `scenario`, which must meet every expectation it states (the run fails otherwise),
/// checks that its output names each of `named` (refusals, codes), and returns the output.
fn passing_run(scenario: &str, named: &[&str]) -> String {
    let run = sim(&[scenario]);
    assert!(run.status.success(), "{scenario}: {run:?}");
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    for named in named {
        assert!(text.contains(named), "{scenario}: {named}: {text}");
    }
    text
}

/// The runtime's conservation line printed after batch `batch`.
fn conservation_line(stdout: &str, batch: usize) -> &str {
    stdout
        .split(&format!("batch {batch} at"))
        .nth(1)
        .and_then(|text| text.lines().find(|l| l.contains("conserved:")))
        .unwrap_or_else(|| panic!("batch {batch}'s conservation line"))
}

fn final_root(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("final state root "))
        .expect("a final state root")
        .to_string()
}

/// The composition example: a view read, invokes, an unauthorized and a re-entrant invoke
/// refused, an undeclared program refused; every `expect` and `returns` in the file holds
/// (the run fails otherwise), and the refusals are named.
#[test]
fn the_composition_scenario_meets_its_expectations() {
    passing_run(
        "examples/composition.scenario.toml",
        &[
            "refused: invoke_denied",
            "refused: undeclared_program",
            "the access list must name it",
        ],
    );
    // A wrong expectation fails the run.
    let scenario = std::fs::read_to_string(workspace().join("examples/composition.scenario.toml"))
        .expect("scenario")
        .replace("returns = [0, 0, 151_250_000]", "returns = [0, 0, 1]");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("composition-wrong");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("composition.scenario.toml"), scenario).expect("write");
    std::fs::copy(
        workspace().join("examples/perp_multi.curve"),
        dir.join("perp_multi.curve"),
    )
    .expect("copy");
    let wrong = sim(&[dir
        .join("composition.scenario.toml")
        .to_str()
        .expect("utf-8")]);
    assert_eq!(wrong.status.code(), Some(1), "{wrong:?}");
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("expected returns [0, 0, 1]"),
        "{wrong:?}"
    );
}

/// The perpetual example: a slab deployed from perp_sol.curve, quoted by a designated LP,
/// traded by a taker through the router probe; every `expect` and `returns` in the file holds
/// (the hand-derived fills, fee, debit and margin), the refusals are named, and after the
/// commit the slab's ledger account holds exactly the debit while the taker's vault paid it.
#[test]
fn the_perp_sol_scenario_meets_its_expectations() {
    let text = passing_run(
        "examples/perp_sol.scenario.toml",
        &[
            "is called only through invoke",
            "must be the sender's user id",
            "is a governance action",
            "(QTY_RANGE)",
            "(UNKNOWN_ORDER)",
        ],
    );
    // Deposits 61,000,000; after the commit the slab holds bob's 11,572 and nothing is left
    // in escrow (the router released the rest of the pledge).
    let after_commit = conservation_line(&text, 5);
    assert_eq!(
        after_commit.trim(),
        "conserved: vaults 60988428 + escrows 0 + slab_accounts 11572 + fees 0 + pending_withdrawals 0 = deposits 61000000 − withdrawals 0"
    );
}

/// The sandwich example (issue 26): an attacker buys ahead of a victim and sells back into a
/// later bid in the same batch. Every `expect` and `returns` holds — the hand-derived fills,
/// fees, the round-trip tax and the attacker's slab cash, 300 below what she put in — her ask
/// popped in ahead of the victim is refused by the freeze, and the victim's fill stays within
/// his limit. (perp_sol.scenario.toml shows a settle with the wrong salt refused.)
#[test]
fn the_sandwich_scenario_leaves_the_attacker_a_loss() {
    passing_run("examples/sandwich.scenario.toml", &["(FROZEN)"]);
}

/// The multi-slab example: the ROUTER of perp_multi.curve deployed from its block, both SOL
/// slabs listed; every `expect` and `returns` holds (the hand-derived fills, fees, debits and
/// margins of a buy across both slabs, a sell back and a short that nets against the long),
/// refusals are named, and after the buy the slabs' ledger accounts hold exactly its debit
/// (the fees) and the only escrow is the margin lock (IM 112,500,000 less the equity of
/// −1,000,000); after the netting short the lock is just the unrealised loss; governance's
/// exposure cap refuses a growing route and lets a closing one through.
#[test]
fn the_perp_multi_scenario_routes_across_slabs() {
    let text = passing_run(
        "examples/perp_multi.scenario.toml",
        &[
            "must be the sender's user id",
            "is a governance action",
            "(UNFILLED)",
            "(DUPLICATE_LEG)",
            "(UNLISTED)",
            "argument `user` of `sync_margin` must be the sender's user id",
            "(EXPOSURE_CAP)",
        ],
    );
    let after_buy = conservation_line(&text, 5);
    assert_eq!(
        after_buy.trim(),
        "conserved: vaults 9886374500 + escrows 113500000 + slab_accounts 1125500 + fees 0 + pending_withdrawals 0 = deposits 10001000000 − withdrawals 0"
    );
    let after_net = conservation_line(&text, 8);
    assert!(after_net.contains("+ escrows 450000 +"), "{after_net}");
}

/// The SOL-PERP exchange end to end (issue 27): every `expect` and `returns` of the 11
/// batches holds — funding over one hour and then two at once, a keeper's calls (a healthy
/// account untouched, a grace window opened for two accounts, one saved by a deposit in time,
/// the other swept within the band a minute later), a replayed cancel refused by its nonce, the
/// funding settled at a later fill — the runtime's conservation holds after every batch (the
/// run fails otherwise) and the refusals are named. The last batch's ledger: the two margin
/// locks (bob's 67,676 and carol's 50,964) are the only escrows, and the slabs hold what they
/// collected: on `a` bob's three debits, 602 (his first fee), 32,040 (the liquidation) and
/// 16,519 (the close), on `b` bob's fee 402 and carol's debits 301 and 175 — as the scenario's
/// comments derive.
#[test]
fn the_sol_perp_exchange_scenario_funds_liquidates_and_conserves() {
    let text = passing_run(
        "examples/perp_sol_exchange.scenario.toml",
        &[
            "`liquidation_call` of program 2 is called only through invoke",
            "(UNKNOWN_ORDER)",
            "nonce 8, the sender's next nonce is 11",
        ],
    );
    let batches = text.matches("\nbatch ").count();
    assert_eq!(text.matches("conserved:").count(), batches, "{text}");
    let (locks, collected_a, collected_b) =
        (67_676 + 50_964, 602 + 32_040 + 16_519, 402 + 301 + 175);
    let deposits = 10_000_000 + 1_200_000 + 400_000 + 1_000_000 + 1_000_000 + 10_000 + 200_000;
    let withdrawals = 1_090_000 + 355_000;
    let vaults = deposits - withdrawals - locks - collected_a - collected_b;
    let last = conservation_line(&text, 11);
    assert_eq!(
        last.trim(),
        format!(
            "conserved: vaults {vaults} + escrows {locks} + slab_accounts {} + fees 0 + pending_withdrawals 0 = deposits {deposits} − withdrawals {withdrawals}",
            collected_a + collected_b
        )
    );
}

/// The joint market example: a MARKET deployed from market_joint.curve (8 worlds, the naive-Bayes
/// prior of lmsr.md §8.2), opened and traded through the router probe; every `expect` and
/// `returns` holds (the reference model's numbers), refusals are named, and the market's
/// ledger account holds exactly the subsidy and the two buys' costs.
#[test]
fn the_market_joint_scenario_meets_its_expectations() {
    let text = passing_run(
        "examples/market_joint.scenario.toml",
        &[
            "is called only through invoke",
            "must be the sender's user id",
            "(HOLDINGS)",
        ],
    );
    let last = text
        .lines()
        .rfind(|l| l.contains("conserved:"))
        .expect("a conservation line");
    // 356,312,826 subsidy + 2,931,283 + 1,466,075 of buys; the sale is cash inside the market.
    assert_eq!(
        last.trim(),
        "conserved: vaults 839289816 + escrows 0 + slab_accounts 360710184 + fees 0 + pending_withdrawals 0 = deposits 1200000000 − withdrawals 0"
    );
}

/// The binary and multi-outcome market examples meet every expectation (the reference model's
/// numbers), including the close time and refused baskets.
#[test]
fn the_binary_and_multi_market_scenarios_meet_their_expectations() {
    for (scenario, named) in [
        ("examples/market_binary.scenario.toml", "(CLOSED)"),
        ("examples/market_multi.scenario.toml", "(BAD_BASKET)"),
    ] {
        passing_run(scenario, &[named]);
    }
}

#[test]
fn the_oracle_scenario_runs_and_is_reproducible() {
    let first = sim(&["examples/oracle.scenario.toml"]);
    assert!(first.status.success(), "{first:?}");
    let text = String::from_utf8_lossy(&first.stdout);
    // Reverts name the script line; the read returns the published price.
    assert!(text.contains("perp_multi.curve:54:5 (SIGNERS)"), "{text}");
    assert!(
        text.contains("returns [151250000, 1780000001900, 100, 0, 151250000]"),
        "{text}"
    );
    let second = sim(&["examples/oracle.scenario.toml"]);
    assert_eq!(
        final_root(&text),
        final_root(&String::from_utf8_lossy(&second.stdout))
    );
    let json = sim(&["examples/oracle.scenario.toml", "--format", "json"]);
    assert!(json.status.success(), "{json:?}");
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(
        document["state_root"].as_str(),
        Some(final_root(&text).as_str())
    );
    assert_eq!(document["batches"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        document["batches"][3]["header"]["withdrawal_total"],
        "2000000"
    );
}

/// Issue 30: the runtime runs calls on the JIT by default; every example scenario gives the
/// same JSON document — every receipt's status, revert pc, gas, fee, returns and events, every
/// batch header and state root — on the interpreter. An unknown engine is refused by name.
#[test]
fn every_example_scenario_is_the_same_on_both_engines() {
    let mut scenarios: Vec<_> = std::fs::read_dir(workspace().join("examples"))
        .expect("examples")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".scenario.toml"))
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 7, "{scenarios:?}");
    for scenario in &scenarios {
        let path = scenario.to_str().expect("utf-8");
        let [jit, interpreted] = ["jit", "interpreter"].map(|engine| {
            let run = sim(&[path, "--format", "json", "--engine", engine]);
            assert!(run.status.success(), "{path} on the {engine}: {run:?}");
            run.stdout
        });
        let document: serde_json::Value = serde_json::from_slice(&jit).expect("JSON");
        let batches = document["batches"].as_array().map_or(0, Vec::len);
        assert!(batches > 0, "{path}: no batches");
        assert!(
            jit == interpreted,
            "{path}: the engines differ:\n{}\n---\n{}",
            String::from_utf8_lossy(&jit),
            String::from_utf8_lossy(&interpreted)
        );
    }
    let unknown = sim(&["examples/oracle.scenario.toml", "--engine", "cranelift"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("unknown engine `cranelift`"),
        "{unknown:?}"
    );
}

#[test]
fn a_broken_scenario_exits_1_and_says_why() {
    let dir = tempfile_dir();
    let broken = dir.join("broken.scenario.toml");
    let text = std::fs::read_to_string(workspace().join("examples/oracle.scenario.toml"))
        .expect("example")
        .replace(
            "script = \"perp_multi.curve\"",
            &format!(
                "script = {:?}",
                workspace().join("examples/perp_multi.curve")
            ),
        )
        .replace(
            "signers = [\"pyth-1\"] }, expect = \"reverted\"",
            "signers = [\"pyth-1\"] }, expect = \"committed\"",
        );
    std::fs::write(&broken, text).expect("write");
    let out = sim(&[broken.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("batch 3 tx 3 (alice call): expected committed, got reverted"),
        "{stderr}"
    );
    let unknown = dir.join("unknown.scenario.toml");
    std::fs::write(&unknown, "chain_id = 1\nbogus = 2\n").expect("write");
    let out = sim(&[unknown.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `bogus`"));
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The Anchor program's tests replay `examples/payouts.scenario.toml`'s batches on chain and pay
/// every payout with the runtime's Merkle paths, from a committed copy of this JSON. The run is
/// deterministic, so the copy must equal it; `UPDATE_ANCHOR_FIXTURE=1` rewrites it.
#[test]
fn the_anchor_programs_payout_fixture_is_this_runtimes_output() {
    let fixture =
        workspace().join("anchor-program/programs/curve-anchor/tests/fixtures/payouts.sim.json");
    let run = sim(&["examples/payouts.scenario.toml", "--format", "json"]);
    assert!(run.status.success(), "{run:?}");
    let document: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON");
    let sizes: Vec<usize> = document["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .map(|b| b["payouts"].as_array().expect("payouts").len())
        .collect();
    assert_eq!(sizes, [0, 5, 2]);
    if std::env::var_os("UPDATE_ANCHOR_FIXTURE").is_some() {
        std::fs::write(&fixture, &run.stdout).expect("write the fixture");
    }
    let committed = std::fs::read(&fixture).expect("the fixture");
    assert!(
        committed == run.stdout,
        "{} is stale: rerun with UPDATE_ANCHOR_FIXTURE=1",
        fixture.display()
    );
}
