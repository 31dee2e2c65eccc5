//! The demo's prediction markets: the joint-outcome market of `examples/demo.curve` (three
//! correlated events, eight worlds, the naive-Bayes prior of `lmsr.md` §8.2) and its
//! multi-outcome market (five outcomes, an explicit prior table). Alice funds both; bob buys
//! the slice A∧B of the joint market and one outcome of the other. Every figure is checked
//! against the spec, never against the template: the subsidies b·ln(1/min p), the world table
//! §8.2 prints, and each trade's cost and the prices after it in closed form (lmsr.md §2: a
//! buy of x shares of a basket of probability p costs b·ln(1 + p(e^(x/b) − 1)) and scales its
//! worlds by e^(x/b) against the rest).
//!
//! Collateral reaches a market only through a capability minted by a router: the demo's
//! ROUTER trades them (`market_open`, `market_buy`: its README "Markets"), pledging the user's
//! bound into an escrow with the market, minting a cap for exactly that, invoking the market
//! and releasing what the market did not take. The pricing runs in the market's own bytecode.

use anyhow::{Context, Result};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

use super::{Demo, Deployed, done, say, words};

/// `lmsr.md` §8.2: P(world) of the naive-Bayes prior in parts per million, rows 000..111 of
/// its table, whose digits are A B C. The market numbers worlds by bits, A as bit 0: world
/// `w` is row `(w & 1) << 2 | (w & 2) | (w & 4) >> 2`.
const SEED_TABLE_PPM: [f64; 8] = [
    545_850.0, 88_650.0, 39_150.0, 46_350.0, 76_650.0, 73_850.0, 28_350.0, 101_150.0,
];
/// `lmsr.md` §8.2: the joint market's subsidy, b·ln(1/0.02835), in base units.
const SEED_SUBSIDY: f64 = 356_312_824.880_837_6;
/// The joint market's liquidity and fee (`FEE trade_bps=100`); the multi-outcome market's.
const JOINT_B: f64 = 100_000_000.0;
const JOINT_FEE_BPS: f64 = 100.0;
const MULTI_B: f64 = 250_000_000.0;
const MULTI_FEE_BPS: f64 = 30.0;
/// The multi-outcome market's prior (its weights out of 100).
const MULTI_PRIOR: [f64; 5] = [0.20, 0.18, 0.17, 0.12, 0.33];
/// Bob's trades: 10 shares of A∧B (world bits 0 and 1), 40 of Argentina (outcome 2).
const SLICE_SHARES: i64 = 10_000_000;
const OUTCOME_SHARES: i64 = 40_000_000;
const ARGENTINA: usize = 2;
/// A fixed-point charge lands within a base unit of the exact real (`lmsr.md` §8.3), a price
/// within a part per million; the checks allow two.
const TOLERANCE: f64 = 2.0;

fn near(found: u64, exact: f64) -> bool {
    (found as f64 - exact).abs() <= TOLERANCE
}

/// The seed's price of world `w` (bit 0: A), in ppm.
fn seed_world(w: usize) -> f64 {
    SEED_TABLE_PPM[(w & 1) << 2 | (w & 2) | (w & 4) >> 2]
}

/// What buying `x` shares of a basket of probability `p` costs in an LMSR of liquidity `b`,
/// with the fee rounded up as the market's README states; and the factor `e^(x/b)` its worlds
/// grow by, against 1 for the rest, before renormalising by `1 + p(e^(x/b) − 1)`.
fn closed_form_buy(b: f64, p: f64, x: f64, fee_bps: f64) -> (f64, f64, f64) {
    let growth = (x / b).exp();
    let norm = 1.0 + p * (growth - 1.0);
    let charge = b * norm.ln();
    (charge + (charge * fee_bps / 1e4).ceil(), growth, norm)
}

impl Demo {
    /// Whether `market` has been opened: its `quote` view answers only then.
    async fn is_open(&self, market: &Deployed) -> Result<bool> {
        let quote = self
            .node(0)?
            .call::<Value>(
                "curve_call",
                vec![json!(market.id), json!("quote"), json!([1, 0, 0])],
            )
            .await;
        Ok(quote.is_ok())
    }

