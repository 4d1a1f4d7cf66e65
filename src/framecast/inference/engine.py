"""Which engine runs a rollout on the CPU: PyTorch, or the model's exported graph in ONNX Runtime, whichever finishes
the job sooner on this machine by measurement; PyTorch wherever ONNX Runtime is missing, cannot run the model or
was not measured.

ONNX Runtime runs one step of `Predictor.rollout` as a graph (`Step`), with the batch and the frame size left free,
and the loop stays here in Python. One export per model then serves every context, horizon, frame size and batch,
and costs seconds once (about 10 s for the shipped model on 2 cores, most of it the exporter's fixed cost).
`framecast export`'s graph unrolls the whole rollout: that costs 15 to 20 s again for every context, horizon and
frame size, and runs no faster (docs/performance.md, "ONNX Runtime in `predict` and the page").

`auto` measures once per machine, model (its weights and architecture) and shape of a call (batch, frame size), then
caches the figures in `cache_dir()/engine.json` and the graph in `cache_dir()/onnx/`, as precision.py caches its
choice. Context and horizon are not in the key: both engines take the same time for each step of any rollout, so the
figures are seconds per step. A job is measured only if it rolls out at least MEASURE_FROM sequence-steps (or is the
page, which serves until stopped): exporting would dwarf a single short prediction, which, with ONNX Runtime's
start-up in a new process (about 0.15 s), would rarely win anyway. Each job then runs in ONNX Runtime
only if the figures say that it finishes sooner, counting that start-up where this process has no session open yet.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..atomic import atomic_path
from ..config import ENGINES
from ..errors import UserError, note
from ..model.predictor import Predictor
from .graphs import INSTALL, import_seconds, onnxruntime, open_session, write_onnx
from .precision import cache_dir, in_turns, machine_key, read_cache, write_cache
from .runtime import inference_layout

GRAPH_FORMAT = 1     # part of every model's key: a change to `Step` exports the graphs anew
# ONNX Runtime must finish a job this much sooner to be chosen: PyTorch is the reference, and timings on a busy
# machine vary by a few percent.
MARGIN = 1.05
MEASURE_FROM = 500   # sequence-steps of a job (batch x steps x rollouts) from which `auto` measures: about 8 s of
                     # the shipped model's work on 2 cores, against about 10 s to export it once
MEASURE_BATCH = 8    # larger batches are timed at this one: a step of batch 32 takes a second
MEASURE_CONTEXT, MEASURE_HORIZON = 2, 2  # the timed rollout: 3 steps, frames read and frames fed back
REPEATS = 5          # timed calls per engine (interleaved), of which the median counts
BUDGET_S = 2.0       # ...fewer (at least 2) where the calls take longer
MAX_GRAPHS = 8       # graphs kept in the cache, the most recently used (the shipped model's: 12 MB)
SESSIONS_KEPT = 2    # ONNX Runtime sessions kept open in this process


@dataclass(frozen=True)
class Choice:
    """An engine ("torch" or "onnx") and why it was chosen; `session` runs the graph where it is "onnx"."""

    engine: str
    reason: str
    session: object = field(default=None, compare=False, repr=False)


class Step(nn.Module):
    """`Predictor.advance` as a graph: the patched frame read `[B, C*p*p, h, w]` and what the rollout carries (each
    layer's h and c, then the last head_time - 1 top-layer outputs, each `[B, channels, h, w]`) -> the next frame
    `[B, C*p*p, h, w]` in [0, 1] and the new carried tensors, in the same order. A flow model's graph takes its
    starting field `[B, 2*p*p, h, w]` (`Predictor.start_field`, patched) after the frame, and does not return it."""

    def __init__(self, model: Predictor) -> None:
        super().__init__()
        self.model = model
        self.layers = len(model.config.hidden)

    def forward(self, frame: torch.Tensor, *carried: torch.Tensor) -> tuple[torch.Tensor, ...]:
        field = None
        if self.model.config.flow:  # a flow model's starting field comes first, patched as the frame is
            field, *carried = carried
            field = self.model.from_patches(field[:, None])[:, 0]  # (B, 2, H, W)
        states = [(carried[2 * i], carried[2 * i + 1]) for i in range(self.layers)]
        logits, states, window = self.model.advance(frame, states, list(carried[2 * self.layers:]), field)
        return (torch.sigmoid(logits), *(t for state in states for t in state), *window)


def choose(model: Predictor, shape: tuple[int, ...], horizon: int, requested: str = "auto", *,
           rollouts: int | None = 1, folder: Path | None = None) -> Choice:
    """The engine for `rollouts` rollouts of `horizon` frames after context frames of `shape` `[B, T, H, W, C]`
    (None: as many as come, e.g. the page's), for `model` in eval mode: `requested` unless it is "auto", else the one
    measured faster for the job (see the module's docstring). `folder`: the cache (default `cache_dir()`).

    "onnx" where ONNX Runtime cannot run the model is a UserError; "auto" then falls back to PyTorch."""
    check_engine(requested)
    if requested == "torch":
        return Choice("torch", "set by user")
    folder = folder if folder is not None else cache_dir()
    forced = requested == "onnx"
    device = next(model.parameters()).device
    version = _onnxruntime_version()
    problem = (f"ONNX Runtime runs on the CPU here, but the model is on {device.type}" if device.type != "cpu" else
               None if version else f"onnxruntime is not installed; install it with {INSTALL}")
    if problem:
        if forced:
            raise UserError(f"engine 'onnx': {problem}")
        return Choice("torch", problem)
    digest = weights_digest(model)
    if forced:
        return Choice("onnx", "set by user", _forced_session(model, digest, folder))
    b, t, h, w, c = shape
    steps = t + horizon - 1
    work = b * steps * (rollouts if rollouts is not None else math.inf)  # sequence-steps
    measured = min(b, MEASURE_BATCH)
    seconds, how = _measured_or_cached(model, digest, (measured, h, w, c), folder, version, work >= MEASURE_FROM)
    if seconds is None:
        return Choice("torch", how or f"not measured: {work} sequence-steps, fewer than {MEASURE_FROM}")
    open_now = (str(_graph_path(folder, digest)), torch.get_num_threads()) in _SESSIONS
    engine, why = pick(seconds, steps * (rollouts or 1) * b / measured, started=open_now or rollouts is None)
    if engine == "torch":
        return Choice("torch", f"{how}: {why}")
    try:
        return Choice("onnx", f"{how}: {why}", _session(model, digest, folder))
    except Exception as err:  # noqa: BLE001 - e.g. onnxruntime removed since it was measured: PyTorch runs it
        return Choice("torch", f"ONNX Runtime could not run the model ({_one_line(err)})")


def check_engine(name: str) -> None:
    """Refuse an engine that is not one of ENGINES."""
    if name not in ENGINES:
        raise UserError(f"engine should be one of {', '.join(ENGINES)}, but got {name!r}")


def _measured_or_cached(model: Predictor, digest: str, shape: tuple[int, int, int, int], folder: Path, version: str,
                        may_measure: bool) -> tuple[dict[str, float] | None, str]:
    """The engines' seconds for this machine, model and `shape` (b, h, w, c), and "cached" or "measured"; or None
    and why not: "" where they are neither cached nor `may_measure`, else how the measurement failed."""
    cache, machine = folder / "engine.json", f"{machine_key()}, onnxruntime {version}"
    entries = read_cache(cache)
    known = entries.get(machine, {})
    failed = known.get(f"{digest[:16]} export")
    if isinstance(failed, dict) and isinstance(failed.get("failed"), str):
        return None, f"cached: {failed['failed']}"
    key = f"{digest[:16]} batch {shape[0]}, {shape[1]}x{shape[2]}x{shape[3]}"
    if _entry_ok(known.get(key)):
        return known[key], "cached"
    if not may_measure:
        return None, ""
    try:
        seconds = measure(model, shape, folder, digest)
    except (ImportError, UserError) as err:  # a missing package or a full disk: worth trying another time
        return None, f"ONNX Runtime could not run the model ({_one_line(err)})"
    except Exception as err:  # noqa: BLE001 - the exporter or ONNX Runtime cannot take this model: say so once
        why = f"ONNX Runtime could not run the model ({_one_line(err)})"
        entries.setdefault(machine, {})[f"{digest[:16]} export"] = {"failed": why}
        write_cache(cache, entries)
        return None, why
    entries.setdefault(machine, {})[key] = {**seconds, "measured": datetime.now(UTC).isoformat(timespec="seconds")}
    write_cache(cache, entries)
    return seconds, "measured"


def pick(seconds: dict[str, float], steps: float, started: bool) -> tuple[str, str]:
    """The engine that finishes `steps` steps sooner by `seconds` per step of each ("torch", "onnx") and ONNX
    Runtime's "start" (counted unless `started`), ONNX Runtime only if MARGIN sooner; and why."""
    torch_s = seconds["torch"] * steps
    onnx_s = seconds["onnx"] * steps + (0.0 if started else seconds["start"])
    if onnx_s * MARGIN <= torch_s:
        return "onnx", f"onnx {torch_s / onnx_s:.2f}x faster than torch on this CPU"
    if seconds["onnx"] * MARGIN <= seconds["torch"]:
        return "torch", f"onnx's start-up ({seconds['start']:.2f} s) outweighs its gain on this job"
    if onnx_s <= torch_s:
        return "torch", f"onnx only {torch_s / onnx_s:.2f}x faster than torch on this CPU: torch kept"
    return "torch", f"torch {onnx_s / torch_s:.2f}x faster than onnx on this CPU"


def _entry_ok(entry: object) -> bool:
    return isinstance(entry, dict) and all(isinstance(entry.get(k), float | int) and entry[k] >= 0
                                           for k in ("torch", "onnx", "start")) and entry["onnx"] > 0


def _one_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def _onnxruntime_version() -> str | None:
    """The installed onnxruntime's version, from its metadata (importing it takes a few tenths of a second)."""
    try:
        return metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        return None


def weights_digest(model: Predictor) -> str:
    """A hex digest of the model's architecture and weights (and of GRAPH_FORMAT): equal digests, equal graphs."""
    digest = hashlib.sha256(f"{GRAPH_FORMAT} {model.config!r}".encode())
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def measure(model: Predictor, shape: tuple[int, int, int, int], folder: Path, digest: str) -> dict[str, float]:
    """Seconds per rollout step of PyTorch ("torch", float32, as `predict_array` runs it) and of ONNX Runtime
    ("onnx", the model's graph exported into `folder` first where it is not there) on a short rollout of frames
    `[b, MEASURE_CONTEXT, c, h, w]` for `shape` (b, h, w, c), timed in turns after one warm-up call each, `REPEATS`
    turns or 2 once they took BUDGET_S; and "start", the seconds ONNX Runtime needs before its first step in a new
    process (import, session, the first call's extra time)."""
    start = import_seconds()  # first: without onnxruntime, nothing is exported
    graph = _graph(model, digest, folder)
    b, h, w, c = shape
    frames = torch.rand(b, MEASURE_CONTEXT, c, h, w, generator=torch.Generator().manual_seed(0))
    steps = MEASURE_CONTEXT + MEASURE_HORIZON - 1
    began = time.perf_counter()
    session = open_session(graph, torch.get_num_threads())
    start += time.perf_counter() - began
    _keep((str(graph), torch.get_num_threads()), session)
    calls = {"torch": lambda: model(frames, MEASURE_HORIZON),
             "onnx": lambda: rollout(session, model, frames, MEASURE_HORIZON)}
    with torch.no_grad(), inference_layout(model, torch.device("cpu"), None):
        first, median = in_turns(calls, REPEATS, BUDGET_S)
    return {"torch": median["torch"] / steps, "onnx": median["onnx"] / steps,
            "start": start + max(0.0, first["onnx"] - median["onnx"])}


def rollout(session, model: Predictor, frames: torch.Tensor, horizon: int,
            tick: Callable[[], None] = lambda: None) -> torch.Tensor:
    """`model(frames, horizon)` run by ONNX Runtime `session` of its `Step` graph: context frames `[B, T, C, H, W]`
    float32 in [0, 1] -> the next `horizon` frames `[B, horizon, C, H, W]`; `tick()` after every step."""
    h, w = frames.shape[-2:]
    x = model.to_patches(model.pad(frames))               # (B, T, C*p*p, H/p, W/p)
    carried = [t.numpy() for t in _carried(model, x[:, 0])]
    field = model.start_field(frames, frames.shape[1])
    fixed = [] if field is None else [model.to_patches(field[:, None])[:, 0].numpy()]  # (B, 2*p*p, H/p, W/p)
    x, t = x.numpy(), x.shape[1]
    names = [i.name for i in session.get_inputs()]
    frame, predicted = None, []
    for step in range(t + horizon - 1):
        read = np.ascontiguousarray(x[:, step]) if step < t else frame
        frame, *carried = session.run(None, dict(zip(names, [read, *fixed, *carried], strict=True)))
        if step >= t - 1:  # the context's last frame read: from here on each output is a predicted frame
            predicted.append(frame)
        tick()
    out = model.from_patches(torch.from_numpy(np.stack(predicted, axis=1)))  # (B, horizon, C, H', W')
    return out[..., :h, :w]  # the padding cropped off


# ONNX Runtime sessions open in this process, by (graph file, threads), the most recently used last.
_SESSIONS: dict[tuple[str, int], object] = {}


def _keep(key: tuple[str, int], session) -> None:
    _SESSIONS.pop(key, None)
    _SESSIONS[key] = session
    while len(_SESSIONS) > SESSIONS_KEPT:
        _SESSIONS.pop(next(iter(_SESSIONS)))


def _session(model: Predictor, digest: str, folder: Path):
    """An open ONNX Runtime session of the model's graph: kept open from before, or opened now (exported first where
    it is not in the cache, and again where the cached file cannot be read)."""
    key = (str(_graph_path(folder, digest)), torch.get_num_threads())
    session = _SESSIONS.get(key)
    if session is None:
        onnxruntime()  # first: without it, nothing is exported
        graph = _graph(model, digest, folder)
        try:
            session = open_session(graph, key[1])
        except ImportError:
            raise
        except Exception:  # noqa: BLE001 - a damaged file in the cache: export it again
            graph.unlink(missing_ok=True)
            session = open_session(_graph(model, digest, folder), key[1])
    _keep(key, session)
    return session


def _forced_session(model: Predictor, digest: str, folder: Path):
    """`_session`, where the user asked for ONNX Runtime: a failure is a UserError of one line."""
    try:
        return _session(model, digest, folder)
    except ImportError as err:
        raise UserError(f"engine 'onnx' needs onnxruntime, onnx and onnxscript ({err}); install them with "
                        f"{INSTALL}") from None
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the exporter or ONNX Runtime raise, said in one line
        raise UserError(f"engine 'onnx' cannot run this model: {_one_line(err)}") from None


def _carried(model: Predictor, first: torch.Tensor) -> list[torch.Tensor]:
    """The tensors `Step` carries into a rollout's first step (`Predictor.initial_carry`, flattened in its order)."""
    states, window = model.initial_carry(first)
    return [*(t for state in states for t in state), *window]


def _graph_path(folder: Path, digest: str) -> Path:
    return folder / "onnx" / f"{digest[:32]}.onnx"


def _graph(model: Predictor, digest: str, folder: Path) -> Path:
    """The cached graph of the model's `Step` (exported now where it is missing); only the MAX_GRAPHS most recently
    used are kept."""
    path = _graph_path(folder, digest)
    if path.exists():
        path.touch()  # recently used
        return path
    note("exporting the model's one-step graph for ONNX Runtime (once per model: seconds)")
    step = Step(copy.deepcopy(model).to("cpu", torch.float32)).eval()  # the caller's model stays as it is
    cfg = model.config
    # Without peepholes the graph takes frames of any size; example sides of 2 or more (torch.export fixes sides
    # of 0 and 1), unequal so that the exporter does not take them for one size.
    side = cfg.frame_size // cfg.patch
    hp, wp = (side, side) if cfg.peephole else (max(2, side), max(2, side) + 1)
    frame = torch.rand(2, model.patched, hp, wp)
    carried = [t.clone() for t in _carried(model, frame)]  # distinct tensors: each is an input of its own
    fixed = [torch.randn(2, 2 * cfg.patch ** 2, hp, wp)] if cfg.flow else []  # a flow model's starting field
    axes = {0: torch.export.Dim("batch")}
    if not cfg.peephole:
        axes.update({2: torch.export.Dim("height"), 3: torch.export.Dim("width")})
    names = [f"{kind}{i}" for i in range(len(cfg.hidden)) for kind in "hc"]
    names += [f"window{i}" for i in range(cfg.head_time - 1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, torch.no_grad():
        write_onnx(step, (frame, *fixed, *carried), tmp, input_names=["frame", *(["field"] if fixed else []), *names],
                   output_names=["next", *(f"{name}_next" for name in names)],
                   dynamic_shapes=(axes, tuple(axes for _ in [*fixed, *carried])))
    _prune(path.parent)
    return path


def _prune(graphs: Path) -> None:
    """Remove all but the MAX_GRAPHS most recently used graphs."""
    try:
        kept = sorted(graphs.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[MAX_GRAPHS:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruned at the same time; the next export prunes again
