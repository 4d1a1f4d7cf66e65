"""Why the shipped model's 10 -> 30 SSIM is below empty frames' while its MSE is half theirs.

A model trained for MSE (or BCE: the same minimiser, the conditional mean) predicts a faint haze where a digit
might be. SSIM compares local means with a tiny constant (0.01^2 at data range 1), so on the black background a
haze of 0.02 scores far below an exact 0. This script floors the model's predictions (values under F set to 0)
and prints MSE and SSIM per frame for each F, beside empty frames: canonical sequences of the validation digits.

    python benchmarks/ssim_floor.py [--num 200] [--seed 555] [--weights FILE]
"""

from __future__ import annotations

import argparse

import torch

import framecast
from framecast.data.dataset import to_tensor
from framecast.data.digits import digit_pool
from framecast.data.moving_mnist import generate
from framecast.inference.runtime import exact_float32
from framecast.quality import metrics

FLOORS = (0.0, 0.02, 0.05, 0.1, 0.15)


def rollout(model, sequences: torch.Tensor, context: int, horizon: int, batch: int = 25) -> torch.Tensor:
    """sequences `[N, T, C, H, W]` in [0, 1] -> predictions `[N, horizon, C, H, W]`, in float32."""
    out = []
    with torch.no_grad(), exact_float32():
        for i in range(0, len(sequences), batch):
            out.append(model(sequences[i:i + batch, :context], horizon))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=200, help="sequences (default 200)")
    parser.add_argument("--seed", type=int, default=555, help="their seed (default 555)")
    parser.add_argument("--weights", default=None, help="safetensors weights (default: the shipped model)")
    args = parser.parse_args()
    model = framecast.load(args.weights, device="cpu").eval()
    sequences = to_tensor(generate(digit_pool("val"), args.num, frames=40, seed=args.seed)[..., None])
    truth, pred = sequences[:, 10:], rollout(model, sequences, 10, 30)
    print(f"{args.num} canonical sequences of validation digits (seed {args.seed}); the model's mean prediction "
          f"where the truth is black: {pred[truth == 0].mean():.4f}")
    print("| floor | 10 -> 10 MSE | 10 -> 10 SSIM | 10 -> 30 MSE | 10 -> 30 SSIM |\n|---|---|---|---|---|")
    rows = [(f"{f:.2f}", torch.where(pred < f, 0.0, pred)) for f in FLOORS] + [("empty frames", 0 * pred)]
    for name, p in rows:
        cells = [f"{metrics.mse(p[:, :h], truth[:, :h]).mean():.2f} | {metrics.ssim(p[:, :h], truth[:, :h]).mean():.4f}"
                 for h in (10, 30)]
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
