"""One real clip end to end, as a user would run it: cut it into its first 80% and last 20%, train on the first
part with default settings for a time budget, evaluate 10 -> 10 on the windows of the last part, and draw a
prediction (the figures and pictures of docs/own-footage.md).

    python benchmarks/own_footage.py CLIP.mp4 --out DIR [--minutes 15] [--set key=value ...]

Writes DIR/first.mp4, DIR/last.mp4, DIR/run/ (the training run, its verdict in metrics.json), DIR/eval/ (the
report), DIR/prediction.png and DIR/prediction.gif; prints the verdict and the evaluation table. The commands it
runs are framecast's own, printed before each.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from framecast.data.media import probe_video, read_video, write_video


def cut(clip: Path, out: Path, share: float = 0.8) -> None:
    """The clip's first `share` and the rest, as two videos at its frame rate (H.264 at a high quality)."""
    frames, fps = read_video(clip), probe_video(clip).fps
    split = int(len(frames) * share)
    first, last = out / "first.mp4", out / "last.mp4"
    write_video(frames[:split], first, fps)
    write_video(frames[split:], last, fps)
    print(f"{clip.name}: {len(frames)} frames, {split} to train on, {len(frames) - split} to evaluate on")


def framecast(folder: Path, *args: str) -> None:
    """Run a framecast command in `folder` (so that reports and pictures name `run/best.ckpt`, `last.mp4`)."""
    print(f"$ cd {folder} && framecast " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "framecast", *args], check=True, cwd=folder)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--set", action="append", default=[], help="config overrides passed to framecast train")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cut(args.clip, args.out)
    sets = [item for key_value in args.set for item in ("--set", key_value)]
    framecast(args.out, "train", "--data", "first.mp4", "--out", "run", "--max-minutes", str(args.minutes),
              "--no-progress", *sets)
    framecast(args.out, "evaluate", "--checkpoint", "run/best.ckpt", "--data", "last.mp4", "--out", "eval")
    for suffix in (".png", ".gif"):
        framecast(args.out, "predict", "--checkpoint", "run/best.ckpt", "--input", "last.mp4", "--out",
                  f"prediction{suffix}")


if __name__ == "__main__":
    main()
