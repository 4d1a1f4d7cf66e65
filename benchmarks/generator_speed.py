"""Print the Moving MNIST generator's throughput on one core (sequences of 20 64x64 frames per second).

    python benchmarks/generator_speed.py
"""

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says

from framecast.data.digits import digit_pool  # noqa: E402
from framecast.data.moving_mnist import generate  # noqa: E402


def main(num: int = 2000, repeats: int = 5) -> None:
    digits = digit_pool("train")
    generate(digits, 100, seed=0)  # warm-up
    best = min(_timed(digits, num, seed) for seed in range(repeats))
    print(f"generator: {num / best:,.0f} sequences/s (20 frames, 64x64, 2 digits; best of {repeats} x {num})")


def _timed(digits, num, seed) -> float:
    start = time.perf_counter()
    generate(digits, num, seed=seed)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
