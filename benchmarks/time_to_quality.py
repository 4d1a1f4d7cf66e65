"""Time to quality: validation MSE per frame against wall-clock minutes of training, one curve per recipe.

    python benchmarks/time_to_quality.py [--minutes 30] [--runs runs/ttq] [--jobs N --threads T] [RECIPE ...]

A recipe is `name=preset` optionally followed by `--set` overrides: `k3=default:kernel=3,3,3;lr=2e-3`.
Without recipes it compares the `default` and `keras-example` presets. Each recipe trains from scratch
for `--minutes` (`framecast train --max-minutes`); a recipe whose run folder already holds a run is not
trained again, so `--plot-only` (or a second call) only redraws; pass the same `--threads`/`--jobs` for
the figure's label. It writes `--figure`
(default `docs/results/time_to_quality.png`) and a `.md` table beside it (docs/performance.md's curve and table).
"""

import argparse
import csv
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "results"
# keras-example validates every 25 steps: at 0.9 seq/s, 100 steps take a quarter of the budget.
DEFAULT_RECIPES = ["default=default", "keras-example=keras-example:steps_per_epoch=25"]
THRESHOLDS = (150.0, 120.0, 100.0)


def parse_recipe(text: str) -> tuple[str, str, list[str]]:
    """'name=preset:key=v;key=v' -> (name, preset, ['key=v', ...])."""
    name, _, rest = text.partition("=")
    preset, _, sets = rest.partition(":")
    return name, preset or name, [s for s in sets.split(";") if s]


def train_command(run: Path, preset: str, sets: list[str], minutes: float, threads: int) -> list[str]:
    cmd = [sys.executable, "-m", "framecast", "train", "--out", str(run), "--preset", preset,
           "--max-minutes", str(minutes), "--no-progress"]
    for s in sets + ([f"threads={threads}"] if threads else []):
        cmd += ["--set", s]
    return cmd


def train_all(commands: list[list[str]], jobs: int) -> None:
    """Run the training commands, `jobs` at a time (each log goes to its run folder's train.log)."""
    running: list[subprocess.Popen] = []
    for cmd in commands:
        while len(running) >= jobs:
            _wait(running.pop(0))
        print("$", " ".join(cmd), flush=True)
        log = Path(cmd[cmd.index("--out") + 1]) / "train.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as out:  # the child keeps its own copy of the file descriptor
            running.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT))
    for proc in running:
        _wait(proc)


def _wait(proc: subprocess.Popen) -> None:
    if proc.wait() != 0:
        sys.exit(f"a training run failed (see its train.log): {' '.join(proc.args)}")


def curve(run: Path) -> list[tuple[float, float]]:
    """(minutes, val MSE/frame) at each validation of a run, from its metrics.csv."""
    with open(run / "metrics.csv", newline="") as f:
        return [(float(r["minutes"]), float(r["val_mse"])) for r in csv.DictReader(f)
                if r.get("minutes") and r.get("val_mse")]


def first_below(points: list[tuple[float, float]], level: float) -> float:
    return next((m for m, v in points if v < level), math.nan)


def at_minute(points: list[tuple[float, float]], minute: float) -> float:
    """Best validation MSE reached by `minute` (the checkpoint a user would keep)."""
    seen = [v for m, v in points if m <= minute]
    return min(seen) if seen else math.nan


def table(curves: dict[str, list[tuple[float, float]]], minutes: float) -> str:
    marks = [minutes / 3, 2 * minutes / 3, math.inf]  # inf: the end of the budget, whose validation ends a bit past it
    head = ("| recipe | " + " | ".join(f"best val MSE by {m:g} min" for m in marks[:-1])
            + " | best val MSE at the end | " + " | ".join(f"minutes to < {t:g}" for t in THRESHOLDS) + " |")
    rows = [head, "|" + "---|" * (1 + len(marks) + len(THRESHOLDS))]
    for name, pts in curves.items():
        cells = [f"{at_minute(pts, m):.1f}" for m in marks] + [f"{first_below(pts, t):.1f}" for t in THRESHOLDS]
        rows.append(f"| {name} | " + " | ".join(c.replace("nan", "–") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def plot(curves: dict[str, list[tuple[float, float]]], path: Path, xlabel: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, pts in curves.items():
        ax.plot([m for m, _ in pts], [v for _, v in pts], marker="o", markersize=3, label=name)
    ax.axhline(100, color="gray", linestyle=":", linewidth=1)
    # Early rollout blow-ups (val MSE in the hundreds) would squash the rest of the curves.
    if max((v for pts in curves.values() for _, v in pts), default=0) > 200:
        ax.set_ylim(top=200)
        ax.text(0.01, 0.98, "points above 200 cut off", transform=ax.transAxes, va="top", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation MSE per frame (10 -> 10)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", default=DEFAULT_RECIPES, help="name=preset[:key=v;key=v]")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per recipe")
    parser.add_argument("--runs", default="runs/ttq", help="folder of the run folders")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per run (0: torch's default)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once (with --threads 1: one per core)")
    parser.add_argument("--plot-only", action="store_true", help="redraw from existing runs; train nothing")
    parser.add_argument("--figure", default=str(FIGURES / "time_to_quality.png"))
    args = parser.parse_args()
    recipes = [parse_recipe(r) for r in args.recipes]
    runs = {name: Path(args.runs) / name for name, _, _ in recipes}
    done = [name for name, run in runs.items() if (run / "last.ckpt").is_file()]
    if done and not args.plot_only:
        print(f"already trained, not trained again (delete the folder to retrain): {', '.join(done)}")
    if not args.plot_only:
        train_all([train_command(runs[name], preset, sets, args.minutes, args.threads)
                   for name, preset, sets in recipes if name not in done], args.jobs)
    curves = {name: curve(run) for name, run in runs.items()}
    figure = Path(args.figure)
    figure.parent.mkdir(parents=True, exist_ok=True)
    cores = f"{args.threads} thread(s) per run, {args.jobs} run(s) at a time" if args.threads else "all cores"
    plot(curves, figure, f"wall-clock minutes of training ({os.cpu_count()}-core CPU, {cores})")
    md = table(curves, args.minutes)
    figure.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
