#!/usr/bin/env bash
# A recipe study at equal steps (docs/training-history.md, "Recipe study"): each variant warm-starts from the
# shipped weights and trains 100 steps of batch 8 on one thread, on the same data stream (seed 37), at a constant
# learning rate of 1e-4; then each is compared with the shipped model, sequence by sequence, on 300 canonical
# sequences of test digits, 10 -> 10 and 10 -> 30.
#     bash benchmarks/recipe_study.sh OUT_DIR        (from the repository root; about 35 CPU-minutes a variant)
set -u
S=${1:?usage: recipe_study.sh OUT_DIR}
mkdir -p "$S"
fc() { python3 -m framecast "$@"; }
common=(--init src/framecast/weights/default.safetensors --set threads=1 --set seed=37 --set schedule=plateau
        --set lr=1e-4 --set steps_per_epoch=50 --epochs 2 --set val_sequences=32 --no-progress)
[ -f "$S/test40.npy" ] || fc data generate --split test --num 300 --seed 37 --frames 40 --out "$S/test40.npy"
for v in "bce:0" "bce:0.99" "mse:0.99"; do  # loss : EMA decay (0: none)
  loss=${v%%:*}; ema=${v##*:}; run=$S/run_${loss}_ema${ema}
  [ -f "$run/done" ] && continue
  rm -rf "$run"
  fc train --out "$run" "${common[@]}" --set loss="$loss" --set ema="$ema" > "$run.log" 2>&1
  fc export "$run/last.ckpt" --out "$run/last.safetensors" >> "$run.log" 2>&1 && touch "$run/done"
  for h in 10 30; do
    python3 benchmarks/paired.py shipped "$run/last.safetensors" --data "$S/test40.npy" --horizon $h \
        > "$S/paired_run_${loss}_ema${ema}_h$h.txt" 2>&1
  done
done
head "$S"/paired_*.txt
