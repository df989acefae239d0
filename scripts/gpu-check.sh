#!/usr/bin/env bash
# The GPU check: the CUDA test subset, the demo on CUDA, and one paper-size run each of
# poisson-gradient (256 px), sdf (the bunny, a 4x256 Siren, batch 250k), helmholtz and
# helmholtz-square's default Gauss-Newton run (float64 Jacobians and Cholesky on the GPU), then a
# table (name, device, steps, seconds, metric). Sized for under 9 minutes on one H200.
#
#   scripts/gpu-check.sh              # on a machine with CUDA
#   scripts/gpu-check.sh --cpu-smoke  # every stage, tiny, on the CPU (well under a minute)
#
# Record the table in benchmarks/RESULTS.md whenever it runs on a GPU. Data: the bunny is
# read from $SIRENPDE_DATA, else ../shared/data or ./shared/data relative to the repository.
# Exit status: 0 when every stage passed, 1 otherwise (every stage still runs).
set -u

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$REPO/.venv/bin/python"
CLI="$REPO/.venv/bin/sirenpde"  # the console script survives any move of the CLI module

MODE=cuda
case "${1:-}" in
    "") ;;
    --cpu-smoke) MODE=smoke ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: unknown argument '$1' (expected nothing or --cpu-smoke)" >&2; exit 2 ;;
esac
for exe in "$PY" "$CLI"; do
    [ -x "$exe" ] || { echo "gpu-check.sh: $exe not found; run scripts/setup.sh first" >&2; exit 2; }
done
DATA="${SIRENPDE_DATA:-}"
for d in "$REPO/../shared/data" "$REPO/shared/data"; do
    [ -z "$DATA" ] && [ -f "$d/bunny_50k.xyz" ] && DATA="$d"
done
[ -n "$DATA" ] && [ -f "$DATA/bunny_50k.xyz" ] && [ -f "$DATA/bunny.obj" ] \
    || { echo "gpu-check.sh: bunny_50k.xyz and bunny.obj not found (set SIRENPDE_DATA)" >&2; exit 2; }

if [ "$MODE" = cuda ]; then
    DEV=cuda
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
        || { echo "gpu-check.sh: CUDA is not available (use --cpu-smoke on a CPU)" >&2; exit 2; }
else
    DEV=cpu
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sirenpde-gpu-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
ROWS=()
FAILED=0

# stage NAME STEPS METRIC_COMMAND -- COMMAND...: runs COMMAND (log in $WORK/NAME.log), then
# METRIC_COMMAND (a shell snippet printing the metric) when it succeeded; adds a table row.
stage() {
    local name="$1" steps="$2" metric_cmd="$3"; shift 4
    echo "== $name: $*" >&2
    local t0 t1 rc metric
    t0=$(date +%s.%N)
    "$@" >"$WORK/$name.log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    if [ $rc -eq 0 ]; then
        metric="$(eval "$metric_cmd" 2>>"$WORK/$name.log")" || { metric="metric unreadable"; rc=1; }
    else
        metric="FAILED (exit $rc)"
    fi
    if [ $rc -ne 0 ]; then
        FAILED=1
        tail -n 20 "$WORK/$name.log" >&2
    fi
    ROWS+=("$(printf '| %s | %s | %s | %.1f | %s |' "$name" "$DEV" "$steps" "$(awk "BEGIN { print $t1 - $t0 }")" "$metric")")
}

json_metric() {  # json_metric FILE KEY FORMAT: one metric from a solve's metrics.json
    "$PY" -c "import json, sys; m = json.load(open(sys.argv[1]))['metrics']; print(sys.argv[3] % m[sys.argv[2]])" "$@"
}

if [ "$MODE" = cuda ]; then
    TESTS=(-m cuda)
    DEMO=(--device cuda)
    P_SIZE=256; P_STEPS=2000; P_LBFGS=10; P_NET=(--hidden-features 256 --hidden-layers 3)
    S_STEPS=2000; S_BATCH=250000; S_NET=(--hidden-features 256 --hidden-layers 3); S_RES=256; S_SAMPLES=100000
    S_CLOUD="$DATA/bunny_50k.xyz"
    H_STEPS=3000; H_OPTS=(); H_NET=()
    G_STEPS=150; G_OPTS=()
