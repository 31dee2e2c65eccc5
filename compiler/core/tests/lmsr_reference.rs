//! Tests of the MARKET reference model itself (`tests/market_reference/`): its high-precision
//! `exact` LMSR against mpmath vectors, its bit-exact potential against lmsr.md §7.8's bound, the
//! §8.1–§8.3 numeric checks, the exact identities T8/T9 on random paths, and every refusal.
//! The vectors come from `compiler/core/tools/lmsr_vectors.py`.
//!
//! Random tests use a xorshift generator whose seed they print; set `LMSR_REFERENCE_SEED` to
//! replay one.

mod market_reference;

use std::time::Instant;

use market_reference::{Market, MarketParams, Refusal, Structure, exact, potential, prior_shares};
use num_bigint::{BigInt, Sign};

/// `b` of the §8 checks: 100 units of 10^6 base units.
const B: u64 = 100_000_000;
/// The §8.3 trade size: 10 units.
const X: u128 = 10_000_000;
/// 2^64 as a BigInt factor.
fn two64() -> BigInt {
    BigInt::from(1u128 << 64)
}

fn big(x: u128) -> BigInt {
    BigInt::from(x)
}

/// A signed fixed-point value with 64 fraction bits, for printing.
fn units(x: &BigInt) -> f64 {
    let (sign, digits) = x.to_u64_digits();
    let magnitude = digits
        .iter()
        .rev()
        .fold(0f64, |acc, &d| acc * 18446744073709551616.0 + d as f64)
        / 18446744073709551616.0;
    if sign == Sign::Minus {
        -magnitude
    } else {
        magnitude
    }
}

/// `[-]0x…` → BigInt.
fn hex(text: &str) -> BigInt {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let digits = rest.strip_prefix("0x").expect("hex");
    let value = BigInt::parse_bytes(digits.as_bytes(), 16).expect("hex digits");
    if negative { -value } else { value }
}

fn hex_u128(text: &str) -> u128 {
    u128::from_str_radix(text.strip_prefix("0x").expect("hex"), 16).expect("u128")
}

/// One `phi` line.
struct PhiVector {
    b: u64,
    r: Vec<u128>,
    /// ⌊Φ × 2^64⌋.
    phi: BigInt,
}

/// One `check` line: id, kind, the fields between, and the value (⌊exact × 2^64⌋).
struct Check {
    id: String,
    kind: String,
    fields: Vec<String>,
    value: BigInt,
}

fn vectors() -> (Vec<PhiVector>, Vec<Check>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/lmsr_vectors.txt");
    let text = std::fs::read_to_string(path).expect("lmsr_vectors.txt");
    let (mut phis, mut checks) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[0] {
            "phi" => {
                let n: usize = fields[2].parse().unwrap();
                let r: Vec<u128> = fields[4..].iter().map(|f| hex_u128(f)).collect();
                assert_eq!(r.len(), n);
                phis.push(PhiVector {
                    b: fields[1].parse().unwrap(),
                    r,
                    phi: hex(fields[3]),
                });
            }
            "check" => checks.push(Check {
                id: fields[1].to_string(),
                kind: fields[2].to_string(),
                fields: fields[3..fields.len() - 1]
                    .iter()
                    .map(|f| f.to_string())
                    .collect(),
                value: hex(fields[fields.len() - 1]),
            }),
            other => panic!("unknown vector line {other}"),
        }
    }
    assert!(phis.len() >= 200 && checks.len() >= 20);
    (phis, checks)
}

fn check<'a>(checks: &'a [Check], id: &str, kind: &str, fields: &[&str]) -> &'a Check {
    checks
        .iter()
        .find(|c| c.id == id && c.kind == kind && c.fields.iter().eq(fields.iter()))
        .unwrap_or_else(|| panic!("no check {id} {kind} {fields:?}"))
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn seeded(test: &str) -> Rng {
        let seed = std::env::var("LMSR_REFERENCE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x4C4D_5352_5EED_0001u64);
        println!("{test}: seed {seed} (LMSR_REFERENCE_SEED to replay)");
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn params(structure: Structure, b: u64, weights: Vec<u64>) -> MarketParams {
    MarketParams {
        structure,
        b,
        trade_bps: 0,
        close_ms: 1_000_000,
        weights,
        accounts_max: 8,
    }
}

fn opened(params: MarketParams) -> Market {
    let mut market = Market::new(params);
    market.open().expect("open");
    market
}

const SEED_WEIGHTS: [u64; 8] = [4, 1, 3, 2, 2, 1, 5, 2]; // ×20: 0.20, 0.05, 0.15, …
const NB_WEIGHTS: [u64; 8] = [10917, 1773, 783, 927, 1533, 1477, 567, 2023]; // ×20000

// ---------------------------------------------------------------------------------------------
// exact

#[test]
fn exact_matches_the_mpmath_potentials() {
    let (phis, _) = vectors();
    let mut worst = BigInt::from(0);
    for v in &phis {
        let ours = exact::potential_scaled(v.b, &v.r) >> 64u32;
        let diff = &ours - &v.phi;
        let abs = if diff.sign() == Sign::Minus {
            -diff
        } else {
            diff
        };
        // Within 2^−100 relative (and in fact within one unit of 2^−64).
        assert!(
            abs <= (&v.phi >> 100u32).max(BigInt::from(1)),
            "b {} n {}: {abs}",
            v.b,
            v.r.len()
        );
        worst = worst.max(abs);
    }
    println!(
        "exact Φ vs mpmath over {} states: worst |diff| = {worst} × 2^-64",
        phis.len()
    );
}

#[test]
fn exact_exp_and_ln_match_the_curvevm_vectors() {
    // curvevm's own mpmath vectors: `exp|ln <input Q64.64> <⌊exact × 2^80⌋>`.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../curvevm/core/tests/data/fixed_vectors.txt"
    );
    let text = std::fs::read_to_string(path).expect("fixed_vectors.txt");
    let one = two64();
    let (mut count, mut worst) = (0, BigInt::from(0));
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (input, want) = (hex(fields[1]), hex(fields[2]));
        let got = match fields[0] {
            "exp" => exact::exp_neg_scaled(&input, &one),
            "ln" => exact::ln_scaled(&input, &one),
            other => panic!("{other}"),
        } >> 48u32;
        let diff = &got - &want;
        let abs = if diff.sign() == Sign::Minus {
            -diff
        } else {
            diff
        };
        assert!(abs <= BigInt::from(1), "{line}: got {got:#x}");
        worst = worst.max(abs);
        count += 1;
    }
    println!("exact exp/ln vs curvevm vectors: {count} values, worst |diff| = {worst} × 2^-80");
    // Exact points.
    assert_eq!(
        exact::exp_neg_scaled(&BigInt::from(0), &BigInt::from(1)),
        BigInt::from(1) << 128u32
    );
    assert_eq!(
        exact::ln_scaled(&BigInt::from(7), &BigInt::from(7)),
        BigInt::from(0)
    );
    assert_eq!(
        exact::exp_neg_scaled(&BigInt::from(89), &BigInt::from(1)),
        BigInt::from(0)
    );
}

