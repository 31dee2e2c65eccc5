//! Protocol constants: the gas schedule, the block gas limit and the per-entrypoint budgets.
//! They are consensus: every replica must use the same numbers, so they live here once and
//! `sequencer/runtime/SPEC.md` prints them (a test fails when the two drift).

use curvevm_host::AssetId;

/// The collateral asset (the Solana vault's mint): deposits credit it, fees and withdrawals
/// take it.
pub const COLLATERAL: AssetId = 0;

/// Most gas one batch's transactions may use together; a transaction's gas limit must fit in
/// what is left (and so is never above this).
pub const BLOCK_GAS_LIMIT: u64 = 100_000_000;

/// Gas every transaction pays before its action.
pub const BASE_GAS: u64 = 1_000;

/// Gas per byte of the signed transaction.
pub const BYTE_GAS: u64 = 4;

/// Gas of a transfer's ledger updates.
pub const TRANSFER_GAS: u64 = 500;

/// Gas of a call before the VM runs (argument checks, host set-up, page journal).
pub const CALL_GAS: u64 = 2_000;

/// Gas of a deploy's or upgrade's certificate check (one Groth16 verification, ~2 ms).
pub const CERTIFICATE_GAS: u64 = 2_000_000;

/// Gas of building a shaped template's module (a slab's, generated for its pools) before the
/// certificate check: charged on every deploy or upgrade of one, built before or not, since gas
/// may not depend on a replica's cache. Building a slab's template takes 0.25–0.28 ms (release,
/// any shape; `slab_template_build` in BENCHMARKS.md); with the module's load and verification
/// it is priced at ~1 ms, the scale of `CERTIFICATE_GAS` (2 ms).
pub const SHAPED_BUILD_GAS: u64 = 1_000_000;

/// Gas per 1 KiB page of a deployed program's state (hashed into the state tree).
pub const PAGE_GAS: u64 = 1_000;

/// Gas per committee signature checked by a deposit credit.
pub const ATTESTATION_GAS: u64 = 20_000;

/// Gas of a withdrawal (a payout leaf).
pub const WITHDRAW_GAS: u64 = 5_000;

/// Gas of a governance action other than an upgrade or an oracle key registration.
pub const GOVERNANCE_GAS: u64 = 10_000;

/// Gas of a call into a program never exceeds its entrypoint's budget: the compiler's
/// worst-case bound for that entrypoint, itself within the template's gas budget. A call runs
/// with `min(gas_limit − intrinsic gas, budget)`.
pub fn entry_budget(template: &curve_compiler::templates::Template, entry: &str) -> Option<u64> {
    template
        .lowered
        .gas_bound(entry)
        .map(|bound| bound.min(template.gas_budget))
}

/// The constants as `(name, value, meaning)`, in the order SPEC.md lists them.
pub fn constants() -> Vec<(&'static str, u64, &'static str)> {
    vec![
        (
            "BLOCK_GAS_LIMIT",
            BLOCK_GAS_LIMIT,
            "gas a batch's transactions may use together; a transaction's limit must fit in what is left",
        ),
        ("BASE_GAS", BASE_GAS, "paid by every transaction"),
        ("BYTE_GAS", BYTE_GAS, "per byte of the signed transaction"),
        ("TRANSFER_GAS", TRANSFER_GAS, "a transfer"),
        ("CALL_GAS", CALL_GAS, "a call, before the VM's own gas"),
        (
            "CERTIFICATE_GAS",
            CERTIFICATE_GAS,
            "a deploy's or upgrade's Groth16 check",
        ),
        (
            "SHAPED_BUILD_GAS",
            SHAPED_BUILD_GAS,
            "building a slab's module for its pools (every slab deploy or upgrade)",
        ),
        (
            "PAGE_GAS",
            PAGE_GAS,
            "per 1 KiB page of a deployed program's state",
        ),
        (
            "ATTESTATION_GAS",
            ATTESTATION_GAS,
            "per committee signature of a deposit credit",
        ),
        ("WITHDRAW_GAS", WITHDRAW_GAS, "a withdrawal"),
        (
            "GOVERNANCE_GAS",
            GOVERNANCE_GAS,
            "other governance actions (an oracle key registration pays CALL_GAS and the VM)",
        ),
    ]
}

/// The generated part of SPEC.md: the constants and every deployable template's per-entrypoint
/// budgets.
pub fn spec_tables() -> String {
    let mut out = String::from("| constant | value | gas of |\n|---|---:|---|\n");
    for (name, value, meaning) in constants() {
        out.push_str(&format!("| `{name}` | {value} | {meaning} |\n"));
    }
    out.push_str("\n| template | entrypoint | budget (gas) |\n|---|---|---:|\n");
    for approved in crate::templates::approved().iter().filter(|a| !a.dev_only) {
        for entry in approved.template.interface.entries {
            let budget = entry_budget(&approved.template, entry.name)
                .expect("interface entries are module entries");
            out.push_str(&format!(
                "| `{}` | `{}` | {budget} |\n",
                approved.template.name, entry.name
            ));
        }
    }
    out
}