else
    # the CPU ids of two device-parametrised tests: the fixture and the selection work
    TESTS=(-k "cpu and (operators_on_closed_form or field_vector_shapes)")
    # the demo has no tier smaller than --quick (about a minute here); use one if it gains it
    if "$CLI" demo --help 2>/dev/null | grep -q -- "--smoke"; then DEMO=(--smoke --device cpu)
    else DEMO=(); fi
    P_SIZE=16; P_STEPS=3; P_LBFGS=1; P_NET=(--hidden-features 16 --hidden-layers 1)
    S_STEPS=20; S_BATCH=2000; S_NET=(--hidden-features 32 --hidden-layers 1); S_RES=24; S_SAMPLES=2000
    S_CLOUD="$WORK/bunny_2k.xyz"
    awk 'NR % 25 == 1' "$DATA/bunny_50k.xyz" >"$S_CLOUD"  # every 25th point: 2,000 points
    H_STEPS=3; H_OPTS=(-O reference_n=60 -O metric_n=16); H_NET=(--hidden-features 16 --hidden-layers 1)
    G_STEPS=3; G_OPTS=(-O points=64 -O boundary_points=32 -O metric_n=16)
fi

stage tests - "grep -Eo '[0-9]+ passed' '$WORK/tests.log' | tail -n 1" -- \
    "$PY" -m pytest -q -p no:cacheprovider "$REPO/tests/test_derivatives.py" "$REPO/tests/test_nn.py" \
    "$REPO/tests/test_meshing.py" "$REPO/tests/test_solver.py" "${TESTS[@]}"

if [ ${#DEMO[@]} -gt 0 ]; then
    stage demo - "grep -Eo 'poisson-gradient PSNR: [0-9.]+ dB' '$WORK/demo.log'; grep -Eo 'Chamfer-L1: [0-9.]+' '$WORK/demo.log'" -- \
        "$CLI" demo "${DEMO[@]}" --out "$WORK/demo" -q
else
    stage demo - "echo 'not run: demo has no --smoke tier; its options parse'" -- "$CLI" demo --help
fi

stage poisson-gradient "$((P_STEPS + P_LBFGS))" "json_metric '$WORK/poisson/metrics.json' psnr 'PSNR %.2f dB'" -- \
    "$CLI" solve poisson-gradient -O size=$P_SIZE -O image=camera --steps $P_STEPS --lbfgs-steps $P_LBFGS \
    "${P_NET[@]}" --device $DEV --out "$WORK/poisson" -q

stage sdf "$S_STEPS" "'$CLI' evaluate '$WORK/bunny.ply' --reference '$DATA/bunny.obj' --samples $S_SAMPLES | grep -E 'Chamfer-L1 \(exact\)' | awk '{print \"Chamfer-L1 \" \$NF}'" -- \
    "$CLI" reconstruct "$S_CLOUD" -o "$WORK/bunny.ply" --steps $S_STEPS --batch-size $S_BATCH "${S_NET[@]}" \
    --resolution $S_RES --device $DEV --no-progress --no-preview

stage helmholtz "$H_STEPS" "json_metric '$WORK/helmholtz/metrics.json' rel_l2 'rel L2 %.4f'" -- \
    "$CLI" solve helmholtz "${H_OPTS[@]}" --steps $H_STEPS "${H_NET[@]}" --device $DEV --out "$WORK/helmholtz" -q

stage gauss-newton "$G_STEPS" "json_metric '$WORK/gauss-newton/metrics.json' rel_l2 'rel L2 %.3g'" -- \
    "$CLI" solve helmholtz-square "${G_OPTS[@]}" --steps $G_STEPS --device $DEV --out "$WORK/gauss-newton" -q

echo
echo "| name | device | steps | seconds | metric |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
exit $FAILED
