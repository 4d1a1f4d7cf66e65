"""A/B of ways to speed up a 10 -> 10 prediction on the CPU, measured in one process, interleaved.

    python benchmarks/inference_speed.py [--checkpoint PATH] [--repeats 15] [--batch 1] [--threads N]
                                         [--variants a,b,...]

Each variant is a fresh copy of the model (default: the shipped one) with one change; after warm-up (and
compilation), the variants take turns (A B C A B C ...) for `--repeats` rounds, so that a change in the
machine's load touches all of them alike. It prints the median milliseconds per call, the median over rounds
of the baseline's time over the variant's in the same round (paired: less sensitive to drifting load), and each
variant's largest difference from the baseline's predictions. The variants:

    no_grad         torch.no_grad(), as framecast predicts today (the baseline)
    inference_mode  torch.inference_mode() instead
    channels_last   inference_mode, weights in channels_last memory format
    fused_gates     inference_mode, the cells' gate arithmetic fused by torch.compile (the convolutions as they are)
    compile_step    inference_mode, torch.compile of one time step of the stacked cells (reused for all steps)
    compile_model   inference_mode, torch.compile of the whole 10 -> 10 rollout (slow to compile)
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import types

import torch

from framecast.inference.loading import load
from framecast.model.predictor import Predictor
from framecast.nn import ConvLSTMCell


@torch.compile(dynamic=False)
def _gate_math(z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The tanh cell's arithmetic after its gate convolution, as one fused kernel."""
    i, f, g, o = z.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _fused_forward(cell: ConvLSTMCell, x: torch.Tensor, state):
    h, c = state
    return _gate_math(cell.gates(torch.cat([x, h], dim=1)), c)


def variant(name: str, base: Predictor):
    """A call that predicts 10 frames from its input with `base` changed as `name` says."""
    model = copy.deepcopy(base).eval()
    context = torch.inference_mode if name != "no_grad" else torch.no_grad
    if name == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    elif name == "fused_gates":
        if model.config.activation != "tanh" or model.config.peephole or model.config.layer_norm:
            raise SystemExit("fused_gates covers plain tanh cells only")
        for cell in model.rnn.cells:
            cell.forward = types.MethodType(_fused_forward, cell)
    elif name == "compile_step":
        model.rnn = torch.compile(model.rnn, dynamic=False)
    elif name == "compile_model":
        model = torch.compile(model, dynamic=False)

    def call(x: torch.Tensor) -> torch.Tensor:
        with context():
            return model(x, 10)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="a .ckpt or .safetensors file (default: the shipped model)")
    parser.add_argument("--repeats", type=int, default=15, help="rounds of interleaved calls")
    parser.add_argument("--batch", type=int, default=1, help="sequences per call")
    parser.add_argument("--variants", default="no_grad,inference_mode,channels_last,fused_gates,compile_step",
                        help="comma-separated, the baseline first")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    base = load(args.checkpoint, device="cpu")
    m = base.config
    x = torch.rand(args.batch, 10, m.channels, m.frame_size, m.frame_size, generator=torch.Generator().manual_seed(0))
    names = args.variants.split(",")
    calls, outputs = {}, {}
    for name in names:
        start = time.perf_counter()
        calls[name] = variant(name, base)
        outputs[name] = calls[name](x).clone()  # warm-up, and compilation where there is one
        print(f"{name}: first call {time.perf_counter() - start:.1f} s", flush=True)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:
            start = time.perf_counter()
            calls[name](x)
            times[name].append(time.perf_counter() - start)
    print(f"hidden={m.hidden}, batch {args.batch}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"{args.repeats} interleaved rounds; median (min-max) ms per 10 -> 10 call, speed-up paired by round:")
    baseline = statistics.median(times[names[0]])
    for name in names:
        ms = [t * 1000 for t in times[name]]
        diff = (outputs[name] - outputs[names[0]]).abs().max().item()
        paired = statistics.median(a / b for a, b in zip(times[names[0]], times[name], strict=True))
        print(f"  {name:<15}{statistics.median(ms):8.1f} ({min(ms):.1f}-{max(ms):.1f})  "
              f"x{baseline / statistics.median(times[name]):.2f}, paired x{paired:.2f}  max |diff| {diff:.1e}")


if __name__ == "__main__":
    main()
