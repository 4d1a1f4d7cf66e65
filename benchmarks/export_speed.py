"""Inference speed of the shipped model's 10 -> 10 rollout: PyTorch (eager, float32) against its ONNX export in
onnxruntime, on this machine's CPU, at batch 1 and 8 (best of several runs, after a warm-up).

    python benchmarks/export_speed.py [--threads N]
"""

import argparse
import tempfile
import time
from pathlib import Path

import onnxruntime
import torch

import framecast
from framecast.export import export


def best_seconds(run, repeats: int) -> float:
    run()  # warm-up: first-call allocations and kernel choice
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(threads: int, repeats: int) -> None:
    torch.set_num_threads(threads)
    model = framecast.load(device="cpu")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    with tempfile.TemporaryDirectory() as tmp:
        path = export(model, Path(tmp) / "model.onnx", context=10, horizon=10)
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    print(f"shipped model, 10 -> 10 frames of 64x64, float32, {threads} thread(s), best of {repeats}\n")
    print("| batch | PyTorch (s) | onnxruntime (s) | speed-up |\n|---|---|---|---|")
    for batch in (1, 8):
        frames = torch.rand(batch, 10, 1, 64, 64)
        with torch.inference_mode():
            eager = best_seconds(lambda: model(frames, 10), repeats)  # noqa: B023 - run at once
        onnx = best_seconds(lambda: session.run(None, {"frames": frames.numpy()}), repeats)  # noqa: B023
        print(f"| {batch} | {eager:.3f} | {onnx:.3f} | {eager / onnx:.2f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    main(args.threads, args.repeats)
