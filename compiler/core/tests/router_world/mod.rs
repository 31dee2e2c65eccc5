//! The world the ROUTER tests and benchmarks run in: the router program and three real SLAB
//! programs (each with its oracle's state as its view) in one `ProgramSet`, the ledger, and the
//! calls a test makes (a route through `InvokeHost`, a maker's direct slab call, an account
//! view). Shared by `tests/router.rs` and `benches/router.rs`.

#![allow(dead_code)]

use std::sync::Arc;

use curve_compiler::templates::{oracle, router, slab};
use curvescript_syntax::ast::BlockKind;
use curvevm::isa::Segment;
use curvevm::{Engine, ExecOptions, Instance, Interpreter, Outcome, Program, TrapKind};
use curvevm_host::{Callee, Caller, Clock, InvokeHost, Ledger, ProgramSet, Role, RollupHost};

pub const SCRIPT: &str = r#"
ORACLE "pyth:SOLUSD" {
    HEARTBEAT ms=500
}

SLAB "perp:TEST" {
    MAKER_CLASS DLP allowance=8_000_000
    FEE maker_bps=2 taker_bps=5
    RISK imr_bps=500 mmr_bps=350
    BATCH_WINDOW ms=50
    INSTRUMENT "SOL-PERP" oracle="pyth:SOLUSD" tick=5 lot=2 price_max=2_000 qty_max=400 contract_size=10
    POOLS accounts=6 orders=32 positions=8 reservations=6 slices=8 trades=8 aggressor=4
}
"#;

/// A multi-outcome market the router's market entries trade: three outcomes with prior
/// weights 1 : 1 : 2, b = 100 units, a 1% fee, closing at [`MARKET_CLOSE_MS`].
pub const MARKET_SCRIPT: &str = r#"
MARKET "three" {
    STRUCTURE kind=multi
    OUTCOME "a"
    OUTCOME "b"
    OUTCOME "c"
    LIQUIDITY b=100_000_000
    PRIOR kind=table weights=[1, 1, 2]
    FEE trade_bps=100
    RESOLUTION oracle="o"
    CLOSE at_ms=1_900_000_000_000
}

ORACLE "o" {
    HEARTBEAT ms=1_000
}
"#;

pub const MARKET_ID: u64 = 21;
pub const MARKET_CLOSE_MS: u64 = 1_900_000_000_000;

pub const ROUTER_ID: u64 = 1;
pub const SLABS: [u64; 3] = [11, 12, 13];
pub const MAKER: u64 = 1;
pub const TAKER: u64 = 2;
pub const MARK: u64 = 1_000;
pub const NOW: u64 = 1_000;
pub const GAS: u64 = 50_000_000;
pub const FUNDS: u128 = 10_000_000;

pub fn slab_program() -> (Arc<Program>, Vec<u64>) {
    let built = built_slab();
    let program =
        Arc::new(RollupHost::load(built.lowered.module.clone(), Role::Slab).expect("loads"));
    (program, built.params)
}

/// The SLAB template built for `SCRIPT`'s slab block: layout, lowered module, parameters.
pub fn built_slab() -> slab::Built {
    let checked = curvescript_check::check_source(SCRIPT, None);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let block = checked
        .script
        .blocks
        .iter()
        .find(|b| b.kind == BlockKind::Slab)
        .expect("a SLAB block");
    slab::build(block).expect("fits")
}

/// The slab program with a planted bug (same layout and interface).
pub fn mutated_slab(mutation: slab::Mutation) -> Arc<Program> {
    let built = built_slab();
    let program = slab::program_with_mutation(&built.layout, mutation);
    let module = curve_ir::lower(&program).expect("lowers").module;
    assert!(
        module != built.lowered.module,
        "the mutation changes the bytecode"
    );
    Arc::new(RollupHost::load(module, Role::Slab).expect("loads"))
}

/// A ROUTER block's `LIQUIDATION` values: (band_bps, preliq_band_bps, preliq_buffer,
/// grace_ms).
pub type Liquidation = (u64, u64, u128, u64);

/// The schema's defaults of `LIQUIDATION`.
pub const LIQUIDATION_DEFAULTS: Liquidation = (200, 100, 10_000_000, 0);

