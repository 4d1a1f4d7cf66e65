"""Which precision a step runs in: on the CPU, measured once per machine, torch version and kind of step, then
cached; on CUDA, bf16 where the GPU has it natively, else fp16; float32 elsewhere and wherever a user says so.

oneDNN's bf16 flag does not tell a fast CPU from a slow one: bf16 autocast doubles the convolution peak of an
AMD EPYC with AVX-512 BF16 and halves that of an Intel Xeon with AVX-512 BF16 but no AMX. So `auto` times the
model's costliest gate convolution (and its gate arithmetic) in each precision the CPU supports, interleaved,
and keeps the faster. The choice is cached in `cache_dir()/precision.json`; a damaged, unreadable or stale
cache is measured again, never an error.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F

from ..atomic import atomic_write_text
from ..config import ModelConfig
from ..errors import UserError

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# The precision Lightning trains in.
LIGHTNING = {"fp32": "32-true", "bf16": "bf16-mixed", "fp16": "16-mixed", "64": "64-true"}
# Lightning's names a user may set, as framecast's when they mean the same (records then read alike).
SHORT = {"32": "fp32", "32-true": "fp32", "bf16-mixed": "bf16", "16": "fp16", "16-mixed": "fp16"}
KINDS = ("train", "infer")  # forward + backward, or forward only
# A reduced precision must beat float32 by this much to be chosen: float32 is exact, and timings on a busy
# machine vary by a few percent.
MARGIN = 1.05
REPEATS = 5          # timed calls per precision (interleaved), of which the median counts
BUDGET_S = 3.0       # ...fewer (at least 2) where a slow precision would make the measurement take longer
MAX_GFLOP = 2.0      # the timed step's forward cost: the batch shrinks to stay under it (tens of ms per call)
CACHE_FORMAT = 1
# CPU flags that decide how fast reduced precision runs, as Linux's /proc/cpuinfo names them.
PRECISION_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "avx_vnni", "amx_tile",
                   "amx_bf16", "amx_fp16")


@dataclass(frozen=True)
class Choice:
    """A precision ("fp32", "bf16", "fp16", or a Lightning name a user set) and why it was chosen."""

    precision: str
    reason: str

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, None for float32 (no autocast)."""
        return DTYPES.get(self.precision)

    @property
    def lightning(self) -> str:
        """The name Lightning's Trainer takes."""
        return LIGHTNING.get(self.precision, self.precision)

    def to_dict(self) -> dict[str, str]:
        return {"precision": self.precision, "reason": self.reason}


def choose(kind: str, device: torch.device, model: ModelConfig, batch: int, requested: str = "auto",
           cache: Path | None = None) -> Choice:
    """The precision for a `kind` step ("train" or "infer") of `model` at `batch` sequences on `device`:
    `requested` unless it is "auto"; else the CUDA rule, float32 on MPS, or on the CPU the faster measured one."""
    if kind not in KINDS:
        raise ValueError(f"kind should be one of {KINDS}, but got {kind!r}")
    if requested != "auto":
        return Choice(SHORT.get(requested, requested), "set by user")
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported(including_emulation=False)  # emulated bf16 (V100, T4) is slow
        return Choice("bf16" if native else "fp16", "CUDA rule: bf16 where the GPU has it natively, else fp16")
    if device.type != "cpu":
        return Choice("fp32", f"float32 on {device.type}")
    candidates = cpu_candidates(kind)
    if not candidates:
        return Choice("fp32", "bf16 not supported on this CPU")
    return _measured_or_cached(gate_step_shape(model, batch, kind), candidates,
                               cache if cache is not None else cache_dir() / "precision.json")


def cpu_candidates(kind: str) -> list[str]:
    """The reduced precisions oneDNN runs on this CPU for a `kind` step. fp16 only for inference: Lightning
    has no fp16 mixed precision on the CPU."""
    out = ["bf16"] if onednn_supports("bf16") else []
    if kind == "infer" and onednn_supports("fp16"):
        out.append("fp16")
    return out


def onednn_supports(precision: str) -> bool:
    """Whether oneDNN runs `precision` ("bf16" or "fp16") on this CPU, natively or by emulation."""
    if precision == "bf16":
        return torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return precision == "fp16" and torch.ops.mkldnn._is_mkldnn_fp16_supported()


def _measured_or_cached(shape: dict, candidates: list[str], path: Path) -> Choice:
    """The cached choice for this machine and step shape, or a fresh measurement (then cached)."""
    machine, step = machine_key(), step_key(shape)
    entries = read_cache(path)
    entry = entries.get(machine, {}).get(step)
    if _entry_ok(entry, candidates):
        return Choice(entry["precision"], f"cached: {entry['why']}")
    seconds = measure(shape, ["fp32", *candidates])
    precision, why = pick(seconds)
    entries.setdefault(machine, {})[step] = {"precision": precision, "why": why, "seconds": seconds,
                                             "measured": datetime.now(UTC).isoformat(timespec="seconds")}
    write_cache(path, entries)
    return Choice(precision, f"measured: {why}")


def _entry_ok(entry: object, candidates: list[str]) -> bool:
    return (isinstance(entry, dict) and entry.get("precision") in ("fp32", *candidates)
            and isinstance(entry.get("why"), str))


def pick(seconds: dict[str, float]) -> tuple[str, str]:
    """The fastest precision of median `seconds` per step, float32 unless a reduced one is MARGIN faster;
    and why, e.g. ("fp32", "fp32 1.9x faster than bf16 on this CPU")."""
    fp32 = seconds["fp32"]
    rival = min((p for p in seconds if p != "fp32"), key=seconds.get)  # the fastest reduced precision
    speedup = fp32 / seconds[rival]
    if speedup >= MARGIN:
        return rival, f"{rival} {speedup:.2f}x faster than fp32 on this CPU"
    if speedup <= 1:
        return "fp32", f"fp32 {1 / speedup:.2f}x faster than {rival} on this CPU"
    return "fp32", f"{rival} only {speedup:.2f}x faster than fp32 on this CPU: fp32 kept"


