#!/usr/bin/env bash
# Build the sample inputs at the quick preset and compare with tests/baseline/ (exit 1 if any artifact
# moved, appeared or vanished). `tests/baseline.sh --update` regenerates the baseline instead.
#
# The build's settings are in tests/baseline.toml. Kept small for the repository: raw arrays over
# 16 KB are left out (their pictures are compared), saliency runs four of its seven methods, Deep
# Dream only its octave method and the class models only the naive style. The others amplify float rounding past any useful tolerance: the
# single-scale dream (see README), and the robust class ascent, whose six large quick-preset steps
# moved one trace by 0.055 of its peak between an AMD EPYC and an Intel Xeon, and by 0.37 (0.7% of
# its final picture's pixels by up to 14 levels) when folding batch norms changed the rounding.
# Their unit tests still run everywhere.
# REPORTGEN (the command, default `reportgen`) and DEVICE (default cpu) let benchmarks/gpu.sh check
# a GPU build against the same baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${BASELINE_WORK:-$(mktemp -d)}"
reportgen=(${REPORTGEN:-reportgen})
"${reportgen[@]}" build --config tests/baseline.toml --device "${DEVICE:-cpu}" \
    --out "$work/site" --cache-dir "$work/cache"
if [ "${1:-}" = "--update" ]; then
    "${reportgen[@]}" check tests/baseline --update --raw-limit 16 --out "$work/site" --cache-dir "$work/cache"
else
    "${reportgen[@]}" check tests/baseline --out "$work/site" --cache-dir "$work/cache" "$@"
fi