#[test]
fn exact_potential_is_fast_enough() {
    let mut rng = Rng::seeded("exact_potential_is_fast_enough");
    let b = 1u64 << 30;
    let r: Vec<u128> = (0..1024).map(|_| u128::from(rng.below(30 * b))).collect();
    let start = Instant::now();
    let first = exact::potential_scaled(b, &r); // includes the tables
    let with_tables = start.elapsed();
    let start = Instant::now();
    let again = exact::potential_scaled(b, &r);
    let once = start.elapsed();
    assert_eq!(first, again);
    println!("potential_scaled, n = 1024: {with_tables:?} with the tables, {once:?} after");
    assert!(once.as_millis() < 500, "far too slow: {once:?}");
}

// ---------------------------------------------------------------------------------------------
// the bit-exact potential

#[test]
fn potential_within_the_spec_bound() {
    let (phis, _) = vectors();
    // e^−45 × 2^64, for the worlds the template cuts off (d ≥ 45·b).
    let e45 = exact::exp_neg_scaled(&BigInt::from(45), &BigInt::from(1)) >> 64u32;
    let micro = (two64() + BigInt::from(999_999)) / BigInt::from(1_000_000); // 10^−6, rounded up
    let (mut lowest, mut highest, mut worst_ratio) = (f64::MAX, f64::MIN, 0f64);
    let mut cut_states = 0;
    for v in &phis {
        let n = v.r.len() as u64;
        let ours = big(potential(v.b, &v.r)) << 64u32;
        let err = &ours - &v.phi; // Φ_fx − exact, × 2^64 (the vector is floored: +[0, 1))
        let m = *v.r.iter().max().unwrap();
        let cut =
            v.r.iter()
                .filter(|&&x| m - x >= 45 * u128::from(v.b))
                .count() as u64;
        cut_states += usize::from(cut > 0);
        let lower = -(&micro + &e45 * BigInt::from(v.b) * BigInt::from(cut));
        let upper = two64() + BigInt::from(v.b) * BigInt::from(4 * n + 16) + BigInt::from(1);
        assert!(
            err >= lower && err <= upper,
            "b {} n {n}: Φ_fx − exact = {} base units",
            v.b,
            units(&err)
        );
        lowest = lowest.min(units(&err));
        highest = highest.max(units(&err));
        // The excess over one base unit (the ceiling's share), in units of b·2^−64.
        let excess = (&err - two64()) * BigInt::from(1u64 << 32) / BigInt::from(v.b);
        worst_ratio = worst_ratio.max(units(&(excess << 32u32)) / (4 * n + 16) as f64);
    }
    println!(
        "Φ_fx − exact over {} states ({cut_states} with cut-off worlds): [{lowest:.3e}, {highest:.6}] \
         base units; worst excess over 1 unit: {worst_ratio:.3} of b·(4n + 16)·2^-64",
        phis.len()
    );
}

// ---------------------------------------------------------------------------------------------
// §8.1 and §8.2 priors

/// `b·ln p_w` of the spec's tables, in 10^−9 base units (b = 100·10^6 base units).
const SEED_Q0_NANO: [i128; 8] = [
    -160_943_791_243_410_037,
    -299_573_227_355_399_099,
    -189_711_998_488_588_130,
    -230_258_509_299_404_568,
    -230_258_509_299_404_568,
    -299_573_227_355_399_099,
    -138_629_436_111_989_062,
    -230_258_509_299_404_568,
];
const NB_Q0_NANO: [i128; 8] = [
    -60_541_106_625_585_853,
    -242_305_924_646_192_016,
    -324_035_485_654_532_494,
    -307_153_398_697_027_289,
    -256_850_567_366_431_392,
    -260_571_927_000_474_824,
    -356_312_824_880_837_597,
    -229_115_071_536_838_258,
];

/// `q0_w = r0_w − max r0 = −lift_w`, checked against the spec's `b·ln p_w − b·ln p_max` (within
/// one base unit) and against `exact` (`lift_w = ⌈b·ln(wmax/w)⌉`, or one less); returns r0.
fn check_prior(weights: &[u64], spec_nano: &[i128; 8], skip: &[usize]) -> Vec<u128> {
    let r0 = prior_shares(B, weights).unwrap();
    let d = *r0.iter().max().unwrap();
    assert_eq!(*r0.iter().min().unwrap(), 0);
    let total: u64 = weights.iter().sum();
    let floor = total.div_ceil(16 * weights.len() as u64);
    let floored: Vec<u64> = weights.iter().map(|&w| w.max(floor)).collect();
    let wmax = *floored.iter().max().unwrap();
    let top = floored.iter().position(|&w| w == wmax).unwrap();
    assert_eq!(r0[top], d);
    for w in 0..8 {
        let q0 = r0[w] as i128 - d as i128;
        let exact_lift =
            exact::ln_scaled(&BigInt::from(wmax), &BigInt::from(floored[w])) * BigInt::from(B);
        let ceil =
            i128::try_from(&((exact_lift + ((BigInt::from(1) << 128u32) - 1)) >> 128u32)).unwrap();
        assert!(
            -q0 == ceil || -q0 == ceil - 1,
            "world {w}: lift {} vs ⌈exact⌉ {ceil}",
            -q0
        );
        if !skip.contains(&w) {
            let spec = spec_nano[w] - spec_nano[top];
            let diff = q0 * 1_000_000_000 - spec;
            assert!(
                diff.abs() <= 1_000_000_000,
                "world {w}: q0 {q0} vs spec {spec}e-9"
            );
        }
    }
    r0
}

#[test]
fn seed_prior_8_1() {
    let r0 = check_prior(&SEED_WEIGHTS, &SEED_Q0_NANO, &[]);
    let market = opened(params(
        Structure::Joint { events: 3 },
        B,
        SEED_WEIGHTS.to_vec(),
    ));
    assert_eq!(market.initial_shares(), r0.as_slice());
    let subsidy = market.subsidy();
    assert_eq!(subsidy, potential(B, &r0));
    assert_eq!(market.escrow(), subsidy);
    // b·ln 20 exactly (Σ p = 1, p_min = 1/20), and the exact potential of our r0.
    let ideal = (exact::ln_scaled(&BigInt::from(20), &BigInt::from(1)) * BigInt::from(B)) >> 64u32;
    let of_r0 = exact::potential_scaled(B, &r0) >> 64u32;
    let vs_ideal = (big(subsidy) << 64u32) - &ideal;
    let vs_r0 = (big(subsidy) << 64u32) - &of_r0;
    println!(
        "seed: subsidy {subsidy}; − b·ln 20 = {:.6}; − exact Φ(r0) = {:.6} (§8.4 prototype: 299573228)",
        units(&vs_ideal),
        units(&vs_r0)
    );
    assert!(units(&vs_ideal).abs() <= 2.0);
    assert!(
        units(&vs_r0) >= -1e-6 && units(&vs_r0) <= 1.0 + (B as f64) * 48.0 / 1.8446744073709552e19
    );
}

#[test]
fn naive_bayes_prior_8_2() {
    // The README's floor ⌈20000 / 128⌉ = 157 is below every weight (the least is 567): the
    // table is the spec's.
    let r0 = check_prior(&NB_WEIGHTS, &NB_Q0_NANO, &[]);
    let market = opened(params(
        Structure::Joint { events: 3 },
        B,
        NB_WEIGHTS.to_vec(),
    ));
    let subsidy = market.subsidy();
    // b·ln(1/0.02835) = b·ln(20000 / 567) of lmsr.md §8.2.
    let ideal =
        (exact::ln_scaled(&BigInt::from(20_000), &BigInt::from(567)) * BigInt::from(B)) >> 64u32;
    let vs_ideal = (big(subsidy) << 64u32) - &ideal;
    println!(
        "naive Bayes: subsidy {subsidy}; − b·ln(1/0.02835) = {:.6} (spec 356312824.880837597)",
        units(&vs_ideal),
    );
    assert!(units(&vs_ideal).abs() <= 2.0);
    assert!((units(&(exact::potential_scaled(B, &r0) >> 64u32)) - subsidy as f64).abs() <= 1.0);
}