def gate_step_shape(model: ModelConfig, batch: int, kind: str) -> dict:
    """The timed step: the gate convolution of the model's costliest layer, at the cells' spatial size and
    the step's batch, shrunk so that its forward pass stays under MAX_GFLOP."""
    widths = (model.channels * model.patch**2,) + tuple(model.hidden)
    layers = [(widths[i] + widths[i + 1], widths[i + 1], model.kernel[i]) for i in range(len(model.hidden))]
    size = model.frame_size // model.patch
    cin, hidden, kernel = max(layers, key=lambda layer: layer[0] * layer[1] * layer[2] ** 2)
    flops_per_sequence = 2 * cin * 4 * hidden * kernel**2 * size**2
    batch = max(1, min(batch, int(MAX_GFLOP * 1e9 // flops_per_sequence)))
    return {"kind": kind, "in": cin, "hidden": hidden, "kernel": kernel, "size": size, "batch": batch}


def step_key(shape: dict) -> str:
    """'train: conv 256->512 k3 16x16, batch 3'."""
    return (f"{shape['kind']}: conv {shape['in']}->{4 * shape['hidden']} k{shape['kernel']} "
            f"{shape['size']}x{shape['size']}, batch {shape['batch']}")


def gate_step(shape: dict, dtype: torch.dtype | None) -> Callable[[], None]:
    """One call of a ConvLSTM gate convolution and its gate arithmetic (forward, and backward for "train"),
    under autocast to `dtype` (None: float32)."""
    g = torch.Generator().manual_seed(0)
    b, s, hidden = shape["batch"], shape["size"], shape["hidden"]
    train = shape["kind"] == "train"
    x = torch.randn(b, shape["in"], s, s, generator=g, requires_grad=train)
    c = torch.randn(b, hidden, s, s, generator=g)
    weight = (torch.randn(4 * hidden, shape["in"], shape["kernel"], shape["kernel"], generator=g) * 0.05)
    weight.requires_grad_(train)
    bias = torch.zeros(4 * hidden, requires_grad=train)

    def call() -> None:
        x.grad = weight.grad = bias.grad = None  # as the optimiser's zero_grad(set_to_none=True)
        with torch.set_grad_enabled(train), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            i, f, gate, o = F.conv2d(x, weight, bias, padding=shape["kernel"] // 2).chunk(4, dim=1)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gate)
            h = torch.sigmoid(o) * torch.tanh(c_new)
        if train:
            h.float().sum().backward()

    return call


def measure(shape: dict, precisions: list[str], repeats: int = REPEATS) -> dict[str, float]:
    """Median seconds per `gate_step` in each precision, timed in turns (`in_turns`)."""
    return in_turns({p: gate_step(shape, DTYPES[p]) for p in precisions}, repeats, BUDGET_S)[1]


def in_turns(calls: dict[str, Callable[[], object]], repeats: int,
             budget_s: float) -> tuple[dict[str, float], dict[str, float]]:
    """Each call's seconds once as a warm-up, then timed in turns (ABAB...), so that a change in the machine's load
    touches all alike: `repeats` turns, or 2 once they took `budget_s`. Returns the warm-up seconds and the median
    seconds, by name."""
    first = {name: _timed(call) for name, call in calls.items()}
    times: dict[str, list[float]] = {name: [] for name in calls}
    start = time.perf_counter()
    for turn in range(repeats):
        if turn >= 2 and time.perf_counter() - start > budget_s:
            break
        for name, call in calls.items():
            times[name].append(_timed(call))
    return first, {name: statistics.median(t) for name, t in times.items()}


def _timed(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def machine_key() -> str:
    """What decides the measurement besides the step: CPU model, its precision flags, threads, torch version."""
    flags = "+".join(cpu_flags()) or torch.backends.cpu.get_cpu_capability()
    return f"{cpu_name()} [{flags}] {torch.get_num_threads()} threads, torch {torch.__version__}"


def cpu_name() -> str:
    """The CPU's model name ("AMD EPYC 9B45"), or the architecture where the system does not say."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name") and ":" in line:
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> list[str]:
    """This CPU's flags among PRECISION_FLAGS (empty where /proc/cpuinfo is missing: macOS, Windows)."""
    for line in _cpuinfo().splitlines():
        if line.startswith("flags") and ":" in line:
            present = set(line.split(":", 1)[1].split())
            return [flag for flag in PRECISION_FLAGS if flag in present]
    return []


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


def cache_dir() -> Path:
    """framecast's folder in the user's cache directory: %LOCALAPPDATA% on Windows, ~/Library/Caches on
    macOS, $XDG_CACHE_HOME or ~/.cache elsewhere."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "framecast" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "framecast"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "framecast"


def read_cache(path: Path) -> dict[str, dict]:
    """The cached choices {machine: {step: entry}}; empty if the file is missing, unreadable, damaged or of
    another format."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    entries = raw.get("machines") if isinstance(raw, dict) and raw.get("format") == CACHE_FORMAT else None
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items() if isinstance(v, dict)}


def write_cache(path: Path, entries: dict[str, dict]) -> None:
    """Write the cache atomically; a cache that cannot be written (read-only home, full disk) is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"format": CACHE_FORMAT, "machines": entries}, indent=1) + "\n")
    except (OSError, UserError):
        pass  # the next run measures again: a few hundred milliseconds
