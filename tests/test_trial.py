"""`framecast try`: one clip made here, cut in time, a tiny model trained on its first 80%, scored against the
baselines on the last 20% and predicted; the summary's verdict in words; and mistakes refused in one line before
anything is written, leaving no --out folder behind."""

from __future__ import annotations

import json
import re

import pytest
from test_media import moving_square

from framecast.cli import trial
from framecast.cli.main import main
from framecast.data.media import probe_video, write_video
from framecast.errors import UserError

# A tiny model for a few seconds: windows of 4 -> 4 frames
TINY = ["--preset", "tiny", "--set", "context=4", "--set", "frames=8", "--set", "epochs=2", "--set",
        "steps_per_epoch=3", "--set", "val_sequences=4"]


def clip(path, frames: int):
    write_video(moving_square(frames, h=16, w=24, step=1), path, fps=10)
    return path


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_try_cuts_trains_scores_and_predicts_a_clip_and_says_which_wins(tmp_path, capsys):
    out = tmp_path / "try"
    code, printed, err = run(["try", clip(tmp_path / "clip.mp4", 60), "--out", out, "--minutes", 60, "--size", 12,
                              "--no-progress", *TINY], capsys)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {"first.mp4", "last.mp4", "run", "eval", "prediction.mp4",
                                               "summary.md", "summary.json"}
    assert (out / "run" / "best.ckpt").is_file() and (out / "eval" / "metrics.json").is_file()
    # the cut: 48 frames to train on, 12 held out, both read at 12 pixels on the shorter side
    first, last = probe_video(out / "first.mp4"), probe_video(out / "last.mp4")
    assert (first.frames, last.frames, last.height, last.width) == (48, 12, 12, 18)
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["frames"], summary["first"]["frames"], summary["last"]["frames"]) == (60, 48, 12)
    ev = summary["evaluation"]
    assert (ev["windows"], ev["stride"], ev["context"], ev["horizon"]) == (5, 1, 4, 4)  # every window of 12 frames
    report = json.loads((out / "eval" / "metrics.json").read_text())
    assert ev["model"]["mse"] == round(report["mse"], 4) and set(ev["baselines"]) == set(report["baselines"])
    verdict = summary["verdict"]
    best = min(report["baselines"], key=lambda name: report["baselines"][name]["mse"])
    assert verdict["best_baseline"] == best
    assert verdict["model_wins"] == (report["mse"] < report["baselines"][best]["mse"])
    assert verdict["words"] in (out / "summary.md").read_text() and verdict["words"] in printed
    assert summary["training"]["steps"] == 6 and "advice" in summary["training"]["verdict"]
    assert summary["seconds"]["total"] >= summary["seconds"]["train"] > 0
    prediction = probe_video(out / "prediction.mp4")
    assert prediction.frames == 8 and prediction.width > 2 * 18  # the context, then truth | prediction


@pytest.mark.parametrize("case, problem", [
    ("missing", "clip '.*nowhere.mp4' not found"),
    ("not a clip", "is not a clip; expected a video"),
    ("too short", r"has 35 frames; a try trains on its first 80% and scores its last 20% on windows of 8 frames "
                  r"\(context 4 \+ horizon 4\), which needs a clip of at least 36 frames"),
    ("preset", "unknown preset 'huge'"),
    ("max_minutes", "max_minutes is set by --minutes"),
])
def test_a_mistake_ends_in_one_line_before_anything_is_written(tmp_path, capsys, case, problem):
    path = {"missing": tmp_path / "nowhere.mp4", "not a clip": tmp_path / "notes.txt"}.get(case)
    if case == "not a clip":
        path.write_text("not a video")
    path = path or clip(tmp_path / "clip.mp4", 35 if case == "too short" else 60)
    extra = {"preset": ["--preset", "huge"], "max_minutes": ["--set", "max_minutes=3"]}.get(case, [])
    out = tmp_path / "deep" / "try"
    code, printed, err = run(["try", path, "--out", out, *TINY, *extra], capsys)
    assert code == 2 and printed == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("framecast: error: ")
    assert re.search(problem, err), err
    assert not (tmp_path / "deep").exists()