// ---------------------------------------------------------------------------------------------
// §8.3 trade checks

/// `|charge − exact| ≤ 1` base unit (the vector floored: +1 raw unit), and the §7.8 charge bound
/// against `exact` on the model's own state. Returns charge − exact in base units.
fn assert_charge(what: &str, charge: u128, exact_value: &BigInt, own: &BigInt) -> f64 {
    let diff = (big(charge) << 64u32) - exact_value;
    assert!(
        units(&diff).abs() <= 1.0,
        "{what}: charge {charge}, − exact = {}",
        units(&diff)
    );
    // §7.8: ⌊exact⌋ − 1 ≤ charge ≤ ⌈exact⌉ + 1, exact of the model's (rounded-prior) state.
    let floor = own >> 64u32;
    let ceil = (own + two64() - 1) >> 64u32;
    assert!(
        big(charge) + 1 >= floor && big(charge) <= ceil + 1,
        "{what}: charge {charge} outside [⌊{}⌋ − 1, ⌈⌉ + 1]",
        units(own)
    );
    units(&diff)
}

/// `|price_ppm − p·10^6| ≤ 1`.
fn assert_price(what: &str, market: &Market, yes: u64, no: u64, exact_p: &BigInt) {
    let (_, ppm) = market.quote(yes, no, 0).unwrap();
    let diff = (BigInt::from(ppm) << 64u32) - exact_p * BigInt::from(1_000_000);
    assert!(
        units(&diff).abs() <= 1.0,
        "{what} price ({yes}, {no}): {ppm} ppm vs {}",
        units(exact_p)
    );
}

fn own_cost(market: &Market, yes: u64, no: u64, shares: u128) -> BigInt {
    let basket = market.basket(yes, no).unwrap();
    exact::basket_cost_scaled(market.params().b, market.shifted_shares(), &basket, shares) >> 64u32
}

#[test]
fn trade_checks_8_3() {
    let (_, checks) = vectors();
    let x = X.to_string();
    let mut report = Vec::new();
    let seed = || {
        opened(params(
            Structure::Joint { events: 3 },
            B,
            SEED_WEIGHTS.to_vec(),
        ))
    };

    // T1: binary uniform, buy 10 of outcome 0 = (yes 0, no 1).
    let mut m = opened(params(Structure::Binary, B, vec![]));
    let own = own_cost(&m, 0, 1, X);
    let cost = m.buy(1, 1, 0, 1, X, u128::MAX).unwrap();
    report.push((
        "T1",
        assert_charge("T1", cost, &check(&checks, "T1", "cost", &[&x]).value, &own),
    ));
    assert_price(
        "T1",
        &m,
        0,
        1,
        &check(&checks, "T1", "price", &["0", "1"]).value,
    );

    // T2: 8 worlds uniform, buy 10 of slice A (bit 2).
    let mut m = opened(params(Structure::Joint { events: 3 }, B, vec![]));
    let own = own_cost(&m, 4, 0, X);
    let cost2 = m.buy(1, 1, 4, 0, X, u128::MAX).unwrap();
    report.push((
        "T2",
        assert_charge(
            "T2",
            cost2,
            &check(&checks, "T2", "cost", &[&x]).value,
            &own,
        ),
    ));
    assert_price(
        "T2",
        &m,
        4,
        0,
        &check(&checks, "T2", "price", &["4", "0"]).value,
    );
    println!("T1 cost {cost}, T2 cost {cost2} (lumpability: exact costs equal)");

    // T3: seed, buy 10 of A∧B; T3a: prices after.
    let mut m = seed();
    let own = own_cost(&m, 6, 0, X);
    let cost = m.buy(1, 1, 6, 0, X, u128::MAX).unwrap();
    report.push((
        "T3",
        assert_charge("T3", cost, &check(&checks, "T3", "cost", &[&x]).value, &own),
    ));
    let mut prices = 0;
    for c in checks.iter().filter(|c| c.id == "T3a") {
        let (yes, no) = (c.fields[0].parse().unwrap(), c.fields[1].parse().unwrap());
        assert_price("T3a", &m, yes, no, &c.value);
        prices += 1;
    }
    assert_eq!(prices, 12);

    // T4: seed, spend 10 on A: ⌊x⌋ shares cost ≤ 10 (+1), the largest affordable x is ⌊x⌋ ± 3.
    let m = seed();
    let t4 = checks
        .iter()
        .find(|c| c.id == "T4" && c.kind == "cost")
        .unwrap();
    let shares: u128 = t4.fields[0].parse().unwrap();
    let (cost, _) = m.quote(4, 0, shares).unwrap();
    report.push((
        "T4",
        assert_charge("T4", cost, &t4.value, &own_cost(&m, 4, 0, shares)),
    ));
    let (mut lo, mut hi) = (0u128, 4 * X); // cost(lo) ≤ X < cost(hi)
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if m.quote(4, 0, mid).unwrap().0 <= X {
            lo = mid
        } else {
            hi = mid
        }
    }
    let x4 = units(&check(&checks, "T4", "shares", &[]).value);
    assert!(
        (lo as f64 - x4).abs() <= 3.0,
        "T4: {lo} shares for 10 vs exact {x4}"
    );
    println!("T4: 10 units buy {lo} shares (exact {x4:.3})");
    // The model's spend buys exactly that count (`spend_t4_and_maximality` checks the rest).
    assert_eq!(m.clone().spend(1, 1, 4, 0, X, 0).map(|(s, _)| s), Ok(lo));

    // T5: seed, move P(A) 0.5 → 0.6 with the nearest integer to b·ln 1.5.
    let mut m = seed();
    let t5 = checks
        .iter()
        .find(|c| c.id == "T5" && c.kind == "cost")
        .unwrap();
    let shares: u128 = t5.fields[0].parse().unwrap();
    let own = own_cost(&m, 4, 0, shares);
    let cost = m.buy(1, 1, 4, 0, shares, u128::MAX).unwrap();
    report.push(("T5", assert_charge("T5", cost, &t5.value, &own)));
    assert_price(
        "T5",
        &m,
        4,
        0,
        &check(&checks, "T5", "price", &["4", "0"]).value,
    );

    // T6: seed, buy 10 of corner 101.
    let mut m = seed();
    let own = own_cost(&m, 5, 2, X);
    let cost = m.buy(1, 1, 5, 2, X, u128::MAX).unwrap();
    report.push((
        "T6",
        assert_charge("T6", cost, &check(&checks, "T6", "cost", &[&x]).value, &own),
    ));
    assert_price(
        "T6",
        &m,
        5,
        2,
        &check(&checks, "T6", "price", &["5", "2"]).value,
    );

    // T7: seed, sell 10 of A: buy 10 complete sets (exactly 10, T8), then sell A; the state
    // goes r0 + 10·1 → r0 + 10·1_¬A ≡ q0 − 10·1_A.
    let mut m = seed();
    assert_eq!(m.buy(1, 1, 0, 0, X, u128::MAX), Ok(X));
    let before = m.shifted_shares().to_vec();
    let proceeds = m.sell(1, 1, 4, 0, X, 0).unwrap();
    let own = (exact::potential_scaled(B, &before)
        - exact::potential_scaled(B, m.shifted_shares()))
        >> 64u32;
    let t7 = &check(&checks, "T7", "proceeds", &[&x]).value;
    report.push(("T7", assert_charge("T7", proceeds, t7, &own)));
    println!("charge − exact (base units): {report:?}");
}

