"""The README runs as written, in the order it is read, in a fresh folder: every shell command a quick test can
afford, and the library snippets marked as run by this test. Tiny settings keep it quick: a tiny model stands in
for the shipped one and the tiny preset for the default, and a few commands get an option that makes them smaller
(TINY); the README's Python API snippet trains for minutes and is not run (tests/test_training.py trains)."""

import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

import framecast
from framecast import config
from framecast.cli.main import main
from framecast.inference import loading as api
from framecast.model import checkpoint

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
MARK = "<!-- run by tests/test_readme.py -->"
# Commands the test does not run, and why; each is matched by its start.
SKIPPED = {
    "python3 -m venv": "installs framecast (the test runs inside that install)",
    ".venv/bin/pip install": "installs an extra",
    ".venv/bin/ruff check": "the project's own checks: this test is one of them",
    ".venv/bin/python -m pytest": "the project's own tests: this test is one of them",
    "framecast serve": "serves until stopped; test_web.py starts it and stops it",
    "framecast train --out RUN --init": "trains the 3 x 128 model for 100 minutes; what it names is checked, and a "
                                        "tiny run stands in for RUN",
}


# Options added to commands, by their start: the same work on fewer sequences (evaluation and the demo's metrics
# take seconds per hundred sequences on a CPU) or epochs (tests/test_training.py trains for longer).
TINY = {
    "framecast demo": ["--num", "4"],
    "framecast train": ["--epochs", "1"],
    "framecast evaluate": ["--limit", "4"],
    "framecast data generate": ["--num", "12"],
    "framecast predict --input test.npy --out preds.npy --limit 100": ["--limit", "6"],
}


def snippets() -> list[tuple[str, str]]:
    """(language, code) of every fenced block right after the marker, in README order."""
    return re.findall(re.escape(MARK) + r"\n```(python|bash)\n(.*?)```", README.read_text(), flags=re.S)


def steps() -> list[tuple[str, str]]:
    """The README in reading order: ("bash", one command) for each command of every shell block (continued lines
    joined, comments dropped, `a && b` as two) and ("python", code) for each marked Python block."""
    found = []
    for marked, language, code in re.findall(r"(" + re.escape(MARK) + r"\n)?```(bash|python)\n(.*?)```",
                                             README.read_text(), flags=re.S):
        if language == "python":
            if marked:
                found.append(("python", code))
            continue
        for line in code.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            found += [("bash", " ".join(part.split())) for part in line.split(" && ") if part.strip()]
    return found


def test_every_marker_is_followed_by_a_snippet():
    assert len(snippets()) == README.read_text().count(MARK) == 4


def test_the_skipped_and_smaller_commands_are_in_the_readme():
    commands = [code for language, code in steps() if language == "bash"]
    for start in [*SKIPPED, *TINY]:  # a rule that matches nothing would hide a command it no longer changes
        assert any(command.removeprefix(".venv/bin/").startswith(start) or command.startswith(start)
                   for command in commands), start


def _footage(path: Path) -> None:
    """A short video standing in for the README's first.mp4 / last.mp4 (the user's own footage)."""
    from test_media import moving_square

    from framecast.data.media import write_video

    write_video(moving_square(frames=80, h=48, w=64), path)


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.load` is deprecated")
def test_the_readme_runs_in_order(tiny_checkpoint, tmp_path, monkeypatch):
    tiny_weights = checkpoint.export(tiny_checkpoint, tmp_path / "tiny.safetensors")
    monkeypatch.setattr(checkpoint, "SHIPPED", tiny_weights)  # the shipped model: a tiny one
    monkeypatch.setattr(api, "SHIPPED", tiny_weights)
    monkeypatch.setitem(config.PRESETS, "default", config.PRESETS["tiny"])  # a run of minutes: a few steps
    folder = tmp_path / "clone"
    folder.mkdir()
    monkeypatch.chdir(folder)
    _footage(Path("first.mp4"))
    _footage(Path("last.mp4"))
    ran, results = [], []
    for language, code in steps():
        if language == "python":
            namespace = {"__name__": "readme"}
            exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
            results.append(namespace)
            continue
        skipped = next((start for start in SKIPPED if code.startswith(start)), None)
        if skipped == "framecast serve":
            args = shlex.split(code)
            if "--checkpoint" in args:  # what it serves is there by now
                assert Path(args[args.index("--checkpoint") + 1]).is_file(), code
        elif skipped == "framecast train --out RUN --init":
            args = shlex.split(code)
            assert (ROOT / args[args.index("--init") + 1]).is_file(), code  # the path into the package, from a clone
            Path("RUN").mkdir()
            shutil.copy(tiny_checkpoint, "RUN/best.ckpt")  # what the run leaves
        if skipped:
            continue
        command = code.removeprefix(".venv/bin/")
        args = shlex.split(command) + next((extra for start, extra in TINY.items() if command.startswith(start)), [])
        assert args[0] == "framecast", code
        assert main(args[1:]) == 0, code
        ran.append(args[1])
    assert ran == ["demo", "train", "evaluate", "predict", "data", "data", "train", "evaluate", "predict", "predict",
                   "export", "export", "export"]
    for name in ("test_sequences.npy", "metrics.json", "prediction.gif"):
        assert Path("demo", name).is_file()
    assert Path("runs/mine/best.ckpt").is_file() and Path("next.mp4").is_file() and Path("look/grid.png").is_file()
    assert np.load("preds.npy").shape == (6, 10, 64, 64)  # the layout of test.npy: no channel axis added
    assert Path("eval/metrics.json").is_file() and Path("next.gif").is_file() and Path("model.safetensors").is_file()
    layer, onnx, hub = results
    assert tuple(layer["next_frame"].shape) == (4, 1, 64, 64)
    assert onnx["future"].shape == (5, 10, 1, 64, 64) and 0 <= onnx["future"].min() <= onnx["future"].max() <= 1
    assert sorted(p.name for p in Path("convlstm-mnist").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert hub["model"].source == "convlstm-mnist" and Path("model.pt").is_file()
    assert isinstance(hub["model"], framecast.inference.loading.LoadedModel)