def test_the_shortest_clip_a_refusal_names_is_taken(tmp_path):
    """36 frames: 28 to train on (a window and 1.5 to validate on) and 8 held out, a window of 8."""
    assert trial.shortest_clip(8) == 36
    config = trial.build_config("tiny", None, {"context": 4, "frames": 8, "data": "clip.mp4"})
    frames = moving_square(36, h=16, w=24)
    trial._check_parts(config, "clip", frames[:28], frames[28:])  # no error
    with pytest.raises(UserError, match="at least 36 frames"):
        trial._check_parts(config, "clip", frames[:28], frames[28:35])


def test_a_folder_with_files_is_refused_and_left_as_it_was(tmp_path, capsys):
    out = tmp_path / "try"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    code, _, err = run(["try", clip(tmp_path / "clip.mp4", 60), "--out", out, *TINY], capsys)
    assert code == 2 and "is not empty; choose a new --out" in err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("trained", [False, True])
def test_a_refusal_during_the_run_removes_what_it_wrote_unless_a_model_was_trained(tmp_path, monkeypatch, trained):
    def refused(run, **kwargs):
        run.mkdir()
        (run / ("best.ckpt" if trained else "metrics.csv")).write_text("")
        raise UserError("refused by training")

    monkeypatch.setattr(trial, "train", refused)
    out = tmp_path / "new" / "try"
    with pytest.raises(UserError, match="refused by training"):
        trial.try_footage(clip(tmp_path / "clip.mp4", 60), out, preset="tiny", overrides={"context": 4, "frames": 8})
    if trained:  # minutes of training are not thrown away
        assert (out / "run" / "best.ckpt").is_file() and (out / "first.mp4").is_file()
    else:
        assert not (tmp_path / "new").exists()


def test_the_verdict_in_words():
    def result(model, **baselines):
        return {"mse": model, "mae": 1.0, "ssim": 0.5,
                "baselines": {name: {"mse": mse, "mae": 1.0, "ssim": 0.5} for name, mse in baselines.items()}}

    won = trial.verdict_words(result(88.0, zeros=900.0, copy_last=100.0, shift=120.0))
    assert won["words"] == "the model's MSE is 12.0% below copy_last's, the best baseline"
    assert won["model_wins"] and won["model_vs_baseline_percent"] == -12.0
    lost = trial.verdict_words(result(100.0, zeros=900.0, copy_last=120.0, shift=8.0))
    assert lost["words"] == "a baseline still wins: shift's MSE is 92.0% below the model's (8.00 against 100.00)"
    assert not lost["model_wins"] and lost["best_baseline"] == "shift" and lost["model_vs_baseline_percent"] == 1150.0
    elsewhere = result(88.0, copy_last=100.0)
    elsewhere["baselines"]["copy_last"]["ssim"] = 0.6
    assert trial.verdict_words(elsewhere)["words"].endswith("a baseline does better on another measure: copy_last "
                                                          "on SSIM")
    kept = trial.verdict_words(result(100.00004, copy_last=120.0, flow=100.0), kept="flow")
    assert kept["words"] == ("the run kept its start, flow, as its model (its validation showed no gain over it): "
                             "flow is the best baseline here (100.00)")
    kept = trial.verdict_words(result(120.0, copy_last=120.0, shift=8.0), kept="copy_last")
    assert kept["words"].startswith("the run kept its start, copy_last, as its model (its validation showed no gain "
                                    "over it); a baseline still wins: shift's MSE is 93.3% below its (8.00 against")


def test_evaluation_scores_the_windows_that_fit_in_the_time_left():
    assert trial.fitting_windows(100.0, 2.0) == 40   # 80% of the seconds left
    assert trial.fitting_windows(-5.0, 2.0) == 1     # a spent budget still scores one window
