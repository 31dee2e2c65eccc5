//! The registry's rules: which roles may invoke which entrypoints of which role, and which
//! roles' state a program may map as a view. They are data, read by the runtime's `invoke`
//! ([`may_invoke`]) and by `bind_views` ([`may_map`]); everything not listed is refused.

use curvevm_host::Role;

/// `(caller role, callee role, entrypoints the caller may invoke)`.
pub const INVOKE_RULES: &[(Role, Role, &[&str])] = &[
    // Whatever prices against a feed may read it (percolator §3.4, lmsr.md's resolution feed);
    // only the runtime's governance action registers keys, and only publishers update.
    (Role::Router, Role::Oracle, &["read", "price", "reference"]),
    (
        Role::Slab,
        Role::Oracle,
        &["read", "price", "reference", "funding"],
    ),
    (Role::Market, Role::Oracle, &["read", "price"]),
    // Only the router reserves, commits, cancels and liquidates on a slab (R10).
    (
        Role::Router,
        Role::Slab,
        &[
            "reserve",
            "commit",
            "cancel",
            "liquidation_call",
            "exposure",
            "band",
        ],
    ),
    // A market takes collateral only through the router's caps: opening (the subsidy) and
    // buying (a number of shares, or what an amount pays for).
    (Role::Router, Role::Market, &["open", "buy", "spend"]),
];

/// Who may call an entrypoint from a transaction (not through `invoke`). An entrypoint no rule
/// names is open to every sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectCall {
    /// Only through `invoke`, by a program the invoke rules allow (a slab's holds are the
    /// router's: R10).
    InvokeOnly,
    /// The sender, whose user id the named `u64` argument must be (a maker's orders are its
    /// own).
    Sender(&'static str),
    /// The governance key.
    Governance,
}

/// `(template, entrypoint, who may call it directly)`.
pub const DIRECT_CALL_RULES: &[(&str, &str, DirectCall)] = &[
    ("slab", "reserve", DirectCall::InvokeOnly),
    ("slab", "commit", DirectCall::InvokeOnly),
    ("slab", "cancel", DirectCall::InvokeOnly),
    ("slab", "liquidation_call", DirectCall::InvokeOnly),
    ("slab", "place_order", DirectCall::Sender("user")),
    ("slab", "cancel_order", DirectCall::Sender("user")),
    // The maker classes are the venue's listing decision (seed 002 §1).
    ("slab", "set_maker_class", DirectCall::Governance),
    // Fee caps are governance's, re-checked by every commit (ADV3).
    ("slab", "set_fee_caps", DirectCall::Governance),
    // Insurance leaves a slab only by governance's decision, never by a slab's pull (E2E4).
    ("slab", "cover_bad_debt", DirectCall::Governance),
    ("market", "open", DirectCall::InvokeOnly),
    ("market", "buy", DirectCall::InvokeOnly),
    ("market", "spend", DirectCall::InvokeOnly),
    // A user sells only their own shares.
    ("market", "sell", DirectCall::Sender("user")),
    // The registry is governance's; a user routes only for themself.
    ("router", "list_slab", DirectCall::Governance),
    ("router", "delist_slab", DirectCall::Governance),
    ("router", "set_max_exposure", DirectCall::Governance),
    ("router", "route", DirectCall::Sender("user")),
    // A pending route is its user's to commit; anyone may sweep it once its caps expired.
    ("router", "route_reserve", DirectCall::Sender("user")),
    ("router", "route_commit", DirectCall::Sender("user")),
    // A user's margin lock moves only when they ask (or trade).
    ("router", "sync_margin", DirectCall::Sender("user")),
    // Collateral reaches a market only from the trader's own vault.
    ("router", "market_open", DirectCall::Sender("funder")),
    ("router", "market_buy", DirectCall::Sender("user")),
    ("router", "market_spend", DirectCall::Sender("user")),
    ("probe_router", "take", DirectCall::Sender("user")),
    ("probe_router", "settle", DirectCall::Sender("user")),
];

/// Who may call `entry` of a `template` program from a transaction; `None`: anyone.
pub fn direct_call(template: &str, entry: &str) -> Option<DirectCall> {
    DIRECT_CALL_RULES
        .iter()
        .find(|(t, e, _)| *t == template && *e == entry)
        .map(|(_, _, rule)| *rule)
}

/// Extra invoke rules for the development probes (`curve_compiler::templates::probe`), which
/// only dev-mode chains admit: they apply only when a probe is the caller or the callee.
pub const PROBE_INVOKE_RULES: &[(Role, Role, &[&str])] = &[
    (
        Role::Router,
        Role::Slab,
        &["mark", "probe_bump", "probe_call"],
    ),
    (Role::Slab, Role::Router, &["read_oracle"]),
];

/// Extra view rules for the development probes: a probe router may write a probe slab's
/// state through a view (what exercises writable views until a template needs one).
pub const PROBE_VIEW_RULES: &[(Role, Role, bool)] = &[(Role::Router, Role::Slab, true)];

/// `(mapping role, mapped role, writable)`: a program of the first role may map the state of a
/// program of the second as a view, read-only, or writable when the flag says so. Oracle feeds
/// are only ever read.
pub const VIEW_RULES: &[(Role, Role, bool)] = &[
    (Role::Router, Role::Oracle, false),
    (Role::Slab, Role::Oracle, false),
    (Role::Market, Role::Oracle, false),
];

