"""How much memory `framecast serve` takes for hostile uploads through the page, and gives back after.

Starts `framecast serve` (the shipped model by default) on a free port as `python -m framecast serve` (so that the
child is the server itself, not a shell), opens the page in Debian's chromium with Playwright and, for each case,
uploads its files through the page's upload widget (the file input under the Upload tab) and waits for the status
line to say "read N frames of ..." or "Could not use the upload: ...". Around each upload it reads the server's
/proc/PID/status: VmRSS just before, VmHWM (the peak resident size, reset before the upload by writing 5 to
/proc/PID/clear_refs) once the status has changed, and VmRSS `--settle` seconds later. The cases, made in a
temporary folder (issue 38):

1. 8 PNGs of 9000x9000, grayscale, zeros and a few random pixels (tens of KB each), uploaded together as frames;
2. a GIF of 2 frames of 10000x10000 (the same kind of content);
3. an .npz of about 1 MB that unzips to 0.98 GiB (zeros, uint8 (1, 20, 7000, 7500));
4. for contrast, a legitimate upload: one Moving MNIST sequence of 20 64x64 frames (`framecast data generate`).

Prints a table (case, the page's message, RSS before, peak, RSS after, in MB) and the server's RSS after its start.
Linux only (/proc); the peak needs a kernel that resets VmHWM through clear_refs (4.0 or later).

    python benchmarks/page_memory.py [--checkpoint FILE] [--settle 5] [--npz-frames 20]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import sync_playwright
from web_speed import CHROMIUM, CHROMIUM_FLAGS, free_port, wait_until_served

MB = 2**20
# The status line once an upload has been answered, either way.
ANSWERED = """() => { const s = document.querySelector('#status');
                     return s !== null && /Could not use the upload|read \\d+ frames? of/.test(s.innerText); }"""


def proc_status(pid: int) -> dict[str, int]:
    """The server's VmRSS and VmHWM, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024  # kB
    return values


def reset_peak(pid: int) -> None:
    """Set the process's VmHWM to its current VmRSS (Linux 4.0+)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def sparse_frame(side: int, rng: np.random.Generator, dots: int = 200) -> np.ndarray:
    """A `side` x `side` uint8 frame of zeros with `dots` random pixels: it compresses to almost nothing."""
    frame = np.zeros((side, side), np.uint8)
    frame[rng.integers(0, side, dots), rng.integers(0, side, dots)] = rng.integers(1, 256, dots, dtype=np.uint8)
    return frame


def make_cases(folder: Path, npz_frames: int) -> list[tuple[str, list[Path]]]:
    """Each case's name and the files it uploads, written into `folder`."""
    rng = np.random.default_rng(0)
    pngs = []
    for i in range(8):
        path = folder / f"frame_{i:02d}.png"
        Image.fromarray(sparse_frame(9000, rng)).save(path)
        pngs.append(path)
    gif = folder / "big.gif"
    first, second = (Image.fromarray(sparse_frame(10_000, rng)) for _ in range(2))
    with warnings.catch_warnings():  # Pillow warns of its own 100-megapixel frames: that is the point here
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        first.save(gif, save_all=True, append_images=[second], duration=100, loop=0)
    npz = folder / "bomb.npz"
    np.savez_compressed(npz, np.zeros((1, npz_frames, 7000, 7500), np.uint8))  # zero pages: little memory here
    legit = folder / "mnist.npy"
    subprocess.run([sys.executable, "-m", "framecast", "data", "generate", "--num", "1", "--out", str(legit)],
                   check=True, stdout=subprocess.DEVNULL)

    def size(paths: list[Path]) -> str:
        total = sum(p.stat().st_size for p in paths)
        return f"{total / MB:.2f} MB" if total >= MB / 10 else f"{total / 1024:.0f} KB"

    unzipped = npz_frames * 7000 * 7500 / 2**30
    return [(f"8 PNGs of 9000x9000 ({size(pngs)})", pngs),
            (f"GIF, 2 frames of 10000x10000 ({size([gif])})", [gif]),
            (f".npz unzipping to {unzipped:.2f} GiB ({size([npz])})", [npz]),
            (f"legitimate: Moving MNIST .npy, 20x64x64 ({size([legit])})", [legit])]


def measure(url: str, pid: int, cases: list[tuple[str, list[Path]]], settle: float) -> list[tuple]:
    """For each case: its name, the page's message, RSS before, peak during and RSS `settle` s after (bytes)."""
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for name, files in cases:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})  # a fresh status line per case
            page.goto(url)
            page.get_by_role("tab", name="Upload").click()
            file_input = page.locator("input[type=file]").first
            file_input.wait_for(state="attached", timeout=60_000)
            time.sleep(1)  # the page's own requests settle
            reset_peak(pid)  # VmHWM := VmRSS now, so the peak is never below `before`
            before = proc_status(pid)["VmRSS"]
            file_input.set_input_files([str(f) for f in files])
            page.wait_for_function(ANSWERED, timeout=600_000, polling=100)
            peak = proc_status(pid)["VmHWM"]
            message = page.locator("#status").inner_text().strip()
            time.sleep(settle)
            after = proc_status(pid)["VmRSS"]
            rows.append((name, message, before, peak, after))
            page.close()
        browser.close()
    return rows


def shorten(message: str, width: int = 120) -> str:
    """The page's message on one line of a Markdown table, without what every refusal ends with."""
    message = " ".join(message.replace("|", "/").split()).removesuffix(" The previous sequence is kept.")
    return message if len(message) <= width else message[:width - 3] + "..."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="model to serve (default: the shipped model)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after an answer to read RSS (default 5)")
    parser.add_argument("--npz-frames", type=int, default=20,
                        help="frames of 7000x7500 in the .npz (default 20: 0.98 GiB unzipped)")
    args = parser.parse_args()
    port = free_port()
    command = [sys.executable, "-m", "framecast", "serve", "--port", str(port)]
    command += ["--checkpoint", args.checkpoint] if args.checkpoint else []
    with tempfile.TemporaryDirectory() as cwd, tempfile.TemporaryDirectory() as made:
        start = time.perf_counter()
        cases = make_cases(Path(made), args.npz_frames)
        print(f"made the cases in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        server = subprocess.Popen(command, cwd=cwd, env={**os.environ, "NO_PROXY": "127.0.0.1"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_until_served(url, server)
            started = proc_status(server.pid)["VmRSS"]
            rows = measure(url, server.pid, cases, args.settle)
        finally:
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=60)
    print(f"server's RSS after its start: {started / MB:,.0f} MB")
    print()
    print("| case | page's message | RSS before (MB) | peak (MB) | RSS after (MB) |")
    print("|---|---|---|---|---|")
    for name, message, before, peak, after in rows:
        print(f"| {name} | {shorten(message)} | {before / MB:,.0f} | {peak / MB:,.0f} | {after / MB:,.0f} |")
    print()
    worst_peak, worst_after = max(r[3] for r in rows), max(r[4] for r in rows)
    verdict = {True: "met", False: "NOT met"}
    print(f"highest peak {worst_peak / MB:,.0f} MB (target < 1,536: {verdict[worst_peak < 1536 * MB]}); "
          f"highest RSS after {worst_after / MB:,.0f} MB (target < 800: {verdict[worst_after < 800 * MB]})")


if __name__ == "__main__":
    main()
