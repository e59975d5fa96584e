#!/usr/bin/env bash
# Build the sample inputs at the quick preset and compare with tests/baseline/ (exit 1 if any artifact
# moved, appeared or vanished). `tests/baseline.sh --update` regenerates the baseline instead.
#
# The build's settings are in tests/baseline.toml. Kept small for the repository: raw arrays over
# 16 KB are left out (their pictures are compared) and saliency runs five of its methods.
# Optimisations whose steps amplify rounding past the pixel tolerances (robust filter
# visualisations, single-scale dreams) are judged by what they reach; the robust class models, which
# end at other optima under other kernels, by what the model sees in each and by their set's means
# (see tests/baseline.toml). CI runs this under two CPU kernel settings.
# REPORTGEN (the command, default `reportgen`) and DEVICE (default cpu) let benchmarks/gpu.sh check
# a GPU build against the same baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${BASELINE_WORK:-}"
if [ -z "$work" ]; then  # a folder of its own, removed when the check passes (a failing one's report stays to be read)
    work=$(mktemp -d)
    trap 'status=$?; [ "$status" -ne 0 ] || rm -rf "$work"' EXIT
fi
reportgen=(${REPORTGEN:-reportgen})
"${reportgen[@]}" build --config tests/baseline.toml --device "${DEVICE:-cpu}" \
    --out "$work/site" --cache-dir "$work/cache"
if [ "${1:-}" = "--update" ]; then
    "${reportgen[@]}" check tests/baseline --update --raw-limit 16 --out "$work/site" --cache-dir "$work/cache"
else
    "${reportgen[@]}" check tests/baseline --out "$work/site" --cache-dir "$work/cache" "$@"
fi