    /// Step: the two markets funded and traded; their prices checked against the spec.
    pub(super) async fn markets(
        &mut self,
        chain_id: u64,
        users: &[SigningKey],
        blocks: &[std::path::PathBuf],
    ) -> Result<()> {
        let bar = self.step("trading the joint and the multi-outcome markets (LMSR)");
        let programs = self.deployed(blocks).await?;
        let get = |block: &str| {
            programs
                .get(block)
                .with_context(|| format!("no {block} program deployed"))
        };
        let (joint, multi) = (get("market-middle-east-q3")?, get("market-world-cup-2030")?);
        let router = get("router")?;
        let (alice_key, bob_key) = (&users[0], &users[1]);
        let (alice, bob) = (self.user_id(alice_key).await?, self.user_id(bob_key).await?);
        let mut checks: Vec<(&str, bool, String)> = Vec::new();

        // Alice opens both: each market takes its worst-case loss from what she pledges. A
        // rerun finds them open (the market refuses a second `open`) and checks the prices
        // where the first run left them.
        let mut subsidies = Vec::new();
        for (market, pledge) in [(joint, 400_000_000), (multi, 600_000_000)] {
            if self.is_open(market).await? {
                subsidies.push(None);
                continue;
            }
            let open = router.call(
                "market_open",
                &[alice, market.id as i64, pledge],
                vec![market.id],
            )?;
            let returns = words(
                &self
                    .submit(chain_id, alice_key, open, "alice's funding")
                    .await?,
            );
            subsidies.push(returns.first().copied());
        }
        let multi_subsidy = MULTI_B * (1.0 / MULTI_PRIOR.iter().copied().fold(1.0, f64::min)).ln();
        let fresh = subsidies.iter().all(Option::is_some);
        if fresh {
            let (joint_subsidy, taken) = (subsidies[0].unwrap_or(0), subsidies[1].unwrap_or(0));
            say(
                &bar,
                format!(
                    "  alice opens both: subsidies {joint_subsidy} and {taken} (their worst-case losses)"
                ),
            );
            checks.push((
                "each market took its worst-case loss b·ln(1/min p) as subsidy (lmsr.md §8.2)",
                near(joint_subsidy, SEED_SUBSIDY) && near(taken, multi_subsidy),
                format!(
                    "joint {joint_subsidy} (spec {SEED_SUBSIDY:.1}), multi {taken} (closed form {multi_subsidy:.1})"
                ),
            ));
            let seed = self.world_prices(chain_id, bob_key, joint).await?;
            checks.push((
                "the joint market's eight world prices start at the prior's table (lmsr.md §8.2)",
                seed.iter()
                    .enumerate()
                    .all(|(w, &p)| near(p, seed_world(w))),
                format!("{seed:?} ppm"),
            ));
        } else {
            say(&bar, "  both markets were opened by a previous run".into());
        }

        // Bob buys 10 shares of A∧B; what the quote said is what the market charged.
        let quoted = words(
            &self
                .submit(
                    chain_id,
                    bob_key,
                    joint.call("quote", &[3, 0, SLICE_SHARES], Vec::new())?,
                    "bob's quote",
                )
                .await?,
        );
        let bet = router.call(
            "market_buy",
            &[bob, joint.id as i64, 3, 0, SLICE_SHARES, 7_000_000],
            vec![joint.id],
        )?;
        let paid = words(
            &self
                .submit(chain_id, bob_key, bet, "bob's bet on A∧B")
                .await?,
        );
        let (cost, quote) = (paid.first().copied().unwrap_or(0), quoted.first().copied());
        let worlds = self.world_prices(chain_id, bob_key, joint).await?;
        say(
            &bar,
            format!(
                "  bob buys 10 of A∧B for {cost} (quoted {quote:?}); worlds now {worlds:?} ppm"
            ),
        );
        if fresh {
            // P(A∧B) = 0.1295 (§8.2), worlds 3 and 7.
            let slice = |w: usize| w & 3 == 3;
            let p = (0..8).filter(|&w| slice(w)).map(seed_world).sum::<f64>() / 1e6;
            let (exact, growth, norm) =
                closed_form_buy(JOINT_B, p, SLICE_SHARES as f64, JOINT_FEE_BPS);
            let expected: Vec<f64> = (0..8)
                .map(|w| seed_world(w) * if slice(w) { growth } else { 1.0 } / norm)
                .collect();
            checks.push((
                "bob's 10 shares of A∧B cost what the quote said: b·ln(1 + P(A∧B)(e^(x/b) − 1)) plus the fee",
                Some(cost) == quote && near(cost, exact),
                format!("charged {cost}, quoted {quote:?}, closed form {exact:.1}"),
            ));
            checks.push((
                "after it, A∧B's worlds grew by e^(x/b) against the rest (closed form)",
                worlds.iter().zip(&expected).all(|(&p, &e)| near(p, e)),
                format!("{worlds:?} ppm, expected {expected:.0?}"),
            ));
        }
        checks.push((
            "the joint market's world prices sum to 1",
            worlds.iter().sum::<u64>().abs_diff(1_000_000) <= 8,
            format!("Σ = {} ppm", worlds.iter().sum::<u64>()),
        ));

        // Bob buys 40 shares of Argentina: cost b·ln(1 + p(e^(x/b) − 1)) plus 0.3 %, and the
        // price moves to p·e^(x/b) / (1 + p(e^(x/b) − 1)).
        let mask = 1i64 << ARGENTINA;
        let before = self.outcome_prices(chain_id, bob_key, multi).await?;
        let bet = router.call(
            "market_buy",
            &[bob, multi.id as i64, mask, 0, OUTCOME_SHARES, 20_000_000],
            vec![multi.id],
        )?;
        let paid = words(
            &self
                .submit(chain_id, bob_key, bet, "bob's bet on Argentina")
                .await?,
        );
        let after = self.outcome_prices(chain_id, bob_key, multi).await?;
        let cost = paid.first().copied().unwrap_or(0);
        say(
            &bar,
            format!("  bob buys 40 of Argentina for {cost}: prices {before:?} → {after:?} ppm"),
        );
        if fresh {
            let p = MULTI_PRIOR[ARGENTINA];
            let (exact_cost, growth, norm) =
                closed_form_buy(MULTI_B, p, OUTCOME_SHARES as f64, MULTI_FEE_BPS);
            let exact_price = 1e6 * p * growth / norm;
            checks.push((
                "the multi-outcome market's prices start at its prior table",
                before
                    .iter()
                    .zip(MULTI_PRIOR)
                    .all(|(&p, e)| near(p, e * 1e6)),
                format!("{before:?} ppm"),
            ));
            checks.push((
                "bob's 40 shares of one outcome cost b·ln(1 + p(e^(x/b) − 1)) plus the fee and moved its price to the closed form",
                near(cost, exact_cost)
                    && near(after[ARGENTINA], exact_price),
                format!(
                    "charged {cost} (closed form {exact_cost:.1}); price {} → {} ppm (closed form {exact_price:.1})",
                    before[ARGENTINA], after[ARGENTINA]
                ),
            ));
        }
        checks.push((
            "the multi-outcome market's prices sum to 1",
            after.iter().sum::<u64>().abs_diff(1_000_000) <= 5,
            format!("Σ = {} ppm", after.iter().sum::<u64>()),
        ));
        for (what, holds, detail) in checks {
            self.check(what, holds, detail);
        }
        done(
            &bar,
            "joint market: 10 of A∧B; multi-outcome: 40 of Argentina; prices as the spec's closed forms"
                .into(),
        );
        Ok(())
    }

    /// The price of each world of a joint market over three events, in ppm: the corner
    /// quote of the world's bits as YES and the others as NO.
    async fn world_prices(
        &self,
        chain_id: u64,
        key: &SigningKey,
        market: &Deployed,
    ) -> Result<Vec<u64>> {
        let mut prices = Vec::new();
        for world in 0..8i64 {
            let quote = market.call("quote", &[world, 7 & !world, 0], Vec::new())?;
            let returns = words(&self.submit(chain_id, key, quote, "a world's quote").await?);
            prices.push(returns.get(2).copied().context("a price")?);
        }
        Ok(prices)
    }

    /// The price of each outcome of the five-outcome market, in ppm.
    async fn outcome_prices(
        &self,
        chain_id: u64,
        key: &SigningKey,
        market: &Deployed,
    ) -> Result<Vec<u64>> {
        let mut prices = Vec::new();
        for outcome in 0..MULTI_PRIOR.len() {
            let quote = market.call("quote", &[1 << outcome, 0, 0], Vec::new())?;
            let returns = words(
                &self
                    .submit(chain_id, key, quote, "an outcome's quote")
                    .await?,
            );
            prices.push(returns.get(2).copied().context("a price")?);
        }
        Ok(prices)
    }
}