/// The router's parameters: CAP_TTL 60 s, the margin model (`cross_alpha` when `cross`) and
/// the `LIQUIDATION` values.
pub fn router_params(
    cross: bool,
    liquidation: Liquidation,
    correlations: &[Correlation; router::CORRELATIONS_MAX],
) -> Vec<u64> {
    let constants = router::constants();
    let (band, preliq_band, buffer, grace) = liquidation;
    router::PARAMS
        .iter()
        .map(|&name| match constants.iter().find(|(c, _)| *c == name) {
            Some(&(_, value)) => value,
            None => match name {
                _ if name.starts_with("correl_") => {
                    let (k, at) = router::correlation_slot(name).expect("a correlation slot");
                    let (a, b, alpha) = correlations[k];
                    [a, b, alpha][at]
                }
                "cross" => u64::from(cross),
                "cap_ttl_ms" => 60_000,
                "band_bps" => band,
                "preliq_band_bps" => preliq_band,
                "preliq_buffer_lo" => buffer as u64,
                "preliq_buffer_hi" => (buffer >> 64) as u64,
                "grace_ms" => grace,
                other => panic!("no value for router parameter `{other}`"),
            },
        })
        .collect()
}

/// A ROUTER block's `CORRELATION` pair: (feed_a's key, feed_b's key, alpha_bps); zeros for
/// none.
pub type Correlation = (u64, u64, u64);

/// The slab parameter slot of instrument 0's `oracle_key`.
pub fn oracle_key_slot() -> usize {
    slab::params::PARAM_NAMES
        .iter()
        .position(|n| *n == "instrument.0.oracle_key")
        .expect("a slot")
}

/// How the world is built: the router's margin model and whether the third slab's instrument
/// is marked by another feed (its `oracle_key` is that of "pyth:ETHUSD": it nets with nothing).
#[derive(Clone, Copy, Default)]
pub struct Setup {
    pub mutation: router::Mutation,
    /// A planted bug in every slab.
    pub slab_mutation: slab::Mutation,
    pub cross: bool,
    pub other_feed_on_third: bool,
    /// Another feed marking the second slab's instrument (e.g. "pyth:BTCUSD").
    pub feed_of_second: Option<&'static str>,
    /// The router's `LIQUIDATION` values (the schema's defaults when `None`).
    pub liquidation: Option<Liquidation>,
    /// The router's correlation table, in statement order.
    pub correlations: [Correlation; router::CORRELATIONS_MAX],
}

/// Both engines, for a test to run on each.
pub fn engines() -> [Box<dyn Engine>; 2] {
    [
        Box::new(Interpreter(ExecOptions::default())),
        Box::new(curvevm_jit::JitCache::default()),
    ]
}

pub fn abort(code: u8) -> TrapKind {
    TrapKind::Abort { code }
}

/// The `u128` at words `at`, `at + 1`.
pub fn wide(words: &[u64], at: usize) -> u128 {
    u128::from(words[at]) | (u128::from(words[at + 1]) << 64)
}

pub fn host(id: u64, role: Role, ledger: Ledger) -> RollupHost {
    host_at(id, role, ledger, NOW)
}

pub fn host_at(id: u64, role: Role, ledger: Ledger, now_ms: u64) -> RollupHost {
    RollupHost::new(
        ledger,
        Clock {
            now_ms,
            height: now_ms / 100,
            chain_id: 7,
        },
        Caller { id, role },
    )
}

/// The router, three slabs with their books and oracle marks, and the ledger.
pub struct World {
    pub router: Instance,
    pub slabs: ProgramSet,
    pub ledger: Ledger,
    pub now: u64,
    /// Each slab's parameter table, by slab index.
    pub slab_params: Vec<Vec<u64>>,
}

/// An ask or bid a maker rests on slab `slab`: (slab index, side of the maker: 1 ask, 0 bid,
/// price, qty).
pub type Resting = (usize, u64, u64, u64);

impl World {
    pub fn new(books: &[Resting]) -> World {
        World::with(books, router::Mutation::None)
    }

    pub fn with(books: &[Resting], mutation: router::Mutation) -> World {
        World::build(
            books,
            Setup {
                mutation,
                ..Setup::default()
            },
        )
    }

