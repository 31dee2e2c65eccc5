//! Cross-block checks: duplicates, references, batch windows, margin order, consistency of
//! values within a block, market structure rules, and governance limits.

use crate::governance::Governance;
use crate::model::{CheckedBlock, Script};
use crate::schema::{
    BATCH_WINDOW_TOLERANCE_MS, DefaultValue, JOINT_EVENTS_DEFAULT_MAX, JOINT_EVENTS_HARD_MAX,
    OUTCOMES_MAX, OUTCOMES_MIN, Presence, block_schema,
};
use crate::value::{Typed, TypedValue};
use curvescript_syntax::ast::BlockKind;
use curvescript_syntax::diagnostic::did_you_mean;
use curvescript_syntax::{Code, Diagnostic, Span};
use std::collections::BTreeMap;

/// Runs every cross-block check over `script`, filling router-relative defaults first.
pub fn check_script(
    script: &mut Script,
    governance: Option<&Governance>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    check_duplicates(script, diagnostics);
    fill_router_defaults(script);
    check_references(script, diagnostics);
    check_batch_windows(script, diagnostics);
    for block in &script.blocks {
        match block.kind {
            BlockKind::Router => {
                let feeds = script
                    .blocks
                    .iter()
                    .filter(|b| b.kind == BlockKind::Oracle)
                    .count();
                check_router(block, feeds, diagnostics)
            }
            BlockKind::Slab => check_slab(block, diagnostics),
            BlockKind::Oracle => check_oracle(block, diagnostics),
            BlockKind::Market => check_market(block, diagnostics),
        }
    }
    if let Some(governance) = governance {
        check_governance(script, governance, diagnostics);
    }
}

fn check_duplicates(script: &Script, diagnostics: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<(BlockKind, Option<&str>), Span> = BTreeMap::new();
    let mut kind_counts: BTreeMap<BlockKind, usize> = BTreeMap::new();
    for block in &script.blocks {
        let count = kind_counts.entry(block.kind).or_default();
        *count += 1;
        if let Some(max) = block_schema(block.kind).max_count
            && *count > max
        {
            diagnostics.push(
                Diagnostic::error(
                    Code::DuplicateBlock,
                    block.header_span,
                    format!("a script has at most {max} {} block", block.kind),
                )
                .with_label("second block")
                .with_secondary(
                    seen.get(&(block.kind, None))
                        .copied()
                        .unwrap_or(block.header_span),
                    "first block",
                ),
            );
            continue;
        }
        let key = (block.kind, block.id.as_deref());
        if let Some(first) = seen.get(&key) {
            diagnostics.push(
                Diagnostic::error(
                    Code::DuplicateBlock,
                    block.header_span,
                    format!("duplicate block {}", block.display_name()),
                )
                .with_label("second definition")
                .with_secondary(*first, "first defined here"),
            );
        } else {
            seen.insert(key, block.header_span);
        }
    }
}

/// Fills defaults defined as "the router's value" (a slab's batch window, a CAP's lifetime).
fn fill_router_defaults(script: &mut Script) {
    let Some(router) = script.router().cloned() else {
        return;
    };
    for block in &mut script.blocks {
        for statement in &mut block.statements {
            let schema = statement.schema;
            for (name, value) in statement.args.iter_mut().filter(|(_, v)| v.span.is_none()) {
                let Some(Presence::Default(DefaultValue::Router { keyword, arg, .. })) =
                    schema.arg(name).map(|a| a.presence)
                else {
                    continue;
                };
                if let Some(router_value) = router.number(keyword, arg) {
                    value.value = Typed::Ms(router_value);
                }
            }
        }
    }
}

fn check_references(script: &Script, diagnostics: &mut Vec<Diagnostic>) {
    for block in &script.blocks {
        for statement in &block.statements {
            for (_, value) in &statement.args {
                check_reference(script, value, diagnostics);
            }
        }
    }
}

