import runpy
from pathlib import Path

import numpy as np
import pytest

import framecast
from framecast.errors import UserError

PAIRED = runpy.run_path(str(Path(__file__).parents[1] / "benchmarks" / "paired.py"))


def test_paired_difference_matches_the_evaluation_and_is_zero_for_one_model(tiny_checkpoint, mnist_file, tmp_path):
    same = PAIRED["main"]([str(tiny_checkpoint), str(tiny_checkpoint), "--data", str(mnist_file)])
    assert same["a_minus_b"] == 0 and same["standard_error"] == 0 and same["b_better_share"] == 0
    report = framecast.evaluate(tiny_checkpoint, data=mnist_file, out=tmp_path / "ev", progress=False)
    assert same["a"] == pytest.approx(report["mse"], rel=1e-4)  # the same figure evaluate reports
    other = PAIRED["main"](["shipped", str(tiny_checkpoint), "--data", str(mnist_file)])
    shipped = framecast.evaluate(data=mnist_file, out=tmp_path / "ev2", progress=False)
    assert other["a"] == pytest.approx(shipped["mse"], rel=1e-4) and other["b"] == pytest.approx(same["b"])
    assert other["a"] < other["b"] and 0 < other["standard_error"] < np.inf  # the shipped model is far better
    with pytest.raises(UserError, match="needs 21"):  # 20-frame sequences cannot score 10 -> 11
        PAIRED["main"](["shipped", "shipped", "--data", str(mnist_file), "--horizon", "11"])


def test_two_evaluate_reports_give_the_same_paired_comparison(tiny_checkpoint, mnist_file, tmp_path):
    shipped = framecast.evaluate(data=mnist_file, out=tmp_path / "a", progress=False)
    tiny = framecast.evaluate(tiny_checkpoint, data=mnist_file, out=tmp_path / "b", progress=False)
    assert len(tiny["per_sequence"]["mse"]) == 6
    assert np.mean(tiny["per_sequence"]["mse"]) == pytest.approx(tiny["mse"], rel=1e-6)
    from_reports = PAIRED["paired"](shipped["per_sequence"]["mse"], tiny["per_sequence"]["mse"])
    direct = PAIRED["main"](["shipped", str(tiny_checkpoint), "--data", str(mnist_file)])
    for key in ("a", "b", "a_minus_b", "standard_error", "b_better_share"):
        assert from_reports[key] == pytest.approx(direct[key], rel=1e-4, abs=1e-6)