    pub fn build(books: &[Resting], setup: Setup) -> World {
        let (mut program, params) = slab_program();
        if setup.slab_mutation != slab::Mutation::None {
            program = mutated_slab(setup.slab_mutation);
        }
        let mut slabs = ProgramSet::default();
        let mut slab_params = Vec::new();
        for (i, &id) in SLABS.iter().enumerate() {
            let mut params = params.clone();
            if setup.other_feed_on_third && i == 2 {
                params[oracle_key_slot()] = slab::params::oracle_key("pyth:ETHUSD");
            }
            if let (Some(feed), 1) = (setup.feed_of_second, i) {
                params[oracle_key_slot()] = slab::params::oracle_key(feed);
            }
            slab_params.push(params.clone());
            let mut instance = Instance::new(Arc::clone(&program), &params).expect("fits");
            let mut oracle_words = vec![0; oracle::state::WORDS as usize];
            oracle_words[oracle::state::MARK as usize] = MARK;
            let mut views = vec![oracle_words];
            let mut maker_host = host(id, Role::Slab, Ledger::default());
            let mut call = |entry: &str, args: &[u64]| {
                let index = instance.entry_index(entry).expect("a slab entry");
                let outcome = Interpreter(ExecOptions::default())
                    .call(&mut instance, index, args, GAS, &mut views, &mut maker_host)
                    .expect("starts");
                outcome
                    .result
                    .unwrap_or_else(|trap| panic!("slab {id} {entry}{args:?}: {trap:?}"))
            };
            call("set_maker_class", &[MAKER, 1]);
            for &(slab, side, price, qty) in books {
                if slab == i {
                    call("place_order", &[MAKER, 0, side, price, qty]);
                }
            }
            slabs.programs.insert(
                id,
                Callee {
                    instance,
                    caller: Caller {
                        id,
                        role: Role::Slab,
                    },
                    interface_hash: curve_compiler::abi::SLAB.hash(),
                    views,
                },
            );
        }
        let lowered =
            curve_ir::lower(&router::program_with_mutation(setup.mutation)).expect("lowers");
        let program = Arc::new(RollupHost::load(lowered.module, Role::Router).expect("loads"));
        let mut ledger = Ledger::default();
        ledger.set_vault(TAKER, 0, FUNDS);
        let mut world = World {
            router: Instance::new(
                program,
                &router_params(
                    setup.cross,
                    setup.liquidation.unwrap_or(LIQUIDATION_DEFAULTS),
                    &setup.correlations,
                ),
            )
            .expect("fits"),
            slabs,
            ledger,
            now: NOW,
            slab_params,
        };
        for slab in SLABS {
            world.ok(&Interpreter(ExecOptions::default()), "list_slab", &[slab]);
        }
        world
    }

    pub fn call(&mut self, engine: &dyn Engine, entry: &str, args: &[u64]) -> Outcome {
        let mut host = host_at(
            ROUTER_ID,
            Role::Router,
            std::mem::take(&mut self.ledger),
            self.now,
        );
        let index = self.router.entry_index(entry).expect("a router entry");
        let outcome = {
            let mut invoke = InvokeHost::new(&mut host, &mut self.slabs, engine);
            engine
                .call(&mut self.router, index, args, GAS, &mut [], &mut invoke)
                .expect("starts")
        };
        self.ledger = host.ledger;
        outcome
    }

    pub fn ok(&mut self, engine: &dyn Engine, entry: &str, args: &[u64]) -> Vec<u64> {
        self.call(engine, entry, args)
            .result
            .unwrap_or_else(|trap| panic!("{entry}{args:?}: {trap:?}"))
    }

    /// Every word of the router and the slabs, and the ledger.
    pub fn snapshot(&self) -> (Vec<Vec<u64>>, Ledger) {
        let mut words = vec![self.router.words(Segment::Slab).to_vec()];
        for callee in self.slabs.programs.values() {
            words.push(callee.instance.words(Segment::Slab).to_vec());
        }
        (words, self.ledger.clone())
    }

    /// `entry` is refused with `kind` and changes nothing anywhere.
    pub fn refused(&mut self, engine: &dyn Engine, entry: &str, args: &[u64], kind: TrapKind) {
        let before = self.snapshot();
        let outcome = self.call(engine, entry, args);
        assert_eq!(
            outcome.result.map_err(|t| t.kind),
            Err(kind),
            "{entry}{args:?}"
        );
        assert!(self.snapshot() == before, "{entry}{args:?} changed state");
    }

    /// Calls `entry` of slab `slab` directly (a maker's own call), at the world's time.
    pub fn slab_call(
        &mut self,
        slab: u64,
        entry: &str,
        args: &[u64],
    ) -> Result<Vec<u64>, TrapKind> {
        self.direct_call((slab, Role::Slab), entry, args)
    }