/// Whether a program of role `caller` may invoke entrypoint `entry` of a program of role
/// `callee`.
pub fn may_invoke(caller: Role, callee: Role, entry: &str) -> bool {
    allowed(INVOKE_RULES, caller, callee, entry)
}

/// [`may_invoke`] when a development probe is the caller or the callee.
pub fn may_invoke_probe(caller: Role, callee: Role, entry: &str) -> bool {
    may_invoke(caller, callee, entry) || allowed(PROBE_INVOKE_RULES, caller, callee, entry)
}

fn allowed(rules: &[(Role, Role, &[&str])], caller: Role, callee: Role, entry: &str) -> bool {
    rules
        .iter()
        .any(|(from, to, entries)| *from == caller && *to == callee && entries.contains(&entry))
}

/// Whether a program of role `mapper` may map a program of role `mapped` as a view declared
/// `writable` (a read-only view needs a rule; a writable one a rule that allows writing).
pub fn may_map(mapper: Role, mapped: Role, writable: bool) -> bool {
    allowed_view(VIEW_RULES, mapper, mapped, writable)
}

/// [`may_map`] when a development probe maps or is mapped.
pub fn may_map_probe(mapper: Role, mapped: Role, writable: bool) -> bool {
    may_map(mapper, mapped, writable) || allowed_view(PROBE_VIEW_RULES, mapper, mapped, writable)
}

fn allowed_view(rules: &[(Role, Role, bool)], mapper: Role, mapped: Role, writable: bool) -> bool {
    rules
        .iter()
        .any(|(from, to, allows)| *from == mapper && *to == mapped && (*allows || !writable))
}

/// The rules as SPEC.md prints them.
pub fn spec_table() -> String {
    let mut out = String::from("| caller | callee | entrypoints |\n|---|---|---|\n");
    for (from, to, entries) in INVOKE_RULES {
        let entries: Vec<String> = entries.iter().map(|e| format!("`{e}`")).collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            from.name(),
            to.name(),
            entries.join(", ")
        ));
    }
    for (from, to, entries) in PROBE_INVOKE_RULES {
        let entries: Vec<String> = entries.iter().map(|e| format!("`{e}`")).collect();
        out.push_str(&format!(
            "| {} (probe) | {} (probe) | {} |\n",
            from.name(),
            to.name(),
            entries.join(", ")
        ));
    }
    out.push_str("\n| template | entrypoint | called from a transaction by |\n|---|---|---|\n");
    for (template, entry, rule) in DIRECT_CALL_RULES {
        let who = match rule {
            DirectCall::InvokeOnly => "no one: only through `invoke`".to_string(),
            DirectCall::Sender(arg) => format!("the sender, as argument `{arg}`"),
            DirectCall::Governance => "the governance key".to_string(),
        };
        out.push_str(&format!("| `{template}` | `{entry}` | {who} |\n"));
    }
    out.push_str("\n| mapping role | mapped role | access |\n|---|---|---|\n");
    let probe_views = PROBE_VIEW_RULES.iter().map(|rule| (rule, " (probe)"));
    for ((from, to, writable), probe) in VIEW_RULES.iter().map(|rule| (rule, "")).chain(probe_views)
    {
        out.push_str(&format!(
            "| {}{probe} | {}{probe} | {} |\n",
            from.name(),
            to.name(),
            if *writable { "read, write" } else { "read" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every role but the router's.
    const OTHERS: [Role; 3] = [Role::Slab, Role::Market, Role::Oracle];

    /// R10 under `direct` and `invoke` rule tables: a transaction cannot call a slab's
    /// `liquidation_call`, a router may invoke it and no other role may.
    fn only_the_router_liquidates(
        direct: &[(&str, &str, DirectCall)],
        invoke: &[(Role, Role, &[&str])],
    ) -> bool {
        let invoke_only = direct.contains(&("slab", "liquidation_call", DirectCall::InvokeOnly));
        let router = allowed(invoke, Role::Router, Role::Slab, "liquidation_call");
        let others = OTHERS
            .iter()
            .any(|&role| allowed(invoke, role, Role::Slab, "liquidation_call"));
        invoke_only && router && !others
    }

    #[test]
    fn a_liquidation_call_reaches_a_slab_only_from_the_router() {
        assert!(only_the_router_liquidates(DIRECT_CALL_RULES, INVOKE_RULES));
        assert_eq!(
            direct_call("slab", "cover_bad_debt"),
            Some(DirectCall::Governance),
            "E2E4: insurance moves only by governance"
        );
    }

    /// The mutation: a registry that lets a transaction liquidate (the rule left out), or a
    /// market invoke it, is caught by the check above.
    #[test]
    fn a_registry_that_lets_anyone_liquidate_is_caught() {
        let open: Vec<(&str, &str, DirectCall)> = DIRECT_CALL_RULES
            .iter()
            .copied()
            .filter(|r| r.1 != "liquidation_call")
            .collect();
        assert!(!only_the_router_liquidates(&open, INVOKE_RULES));
        let mut wider: Vec<(Role, Role, &[&str])> = INVOKE_RULES.to_vec();
        wider.push((Role::Market, Role::Slab, &["liquidation_call"]));
        assert!(!only_the_router_liquidates(DIRECT_CALL_RULES, &wider));
    }
}
