"""Peak memory of framecast on a file the size of the canonical mnist_test_seq.npy (10,000 x 20 x 64 x 64 uint8,
820 MB, time first), and of generating a file larger than memory is comfortable with.

    python benchmarks/big_file.py --dir /tmp/big [--limit 1000] [--generate 100000]

Each command runs in its own process; its peak resident memory (ru_maxrss) is printed.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WRAPPER = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """Run `cmd`; return (peak resident MB, seconds)."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, check=True)
    return int(result.stdout.strip().splitlines()[-1]) / 1024, time.perf_counter() - start


def to_time_first(src: Path, dst: Path, chunk: int = 500) -> None:
    """Rewrite [N, T, H, W] as the canonical [T, N, H, W], chunk by chunk."""
    a = np.load(src, mmap_mode="r")
    out = np.lib.format.open_memmap(dst, mode="w+", dtype=np.uint8, shape=(a.shape[1], a.shape[0], *a.shape[2:]))
    for i in range(0, len(a), chunk):
        out[:, i:i + chunk] = np.asarray(a[i:i + chunk]).swapaxes(0, 1)
    out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/framecast-big")
    parser.add_argument("--limit", type=int, default=None, help="sequences to evaluate (default: all 10,000)")
    parser.add_argument("--generate", type=int, default=100_000, help="sequences for the generation test")
    parser.add_argument("--checkpoint", default=None, help="model to evaluate (default: the shipped one)")
    args = parser.parse_args()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    fc = [sys.executable, "-m", "framecast"]
    results = {}
    mb, s = peak_rss_mb(fc + ["data", "generate", "--out", str(work / "seq.npy"), "--num", "10000"])
    results["generate_10000"] = {"peak_mb": round(mb), "seconds": round(s, 1)}
    to_time_first(work / "seq.npy", work / "mnist_test_seq.npy")
    (work / "seq.npy").unlink()
    cmd = fc + ["evaluate", "--data", str(work / "mnist_test_seq.npy"), "--out", str(work / "eval")]
    cmd += ["--limit", str(args.limit)] if args.limit else []
    cmd += ["--checkpoint", args.checkpoint] if args.checkpoint else []
    mb, s = peak_rss_mb(cmd)
    results["evaluate_canonical"] = {"peak_mb": round(mb), "seconds": round(s, 1),
                                     "sequences": args.limit or 10000, "file_mb": 819}
    mb, s = peak_rss_mb(fc + ["data", "generate", "--out", str(work / "huge.npy"), "--num", str(args.generate)])
    size = (work / "huge.npy").stat().st_size / 2**20
    results[f"generate_{args.generate}"] = {"peak_mb": round(mb), "seconds": round(s, 1), "file_mb": round(size)}
    (work / "huge.npy").unlink()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
