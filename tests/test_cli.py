"""The command line: what users type, what they see, and exit code 2 with one clear line for their mistakes."""

import errno
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from framecast.cli.main import main

ABSENT = "cuda" if torch.backends.mps.is_available() else "mps"  # an accelerator this machine lacks


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_data_generate_and_show(tmp_path, capsys):
    code, out, _ = run(["data", "generate", "--out", tmp_path / "s.npy", "--num", 5, "--frames", 8, "--seed", 3],
                       capsys)
    assert code == 0 and "wrote 5 sequences" in out
    assert np.load(tmp_path / "s.npy").shape == (5, 8, 64, 64)
    code, out, _ = run(["data", "show", tmp_path / "s.npy", "--out", tmp_path / "show", "--num", 2], capsys)
    assert code == 0
    summary = json.loads((tmp_path / "show" / "summary.json").read_text())
    for key in ("num_sequences", "frames", "height", "width", "channels", "dtype", "min", "max", "mean",
                "lit_fraction", "mean_motion"):
        assert key in summary, key
    assert summary["num_sequences"] == 5 and summary["frames"] == 8 and summary["dtype"] == "uint8"
    assert 0 < summary["lit_fraction"] < 0.5 and summary["mean_motion"] > 0
    assert Image.open(tmp_path / "show" / "sequences.gif").n_frames == 8
    assert Image.open(tmp_path / "show" / "grid.png").size[0] > 300


def test_data_show_draws_wide_footage_readably(tmp_path, capsys):
    (tmp_path / "frames").mkdir()
    for t in range(12):  # 640x272 footage as a folder of frames, a uniform grey the thumbnails are found by
        Image.fromarray(np.full((272, 640, 3), 100 + t, np.uint8)).save(tmp_path / "frames" / f"{t:02}.png")
    code, _, err = run(["data", "show", tmp_path / "frames", "--out", tmp_path / "show", "--size", "full"], capsys)
    assert code == 0 and "note: grid.png shows the 640x272 frames 160 px wide" in err
    grid = np.asarray(Image.open(tmp_path / "show" / "grid.png").convert("L")).astype(int)
    row = grid[np.argmax((np.abs(grid - 105) <= 6).sum(axis=1))]  # the line through most of the frames
    inside = np.abs(row - 105) <= 6
    edges = np.flatnonzero(np.diff(inside.astype(int)))  # where each thumbnail starts and ends
    widths = edges[1::2] - edges[::2]
    assert len(widths) == 10 and widths.min() >= 155, widths  # ten frames, each ~160 px wide, not ~60
    assert Image.open(tmp_path / "show" / "sequences.gif").size[0] == 960 and "sequences.gif scaled to 960x" in err


def test_generate_is_deterministic(tmp_path, capsys):
    for name in ("a.npy", "b.npy"):
        run(["data", "generate", "--out", tmp_path / name, "--num", 3, "--seed", 5], capsys)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_train_evaluate_predict_commands(tiny_checkpoint, mnist_file, tmp_path, capsys):
    code, out, _ = run(["evaluate", "--checkpoint", tiny_checkpoint, "--data", mnist_file, "--out", f"{tmp_path}/ev/",
                        "--limit", 2], capsys)
    assert code == 0 and "| copy_last |" in out
    assert f"report written to {tmp_path}/ev/\n" in out  # one slash, whether or not the user typed one
    code, out, _ = run(["evaluate", "--checkpoint", tiny_checkpoint, "--data", mnist_file, "--out", tmp_path / "ev2",
                        "--limit", 1], capsys)
    assert code == 0 and f"report written to {tmp_path}/ev2/\n" in out
    code, out, _ = run(["predict", "--checkpoint", tiny_checkpoint, "--input", mnist_file, "--out",
                        tmp_path / "p.gif", "--horizon", 12], capsys)
    assert code == 0 and Image.open(tmp_path / "p.gif").n_frames == 22
    assert f"prediction (10 context + 12 predicted frames) written to {tmp_path / 'p.gif'}" in out