// ---------------------------------------------------------------------------------------------
// spend: T4 and the largest affordable count

/// Checks a successful `spend` of `amount` from `before` that gave `(shares, cost)` and left
/// `after`: `cost` is the quote of `shares`, `cost ≤ amount < cost(shares + 1)` (and of a few
/// more), `shares ≥ min_trade`, and the state is that of `user`'s `buy(shares, max_cost =
/// amount)`.
fn assert_spend(
    what: &str,
    user: u64,
    before: &Market,
    after: &Market,
    (yes, no): (u64, u64),
    amount: u128,
    (shares, cost): (u128, u128),
) {
    assert_eq!(before.quote(yes, no, shares).unwrap().0, cost, "{what}");
    assert!(
        cost <= amount,
        "{what}: {shares} shares cost {cost} > {amount}"
    );
    assert!(shares >= before.min_trade(), "{what}");
    for more in 1..=3 {
        match before.quote(yes, no, shares + more) {
            Ok((next, _)) => assert!(
                next > amount,
                "{what}: {} shares cost {next} ≤ {amount}",
                shares + more
            ),
            Err(e) => assert_eq!((e, shares + more >= 1 << 100), (Refusal::Limit, true)),
        }
    }
    let mut bought = before.clone();
    assert_eq!(
        bought.buy(1, user, yes, no, shares, amount),
        Ok(cost),
        "{what}"
    );
    assert_eq!(&bought, after, "{what}: spend ≠ buy of its shares");
}

#[test]
fn spend_t4_and_maximality() {
    let seed = || {
        opened(params(
            Structure::Joint { events: 3 },
            B,
            SEED_WEIGHTS.to_vec(),
        ))
    };
    // T4: seed, spend 10 units on marginal A (exact: 19090282.89 shares for 9999999.51).
    let before = seed();
    let mut m = before.clone();
    let (shares, cost) = m.spend(1, 1, 4, 0, X, 0).unwrap();
    println!("T4: spend {X} on A buys {shares} shares for {cost}");
    assert!(
        (19_090_282..=19_090_284).contains(&shares),
        "T4 shares {shares}"
    );
    assert!((9_999_999..=X).contains(&cost), "T4 cost {cost}");
    assert_spend("T4", 1, &before, &m, (4, 0), X, (shares, cost));
    // min_shares: met exactly, or SLIPPAGE (nothing changes).
    assert_eq!(
        before.clone().spend(1, 1, 4, 0, X, shares),
        Ok((shares, cost))
    );
    let mut copy = before.clone();
    assert_eq!(
        copy.spend(1, 1, 4, 0, X, shares + 1),
        Err(Refusal::Slippage)
    );
    assert_eq!(copy, before);
    // With a fee: the charge plus a 0.3% fee still fit.
    let before = opened(MarketParams {
        trade_bps: 30,
        ..params(Structure::Joint { events: 3 }, B, SEED_WEIGHTS.to_vec())
    });
    let mut m = before.clone();
    let got = m.spend(1, 1, 4, 0, X, 0).unwrap();
    println!("T4 with 30 bps: {got:?}");
    assert_spend("T4 30 bps", 1, &before, &m, (4, 0), X, got);

    // A basket priced 2^−64 (binary, world 0 44·b under world 1: e_0 = 1 of 2^64). This used
    // to show the README's former `ratio ≥ 2^128` refusal (amounts from about 44·b; 10·b and
    // 43·b bought). Under step 2's precondition E ≥ 4·b·(4n + 8) = 64·b every amount is
    // LIMIT (the precondition subsumes that refusal), while `buy` of a number of shares still
    // works there.
    let mut wide = opened(params(Structure::Binary, B, vec![]));
    wide.buy(1, 9, 0, 0, 45 * u128::from(B), u128::MAX).unwrap();
    wide.sell(1, 9, 0, 1, 44 * u128::from(B), 0).unwrap();
    let (e, s) = wide.price_fraction(0, 1).unwrap();
    assert_eq!((e, s), (1, (1 << 64) + 1));
    for units in [10, 43, 44, 50] {
        let mut m = wide.clone();
        assert_eq!(
            m.spend(1, 1, 0, 1, units * u128::from(B), 0),
            Err(Refusal::Limit)
        );
        assert_eq!(m, wide);
    }
    assert!(wide.clone().buy(1, 1, 0, 1, X, u128::MAX).is_ok());
    // E = 0: world 0 at least 45·b under.
    let mut wider = opened(params(Structure::Binary, B, vec![]));
    wider
        .buy(1, 9, 0, 0, 50 * u128::from(B), u128::MAX)
        .unwrap();
    wider.sell(1, 9, 0, 1, 50 * u128::from(B), 0).unwrap();
    assert_eq!(wider.price_fraction(0, 1).unwrap().0, 0);
    assert_eq!(wider.clone().spend(1, 1, 0, 1, X, 0), Err(Refusal::Limit));

    spend_precondition_boundary();

    // Property: random markets (fees up to 120%), states and amounts.
    let mut rng = Rng::seeded("spend_t4_and_maximality");
    let (mut ok, mut min_trade, mut limit, mut full) = (0, 0, 0, 0);
    for _ in 0..30 {
        let mut m = random_market(&mut rng);
        let b = u128::from(m.params().b);
        let unit = m.min_trade();
        for _ in 0..rng.below(4) {
            let (yes, no) = random_basket(&mut rng, &m);
            let shares = unit * (1 + u128::from(rng.next()) % (10 * b / unit).max(1));
            let _ = m.buy(10, 1 + rng.below(3), yes, no, shares, u128::MAX);
        }
        for _ in 0..6 {
            let (yes, no) = random_basket(&mut rng, &m);
            let user = 1 + rng.below(4);
            let scale = [unit, b, 10 * b, 50 * b][rng.below(4) as usize];
            let amount = 1 + u128::from(rng.next()) % (2 * scale);
            let mut after = m.clone();
            let (e, _) = m.price_fraction(yes, no).unwrap();
            let priced = e >= precondition_bound(&m);
            let result = after.spend(10, user, yes, no, amount, 0);
            if !priced && amount >= unit {
                assert_eq!(result, Err(Refusal::Limit), "E = {e} below the bound");
            }
            match result {
                Ok(got) => {
                    assert!(priced, "spend went through with E = {e}");
                    assert_spend("random", user, &m, &after, (yes, no), amount, got);
                    ok += 1;
                }
                Err(e) => {
                    assert_eq!(after, m, "{e:?} changed the model");
                    match e {
                        Refusal::MinTrade => {
                            // Too small an amount, or min_trade shares cost more than it.
                            assert!(amount < unit || m.quote(yes, no, unit).unwrap().0 > amount);
                            min_trade += 1;
                        }
                        Refusal::Limit => limit += 1,
                        Refusal::AccountsFull => full += 1,
                        e => panic!("unexpected {e:?}"),
                    }
                }
            }
        }
    }
    println!("spend: {ok} maximal, {min_trade} MIN_TRADE, {limit} LIMIT, {full} ACCOUNTS_FULL");
    assert!(ok > 60 && min_trade > 0);
}