    /// Calls `entry` of program `id` directly (not through the router), at the world's time,
    /// on the interpreter.
    fn direct_call(
        &mut self,
        (id, role): (u64, Role),
        entry: &str,
        args: &[u64],
    ) -> Result<Vec<u64>, TrapKind> {
        let callee = self.slabs.programs.get_mut(&id).expect("a program");
        let index = callee.instance.entry_index(entry).expect("an entry");
        let mut h = host_at(id, role, Ledger::default(), self.now);
        Interpreter(ExecOptions::default())
            .call(
                &mut callee.instance,
                index,
                args,
                GAS,
                &mut callee.views,
                &mut h,
            )
            .expect("starts")
            .result
            .map_err(|trap| trap.kind)
    }

    /// A governance upgrade of every slab to `program` (same layout and interface): each keeps
    /// its state words, parameters and views.
    pub fn upgrade_slabs(&mut self, program: &Arc<Program>) {
        for (i, id) in SLABS.iter().enumerate() {
            let callee = self.slabs.programs.get_mut(id).expect("slab");
            let words = callee.instance.words(Segment::Slab).to_vec();
            let mut upgraded =
                Instance::new(Arc::clone(program), &self.slab_params[i]).expect("fits");
            upgraded.set_slab(words).expect("the same layout");
            callee.instance = upgraded;
        }
    }

    /// Adds [`MARKET_SCRIPT`]'s market as program [`MARKET_ID`], compiled as a deploy would.
    pub fn add_market(&mut self) {
        let checked = curvescript_check::check_source(MARKET_SCRIPT, None);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let compiled = curve_compiler::compile(&checked.script);
        assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
        let artifact = compiled
            .artifacts
            .iter()
            .find(|a| a.template == "market")
            .expect("the market compiled");
        let program = Arc::new(
            RollupHost::load(artifact.lowered.module.clone(), Role::Market).expect("loads"),
        );
        let params: Vec<u64> = artifact.params.iter().map(|slot| slot.value).collect();
        self.slabs.programs.insert(
            MARKET_ID,
            Callee {
                instance: Instance::new(program, &params).expect("fits"),
                caller: Caller {
                    id: MARKET_ID,
                    role: Role::Market,
                },
                interface_hash: curve_compiler::abi::MARKET.hash(),
                views: Vec::new(),
            },
        );
    }

    /// Calls `entry` of the market directly (a read, or a user's own sale), at the world's
    /// time.
    pub fn market_call(&mut self, entry: &str, args: &[u64]) -> Result<Vec<u64>, TrapKind> {
        self.direct_call((MARKET_ID, Role::Market), entry, args)
    }

    /// The router's `margin(user)`: (equity, IM, MM, locked).
    pub fn margin(&mut self, engine: &dyn Engine, user: u64) -> (i128, u128, u128, u128) {
        let got = self.ok(engine, "margin", &[user]);
        let wide = |at: usize| u128::from(got[at]) | u128::from(got[at + 1]) << 64;
        (wide(0) as i128, wide(2), wide(4), wide(6))
    }

    /// The balance of `user`'s margin lock: the escrow (user, 0, collateral).
    pub fn locked(&self, user: u64) -> u128 {
        self.ledger.escrow_balance(user, 0, 0)
    }

    /// Sets the mark of slab `slab`'s feed (its view of the oracle's state).
    pub fn set_mark(&mut self, slab: u64, mark: u64) {
        let callee = self.slabs.programs.get_mut(&slab).expect("slab");
        callee.views[0][oracle::state::MARK as usize] = mark;
    }

    /// The batch time until which the slab's feed is fresh (`fresh_until_ms` of its state;
    /// 0: never published, not checked).
    pub fn set_fresh_until(&mut self, slab: u64, fresh_until_ms: u64) {
        let callee = self.slabs.programs.get_mut(&slab).expect("slab");
        callee.views[0][oracle::state::FRESH_UNTIL_MS as usize] = fresh_until_ms;
    }

    /// The slab's `account(user)` (cash, IM, MM) read directly.
    pub fn position_value(&mut self, slab: u64, user: u64) -> Vec<u64> {
        let callee = self.slabs.programs.get_mut(&slab).expect("slab");
        let index = callee.instance.entry_index("account").expect("account");
        let mut h = host(slab, Role::Slab, Ledger::default());
        Interpreter(ExecOptions::default())
            .call(
                &mut callee.instance,
                index,
                &[user],
                GAS,
                &mut callee.views,
                &mut h,
            )
            .expect("starts")
            .result
            .expect("reads")
    }
}