@pytest.mark.parametrize("make, argv, message", [
    (None, ["data", "show", "{d}/missing.npy", "--out", "{d}/o"], "not found"),
    ("rank", ["data", "show", "{d}/bad.npy", "--out", "{d}/o"], "expected sequences"),
    ("nan", ["data", "show", "{d}/bad.npy", "--out", "{d}/o"], "NaN"),
    ("empty", ["data", "show", "{d}/bad.npy", "--out", "{d}/o"], "empty"),
    ("dtype", ["data", "show", "{d}/bad.npy", "--out", "{d}/o"], "dtype"),
    ("corrupt", ["data", "show", "{d}/bad.npy", "--out", "{d}/o"], "not a readable"),
    (None, ["data", "generate", "--out", "{d}/o.npy", "--num", "-3"], ">= 1"),
    (None, ["data", "generate", "--out", "{d}/o.npy", "--num", "2", "--size", "20"], "cannot move"),
    (None, ["data", "generate", "--out", "{d}/o.npy", "--num", "2", "--digits", "9"], "cannot fit"),
    (None, ["train", "--out", "{d}/run", "--set", "bogus=1"], "unknown config key 'bogus'"),
    (None, ["train", "--out", "{d}/run", "--preset", "nope"], "unknown preset"),
    (None, ["train", "--out", "{d}/run", "--max-minutes", "inf"], "max_minutes should be a finite number"),
    (None, ["train", "--out", "{d}/run", "--set", "lr=nan"], "lr should be a finite number"),
    (None, ["train", "--out", "{d}/run", "--set", "lr=0"], "lr should be > 0"),
    (None, ["train", "--out", "{d}/run", "--resume"], "nothing to resume"),
    (None, ["evaluate", "--checkpoint", "{d}/none.ckpt", "--data", "{d}/x.npy", "--out", "{d}/o"], "not found"),
    (None, ["evaluate", "--checkpoint", "{d}", "--data", "{d}/x.npy", "--out", "{d}/o"], "is a folder; expected"),
    ("folder", ["data", "generate", "--out", "{d}/folder.npy", "--num", "2"], "is a folder; expected the path"),
    ("folder", ["data", "show", "{d}/folder.npy", "--out", "{d}/o"], "is a folder; expected a .npy"),
    ("folder", ["bench", "--preset", "tiny", "--json", "{d}/folder.npy"], "is a folder; expected the path"),
    (None, ["bench", "--preset", "tiny", "--seconds", "nan"], "--seconds should be a finite number"),
    (None, ["bench", "--preset", "tiny", "--set", "data={d}/x.npy"], "bench measures generated Moving MNIST"),
    (None, ["bench", "--preset", "tiny", "--set", "train.precision=32"], "does not take precision"),
    ("vector", ["data", "show", "{d}/bad.npy", "--out", "{d}/o", "--layout", "tnhw"], "expected time-first"),
    (None, ["train", "--out", "{d}/run", "--set", "hidden=abc"], "expects comma-separated whole numbers"),
    ("sample", ["evaluate", "--data", "{d}/s.npy", "--out", "{d}/s.npy"], "is a file; expected a folder"),
    ("sample", ["data", "show", "{d}/s.npy", "--out", "{d}/s.npy"], "is a file; expected a folder"),
    ("sample", ["data", "show", "{d}/s.npy", "--out", "{d}/s.npy/sub"], "s.npy' is a file; expected a folder"),
    ("gzip", ["data", "generate", "--out", "{d}/o.npy", "--num", "2", "--mnist", "{d}/bad.gz"], "not a readable gzip"),
    ("gif", ["predict", "--input", "{d}/bad.gif", "--out", "{d}/o.gif"], "not a readable GIF"),
    (None, ["train", "--out", "{d}/run", "--preset", "tiny", "--set", "seed=4294967296"], "seed should be below"),
    (None, ["train", "--out", "{d}/run", "--preset", "tiny", "--set", f"accelerator={ABSENT}"], "cannot train with"),
    (None, ["train", "--out", "{d}/run", "--preset", "tiny", "--set", "num_digits=6"], "cannot fit"),
    ("toml", ["train", "--out", "{d}/run", "--config", "{d}/bad.toml"], "expected a preset name"),
    ("odd", ["train", "--out", "{d}/run", "--data", "{d}/bad.npy", "--set", "crop=62"],
     "patch=4 does not divide the training frame size 62"),
    ("tiny", ["train", "--out", "{d}/run", "--data", "{d}/bad.npy"], "needs frames of at least 4x4"),
])
def test_user_mistakes_exit_2_with_one_line(tmp_path, capsys, make, argv, message):
    bad = {
        "rank": np.zeros((3, 4, 4), np.uint8), "nan": np.full((1, 3, 8, 8), np.nan, np.float32),
        "empty": np.zeros((0, 3, 8, 8), np.uint8), "dtype": np.zeros((1, 3, 8, 8), np.complex64),
        "odd": np.zeros((4, 12, 63, 63), np.uint8), "tiny": np.zeros((4, 12, 3, 3), np.uint8),
        "vector": np.zeros(5, np.uint8), "sample": np.zeros((2, 20, 64, 64), np.uint8),
    }
    if make in bad:
        np.save(tmp_path / ("s.npy" if make == "sample" else "bad.npy"), bad[make])
    elif make:
        _make_bad_file(make, tmp_path)
    code, out, err = run([a.format(d=tmp_path) for a in argv], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("framecast: error:") and message in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "o.npy").exists() and not (tmp_path / "o.gif").exists()
    assert not list(tmp_path.glob(".*.tmp*")) and not (tmp_path / "run").exists()  # nor an empty run folder


