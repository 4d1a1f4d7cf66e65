"""A real training process, stopped by SIGKILL, SIGINT (Ctrl-C) or SIGTERM, resumes from an intact checkpoint."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from framecast.checkpoint import read_checkpoint
from framecast.checkpoint_io import AtomicCheckpointIO

TRAIN = [sys.executable, "-m", "framecast", "train", "--preset", "tiny", "--set", "val_sequences=4",
         "--no-progress"]


def _default_ctrl_c() -> None:
    # A shell without job control (a script's `cmd &`) starts background jobs with SIGINT ignored, and Python
    # keeps an ignored SIGINT ignored: then Ctrl-C would not reach the trainer, which would train on.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(run, *extra):
    return subprocess.Popen(TRAIN + ["--out", str(run), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_default_ctrl_c)


def wait_for_checkpoint(run, proc, timeout=180):
    deadline = time.monotonic() + timeout
    while not (run / "last.ckpt").exists():
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.1)


def resume(run, epochs):
    result = subprocess.run(TRAIN[:4] + ["--out", str(run), "--resume", "--epochs", str(epochs), "--no-progress"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_sigkill_at_random_moments_then_resume(tmp_path):
    run = tmp_path / "run"
    proc = start(run, "--epochs", "1000")
    wait_for_checkpoint(run, proc)
    for delay in (0.05, 0.4, 0.9):  # steps and checkpoint writes happen every few hundredths of a second
        time.sleep(delay)
        read_checkpoint(run / "last.ckpt")  # intact while training goes on
    proc.kill()
    proc.wait()
    step = read_checkpoint(run / "last.ckpt")["global_step"]
    assert step >= 4
    resume(run, step // 4 + 1)
    assert read_checkpoint(run / "last.ckpt")["global_step"] == (step // 4 + 1) * 4


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_cleanly_with_a_resumable_checkpoint(tmp_path, sig):
    run = tmp_path / "run"
    proc = start(run, "--epochs", "1000")
    wait_for_checkpoint(run, proc)
    first = read_checkpoint(run / "last.ckpt")["global_step"]
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), err[-2000:]  # 128 + the signal
    assert "--resume" in err.strip().splitlines()[-1] and "Traceback" not in err
    step = read_checkpoint(run / "last.ckpt")["global_step"]
    assert step >= first
    assert (run / "metrics.csv").is_file() and (run / "loss_curve.png").is_file()
    resume(run, step // 4 + 2)


def test_failed_checkpoint_write_leaves_the_previous_one(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"w": torch.ones(2)}, path)
    with pytest.raises(Exception):  # noqa: B017 - torch cannot pickle a lambda; the write fails midway
        io.save_checkpoint({"w": torch.zeros(2), "bad": lambda: 0}, path)
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(2))
    assert os.listdir(tmp_path) == ["last.ckpt"]


def test_a_report_interrupted_while_moving_in_has_no_summary_file(tmp_path, monkeypatch):
    from framecast.atomic import atomic_files

    for name in ("a.png", "summary.json"):
        (tmp_path / name).write_text("old")
    moves = []

    def replace_then_stop(src, dst):  # stopped after the first file has moved in
        if moves:
            raise KeyboardInterrupt
        moves.append(dst)
        real_replace(src, dst)
    real_replace = os.replace
    with pytest.raises(KeyboardInterrupt):
        with atomic_files(tmp_path, last="summary.json") as stage:
            for name in ("a.png", "b.gif", "summary.json"):
                (stage / name).write_text("new")
            monkeypatch.setattr(os, "replace", replace_then_stop)
    # The summary, moved last, is missing: readers see an incomplete report, not old figures as new ones.
    assert "summary.json" not in {p.name for p in tmp_path.iterdir()} and moves[0].read_text() == "new"
    assert not list(tmp_path.glob(".framecast-staging-*"))