fn check_reference(script: &Script, value: &TypedValue, diagnostics: &mut Vec<Diagnostic>) {
    let span = value.span.unwrap_or_default();
    match &value.value {
        Typed::BlockRef {
            kind: BlockKind::Router,
            ..
        } if script.router().is_none() => {
            diagnostics.push(
                Diagnostic::error(
                    Code::DanglingReference,
                    span,
                    "reference to the router, but this script has no ROUTER block",
                )
                .with_label("nothing to refer to")
                .with_help("add a ROUTER block, or remove the reference"),
            );
        }
        Typed::BlockRef { kind, id: Some(id) } => dangling(script, *kind, id, span, diagnostics),
        Typed::RouteId { slabs, .. } => {
            for (slab, slab_span) in slabs {
                dangling(script, BlockKind::Slab, slab, *slab_span, diagnostics);
            }
        }
        Typed::List(items) => {
            for item in items {
                check_reference(script, item, diagnostics);
            }
        }
        _ => {}
    }
}

fn dangling(
    script: &Script,
    kind: BlockKind,
    id: &str,
    span: Span,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if script.block(kind, id).is_some() {
        return;
    }
    let mut diagnostic = Diagnostic::error(
        Code::DanglingReference,
        span,
        format!("no {kind} block named {id:?}"),
    )
    .with_label("dangling reference");
    let ids: Vec<&str> = script
        .blocks_of(kind)
        .filter_map(|b| b.id.as_deref())
        .collect();
    diagnostic = match did_you_mean(id, ids.iter().copied()) {
        Some(suggestion) => diagnostic.with_help(format!("did you mean {suggestion:?}?")),
        None if ids.is_empty() => {
            diagnostic.with_help(format!("this script declares no {kind} block"))
        }
        None => diagnostic.with_help(format!(
            "{kind} blocks here: {}",
            ids.iter()
                .map(|i| format!("{i:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    };
    diagnostics.push(diagnostic);
}

fn check_batch_windows(script: &Script, diagnostics: &mut Vec<Diagnostic>) {
    let Some(router) = script.router() else {
        return;
    };
    let Some(router_window) = router.number("RESERVATION_BATCH", "ms") else {
        return;
    };
    for slab in script.blocks_of(BlockKind::Slab) {
        let Some(slab_window) = slab.number("BATCH_WINDOW", "ms") else {
            continue;
        };
        let difference = slab_window.abs_diff(router_window);
        if difference > BATCH_WINDOW_TOLERANCE_MS {
            diagnostics.push(
                Diagnostic::error(
                    Code::BatchWindowMismatch,
                    slab.statement_span("BATCH_WINDOW"),
                    format!("{}'s batch window ({slab_window} ms) is {difference} ms from the router's ({router_window} ms)", slab.display_name()),
                )
                .with_secondary(router.statement_span("RESERVATION_BATCH"), "the router's batch window")
                .with_help(format!("keep slab and router batch windows within {BATCH_WINDOW_TOLERANCE_MS} ms of each other")),
            );
        }
    }
}

/// Reports `lower <= upper` failures between two arguments of one block.
fn require_le(
    block: &CheckedBlock,
    lower: (&str, &str),
    upper: (&str, &str),
    why: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let (Some(low), Some(high)) = (
        block.number(lower.0, lower.1),
        block.number(upper.0, upper.1),
    ) else {
        return;
    };
    if low <= high {
        return;
    }
    let span = block
        .statement(lower.0)
        .and_then(|s| s.arg_span(lower.1))
        .unwrap_or(block.header_span);
    let mut diagnostic = Diagnostic::error(
        Code::InconsistentValues,
        span,
        format!(
            "`{} {}` ({low}) exceeds `{} {}` ({high})",
            lower.0, lower.1, upper.0, upper.1
        ),
    )
    .with_help(why.to_string());
    if let Some(upper_span) = block.statement(upper.0).and_then(|s| s.arg_span(upper.1)) {
        diagnostic = diagnostic.with_secondary(upper_span, "the limit");
    }
    diagnostics.push(diagnostic);
}

fn check_router(router: &CheckedBlock, feeds: usize, diagnostics: &mut Vec<Diagnostic>) {
    let cap_ttl = router.number("CAP_TTL", "ms");
    let vault_cap = router.number("COLLATERAL", "vault_cap");
    for cap in router.statements_named("CAP") {
        if let (Some(ttl), Some(limit)) =
            (cap.value("ttl_ms").and_then(TypedValue::as_u128), cap_ttl)
            && ttl > limit
        {
            diagnostics.push(
                Diagnostic::error(
                    Code::InconsistentValues,
                    cap.arg_span("ttl_ms").unwrap_or(router.header_span),
                    format!("CAP lifetime {ttl} ms exceeds CAP_TTL ({limit} ms)"),
                )
                .with_secondary(router.statement_span("CAP_TTL"), "the router's limit")
                .with_help("lower `ttl_ms` or raise `CAP_TTL ms` (at most 120000)"),
            );
        }
        if let (Some(amount), Some(limit)) = (
            cap.value("amount_max").and_then(TypedValue::as_u128),
            vault_cap,
        ) && amount > limit
        {
            diagnostics.push(
                Diagnostic::error(
                    Code::InconsistentValues,
                    cap.arg_span("amount_max").unwrap_or(router.header_span),
                    format!("CAP amount_max {amount} exceeds the vault cap ({limit})"),
                )
                .with_secondary(router.statement_span("COLLATERAL"), "the vault cap"),
            );
        }
    }
    require_le(
        router,
        ("LIQUIDATION", "preliq_band_bps"),
        ("LIQUIDATION", "band_bps"),
        "the pre-liquidation band sits inside the hard band",
        diagnostics,
    );
    check_correlations(router, feeds, diagnostics);
}

/// The feed a `BlockRef(Oracle)` value names (a string is read as a reference's id).
fn feed_name(value: Option<&TypedValue>) -> Option<&str> {
    match value.map(|v| &v.value) {
        Some(Typed::BlockRef { id, .. }) => id.as_deref(),
        _ => None,
    }
}

/// The correlation table (`CORRELATION` statements, the ROUTER README's "Correlation pairs"):
/// read only by `cross_alpha`; two distinct feeds per pair and no feed in two pairs (disjoint
/// pairs keep a closing trade from raising the margin); a `correl_matrix` name with no pair,
/// under `cross_alpha` in a script of several feeds (`feeds` ORACLE blocks), names an empty
/// table.
fn check_correlations(router: &CheckedBlock, feeds: usize, diagnostics: &mut Vec<Diagnostic>) {
    let cross = router
        .value("PORTFOLIO_MARGIN", "model")
        .and_then(TypedValue::as_choice)
        == Some("cross_alpha");
    // Each paired feed, with its pair's index and the span of the argument that named it.
    let mut paired: Vec<(&str, usize, Span)> = Vec::new();
    for (index, pair) in router.statements_named("CORRELATION").enumerate() {
        let span = pair.span.unwrap_or(router.header_span);
        if !cross && index == 0 {
            let diagnostic = Diagnostic::error(
                Code::InapplicableStatement,
                span,
                "a correlation pair is read only by the `cross_alpha` margin model",
            );
            diagnostics.push(match router.statement("PORTFOLIO_MARGIN") {
                Some(_) => diagnostic
                    .with_secondary(
                        router.statement_span("PORTFOLIO_MARGIN"),
                        "the router's margin model",
                    )
                    .with_help("write `PORTFOLIO_MARGIN model=cross_alpha`, or remove the pair"),
                None => diagnostic.with_help(
                    "without a `PORTFOLIO_MARGIN` statement the model is `isolated`: add \
                     `PORTFOLIO_MARGIN model=cross_alpha`, or remove the pair",
                ),
            });
        }
        let (Some(a), Some(b)) = (
            feed_name(pair.value("feed_a")),
            feed_name(pair.value("feed_b")),
        ) else {
            continue;
        };
        if a == b {
            diagnostics.push(
                Diagnostic::error(
                    Code::InconsistentValues,
                    pair.arg_span("feed_b").unwrap_or(span),
                    format!("the pair correlates the feed \"{a}\" with itself"),
                )
                .with_help(
                    "positions on one feed already net in full under `cross_alpha`; a pair \
                     names two different feeds",
                ),
            );
            continue;
        }
        let earlier = |feed: &str| paired.iter().find(|(f, _, _)| *f == feed).copied();
        match (earlier(a), earlier(b)) {
            (Some((_, first, at)), Some((_, second, _))) if first == second => {
                diagnostics.push(
                    Diagnostic::error(
                        Code::DuplicateStatement,
                        span,
                        format!("two `CORRELATION` statements pair \"{a}\" and \"{b}\""),
                    )
                    .with_secondary(at, "first one"),
                );
            }
            (Some((feed, _, at)), _) | (None, Some((feed, _, at))) => {
                let arg = if feed == a { "feed_a" } else { "feed_b" };
                diagnostics.push(
                    Diagnostic::error(
                        Code::InconsistentValues,
                        pair.arg_span(arg).unwrap_or(span),
                        format!("the feed \"{feed}\" is already in a correlation pair"),
                    )
                    .with_secondary(at, "paired here")
                    .with_help(
                        "correlation pairs are disjoint: with a feed in two pairs, closing a \
                         position could raise the margin of the rest; keep one pair per feed",
                    ),
                );
            }
            (None, None) => {
                for (feed, arg) in [(a, "feed_a"), (b, "feed_b")] {
                    paired.push((feed, index, pair.arg_span(arg).unwrap_or(span)));
                }
            }
        }
    }
    if router.statements_named("CORRELATION").next().is_none()
        && cross
        && feeds > 1
        && let Some(name) = router
            .value("PORTFOLIO_MARGIN", "correl_matrix")
            .and_then(|v| match &v.value {
                Typed::Str(text) => Some(text.as_str()),
                _ => None,
            })
    {
        diagnostics.push(
            Diagnostic::warning(
                Code::EmptyTable,
                router
                    .statement("PORTFOLIO_MARGIN")
                    .and_then(|s| s.arg_span("correl_matrix"))
                    .unwrap_or(router.header_span),
                format!("the correlation table \"{name}\" has no pairs"),
            )
            .with_help(
                "positions on different feeds do not offset until a `CORRELATION feed_a=… \
                 feed_b=… alpha_bps=…` statement pairs them",
            ),
        );
    }
}

fn check_slab(slab: &CheckedBlock, diagnostics: &mut Vec<Diagnostic>) {
    if let (Some(imr), Some(mmr)) = (
        slab.number("RISK", "imr_bps"),
        slab.number("RISK", "mmr_bps"),
    ) && imr <= mmr
    {
        let span = slab
            .statement("RISK")
            .and_then(|s| s.arg_span("imr_bps"))
            .unwrap_or(slab.header_span);
        diagnostics.push(
                Diagnostic::error(Code::MarginOrder, span, format!("initial margin ({imr} bps) must exceed maintenance margin ({mmr} bps)"))
                    .with_label("not above mmr_bps")
                    .with_help("a position opened at the initial margin must not be liquidatable at once: raise imr_bps or lower mmr_bps"),
            );
    }
    require_le(
        slab,
        ("FEE", "rebate_bps"),
        ("FEE", "taker_bps"),
        "a maker rebate is paid from the taker fee of the same fill",
        diagnostics,
    );
    aggressor_ledger_size(slab, diagnostics);
    unique_values(slab, "MAKER_CLASS", "class", diagnostics);
    unique_values(slab, "INSTRUMENT", "symbol", diagnostics);
}

/// The round-trip guard keeps one ledger entry per (taker, instrument) for the account's life
/// (the SLAB README): a ledger smaller than accounts × instruments can fill, after which a new
/// taker's commits abort `AGGRESSOR_FULL`.
fn aggressor_ledger_size(slab: &CheckedBlock, diagnostics: &mut Vec<Diagnostic>) {
    let (Some(rate), Some(ledger), Some(accounts)) = (
        slab.number("ANTI_TOXICITY", "arg_tax_bps"),
        slab.number("POOLS", "aggressor"),
        slab.number("POOLS", "accounts"),
    ) else {
        return;
    };
    let instruments = slab.statements_named("INSTRUMENT").count() as u128;
    let needed = accounts * instruments.max(1);
    if rate == 0 || ledger >= needed {
        return;
    }
    let span = slab
        .statement("POOLS")
        .and_then(|s| s.arg_span("aggressor"))
        .unwrap_or(slab.header_span);
    diagnostics.push(
        Diagnostic::warning(
            Code::PoolUndersized,
            span,
            format!(
                "the aggressor ledger holds {ledger} entries; {accounts} accounts × {instruments} \
                 instruments may need {needed}"
            ),
        )
        .with_help(format!(
            "each taker keeps one entry per instrument it took in, for the life of its account: \
             past {ledger} such pairs a new taker's commits abort AGGRESSOR_FULL; raise POOLS \
             aggressor= to {needed}"
        )),
    );
}

fn unique_values(
    block: &CheckedBlock,
    keyword: &str,
    arg: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut seen: Vec<(&Typed, Span)> = Vec::new();
    for statement in block.statements_named(keyword) {
        let Some(value) = statement.value(arg) else {
            continue;
        };
        let span = value.span.unwrap_or(block.header_span);
        if let Some((_, first)) = seen.iter().find(|(v, _)| **v == value.value) {
            diagnostics.push(
                Diagnostic::error(
                    Code::DuplicateStatement,
                    span,
                    format!("two `{keyword}` statements with the same `{arg}`"),
                )
                .with_secondary(*first, "first one"),
            );
        } else {
            seen.push((&value.value, span));
        }
    }
}

fn check_oracle(oracle: &CheckedBlock, diagnostics: &mut Vec<Diagnostic>) {
    require_le(
        oracle,
        ("HEARTBEAT", "ms"),
        ("STALENESS", "ms"),
        "a price may not go stale before the next heartbeat is due",
        diagnostics,
    );
    require_le(
        oracle,
        ("SIGNERS", "quorum"),
        ("SIGNERS", "keys_max"),
        "the quorum cannot exceed the registered keys",
        diagnostics,
    );
    require_le(
        oracle,
        ("PRICE", "min"),
        ("PRICE", "max"),
        "the price range must not be empty",
        diagnostics,
    );
}

/// How many outcomes (worlds) a market prices, by structure.
fn world_count(structure: &str, outcomes: usize, events: usize) -> Option<usize> {
    match structure {
        "binary" => Some(2),
        "multi" | "gaming" => Some(outcomes),
        "joint" => (events <= JOINT_EVENTS_HARD_MAX).then(|| 1usize << events),
        _ => None,
    }
}

fn check_market(market: &CheckedBlock, diagnostics: &mut Vec<Diagnostic>) {
    check_liquidity(market, diagnostics);
    let Some(structure) = market
        .value("STRUCTURE", "kind")
        .and_then(TypedValue::as_choice)
    else {
        return;
    };
    let structure_span = market.statement_span("STRUCTURE");
    let outcomes = market.statements_named("OUTCOME").count();
    let events: Vec<_> = market.statements_named("EVENT").collect();
    match structure {
        "multi" | "gaming" if !(OUTCOMES_MIN..=OUTCOMES_MAX).contains(&outcomes) => diagnostics.push(
            Diagnostic::error(Code::InconsistentValues, structure_span, format!("a {structure} market needs {OUTCOMES_MIN} to {OUTCOMES_MAX} OUTCOME statements, found {outcomes}"))
                .with_help("add one `OUTCOME \"label\"` line per outcome"),
        ),
        "joint" if events.is_empty() => diagnostics.push(
            Diagnostic::error(Code::InconsistentValues, structure_span, "a joint market needs at least one EVENT statement")
                .with_help("add one `EVENT \"label\"` line per binary event"),
        ),
        "joint" => {
            let large = market.value("STRUCTURE", "large_world_table").and_then(TypedValue::as_bool).unwrap_or(false);
            let limit = if large { JOINT_EVENTS_HARD_MAX } else { JOINT_EVENTS_DEFAULT_MAX };
            if let Some(extra) = events.get(limit) {
                let mut diagnostic = Diagnostic::error(
                    Code::WorldTableTooLarge,
                    extra.span.unwrap_or(structure_span),
                    format!("a joint market over {} events prices 2^{} worlds; the limit is {limit} events", events.len(), events.len()),
                )
                .with_label(format!("event {} of at most {limit}", limit + 1));
                diagnostic = if large {
                    diagnostic.with_help(format!("{JOINT_EVENTS_HARD_MAX} events is the hard cap: split the market or use a factored model"))
                } else {
                    diagnostic.with_help(format!("up to {JOINT_EVENTS_HARD_MAX} events need `STRUCTURE kind=joint large_world_table=true`"))
                };
                diagnostics.push(diagnostic);
            }
        }
        _ => {}
    }
    if let Some(worlds) = world_count(structure, outcomes, events.len()) {
        check_prior(market, structure, worlds, events.len(), diagnostics);
    }
    if structure == "gaming" {
        check_stages(market, outcomes, diagnostics);
    }
}

/// `LIQUIDITY` states `b` or `funding` (Gnosis's convention, `b = funding / ln(worlds)`), not
/// both and not neither.
fn check_liquidity(market: &CheckedBlock, diagnostics: &mut Vec<Diagnostic>) {
    let Some(liquidity) = market.statement("LIQUIDITY") else {
        return;
    };
    let span = liquidity.span.unwrap_or(market.header_span);
    match (liquidity.value("b"), liquidity.value("funding")) {
        (None, None) => diagnostics.push(
            Diagnostic::error(
                Code::MissingArgument,
                span,
                "`LIQUIDITY` needs `b` or `funding`",
            )
            .with_label("needs `b=` or `funding=`")
            .with_help("`b` is the LMSR liquidity; `funding` sets b = funding / ln(worlds), so a uniform market's worst-case loss is the funding"),
        ),
        (Some(_), Some(funding)) => diagnostics.push(
            Diagnostic::error(
                Code::InconsistentValues,
                funding.span.unwrap_or(span),
                "`LIQUIDITY` states both `b` and `funding`",
            )
            .with_help("`funding` derives b; keep one of them"),
        ),
        _ => {}
    }
}

fn check_prior(
    market: &CheckedBlock,
    structure: &str,
    worlds: usize,
    events: usize,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let Some(prior) = market.statement("PRIOR") else {
        return;
    };
    let kind = prior
        .value("kind")
        .and_then(TypedValue::as_choice)
        .unwrap_or("uniform");
    let span = prior.span.unwrap_or(market.header_span);
    let uses: &[&str] = match kind {
        "table" => &["weights"],
        "naive_bayes" => &["driver_ppm", "yes_if_driver_ppm", "yes_if_not_driver_ppm"],
        _ => &[],
    };
    for arg in [
        "weights",
        "driver_ppm",
        "yes_if_driver_ppm",
        "yes_if_not_driver_ppm",
    ] {
        let present = prior.value(arg);
        match (uses.contains(&arg), present) {
            (true, None) => diagnostics.push(
                Diagnostic::error(
                    Code::MissingArgument,
                    span,
                    format!("`PRIOR kind={kind}` needs `{arg}`"),
                )
                .with_label(format!("needs `{arg}`")),
            ),
            (false, Some(value)) => diagnostics.push(
                Diagnostic::error(
                    Code::InconsistentValues,
                    value.span.unwrap_or(span),
                    format!("`{arg}` does not apply to `PRIOR kind={kind}`"),
                )
                .with_help("remove it, or choose the prior kind that uses it"),
            ),
            _ => {}
        }
    }
    if kind == "naive_bayes" && structure != "joint" {
        diagnostics.push(
            Diagnostic::error(
                Code::InconsistentValues,
                span,
                "a naive-Bayes prior needs a joint market",
            )
            .with_help("the latent driver couples the events of a joint-outcome world table"),
        );
    }
    let expect_len = |arg: &str, len: usize, what: &str, diagnostics: &mut Vec<Diagnostic>| {
        if let Some(value) = prior.value(arg) {
            let found = value.as_list().map_or(0, <[TypedValue]>::len);
            if found != len {
                diagnostics.push(
                    Diagnostic::error(
                        Code::ListLength,
                        value.span.unwrap_or(span),
                        format!("`{arg}` needs {len} items ({what}), found {found}"),
                    )
                    .with_label("wrong number of items"),
                );
            }
        }
    };
    if kind == "table" {
        expect_len("weights", worlds, "one per world", diagnostics);
    }
    if kind == "naive_bayes" && structure == "joint" {
        expect_len("yes_if_driver_ppm", events, "one per event", diagnostics);
        expect_len(
            "yes_if_not_driver_ppm",
            events,
            "one per event",
            diagnostics,
        );
    }
}

fn check_stages(market: &CheckedBlock, outcomes: usize, diagnostics: &mut Vec<Diagnostic>) {
    let close = market.number("CLOSE", "at_ms");
    let mut previous: Option<(u128, Span)> = None;
    let mut eliminated: u128 = 0;
    for stage in market.statements_named("STAGE") {
        let span = stage.arg_span("at_ms").unwrap_or(market.header_span);
        let Some(at) = stage.value("at_ms").and_then(TypedValue::as_u128) else {
            continue;
        };
        if let Some((before, before_span)) = previous
            && at <= before
        {
            diagnostics.push(
                Diagnostic::error(
                    Code::InconsistentValues,
                    span,
                    "resolution stages must be in strictly increasing time order",
                )
                .with_secondary(before_span, "previous stage"),
            );
        }
        if close.is_some_and(|close| at <= close) {
            diagnostics.push(
                Diagnostic::error(
                    Code::InconsistentValues,
                    span,
                    "a resolution stage must come after the market closes",
                )
                .with_secondary(market.statement_span("CLOSE"), "close time"),
            );
        }
        previous = Some((at, span));
        eliminated += stage
            .value("eliminate")
            .and_then(TypedValue::as_u128)
            .unwrap_or(0);
    }
    if outcomes > 0 && eliminated >= outcomes as u128 {
        diagnostics.push(
            Diagnostic::error(Code::InconsistentValues, market.header_span, format!("stages eliminate {eliminated} of {outcomes} outcomes; at least one must survive"))
                .with_help("lower the `eliminate` counts"),
        );
    }
}

fn check_governance(script: &Script, governance: &Governance, diagnostics: &mut Vec<Diagnostic>) {
    let caps = [
        (
            BlockKind::Slab,
            "FEE",
            "maker_bps",
            governance.fees.maker_bps_max,
            "fees.maker_bps_max",
        ),
        (
            BlockKind::Slab,
            "FEE",
            "taker_bps",
            governance.fees.taker_bps_max,
            "fees.taker_bps_max",
        ),
        (
            BlockKind::Market,
            "FEE",
            "trade_bps",
            governance.fees.market_trade_bps_max,
            "fees.market_trade_bps_max",
        ),
    ];
    for (kind, keyword, arg, cap, key) in caps {
        for block in script.blocks_of(kind) {
            let Some(fee) = block.number(keyword, arg) else {
                continue;
            };
            if fee > u128::from(cap) {
                let span = block
                    .statement(keyword)
                    .and_then(|s| s.arg_span(arg))
                    .unwrap_or(block.header_span);
                diagnostics.push(
                    Diagnostic::error(
                        Code::FeeAboveCap,
                        span,
                        format!("{arg} of {fee} bps is above the governance cap of {cap} bps"),
                    )
                    .with_label("above the cap")
                    .with_help(format!("the cap is `{key}` in the governance file")),
                );
            }
        }
    }
    for oracle in script.blocks_of(BlockKind::Oracle) {
        let Some(id) = &oracle.id else { continue };
        if !governance.approves_oracle(id) {
            diagnostics.push(
                Diagnostic::error(
                    Code::OracleNotApproved,
                    oracle.header_span,
                    format!("oracle feed {id:?} is not approved by governance"),
                )
                .with_label("not in `oracles.approved`")
                .with_help("use an approved feed, or have governance approve this one"),
            );
        }
    }
}
