#!/usr/bin/env bash
# Writes idl/curve_anchor.json without the Anchor CLI: Anchor's `idl-build` feature compiles
# tests that print the IDL's parts (program, address, errors, one block per event); this merges
# them as `anchor build` would, module paths shortened to type names, events and types sorted
# by name (the printing tests run in parallel, so their blocks arrive in any order). `--check`
# compares with the committed file instead (exit 1 if stale).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(cargo test --locked -p curve-anchor __anchor_private_print_idl --features idl-build --lib \
    -- --show-output --quiet)
block() {
    printf '%s\n' "$out" | awk -v part="$1" '
        $0 == "--- IDL end " part " ---" { inside = 0 }
        inside { print }
        $0 == "--- IDL begin " part " ---" { inside = 1 }'
}
events=$(block event | jq -s '.')
idl=$(jq --argjson address "$(block address)" --argjson errors "$(block errors)" \
    --argjson events "$events" '
    .address = $address
    | . + {events: [$events[].event], errors: $errors}
    | .types = (.types + [$events[].types[]] | unique_by(.name))
    | walk(if type == "object" and (.name | type) == "string" then .name |= sub("^.*::"; "") else . end)
    | .types |= sort_by(.name)
    | .events |= sort_by(.name)
    ' <<<"$(block program)")
if [[ "${1:-}" == "--check" ]]; then
    if ! diff -u idl/curve_anchor.json <(printf '%s\n' "$idl"); then
        echo "idl/curve_anchor.json is stale: run anchor-program/idl/build.sh" >&2
        exit 1
    fi
else
    printf '%s\n' "$idl" > idl/curve_anchor.json
    echo "wrote idl/curve_anchor.json"
fi
