#!/usr/bin/env bash
# Build the sample inputs at the quick preset and compare with tests/baseline/ (exit 1 if any artifact
# moved, appeared or vanished). `tests/baseline.sh --update` regenerates the baseline instead.
#
# Kept small for the repository: raw arrays over 16 KB are left out (their pictures are compared),
# saliency runs four of its seven methods, and Deep Dream only its octave method, whose output is
# stable across CPUs (the single-scale method amplifies floating-point noise; see README).
# Raw arrays get twice the default tolerance: the baseline was made on an AMD EPYC, and on an Intel
# Xeon (AVX-512) one quick-preset robust class-ascent trace moved by 0.055 of its peak (its pictures
# by at most 3 levels, its GIF by 14), float rounding amplified by six large optimiser steps.
# REPORTGEN (the command, default `reportgen`) and DEVICE (default cpu) let benchmarks/gpu.sh check
# a GPU build against the same baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${BASELINE_WORK:-$(mktemp -d)}"
reportgen=(${REPORTGEN:-reportgen})
"${reportgen[@]}" build inputs/ --models efficientnet_lite0 --preset quick --device "${DEVICE:-cpu}" \
    --set saliency.methods=guided,gradcam,smoothgrad,integrated_gradients \
    --set deep_dream.methods=octaves \
    --out "$work/site" --cache-dir "$work/cache"
if [ "${1:-}" = "--update" ]; then
    "${reportgen[@]}" check tests/baseline --update --raw-limit 16 --out "$work/site" --cache-dir "$work/cache"
else
    "${reportgen[@]}" check tests/baseline --out "$work/site" --cache-dir "$work/cache" --tolerance raw=0.1 "$@"
fi
