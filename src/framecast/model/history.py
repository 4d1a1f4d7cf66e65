"""A checkpoint's training record: how many steps and sequences, how long and on which devices its weights were
trained, counting the stages before it (`--init`), from the plain data a `.ckpt` carries."""

from __future__ import annotations

import math

from ..config import Config


def record_ok(ckpt: dict) -> bool:
    """Whether the numbers `training_record` reads are finite numbers, and its device names and precision record
    text (a crafted file could hold anything)."""
    stats = ckpt.get("framecast_train", {})
    prior = stats.get("prior", {})
    numbers = [ckpt.get("global_step", 0), stats.get("seconds", 0.0), stats.get("wall_seconds", 0.0),
               stats.get("devices", 1), *(prior.get(key, 0) for key in ("steps", "sequences", "hours"))]
    precision = stats.get("precision", {})
    texts = [stats.get("device", ""), prior.get("device") or ""]
    return (all(isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) for n in numbers)
            and isinstance(precision, dict) and all(isinstance(t, str) for t in [*texts, *precision.values()]))


def training_record(ckpt: dict, config: Config) -> dict:
    """Steps, sequences, hours and device behind a training checkpoint, counting --init weights' training too,
    and the precision its last invocation trained in."""
    stats = ckpt.get("framecast_train", {})
    prior = {"steps": 0, "sequences": 0, "hours": 0.0, **stats.get("prior", {})}
    steps = int(ckpt.get("global_step", 0))
    device = device_history(prior.get("device") or "", stats.get("device", "unknown"))
    summary = {"steps": steps + int(prior["steps"]),
               "sequences": steps * config.train.batch_size * stats.get("devices", 1) + int(prior["sequences"]),
               "hours": round(float(stats.get("seconds", 0.0)) / 3600 + float(prior["hours"]), 3), "device": device}
    if prior["steps"]:  # the config describes the last stage only: say how much training came before it
        summary["init_steps"] = int(prior["steps"])
    if stats.get("precision"):  # the last invocation's precision and why (older checkpoints have none)
        summary["precision"] = dict(stats["precision"])
    return summary


def device_history(*devices: str) -> str:
    """The devices of successive stages as one "A, then B" line, a device named once per run of stages on it:
    device_history("cpu, then gpu", "gpu") -> "cpu, then gpu"."""
    names = [name for part in devices for name in part.split(", then ") if name]
    return ", then ".join(name for i, name in enumerate(names) if i == 0 or name != names[i - 1])