/// The README's `spend` step 2 bound `4·b·(4n + 8)` on the basket's `E` (units of 2^−64).
fn precondition_bound(market: &Market) -> u128 {
    4 * u128::from(market.params().b) * (4 * market.worlds() as u128 + 8)
}

/// `spend` step 2's precondition `b < 2^56` and `E ≥ 4·b·(4n + 8)` at its edges.
fn spend_precondition_boundary() {
    // b = 2^56: every spend past the admission checks is LIMIT; b = 2^56 − 1 buys.
    for b in [1u64 << 56, (1 << 56) - 1] {
        let before = opened(params(Structure::Binary, b, vec![]));
        let amount = u128::from(b);
        let mut m = before.clone();
        let got = m.spend(1, 1, 0, 1, amount, 0);
        println!("b = {b}: spend b on a world at 1/2: {got:?}");
        if b == 1 << 56 {
            assert_eq!(got, Err(Refusal::Limit));
            assert_eq!(m, before);
            assert_eq!(m.spend(1, 1, 0, 0, 4 * amount, 0), Err(Refusal::Limit));
            assert_eq!(m, before);
            // A buy of shares is not limited by it.
            assert!(m.clone().buy(1, 1, 0, 1, amount, u128::MAX).is_ok());
        } else {
            assert_spend("b = 2^56 − 1", 1, &before, &m, (0, 1), amount, got.unwrap());
        }
    }

    // E straddling 4·b·(4n + 8): a 3-outcome market (bound 80·b = 8·10^9 of 2^64, a price of
    // about 4.3·10^−10), outcome 2 at the top and outcomes 0 and 1 lowered by selling them from
    // complete sets (the model's e_w depends only on max r − r_w). `depth` is the smallest
    // lowering with e < bound, so outcome 0 (lowered by `depth`) is just below the bound and
    // outcome 1 (lowered by `depth − 1`) just above.
    let b = u128::from(B);
    let top = 25 * b;
    let mut base = opened(params(Structure::Multi { outcomes: 3 }, B, vec![]));
    base.buy(1, 9, 7, 0, top, u128::MAX).unwrap();
    let bound = precondition_bound(&base);
    assert_eq!(bound, 80 * b);
    let lowered = |d0: u128, d1: u128| {
        let mut m = base.clone();
        m.sell(1, 9, 1, 0, d0, 0).unwrap();
        if d1 > 0 {
            m.sell(1, 9, 2, 0, d1, 0).unwrap();
        }
        m
    };
    let e0 = |d: u128| lowered(d, 0).price_fraction(1, 0).unwrap().0;
    let (mut lo, mut hi) = (b, top); // e0(lo) ≥ bound > e0(hi)
    assert!(e0(lo) >= bound && e0(hi) < bound);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if e0(mid) >= bound {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let depth = hi;
    let m = lowered(depth, depth - 1);
    let (below, _) = m.price_fraction(1, 0).unwrap();
    let (above, _) = m.price_fraction(2, 0).unwrap();
    println!(
        "bound {bound}: depth {depth} (≈ {:.4}·b), E {below} | {above}",
        depth as f64 / B as f64
    );
    // One share moves e by about e/b = 80 units of 2^−64.
    assert!(below < bound && bound - below <= 100, "E {below}");
    assert!(above >= bound && above - bound <= 100, "E {above}");
    for amount in [m.min_trade(), X, 10 * b] {
        // Just below: LIMIT, nothing changes; the basket still buys shares.
        let mut refused = m.clone();
        assert_eq!(refused.spend(1, 1, 1, 0, amount, 0), Err(Refusal::Limit));
        assert_eq!(refused, m);
        assert!(m.clone().buy(1, 1, 1, 0, amount, u128::MAX).is_ok());
        // Just above, and both together: the largest affordable count.
        for yes in [2, 3] {
            let mut after = m.clone();
            let got = after.spend(1, 1, yes, 0, amount, 0).unwrap();
            assert_spend("E ≥ bound", 1, &m, &after, (yes, 0), amount, got);
        }
    }
    println!(
        "spend on E just above the bound: {:?}",
        m.clone().spend(1, 1, 2, 0, X, 0)
    );
}

// ---------------------------------------------------------------------------------------------
// T8, T9 and telescoping on random paths

fn random_market(rng: &mut Rng) -> Market {
    let structure = match rng.below(3) {
        0 => Structure::Binary,
        1 => Structure::Multi {
            outcomes: 3 + rng.below(8) as u32,
        },
        _ => Structure::Joint {
            events: 1 + rng.below(7) as u32,
        },
    };
    let b = (rng.next() >> (24 + rng.below(40))).max(1);
    let n = match structure {
        Structure::Binary => 2,
        Structure::Multi { outcomes } => outcomes as usize,
        Structure::Joint { events } => 1 << events,
    };
    let mut weights = Vec::new();
    if rng.below(3) != 0 {
        weights = (0..n)
            .map(|_| {
                if rng.below(5) == 0 {
                    0
                } else {
                    rng.below(1000)
                }
            })
            .collect();
        weights[0] += 1;
    }
    let trade_bps = [0, 0, 30, 250, 12_000][rng.below(5) as usize];
    let mut market = Market::new(MarketParams {
        structure,
        b,
        trade_bps,
        close_ms: 1_000_000,
        weights,
        accounts_max: 3,
    });
    market.open().expect("open");
    market
}

/// A valid random basket as `(yes, no)`.
fn random_basket(rng: &mut Rng, market: &Market) -> (u64, u64) {
    let n = market.worlds() as u64;
    match market.params().structure {
        Structure::Multi { .. } => (1 + rng.below((1 << n) - 1), 0),
        _ => {
            let events = n.trailing_zeros();
            let yes = rng.below(1 << events);
            (yes, rng.below(1 << events) & !yes)
        }
    }
}

fn all_worlds(market: &Market) -> (u64, u64) {
    match market.params().structure {
        Structure::Multi { outcomes } => ((1 << outcomes) - 1, 0),
        _ => (0, 0),
    }
}

fn corner(market: &Market, w: usize) -> (u64, u64) {
    match market.params().structure {
        Structure::Multi { .. } => (1 << w, 0),
        _ => (w as u64, !(w as u64) & (market.worlds() as u64 - 1)),
    }
}

fn fee_of(market: &Market, amount: u128) -> u128 {
    (amount * u128::from(market.params().trade_bps)).div_ceil(10_000)
}

#[test]
fn complete_sets_round_trips_and_telescoping() {
    let mut rng = Rng::seeded("complete_sets_round_trips_and_telescoping");
    let (mut t8, mut t9, mut paths) = (0, 0, 0);
    let (mut buys, mut sells, mut limits, mut holdings, mut wide) = (0, 0, 0, 0, 0);
    for _ in 0..60 {
        let mut m = random_market(&mut rng);
        let unit = m.min_trade();
        let b = u128::from(m.params().b);
        let phi0 = m.potential();
        let mut fees_paid = 0u128; // fee-free telescoping: escrow = subsidy + Σ charges − Σ gross
        for _ in 0..25 {
            let user = 1 + rng.below(3);
            let (yes, no) = random_basket(&mut rng, &m);
            let spread = [3 * b, 3 * b, 15 * b, 45 * b][rng.below(4) as usize];
            let shares = unit * (1 + u128::from(rng.next()) % (spread / unit).max(1));
            let basket = m.basket(yes, no).unwrap();
            let held_in = |m: &Market, basket: &[usize]| {
                basket
                    .iter()
                    .map(|&w| m.position(user, w as u64).unwrap().0)
                    .min()
                    .unwrap()
            };
            let fees = m.fees();
            let result = if rng.below(2) == 0 {
                // Sell: the random basket if held, else one held world's corner.
                let held_world =
                    (0..m.worlds()).find(|&w| m.position(user, w as u64).unwrap().0 > 0);
                let (yes, no) = match held_world {
                    _ if held_in(&m, &basket) >= unit => (yes, no),
                    Some(w) => corner(&m, w),
                    None => (yes, no),
                };
                let held = held_in(&m, &m.basket(yes, no).unwrap());
                let sell = unit * (1 + u128::from(rng.next()) % (held / unit).max(1));
                m.sell(10, user, yes, no, sell, 0).map(|_| sells += 1)
            } else {
                m.buy(10, user, yes, no, shares, u128::MAX)
                    .map(|_| buys += 1)
            };
            fees_paid += m.fees() - fees;
            match result {
                Ok(()) | Err(Refusal::AccountsFull) => {}
                Err(Refusal::Limit) => limits += 1,
                Err(Refusal::Holdings) => holdings += 1,
                Err(e) => panic!("unexpected {e:?}"),
            }
            // Escrow = subsidy + Φ(r) − Φ(r0) while no charge was clamped at 0.
            assert_eq!(m.escrow() + phi0, m.subsidy() + m.potential());
            // T8: x complete sets cost exactly x (+ fee).
            let mut copy = m.clone();
            let (ay, an) = all_worlds(&m);
            let x = unit * (1 + u128::from(rng.next()) % (5 * b / unit).max(1));
            match copy.buy(10, user, ay, an, x, u128::MAX) {
                Ok(cost) => {
                    assert_eq!(cost, x + fee_of(&m, x), "T8");
                    t8 += 1;
                }
                Err(Refusal::AccountsFull) => {}
                // Sells are not limited, so the spread may already exceed 40·b: then every
                // buy, even of complete sets (which keep the spread), is LIMIT.
                Err(Refusal::Limit) => {
                    let r = m.shifted_shares();
                    let spread = r.iter().max().unwrap() - r.iter().min().unwrap();
                    assert!(spread > 40 * b, "T8: LIMIT at spread {spread}");
                    wide += 1;
                }
                Err(e) => panic!("T8: {e:?}"),
            }
            // T9: buy then sell the same basket back nets 0 (plus both fees).
            let mut copy = m.clone();
            if let Ok(cost) = copy.buy(10, user, yes, no, shares, u128::MAX) {
                let fee_buy = copy.fees() - m.fees();
                let proceeds = copy.sell(10, user, yes, no, shares, 0).expect("sell back");
                let fee_sell = copy.fees() - m.fees() - fee_buy;
                assert_eq!(cost - fee_buy, proceeds + fee_sell, "T9: charge = gross");
                assert_eq!(copy.shifted_shares(), m.shifted_shares());
                assert_eq!(copy.escrow(), m.escrow());
                t9 += 1;
            }
        }
        // Everyone sells everything back, world by world: r returns to r0, escrow to the subsidy.
        for user in 1..=3 {
            for w in 0..m.worlds() {
                let (held, _) = m.position(user, w as u64).unwrap();
                if held > 0 {
                    let (yes, no) = corner(&m, w);
                    let fees = m.fees();
                    m.sell(10, user, yes, no, held, 0).expect("sell out");
                    fees_paid += m.fees() - fees;
                }
            }
        }
        assert_eq!(m.shifted_shares(), m.initial_shares());
        assert_eq!(
            m.escrow(),
            m.subsidy(),
            "T9: a path back to r0 nets exactly 0"
        );
        assert_eq!(m.fees(), fees_paid);
        paths += 1;
    }
    println!(
        "{buys} buys, {sells} sells, {limits} LIMIT, {holdings} HOLDINGS, {wide} states wider than 40·b; T8 \
         {t8} complete-set buys, T9 {t9} round trips, {paths} paths back to r0: all exact"
    );
    assert!(sells > 100 && limits > 0);
}

#[test]
fn baskets_and_world_space_netting() {
    let binary = Market::new(params(Structure::Binary, B, vec![]));
    assert_eq!(binary.basket(1, 0), Ok(vec![1]));
    assert_eq!(binary.basket(0, 1), Ok(vec![0]));
    assert_eq!(binary.basket(0, 0), Ok(vec![0, 1]));
    let multi = Market::new(params(Structure::Multi { outcomes: 4 }, B, vec![]));
    assert_eq!(multi.basket(0b1010, 0), Ok(vec![1, 3]));
    let joint = Market::new(params(Structure::Joint { events: 3 }, B, vec![]));
    assert_eq!(joint.basket(4, 0), Ok(vec![4, 5, 6, 7])); // marginal A
    assert_eq!(joint.basket(6, 0), Ok(vec![6, 7])); // slice A∧B
    assert_eq!(joint.basket(0, 5), Ok(vec![0, 2])); // ¬A∧¬C
    assert_eq!(joint.basket(5, 2), Ok(vec![5])); // corner 101
    // Seed 001: buy the slice A∧B, sell the corner A∧B∧C: the corner A∧B∧¬C is left.
    let mut m = opened(params(
        Structure::Joint { events: 3 },
        B,
        SEED_WEIGHTS.to_vec(),
    ));
    m.buy(1, 7, 6, 0, X, u128::MAX).unwrap();
    m.sell(1, 7, 7, 0, X, 0).unwrap();
    let held: Vec<u128> = (0..8).map(|w| m.position(7, w).unwrap().0).collect();
    assert_eq!(held, [0, 0, 0, 0, 0, 0, X, 0]);
    let shift: Vec<u128> = (0..8)
        .map(|w| m.shifted_shares()[w] - m.initial_shares()[w])
        .collect();
    assert_eq!(shift, held);
}

#[test]
fn summary_reports_the_simplest_form() {
    // Unknown users (user 0 too), before and after `open`: everything 0.
    let fresh = Market::new(params(Structure::Joint { events: 3 }, B, vec![]));
    assert_eq!(fresh.summary(1), (0, 0, 0, 0, 0));
    let mut m = opened(MarketParams {
        accounts_max: 16,
        ..params(Structure::Joint { events: 3 }, B, vec![])
    });
    assert_eq!(m.summary(0), (0, 0, 0, 0, 0));
    assert_eq!(m.summary(42), (0, 0, 0, 0, 0));
    // Event bits: A = 4, B = 2, C = 1.
    m.buy(1, 1, 4, 0, X, u128::MAX).unwrap(); // marginal A: worlds 4–7
    assert_eq!(m.summary(1), (1, 4, 0, X, 4));
    m.buy(1, 2, 0, 2, X, u128::MAX).unwrap(); // marginal ¬B: worlds 0, 1, 4, 5
    assert_eq!(m.summary(2), (1, 0, 2, X, 4));
    m.buy(1, 3, 4, 1, X, u128::MAX).unwrap(); // slice A∧¬C: worlds 4, 6
    assert_eq!(m.summary(3), (1, 4, 1, X, 2));
    m.buy(1, 4, 5, 2, X, u128::MAX).unwrap(); // corner A∧¬B∧C: world 5
    assert_eq!(m.summary(4), (1, 5, 2, X, 1));
    m.buy(1, 5, 0, 0, X, u128::MAX).unwrap(); // every world equally
    assert_eq!(m.summary(5), (1, 0, 0, X, 8));
    // Netting (seed 001): slice A∧B, minus corner A∧B∧C, is the corner A∧B∧¬C (world 6).
    m.buy(1, 6, 6, 0, X, u128::MAX).unwrap();
    assert_eq!(m.summary(6), (1, 6, 0, X, 2));
    m.sell(1, 6, 7, 0, X, 0).unwrap();
    assert_eq!(m.summary(6), (1, 6, 1, X, 1));
    // Unequal amounts: A (X on 4–7) plus A∧B (X more on 6, 7).
    m.buy(1, 7, 4, 0, X, u128::MAX).unwrap();
    m.buy(1, 7, 6, 0, X, u128::MAX).unwrap();
    assert_eq!(m.summary(7), (2, 0, 0, 2 * X, 4));
    // Equal amounts on corners 101 and 110: both have A, but {5, 6} is not the slice A.
    m.buy(1, 8, 5, 2, X, u128::MAX).unwrap();
    m.buy(1, 8, 6, 1, X, u128::MAX).unwrap();
    assert_eq!(m.summary(8), (2, 0, 0, X, 2));
    // A known user who sold everything holds nothing.
    m.buy(1, 9, 2, 0, X, u128::MAX).unwrap();
    m.sell(1, 9, 2, 0, X, 0).unwrap();
    assert_eq!(m.summary(9), (0, 0, 0, 0, 0));

    // Multi-outcome: yes_mask = the held outcomes.
    let mut multi = opened(params(Structure::Multi { outcomes: 5 }, B, vec![]));
    multi.buy(1, 1, 0b10110, 0, X, u128::MAX).unwrap();
    assert_eq!(multi.summary(1), (1, 0b10110, 0, X, 3));
    multi.buy(1, 2, 0b11111, 0, X, u128::MAX).unwrap();
    assert_eq!(multi.summary(2), (1, 0b11111, 0, X, 5));
    multi.buy(1, 3, 0b00011, 0, X, u128::MAX).unwrap();
    multi.buy(1, 3, 0b00001, 0, X, u128::MAX).unwrap();
    assert_eq!(multi.summary(3), (2, 0, 0, 2 * X, 2));

    // Binary: YES only is world 1, the slice (1, 0).
    let mut binary = opened(params(Structure::Binary, B, vec![]));
    binary.buy(1, 1, 1, 0, X, u128::MAX).unwrap();
    assert_eq!(binary.summary(1), (1, 1, 0, X, 1));
    binary.buy(1, 2, 0, 1, X, u128::MAX).unwrap();
    assert_eq!(binary.summary(2), (1, 0, 1, X, 1));
}

// ---------------------------------------------------------------------------------------------
// refusals

/// `call` is refused with `want` and leaves the model exactly unchanged.
fn refused(
    market: &mut Market,
    want: Refusal,
    call: impl FnOnce(&mut Market) -> Result<u128, Refusal>,
) {
    let before = market.clone();
    assert_eq!(call(market), Err(want));
    assert_eq!(*market, before, "{want:?} changed the model");
}

/// A spend's share count, for [`refused`].
fn spent(result: Result<(u128, u128), Refusal>) -> Result<u128, Refusal> {
    result.map(|(shares, _)| shares)
}

#[test]
fn every_refusal_leaves_the_model_unchanged() {
    let mut seen = std::collections::BTreeSet::new();
    let mut note = |r: Refusal| {
        seen.insert(r.code());
    };
    let joint = || params(Structure::Joint { events: 3 }, B, SEED_WEIGHTS.to_vec());

    // PRIOR_ZERO, NOT_OPEN, ALREADY_OPEN.
    let mut zero = Market::new(params(Structure::Multi { outcomes: 3 }, B, vec![0, 0, 0]));
    refused(&mut zero, Refusal::PriorZero, |m| m.open());
    assert_eq!(prior_shares(B, &[0, 0]), Err(Refusal::PriorZero));
    let mut m = Market::new(joint());
    refused(&mut m, Refusal::NotOpen, |m| {
        m.buy(1, 1, 4, 0, X, u128::MAX)
    });
    refused(&mut m, Refusal::NotOpen, |m| m.sell(1, 1, 4, 0, X, 0));
    refused(&mut m, Refusal::NotOpen, |m| {
        spent(m.spend(1, 1, 4, 0, X, 0))
    });
    assert_eq!(m.quote(4, 0, X), Err(Refusal::NotOpen));
    m.open().unwrap();
    refused(&mut m, Refusal::AlreadyOpen, |m| m.open());
    note(Refusal::PriorZero);
    note(Refusal::NotOpen);
    note(Refusal::AlreadyOpen);

    // The common checks, in order: CLOSED, BAD_USER, BAD_BASKET, MIN_TRADE.
    refused(&mut m, Refusal::Closed, |m| {
        m.buy(1_000_000, 0, 8, 8, 1, u128::MAX)
    });
    refused(&mut m, Refusal::BadUser, |m| {
        m.buy(999_999, 0, 8, 8, 1, u128::MAX)
    });
    refused(&mut m, Refusal::BadUser, |m| m.sell(1, 0, 4, 0, X, 0));
    refused(&mut m, Refusal::Closed, |m| {
        spent(m.spend(1_000_000, 0, 8, 8, 1, 0))
    });
    refused(&mut m, Refusal::BadUser, |m| {
        spent(m.spend(1, 0, 8, 8, 1, 0))
    });
    refused(&mut m, Refusal::BadBasket, |m| {
        spent(m.spend(1, 1, 8, 8, 1, 0))
    });
    refused(&mut m, Refusal::MinTrade, |m| {
        spent(m.spend(1, 1, 4, 0, 99, 0))
    });
    refused(&mut m, Refusal::Limit, |m| {
        spent(m.spend(1, 1, 4, 0, 1 << 100, 0))
    });
    // spend: SLIPPAGE (min_shares) before MIN_TRADE (an amount whose fee leaves < 100 shares).
    let mut dear = opened(MarketParams {
        trade_bps: 100_000,
        ..joint()
    });
    refused(&mut dear, Refusal::MinTrade, |m| {
        spent(m.spend(1, 1, 4, 0, 100, 0))
    });
    refused(&mut dear, Refusal::Slippage, |m| {
        spent(m.spend(1, 1, 4, 0, 100, 50))
    });
    for (yes, no) in [(8, 0), (0, 8), (4, 4), (1 << 63, 0)] {
        refused(&mut m, Refusal::BadBasket, |m| {
            m.buy(1, 1, yes, no, 1, u128::MAX)
        });
    }
    assert_eq!(m.quote(3, 1, X), Err(Refusal::BadBasket));
    assert_eq!(m.position(1, 8), Err(Refusal::BadBasket));
    assert_eq!(m.min_trade(), 100);
    refused(&mut m, Refusal::MinTrade, |m| {
        m.buy(1, 1, 4, 0, 99, u128::MAX)
    });
    refused(&mut m, Refusal::MinTrade, |m| m.sell(1, 1, 4, 0, 99, 0));
    let mut multi = opened(params(Structure::Multi { outcomes: 5 }, B, vec![]));
    for (yes, no) in [(0, 0), (1, 1), (1 << 5, 0)] {
        refused(&mut multi, Refusal::BadBasket, |m| {
            m.buy(1, 1, yes, no, X, u128::MAX)
        });
    }
    let mut binary = opened(params(Structure::Binary, 1, vec![]));
    assert_eq!(binary.min_trade(), 1);
    refused(&mut binary, Refusal::BadBasket, |m| {
        m.buy(1, 1, 2, 0, 1, u128::MAX)
    });
    refused(&mut binary, Refusal::BadBasket, |m| {
        m.buy(1, 1, 1, 1, 1, u128::MAX)
    });
    for r in [
        Refusal::Closed,
        Refusal::BadUser,
        Refusal::BadBasket,
        Refusal::MinTrade,
    ] {
        note(r);
    }

    // SLIPPAGE (buy and sell), HOLDINGS.
    let (cost, _) = m.quote(4, 0, X).unwrap();
    refused(&mut m, Refusal::Slippage, |m| {
        m.buy(1, 1, 4, 0, X, cost - 1)
    });
    assert_eq!(m.clone().buy(1, 1, 4, 0, X, cost), Ok(cost));
    refused(&mut m, Refusal::Holdings, |m| m.sell(1, 1, 4, 0, X, 0));
    m.buy(1, 1, 4, 0, X, cost).unwrap();
    refused(&mut m, Refusal::Holdings, |m| m.sell(1, 1, 4, 0, X + 1, 0));
    refused(&mut m, Refusal::Holdings, |m| m.sell(1, 1, 2, 0, X, 0)); // holds A, not B
    refused(&mut m, Refusal::Holdings, |m| m.sell(1, 2, 4, 0, X, 0)); // no account
    let proceeds = m.clone().sell(1, 1, 4, 0, X, 0).unwrap();
    refused(&mut m, Refusal::Slippage, |m| {
        m.sell(1, 1, 4, 0, X, proceeds + 1)
    });
    note(Refusal::Slippage);
    note(Refusal::Holdings);

    // LIMIT: spread over 40·b; max r' ≥ 2^100; a u128 overflow. SLIPPAGE comes first.
    refused(&mut m, Refusal::Slippage, |m| {
        m.buy(1, 1, 4, 0, 41 * u128::from(B), 0)
    });
    refused(&mut m, Refusal::Limit, |m| {
        m.buy(1, 1, 4, 0, 41 * u128::from(B), u128::MAX)
    });
    let (all_yes, all_no) = (0, 0);
    refused(&mut m, Refusal::Limit, |m| {
        m.buy(1, 1, all_yes, all_no, 1 << 100, u128::MAX)
    });
    assert!(
        m.clone()
            .buy(1, 1, all_yes, all_no, (1 << 100) - (1 << 40), u128::MAX)
            .is_ok()
    );
    refused(&mut m, Refusal::Limit, |m| {
        m.buy(1, 1, 4, 0, u128::MAX, u128::MAX)
    });
    refused(&mut m, Refusal::Limit, |m| {
        m.buy(1, 1, 0, 0, u128::MAX - 5, u128::MAX)
    });
    assert_eq!(m.quote(4, 0, u128::MAX), Err(Refusal::Limit));
    // A sell is never limited: sell the complete sets that made r wide.
    let mut wide = opened(joint());
    wide.buy(1, 3, 0, 0, 100 * u128::from(B), u128::MAX)
        .unwrap();
    wide.sell(1, 3, 4, 0, 100 * u128::from(B), 0).unwrap(); // spread now ≥ 100·b
    note(Refusal::Limit);

    // ACCOUNTS_FULL: one slot, taken by user 1; LIMIT comes first.
    let mut one = opened(MarketParams {
        accounts_max: 1,
        ..joint()
    });
    one.buy(1, 1, 4, 0, X, u128::MAX).unwrap();
    refused(&mut one, Refusal::Limit, |m| {
        m.buy(1, 2, 4, 0, 41 * u128::from(B), u128::MAX)
    });
    refused(&mut one, Refusal::AccountsFull, |m| {
        m.buy(1, 2, 4, 0, X, u128::MAX)
    });
    refused(&mut one, Refusal::AccountsFull, |m| {
        spent(m.spend(1, 2, 4, 0, X, 0))
    });
    assert!(one.buy(1, 1, 2, 0, X, u128::MAX).is_ok()); // the holder still trades
    note(Refusal::AccountsFull);

    // spend's step 2 precondition (b < 2^56, E ≥ 4·b·(4n + 8)): LIMIT after the admission
    // checks (CLOSED, BAD_USER, BAD_BASKET, MIN_TRADE come first), before min_shares'
    // SLIPPAGE and ACCOUNTS_FULL.
    let mut huge = opened(MarketParams {
        accounts_max: 1,
        ..params(Structure::Binary, 1 << 56, vec![])
    });
    let (unit, amount) = (huge.min_trade(), 1u128 << 56);
    huge.buy(1, 1, 0, 1, unit, u128::MAX).unwrap(); // the one slot: user 1
    refused(&mut huge, Refusal::Closed, |m| {
        spent(m.spend(1_000_000, 0, 2, 0, 1, u128::MAX))
    });
    refused(&mut huge, Refusal::BadUser, |m| {
        spent(m.spend(1, 0, 2, 0, 1, u128::MAX))
    });
    refused(&mut huge, Refusal::BadBasket, |m| {
        spent(m.spend(1, 2, 2, 0, 1, u128::MAX))
    });
    refused(&mut huge, Refusal::MinTrade, |m| {
        spent(m.spend(1, 2, 0, 1, unit - 1, u128::MAX))
    });
    refused(&mut huge, Refusal::Limit, |m| {
        spent(m.spend(1, 2, 0, 1, amount, u128::MAX))
    });
    refused(&mut huge, Refusal::Limit, |m| {
        spent(m.spend(1, 1, 0, 1, amount, u128::MAX))
    });
    // The same with b = 2^56 − 1 gets past step 2.
    let mut fine = opened(MarketParams {
        accounts_max: 1,
        ..params(Structure::Binary, (1 << 56) - 1, vec![])
    });
    fine.buy(1, 1, 0, 1, unit, u128::MAX).unwrap();
    refused(&mut fine, Refusal::Slippage, |m| {
        spent(m.spend(1, 1, 0, 1, amount, u128::MAX))
    });
    refused(&mut fine, Refusal::AccountsFull, |m| {
        spent(m.spend(1, 2, 0, 1, amount, 0))
    });
    // A basket priced 2^−64 (E = 1 < 64·b): LIMIT before SLIPPAGE.
    let mut cheap = opened(params(Structure::Binary, B, vec![]));
    cheap
        .buy(1, 9, 0, 0, 45 * u128::from(B), u128::MAX)
        .unwrap();
    cheap.sell(1, 9, 0, 1, 44 * u128::from(B), 0).unwrap();
    assert_eq!(cheap.price_fraction(0, 1).unwrap().0, 1);
    refused(&mut cheap, Refusal::Limit, |m| {
        spent(m.spend(1, 1, 0, 1, X, u128::MAX))
    });

    // SOLVENCY: only with a corrupted escrow (the model's invariant otherwise).
    let mut broken = opened(joint());
    broken.buy(1, 1, 4, 0, X, u128::MAX).unwrap();
    broken.force_escrow(0);
    refused(&mut broken, Refusal::Solvency, |m| {
        m.buy(1, 1, 4, 0, X, u128::MAX)
    });
    refused(&mut broken, Refusal::Solvency, |m| m.sell(1, 1, 4, 0, X, 0));
    refused(&mut broken, Refusal::Solvency, |m| {
        spent(m.spend(1, 1, 4, 0, X, 0))
    });
    note(Refusal::Solvency);

    assert_eq!(seen.len(), 12, "codes seen: {seen:?}");
}
