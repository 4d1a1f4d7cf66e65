import runpy
from pathlib import Path

import numpy as np
import pytest

import framecast

PAIRED = runpy.run_path(str(Path(__file__).parents[1] / "benchmarks" / "paired.py"))


def test_paired_difference_matches_the_evaluation_and_is_zero_for_one_model(tiny_checkpoint, mnist_file, tmp_path):
    same = PAIRED["main"]([str(tiny_checkpoint), str(tiny_checkpoint), "--data", str(mnist_file)])
    assert same["a_minus_b"] == 0 and same["standard_error"] == 0 and same["b_better_share"] == 0
    report = framecast.evaluate(tiny_checkpoint, data=mnist_file, out=tmp_path / "ev", progress=False)
    assert same["a"] == pytest.approx(report["mse"], rel=1e-4)  # the same figure evaluate reports
    other = PAIRED["main"](["shipped", str(tiny_checkpoint), "--data", str(mnist_file)])
    assert other["a_minus_b"] == pytest.approx(other["a"] - other["b"]) and other["a"] < other["b"]
    assert other["standard_error"] > 0 and np.isfinite(other["standard_error"])
