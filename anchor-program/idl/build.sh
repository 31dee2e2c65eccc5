#!/usr/bin/env bash
# Writes idl/curve_anchor.json without the Anchor CLI: Anchor's `idl-build` feature compiles
# tests that print the IDL's parts (program, address, errors); this merges them as
# `anchor build` would. `--check` compares with the committed file instead (exit 1 if stale).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(cargo test --locked -p curve-anchor __anchor_private_print_idl --features idl-build --lib \
    -- --show-output --quiet)
block() {
    printf '%s\n' "$out" | sed -n "/--- IDL begin $1 ---/,/--- IDL end $1 ---/p" | sed '1d;$d'
}
idl=$(jq --argjson address "$(block address)" --argjson errors "$(block errors)" \
    '.address = $address | . + {errors: $errors}' <<<"$(block program)")
if [[ "${1:-}" == "--check" ]]; then
    if ! diff -u idl/curve_anchor.json <(printf '%s\n' "$idl"); then
        echo "idl/curve_anchor.json is stale: run anchor-program/idl/build.sh" >&2
        exit 1
    fi
else
    printf '%s\n' "$idl" > idl/curve_anchor.json
    echo "wrote idl/curve_anchor.json"
fi
