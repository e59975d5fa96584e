#!/usr/bin/env bash
# Build the sample inputs at the quick preset and compare with tests/baseline/ (exit 1 if any artifact
# moved, appeared or vanished). `tests/baseline.sh --update` regenerates the baseline instead.
#
# Kept small for the repository: raw arrays over 16 KB are left out (their pictures are compared),
# saliency runs four of its seven methods, and Deep Dream only its octave method, whose output is
# stable across CPUs (the single-scale method amplifies floating-point noise; see README).
set -euo pipefail
cd "$(dirname "$0")/.."
work="${BASELINE_WORK:-$(mktemp -d)}"
reportgen build inputs/ --models efficientnet_lite0 --preset quick --device cpu \
    --set saliency.methods=guided,gradcam,smoothgrad,integrated_gradients \
    --set deep_dream.methods=octaves \
    --out "$work/site" --cache-dir "$work/cache"
if [ "${1:-}" = "--update" ]; then
    reportgen check tests/baseline --update --raw-limit 16 --out "$work/site" --cache-dir "$work/cache"
else
    reportgen check tests/baseline --out "$work/site" --cache-dir "$work/cache" "$@"
fi
