"""How long `framecast serve` takes from a click on Predict to the rendered result, in a real browser.

Starts `framecast serve` (the shipped model by default) on a free port, opens the page in Debian's chromium with
Playwright, makes a Moving MNIST sequence, then clicks Predict (10 -> 10 frames) once, then `--repeat` times more,
and times each click until the new animation is loaded and drawn. Prints the median of the repeats and every time,
the first click apart; `--screenshot` also saves the page after the last prediction (docs/images/web.png comes from
this).

    python benchmarks/web_speed.py [--checkpoint FILE] [--repeat 5] [--screenshot docs/images/web.png]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
# The animation that is shown, once it differs from `old` and the browser has decoded it.
NEW_ANIMATION = """old => { const img = document.querySelector('#animation img');
                           return img && img.src !== old && img.complete && img.naturalWidth > 0; }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_served(url: str, server: subprocess.Popen, seconds: float = 180) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if server.poll() is not None:
            sys.exit(f"framecast serve stopped: {server.communicate()[1]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"framecast serve did not answer on {url} within {seconds} s")


def measure(url: str, repeat: int, screenshot: str | None) -> list[float]:
    """Seconds from each click on Predict to the new animation drawn: the first click, then `repeat` more."""
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(url)
        page.get_by_role("button", name="Make a sequence").click()
        page.locator("#status").filter(has_text="made a sequence").wait_for(timeout=120_000)
        for _ in range(repeat + 1):  # the first click also warms up the page: apart from the median
            old = page.evaluate("() => document.querySelector('#animation img')?.src ?? null")
            start = time.perf_counter()
            page.get_by_role("button", name="Predict").click()
            page.wait_for_function(NEW_ANIMATION, arg=old, timeout=120_000, polling="raf")
            times.append(time.perf_counter() - start)
        if screenshot:
            page.wait_for_timeout(500)  # the plot and the table settle
            page.screenshot(path=screenshot, full_page=True)
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="model to serve (default: the shipped model)")
    parser.add_argument("--repeat", type=int, default=5, help="timed predictions (default 5)")
    parser.add_argument("--screenshot", default=None, help="save the page after the last prediction here")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat should be at least 1, but got {args.repeat}")
    port = free_port()
    command = [sys.executable, "-m", "framecast", "serve", "--port", str(port)]
    command += ["--checkpoint", args.checkpoint] if args.checkpoint else []
    with tempfile.TemporaryDirectory() as cwd:
        server = subprocess.Popen(command, cwd=cwd, env={**os.environ, "NO_PROXY": "127.0.0.1"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_until_served(url, server)
            times = measure(url, args.repeat, args.screenshot)
        finally:
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=60)
    first, rest = times[0], times[1:]
    print(f"10 -> 10 prediction, click to rendered animation: median {statistics.median(rest):.2f} s "
          f"over {len(rest)} ({', '.join(f'{t:.2f}' for t in rest)}); the first click {first:.2f} s")


if __name__ == "__main__":
    main()