def _make_bad_file(kind, d):
    if kind == "corrupt":
        (d / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    elif kind == "folder":
        (d / "folder.npy").mkdir()
    elif kind == "gzip":  # a gzip header, then a damaged body
        body = bytearray(gzip.compress(bytes(range(256)) * 64))
        body[20:60] = b"\xff" * 40
        (d / "bad.gz").write_bytes(bytes(body))
    elif kind == "gif":  # a 6-frame GIF cut short
        frames = [Image.fromarray(np.random.default_rng(i).integers(0, 255, (64, 64), np.uint8)) for i in range(6)]
        frames[0].save(d / "full.gif", save_all=True, append_images=frames[1:])
        data = (d / "full.gif").read_bytes()
        (d / "bad.gif").write_bytes(data[: len(data) // 2])
    elif kind == "toml":
        (d / "bad.toml").write_text("preset = [1]\n")


def test_a_full_disk_and_a_bad_option_value_end_in_one_line(tmp_path, capsys, monkeypatch):
    def full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("framecast.cli.data_commands.write_npy_chunks", full)
    code, _, err = run(["data", "generate", "--out", tmp_path / "o.npy", "--num", 2], capsys)
    assert code == 2 and err.startswith("framecast: error: no space left to write") and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # the temporary file is gone too
    with pytest.raises(SystemExit) as exit_:
        main(["data", "generate", "--out", str(tmp_path / "o.npy"), "--seed", "-1"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1  # one line, not argparse's usage block first
    assert err == ("framecast: error: argument --seed: should be >= 0, but got -1 (see framecast data generate "
                   "--help)\n")
    commands = "{data,train,evaluate,predict,try,demo,export,bench,serve,config}"
    for argv, choices in (([], commands), (["data"], "{generate,show}")):
        with pytest.raises(SystemExit):
            main(argv)
        assert f"required: {choices} (see framecast" in capsys.readouterr().err  # not an internal name
    for argv, command in ((["predict", "--input", "a.npy", "--out", "b.gif", "--bogus"], "predict"),
                          (["data", "show", "a.npy", "--out", "d", "-x"], "data show")):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        assert capsys.readouterr().err == (f"framecast: error: unrecognized arguments: {argv[-1]} "
                                           f"(see framecast {command} --help)\n")


def test_a_file_the_system_refuses_ends_in_one_line(tmp_path, capsys, monkeypatch):
    def refused(path, *_):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr("framecast.data.files._read_array", refused)
    np.save(tmp_path / "a.npy", np.zeros((1, 3, 8, 8), np.uint8))
    code, _, err = run(["data", "show", tmp_path / "a.npy", "--out", tmp_path / "o"], capsys)
    assert code == 2 and err == f"framecast: error: cannot use {str(tmp_path / 'a.npy')!r}: Permission denied\n"


def test_demo_checks_the_checkpoint_before_writing(tmp_path, capsys):
    code, _, err = run(["demo", "--out", tmp_path / "demo", "--num", 2, "--checkpoint", tmp_path / "none.ckpt"],
                       capsys)
    assert code == 2 and "not found" in err and not (tmp_path / "demo").exists()


def test_demo_refuses_models_it_cannot_show_before_writing(tmp_path, capsys):
    from framecast.config import build_config
    from framecast.model.checkpoint import save_weights
    from framecast.model.predictor import Predictor

    config = build_config("tiny", None, {"channels": 3, "data": "rgb.npy"})  # colour needs a data file
    save_weights(Predictor(config.model), config, tmp_path / "rgb.safetensors")
    code, _, err = run(["demo", "--out", tmp_path / "demo", "--checkpoint", tmp_path / "rgb.safetensors"], capsys)
    assert code == 2 and "takes 64x64x3 frames" in err and not (tmp_path / "demo").exists()
    small = build_config("tiny", None, {"frame_size": 16, "data": "small.npy"})
    save_weights(Predictor(small.model), small, tmp_path / "small.safetensors")
    code, _, err = run(["demo", "--out", tmp_path / "demo", "--checkpoint", tmp_path / "small.safetensors"], capsys)
    assert code == 2 and "at this model's frame size, 16x16" in err and not (tmp_path / "demo").exists()


def test_console_script_exit_code_and_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "framecast", "data", "show", str(tmp_path / "nope.npy"), "--out",
                             str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("framecast: error:") and "Traceback" not in result.stderr


def test_failed_generate_leaves_existing_output_untouched(tmp_path, capsys):
    target = tmp_path / "keep.npy"
    target.write_bytes(b"precious")
    code, _, _ = run(["data", "generate", "--out", target, "--num", 2, "--size", 10], capsys)
    assert code == 2 and target.read_bytes() == b"precious"


def test_sigterm_mid_write_removes_the_temporary_file(tmp_path, capsys, monkeypatch):
    import os
    import signal

    import framecast.cli.data_commands as commands

    target = tmp_path / "keep.npy"
    target.write_bytes(b"precious")
    made, before = [], signal.getsignal(signal.SIGTERM)

    def generate_then_terminate(*args, **kwargs):  # `timeout` or a scheduler stops us between two chunks
        made.append(1)
        if len(made) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return generate(*args, **kwargs)
    generate = commands.generate
    monkeypatch.setattr(commands, "generate", generate_then_terminate)
    code, _, err = run(["data", "generate", "--out", target, "--num", 2500], capsys)
    assert code == 143 and err.strip() == "framecast: terminated" and len(made) == 2
    assert target.read_bytes() == b"precious" and not list(tmp_path.glob(".*.tmp*"))
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back after the command


def test_unwritable_out_fails_before_any_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run(["train", "--out", blocker / "run", "--preset", "tiny"], capsys)
    assert code == 2 and f"'{blocker}' is a file; expected a folder" in err  # the file in the way, named
    code, _, err = run(["data", "generate", "--out", blocker / "x.npy", "--num", 1], capsys)
    assert code == 2 and f"'{blocker}' is a file; expected a folder" in err


def test_demo_with_a_checkpoint(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    from framecast.inference import loading as api

    reads, read = [], api.model_of_checkpoint
    monkeypatch.setattr(api, "model_of_checkpoint", lambda path, cls: reads.append(path) or read(path, cls))
    code, out, _ = run(["demo", "--out", tmp_path / "demo", "--num", 3, "--checkpoint", tiny_checkpoint], capsys)
    assert code == 0 and "| zeros |" in out
    for name in ("test_sequences.npy", "metrics.json", "metrics.md", "per_frame.png", "examples.png", "examples.gif",
                 "prediction.gif", "prediction.png"):
        assert (tmp_path / "demo" / name).is_file(), name
    # The demo loads the model once and hands it on; the report still names the file it came from.
    assert len(reads) == 1
    report = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert report["evaluated"]["checkpoint"] == str(tiny_checkpoint)


def test_bench_reports_every_figure(tmp_path, capsys):
    # The real measurement, on the default mocked CPU (no bf16): float32 only, whatever the machine offers.
    code, out, _ = run(["bench", "--preset", "tiny", "--seconds", 0.2, "--json", tmp_path / "b.json"], capsys)
    figures = json.loads((tmp_path / "b.json").read_text())
    assert code == 0
    threads = torch.get_num_threads()
    try:
        run(["bench", "--preset", "tiny", "--set", "hidden=4,4", "--set", "threads=1", "--seconds", 0, "--json",
             tmp_path / "c.json"], capsys)
    finally:
        torch.set_num_threads(threads)  # bench sets the process's threads, as train does
    narrow = json.loads((tmp_path / "c.json").read_text())
    assert narrow["overrides"] == {"hidden": "4,4", "threads": "1"} and narrow["parameters"] < figures["parameters"]
    assert narrow["threads"] == 1
    for key in ("train_seq_per_s", "train_gflops", "peak_gflops", "infer_ms_per_seq", "infer_seq_per_s",
                "generate_seq_per_s", "peak_memory_mb"):
        assert figures[key] > 0, key
    assert figures["precision"] == {kind: {"precision": "fp32", "reason": "bf16 not supported on this CPU"}
                                    for kind in ("train", "infer")}
    assert list(figures["precisions"]) == ["fp32"]
    assert figures["not_supported"] == {"bf16": "bf16 not supported on this CPU"}
    assert "bf16      bf16 not supported on this CPU" in out


def _mock_bench_figures(monkeypatch):
    """Each precision's own bench figures, mocked: float32 0.5 s a training step, bf16 0.25 s; inference
    0.1 s and 0.2 s a call; peaks 100 and 200 GFLOP/s."""
    from framecast.cli import bench

    monkeypatch.setattr(bench, "_measure_training", lambda *a: (0.5 if a[-2] is None else 0.25, 10**9))
    monkeypatch.setattr(bench, "_measure_inference", lambda *a: (0.1 if a[-2] is None else 0.2, 1.0))
    monkeypatch.setattr(bench, "peak_gflops", lambda *a: 100.0 if a[-1] is None else 200.0)


def test_bench_on_every_cpu_kind(tmp_path, capsys, monkeypatch, cpu_kind):
    _mock_bench_figures(monkeypatch)
    code, out, _ = run(["bench", "--preset", "tiny", "--seconds", 0, "--json", tmp_path / "b.json"], capsys)
    figures = json.loads((tmp_path / "b.json").read_text())
    chosen, why = cpu_kind.auto
    assert code == 0
    assert figures["precision"] == {kind: {"precision": chosen, "reason": why} for kind in ("train", "infer")}
    assert list(figures["precisions"]) == (["fp32", "bf16"] if cpu_kind.bf16 else ["fp32"])
    assert figures["not_supported"] == ({} if cpu_kind.bf16 else {"bf16": "bf16 not supported on this CPU"})
    assert figures["train_seq_per_s"] == (16.0 if chosen == "bf16" else 8.0)  # the chosen precision's figures
    assert f"auto, train: {chosen} ({why})" in out


def test_bench_measures_both_precisions_and_marks_autos_choice(tmp_path, capsys, monkeypatch):
    from framecast.inference import precision

    monkeypatch.setattr(precision, "onednn_supports", lambda name: name == "bf16")
    _mock_bench_figures(monkeypatch)
    # Mocked timings: bf16 faster for training, fp32 for inference.
    monkeypatch.setattr(precision, "measure", lambda shape, names: {"fp32": 1.0, "bf16": 0.5 if shape["kind"] == "train"
                                                                    else 2.0})
    code, out, _ = run(["bench", "--preset", "tiny", "--seconds", 0, "--json", tmp_path / "b.json"], capsys)
    figures = json.loads((tmp_path / "b.json").read_text())
    assert code == 0 and figures["not_supported"] == {}
    assert figures["precision"] == {
        "train": {"precision": "bf16", "reason": "measured: bf16 2.00x faster than fp32 on this CPU"},
        "infer": {"precision": "fp32", "reason": "measured: fp32 2.00x faster than bf16 on this CPU"}}
    assert figures["precisions"] == {
        "fp32": {"train_seq_per_s": 8.0, "train_gflops": 2.0, "peak_gflops": 100.0, "infer_ms_per_seq": 100.0,
                 "infer_seq_per_s": 32.0},
        "bf16": {"train_seq_per_s": 16.0, "train_gflops": 4.0, "peak_gflops": 200.0, "infer_ms_per_seq": 200.0,
                 "infer_seq_per_s": 32.0}}
    # The headline figures are auto's choices: bf16's for training, fp32's for inference.
    assert (figures["train_seq_per_s"], figures["peak_gflops"], figures["infer_ms_per_seq"]) == (16.0, 200.0, 100.0)
    lines = out.splitlines()
    assert lines[1].startswith("fp32") and lines[1].endswith("<- auto (infer)")
    assert lines[2].startswith("bf16") and lines[2].endswith("<- auto (train)")


def test_bench_stops_timing_a_precision_that_is_clearly_slower(tmp_path, capsys, monkeypatch):
    from framecast.cli import bench
    from framecast.inference import precision

    monkeypatch.setattr(precision, "onednn_supports", lambda name: name == "bf16")
    monkeypatch.setattr(precision, "measure", lambda shape, names: {"fp32": 1.0, "bf16": 3.8})
    calls = []

    def training(*a):  # float32 0.5 s a step; emulated bf16 3.8x slower
        calls.append(a[-2])
        return (0.5 if a[-2] is None else 1.9, 10**9)

    monkeypatch.setattr(bench, "_measure_training", training)
    monkeypatch.setattr(bench, "_measure_inference", lambda *a: pytest.fail("bf16 inference timed") if a[-2] else
                        (0.1, 1.0))
    monkeypatch.setattr(bench, "peak_gflops", lambda *a: 100.0)
    code, out, _ = run(["bench", "--preset", "tiny", "--seconds", 1, "--json", tmp_path / "b.json"], capsys)
    figures = json.loads((tmp_path / "b.json").read_text())
    assert code == 0 and calls == [None, torch.bfloat16]  # float32 timed; bf16 one step, then no further
    assert figures["precisions"]["bf16"] == {
        "train_seq_per_s": 2.11, "slower": "3.8x slower than fp32 in its first timed step: not timed further"}
    assert "bf16" in out and "(3.8x slower than fp32 in its first timed step: not timed further)" in out
    assert figures["train_seq_per_s"] == 8.0  # auto chose float32: its figures lead
    run(["bench", "--preset", "tiny", "--seconds", 0, "--precision", "fp32", "--json", tmp_path / "c.json"], capsys)
    assert list(json.loads((tmp_path / "c.json").read_text())["precisions"]) == ["fp32"]


def test_a_figure_whose_calls_overrun_its_time_is_timed_once_or_not_after_the_warm_up():
    import time

    from framecast.cli.bench import _timed

    calls = []

    def slow():  # the warm-up 0.2 s, then 0.5 s a call (margins for a busy machine's late wake-ups)
        calls.append(1)
        time.sleep(0.2 if len(calls) == 1 else 0.5)

    assert _timed(slow, seconds=0.3) >= 0.5 and len(calls) == 2  # two runs would overrun: the warm-up, one timed
    calls.clear()
    assert 0.2 <= _timed(slow, seconds=0.01) < 0.5 and len(calls) == 1  # the warm-up alone overran: its figure
    calls.clear()
    _timed(lambda: calls.append(1), seconds=0.02, min_runs=3)
    assert len(calls) >= 1 + 3  # quick calls: at least the minimum number of runs, for the whole time


def test_bench_peak_memory_in_the_units_of_each_system(monkeypatch):
    import resource
    from types import SimpleNamespace

    from framecast.cli.bench import _peak_memory_mb

    cpu = torch.device("cpu")
    assert 10 < _peak_memory_mb(cpu) < 100_000  # this process, a few hundred MB
    monkeypatch.setattr(resource, "getrusage", lambda _: SimpleNamespace(ru_maxrss=3 * 2**20))
    monkeypatch.setattr(sys, "platform", "linux")
    assert _peak_memory_mb(cpu) == 3 * 1024  # Linux counts KiB
    monkeypatch.setattr(sys, "platform", "darwin")
    assert _peak_memory_mb(cpu) == 3  # macOS counts bytes
    monkeypatch.setitem(sys.modules, "resource", None)  # Windows has no resource module
    assert _peak_memory_mb(cpu) is None


def test_evaluate_names_the_model_it_scored(tiny_checkpoint, mnist_file, tmp_path, capsys):
    for checkpoint, name in ((["--checkpoint", tiny_checkpoint], f"`{tiny_checkpoint}`"), ([], "the shipped model")):
        out_dir = tmp_path / f"ev{len(checkpoint)}"
        code, out, _ = run(["evaluate", *checkpoint, "--data", mnist_file, "--out", out_dir, "--limit", 1,
                            "--horizon", 2], capsys)
        first = f"{name}, 10 -> 2 frames, 1 sequence of `{mnist_file}` (sequences first)\n"
        assert code == 0 and out.startswith(first), out
        assert (out_dir / "metrics.md").read_text().startswith(f"{name}, 10 -> 2 frames")
        assert json.loads((out_dir / "metrics.json").read_text())["evaluated"]["model"] == name.strip("`")


def test_a_model_that_loses_to_a_baseline_is_told_so_in_one_line():
    from framecast.quality.evaluation import markdown_table

    def scores(mse, ssim):
        return {"mse": mse, "mae": mse, "ssim": ssim, "psnr": 10.0, "accuracy": 0.9}
    evaluated = {"model": "m.ckpt", "checkpoint": "m.ckpt", "context": 10, "horizon": 10, "sequences": 1,
                 "data": "d.npy"}
    for model, verdict in ((scores(50, 0.9), None),  # better than both baselines: no word
                           (scores(150, 0.1), "worse than zeros on SSIM; copy_last on SSIM"),
                           (scores(250, 0.1), "worse than zeros on MSE, MAE and SSIM; copy_last on SSIM")):
        result = {**model, "baselines": {"zeros": scores(200, 0.8), "copy_last": scores(300, 0.7)},
                  "evaluated": evaluated}
        told = [line for line in markdown_table(result).splitlines() if "worse than" in line]
        assert told == ([] if verdict is None else [told[0]]) and (verdict is None or verdict in told[0]), told


def test_evaluate_without_out_writes_nothing_and_a_second_report_says_it_replaces(tiny_checkpoint, mnist_file,
                                                                                  tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    code, out, _ = run(["evaluate", "--checkpoint", tiny_checkpoint, "--data", mnist_file, "--limit", 1], capsys)
    assert code == 0 and "| zeros |" in out and "report written" not in out
    assert sorted(tmp_path.rglob("*")) == before
    argv = ["evaluate", "--checkpoint", tiny_checkpoint, "--data", mnist_file, "--limit", 1, "--out", "ev"]
    assert "replacing" not in run(argv, capsys)[2]
    assert run(argv, capsys)[2].count("note: replacing the earlier report in ev\n") == 1
    argv = ["predict", "--checkpoint", tiny_checkpoint, "--input", mnist_file, "--out", "p.gif", "--horizon", 2]
    assert "replacing" not in run(argv, capsys)[2]
    assert "note: replacing the earlier p.gif\n" in run(argv, capsys)[2]


@pytest.mark.parametrize("command, stopped_in, signal_class", [
    (["evaluate", "--data", "{data}", "--out", "{d}/new/ev"], "framecast.quality.evaluation.score", KeyboardInterrupt),
    (["predict", "--input", "{data}", "--out", "{d}/new/p.gif"], "framecast.inference.prediction.predict_array",
     KeyboardInterrupt),
    (["predict", "--input", "{data}", "--out", "{d}/new/all.npy"], "framecast.inference.prediction.predict_array",
     KeyboardInterrupt),
    (["evaluate", "--data", "{data}", "--out", "{d}/new/ev"], "framecast.quality.evaluation.score", "terminated"),
])
def test_a_stopped_evaluate_or_predict_says_so_and_leaves_no_empty_folder(tiny_checkpoint, mnist_file, tmp_path,
                                                                          capsys, monkeypatch, command, stopped_in,
                                                                          signal_class):
    from framecast.errors import Interrupted

    def stop(*args, **kwargs):  # Ctrl-C (or SIGTERM, which the CLI turns into Interrupted) during the work
        raise Interrupted("terminated", sigterm=True) if signal_class == "terminated" else KeyboardInterrupt
    monkeypatch.setattr(stopped_in, stop)
    argv = [a.format(data=mnist_file, d=tmp_path) for a in command] + ["--checkpoint", tiny_checkpoint]
    code, _, err = run(argv, capsys)
    expected = ("framecast: terminated", 143) if signal_class == "terminated" else ("framecast: interrupted", 130)
    assert (err.splitlines()[-1], code) == expected  # after a progress bar, if one had started
    assert not (tmp_path / "new").exists()


def test_predict_shows_progress_for_a_long_rollout(tiny_checkpoint, mnist_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("framecast.inference.rollout.PROGRESS_AFTER_S", 0)  # every rollout counts as long here
    code, _, err = run(["predict", "--checkpoint", tiny_checkpoint, "--input", mnist_file, "--out",
                        tmp_path / "p.npy", "--index", 0, "--horizon", 5], capsys)
    assert code == 0 and "predict: 100%" in err and "14/14" in err  # 10 context + 5 - 1 model steps


def test_predict_a_whole_file_from_the_end(tiny_checkpoint, mnist_file, tmp_path, capsys):
    code, out, err = run(["predict", "--checkpoint", tiny_checkpoint, "--input", mnist_file, "--out",
                          tmp_path / "all.npy", "--horizon", 3, "--limit", 4, "--batch-size", 3], capsys)
    assert code == 0 and "prediction (4 sequences of 3 frames)" in out and "4/4" in err
    every = np.load(tmp_path / "all.npy")
    assert every.shape == (4, 3, 64, 64) and every.dtype == np.uint8  # the input's layout: no channel axis
    model = framecast_load(tiny_checkpoint)
    one = np.rint(model.predict(np.load(mnist_file)[2, :10], horizon=3) * 255)  # batched as one: the same
    assert np.abs(every[2].astype(int) - one).max() <= 1
    code, _, _ = run(["predict", "--checkpoint", tiny_checkpoint, "--input", mnist_file, "--out",
                      tmp_path / "end.npy", "--horizon", 3, "--from-end", "--context", 5], capsys)
    after_the_end = np.rint(model.predict(np.load(mnist_file)[:, -5:], horizon=3) * 255)  # (6, 3, 64, 64)
    assert code == 0 and np.abs(np.load(tmp_path / "end.npy").astype(int) - after_the_end).max() <= 1
    code, _, _ = run(["predict", "--checkpoint", tiny_checkpoint, "--input", mnist_file, "--out",
                      tmp_path / "end.gif", "--index", 1, "--horizon", 3, "--from-end", "--context", 5], capsys)
    assert code == 0 and Image.open(tmp_path / "end.gif").n_frames == 5 + 3
    code, _, err = run(["predict", "--checkpoint", tiny_checkpoint, "--input", mnist_file, "--out",
                        tmp_path / "one.gif", "--limit", 2], capsys)
    assert code == 2 and err.startswith("framecast: error: --limit takes the first N sequences")


def framecast_load(path):
    from framecast.inference.loading import load

    return load(path, device="cpu")


def test_every_option_says_what_it_does_and_its_default():
    import argparse

    from framecast.cli.main import build_parser

    def commands(parser, name):
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    yield from commands(sub, f"{name} {sub_name}")
    for name, parser in commands(build_parser(), "framecast"):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction):
                continue
            where = f"{name} {action.option_strings or action.dest}"
            assert action.help, f"{where} has no help"
            assert action.required or not action.option_strings or "default" in action.help, f"{where}: no default"


def test_framecast_config_lists_every_key_with_type_default_and_meaning(capsys):
    import re

    from framecast.config import FIELDS

    def table(out):  # key, type, default, meaning: columns two or more spaces apart
        return {cells[0]: cells for line in out.splitlines() if line.startswith("  ")
                for cells in [re.split(r"\s{2,}", line.strip())]}
    code, out, _ = run(["config"], capsys)
    rows = table(out)
    assert code == 0 and sorted(rows) == sorted(FIELDS)  # every key, once
    assert rows["lr"][1:3] == ["float", "0.002"] and rows["hidden"][1:3] == ["ints", "64,64,64"]
    assert rows["max_minutes"][1:3] == ["float or none", "none"] and rows["peephole"][1:3] == ["bool", "false"]
    assert all(len(row) == 4 and len(row[3]) > 10 for row in rows.values())  # a meaning each
    code, out, _ = run(["config", "--preset", "tiny"], capsys)
    assert code == 0 and table(out)["hidden"][1:3] == ["ints", "8,8"]
    code, _, err = run(["config", "--preset", "nope"], capsys)
    assert code == 2 and "unknown preset 'nope'" in err


def test_help_and_readme_give_the_demo_one_time():
    from framecast.cli.main import DEMO_TIME, build_parser

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert DEMO_TIME in build_parser().format_help() and DEMO_TIME in readme
    assert "in a minute" not in build_parser().format_help()


def test_your_own_video_in_three_commands(tmp_path, capsys, monkeypatch):
    from test_media import moving_square

    from framecast.data.media import probe_video, write_video

    monkeypatch.chdir(tmp_path)  # the README's quick start, on a tiny clip and the tiny preset
    clip = moving_square(80, h=16, w=24)
    write_video(clip[:64], "first.mp4")
    write_video(clip[64:], "last.mp4")
    code, out, _ = run(["train", "--data", "first.mp4", "--out", "runs/mine", "--preset", "tiny", "--epochs", 1,
                        "--set", "steps_per_epoch=2", "--no-progress"], capsys)
    assert code == 0 and "verdict on " in out
    code, out, err = run(["evaluate", "--checkpoint", "runs/mine/best.ckpt", "--data", "last.mp4",
                          "--context", "4", "--horizon", "4"], capsys)
    assert code == 0 and "scoring 9 windows of 8 frames (every 1 frame) of 1 recording" in err and "| shift |" in out
    code, out, _ = run(["predict", "--checkpoint", "runs/mine/best.ckpt", "--input", "last.mp4", "--out", "next.mp4"],
                       capsys)
    assert code == 0 and probe_video("next.mp4").frames == 20
    assert "prediction (10 context + 10 predicted frames) written to next.mp4" in out  # what the video holds


def _mistakes(folder: Path) -> list[tuple[list[str], str]]:
    """Four mistakes that need no model, and the one line each ends in (as the terminal shows it)."""
    (folder / "run").mkdir()
    (folder / "run" / "last.ckpt").write_bytes(b"a run's checkpoint")
    return [
        (["train", "--out", "run"], "framecast: error: run already holds a run; pass --resume to continue it, or "
                                    "choose a new --out"),
        (["train", "--out", "fresh", "--resume"], "framecast: error: nothing to resume: fresh/last.ckpt not found"),
        (["evaluate", "--checkpoint", "missing.ckpt", "--data", "test.npy"],
         "framecast: error: checkpoint 'missing.ckpt' not found"),
        (["predict", "--input", "test.npy", "--out", "next.bmp"],
         "framecast: error: output 'next.bmp' should end in one of .mp4, .gif, .png, .npy"),
    ]


def test_mistakes_that_need_no_model_end_in_one_line(tmp_path):
    for argv, line in _mistakes(tmp_path):
        result = subprocess.run([sys.executable, "-m", "framecast", *argv], cwd=tmp_path, capture_output=True,
                                text=True, timeout=120)
        assert (result.returncode, result.stderr, result.stdout) == (2, line + "\n", ""), argv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no run folder made for the refused resume


def test_mistakes_that_need_no_model_are_told_before_torch_is_imported(tmp_path):
    """Importing torch and Lightning takes seconds: these mistakes are told without them (so, at once)."""
    cases = _mistakes(tmp_path) + [
        (["export", "--format", "onnx", "--out", "model.xyz"],
         "framecast: error: output 'model.xyz' should end in .onnx for the onnx format"),
        (["serve", "--checkpoint", "runs"], "framecast: error: checkpoint 'runs' not found"),
    ]
    script = ("import contextlib, io, json, sys\n"
              "from framecast.cli.main import main\n"
              "done = []\n"
              "for argv in json.loads(sys.argv[1]):\n"
              "    err = io.StringIO()\n"
              "    with contextlib.redirect_stderr(err):\n"
              "        done.append([main(argv), err.getvalue()])\n"
              "heavy = sorted(m for m in ('torch', 'lightning', 'gradio', 'numpy') if m in sys.modules)\n"
              "print(json.dumps([done, heavy]))\n")
    result = subprocess.run([sys.executable, "-c", script, json.dumps([argv for argv, _ in cases])], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    done, heavy = json.loads(result.stdout)
    assert done == [[2, line + "\n"] for _, line in cases]
    assert heavy == []


def test_demo_help_lists_the_files_it_writes():
    from framecast.cli.demo import FILES

    result = subprocess.run([sys.executable, "-m", "framecast", "demo", "--help"], capture_output=True, text=True,
                            timeout=60)
    text = " ".join(result.stdout.split())
    assert result.returncode == 0 and f"--out: {', '.join(FILES)}." in text


def test_counts_of_one_are_singular(tmp_path, capsys, tiny_checkpoint):
    code, out, _ = run(["data", "generate", "--out", tmp_path / "one.npy", "--num", 1, "--frames", 2, "--digits", 1],
                       capsys)
    assert code == 0 and "wrote 1 sequence of 2 frames (64x64, 1 digit," in out
    np.save(tmp_path / "short.npy", np.zeros((1, 1, 64, 64), np.uint8))
    code, _, err = run(["predict", "--checkpoint", tiny_checkpoint, "--input", tmp_path / "short.npy", "--out",
                        tmp_path / "next.gif"], capsys)
    assert code == 2 and "has 1 frame; --context 10 needs at least 10" in err
    code, out, _ = run(["predict", "--checkpoint", tiny_checkpoint, "--input", tmp_path / "one.npy", "--out",
                        tmp_path / "next.npy", "--context", 1, "--horizon", 1], capsys)
    assert code == 0 and "prediction (1 sequence of 1 frame) written" in out
    code, out, _ = run(["predict", "--checkpoint", tiny_checkpoint, "--input", tmp_path / "one.npy", "--index", 0,
                        "--out", tmp_path / "next.gif", "--context", 1, "--horizon", 1], capsys)
    assert code == 0 and "prediction (1 context + 1 predicted frame) written" in out


def test_progress_into_a_pipe_comes_as_lines_not_redraws(tiny_checkpoint, mnist_file, tmp_path):
    """Into a pipe (a log, CI, nohup) evaluate's progress is whole lines; a terminal gets tqdm's redrawn bar."""
    result = subprocess.run([sys.executable, "-m", "framecast", "evaluate", "--checkpoint", str(tiny_checkpoint),
                             "--data", str(mnist_file), "--limit", "2", "--batch-size", "1", "--horizon", "2"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr, repr(result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("evaluate:")]
    assert lines and "100%" in lines[-1] and "2/2" in lines[-1], result.stderr


def test_progress_bar_redraws_on_a_terminal_and_writes_lines_elsewhere(monkeypatch):
    import io

    from framecast.inference.progress import progress_bar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, redrawn in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        for _ in progress_bar(range(3), desc="work"):
            pass
        assert ("\r" in stream.getvalue()) == redrawn, repr(stream.getvalue())
        assert "work: 100%" in stream.getvalue()
