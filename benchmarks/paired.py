"""Is model B better than model A on these sequences, or is the gap noise?

Each sequence's MSE per frame (10 -> 10 by default), and the mean paired difference A - B with its standard error.

    python benchmarks/paired.py A B --data val.npy   (A, B: .safetensors or .ckpt; "shipped" for the shipped one)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import framecast
from framecast.data.dataset import to_tensor
from framecast.data.files import read_sequences
from framecast.data.media import Footage
from framecast.inference.runtime import exact_float32
from framecast.quality import metrics
from framecast.quality.evaluation import check_fits
from framecast.training.verdict import difference


def sequence_mse(model, sequences: np.ndarray, context: int, horizon: int, batch: int = 50) -> np.ndarray:
    """sequences uint8 `[N, T, H, W, C]` -> each sequence's MSE per frame `[N]` (summed over a frame's pixels),
    in float32 as `framecast evaluate` computes it, so that the means are its figures."""
    device, out = next(model.parameters()).device, []
    with torch.no_grad(), exact_float32():
        for i in range(0, len(sequences), batch):
            seq = to_tensor(sequences[i:i + batch, :context + horizon]).to(device)  # (B, T, C, H, W)
            pred = model.eval()(seq[:, :context], horizon)
            out.append(metrics.mse(pred, seq[:, context:]).mean(1).cpu().double().numpy())  # (B, T) -> (B,)
    return np.concatenate(out)


def paired_difference(a, b, data, context: int = 10, horizon: int = 10) -> dict:
    """Models `a` and `b` (paths, or None for the shipped one) on the sequence file `data`: each one's mean MSE per
    frame, the mean paired difference a - b with its standard error, and the share of sequences b does better on."""
    sequences, layout = read_sequences(data)
    models = [framecast.load(m) for m in (a, b)]
    for model in models:  # too few frames would broadcast the truth against the predictions
        check_fits(model, Footage(sequences, str(data), "sequences", layout), context, horizon)
    return paired(*(sequence_mse(model, sequences, context, horizon) for model in models))


def paired(mse_a, mse_b) -> dict:
    """The paired comparison of two models' MSE per frame on the same sequences, `[N]` each (e.g. two
    `framecast evaluate` reports' `per_sequence` MSE on one file)."""
    mse_a, mse_b = np.asarray(mse_a, dtype=np.float64), np.asarray(mse_b, dtype=np.float64)
    mean, error = difference(mse_a, mse_b)
    return {"a": float(mse_a.mean()), "b": float(mse_b.mean()), "a_minus_b": mean, "standard_error": error,
            "b_better_share": float(np.mean(mse_a > mse_b)), "sequences": len(mse_a)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--data", required=True)
    parser.add_argument("--context", type=int, default=10)
    parser.add_argument("--horizon", type=int, default=10)
    args = parser.parse_args(argv)
    a, b = (None if m == "shipped" else m for m in (args.a, args.b))
    result = paired_difference(a, b, args.data, args.context, args.horizon)
    print(f"MSE/frame on {result['sequences']} sequences: A {result['a']:.2f}, B {result['b']:.2f}; A - B = "
          f"{result['a_minus_b']:.3f} +- {result['standard_error']:.3f} (standard error); "
          f"B better on {result['b_better_share']:.0%} of the sequences")
    return result


if __name__ == "__main__":
    main()
