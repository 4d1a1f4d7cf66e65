"""Inference speed of the shipped model's 10 -> 10 rollout on this machine's CPU, float32, at batch 1 and 8:
PyTorch (eager) against its whole-rollout ONNX export (`framecast export`) in onnxruntime, and `framecast predict`'s
two engines (`predict_array(engine="torch")` and `engine="onnx"`: the one-step graph of inference/engine.py), each
after a warm-up, in turns (A B C D A B C D ...) so that a change in the machine's load touches all alike; the median
seconds per call, and the median over rounds of torch's time over onnx's in the same round (paired). Also the start-up
the onnx engine pays in a new process (onnxruntime's import, its session, its first call) and what `--engine auto`
chooses for a single 10 -> 10 prediction, for the page and for a file of 100 sequences.

    python benchmarks/export_speed.py [--threads N] [--repeats 7]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import framecast
from framecast.inference import engine, graphs
from framecast.inference.export import export
from framecast.inference.precision import cpu_flags, cpu_name
from framecast.inference.rollout import predict_array

# A new process, as `framecast predict --engine onnx` starts: import onnxruntime, open the engine's session of the
# cached graph, run a 10 -> 10 rollout twice: seconds of the import, the session, the first rollout's extra time.
START_UP = """
import sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
import framecast
from framecast.inference import engine, graphs
began = time.perf_counter()
graphs.onnxruntime()
imported = time.perf_counter()
model = framecast.load(device="cpu")
opening = time.perf_counter()
session = engine.choose(model, (1, 10, 64, 64, 1), 10, "onnx").session
opened = time.perf_counter()
frames = torch.rand(1, 10, 1, 64, 64)
engine.rollout(session, model, frames, 10)
first = time.perf_counter()
engine.rollout(session, model, frames, 10)
print(imported - began, opened - opening, (first - opened) - (time.perf_counter() - first))
"""
# A new process: what --engine auto chooses for a job of `rollouts` (None: the page) of batch `batch`.
AUTO = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
import framecast
from framecast.inference import engine
batch, rollouts = int(sys.argv[2]), None if sys.argv[3] == "None" else int(sys.argv[3])
choice = engine.choose(framecast.load(device="cpu"), (batch, 10, 64, 64, 1), 10, "auto", rollouts=rollouts)
print(f"{choice.engine} ({choice.reason})")
"""


def python(code: str, *args) -> str:
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          check=True).stdout.strip()


def median_seconds(calls: dict, repeats: int) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Median seconds per call of each of `calls`, run in turns for `repeats` rounds after one warm-up call each,
    and every round's seconds."""
    for call in calls.values():
        call()
    rounds = []
    for _ in range(repeats):
        times = {}
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name] = time.perf_counter() - start
        rounds.append(times)
    return {name: statistics.median(r[name] for r in rounds) for name in calls}, rounds


def main(threads: int, repeats: int) -> None:
    onnxruntime = graphs.onnxruntime()  # as framecast imports it: without its telemetry
    torch.set_num_threads(threads)
    model = framecast.load(device="cpu")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    with tempfile.TemporaryDirectory() as tmp:
        path = export(model, Path(tmp) / "model.onnx", context=10, horizon=10)
        whole = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    engine.choose(model, (1, 10, 64, 64, 1), 10, "onnx")  # exports the one-step graph, once
    print(f"{cpu_name()} [{'+'.join(cpu_flags())}], {threads} thread(s), torch {torch.__version__}, onnxruntime "
          f"{onnxruntime.__version__}\nshipped model, 10 -> 10 frames of 64x64, float32, median of {repeats} rounds\n")
    print("| batch | PyTorch eager (s) | onnxruntime, whole rollout (s) | predict, torch (s) | predict, onnx (s) | "
          "speed-up of predict (paired) |\n|---|---|---|---|---|---|")
    for batch in (1, 8):
        frames = torch.rand(batch, 10, 1, 64, 64)
        with torch.inference_mode():
            calls = {"eager": lambda: model(frames, 10),  # noqa: B023 - run at once
                     "whole": lambda: whole.run(None, {"frames": frames.numpy()}),  # noqa: B023
                     "torch": lambda: predict_array(model, frames, 10, engine="torch"),  # noqa: B023
                     "onnx": lambda: predict_array(model, frames, 10, engine="onnx")}  # noqa: B023
            median, rounds = median_seconds(calls, repeats)
        paired = statistics.median(r["torch"] / r["onnx"] for r in rounds)
        print(f"| {batch} | {median['eager']:.3f} | {median['whole']:.3f} | {median['torch']:.3f} | "
              f"{median['onnx']:.3f} | {paired:.2f}x |")
    starts = [python(START_UP, threads).split() for _ in range(3)]
    imported, opened, first = (statistics.median(float(s[i]) for s in starts) for i in range(3))
    print(f"\nonnx engine's start-up in a new process (median of 3): import {imported:.2f} s, session {opened:.2f} s, "
          f"first call's extra {first:.2f} s\n")
    # The page first: it measures batch 1 (a single prediction is too short a job to measure), each in a new process.
    for what, batch, rollouts in (("the page", 1, None), ("a single 10 -> 10 prediction", 1, 1),
                                  ("a file of 100 sequences, batch 32", 32, 4)):
        print(f"--engine auto for {what}: {python(AUTO, threads, batch, rollouts)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as cache:  # a fresh cache: the one-step graph exported, the engines timed
        os.environ["XDG_CACHE_HOME"] = cache  # read by framecast when it looks, and by the processes started here
        main(args.threads, args.repeats)
