"""The README's library snippets (the layer, export, onnxruntime, save/load) run as written, in a fresh folder."""

import re
import shlex
import shutil
from pathlib import Path

import pytest

from framecast.cli import main
from framecast.data.commands import generate_file

README = Path(__file__).parent.parent / "README.md"
MARK = "<!-- run by tests/test_readme.py -->"


def snippets() -> list[tuple[str, str]]:
    """(language, code) of every fenced block right after the marker, in README order."""
    return re.findall(re.escape(MARK) + r"\n```(python|bash)\n(.*?)```", README.read_text(), flags=re.S)


def test_every_marker_is_followed_by_a_snippet():
    assert len(snippets()) == README.read_text().count(MARK) == 4


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.load` is deprecated")
def test_the_readme_snippets_run(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("runs/demo").mkdir(parents=True)
    shutil.copy(tiny_checkpoint, "runs/demo/best.ckpt")  # what `framecast train --out runs/demo` leaves
    generate_file("test.npy", num=5, seed=0)              # what `framecast data generate --out test.npy` leaves
    results = []
    for language, code in snippets():
        if language == "bash":
            for line in code.strip().splitlines():
                assert line.startswith("framecast "), line
                assert main(shlex.split(line)[1:]) == 0, line
        else:
            namespace = {"__name__": "readme"}
            exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
            results.append(namespace)
    layer, onnx, hub = results
    assert tuple(layer["next_frame"].shape) == (4, 1, 64, 64)
    assert onnx["future"].shape == (5, 10, 1, 64, 64) and 0 <= onnx["future"].min() <= onnx["future"].max() <= 1
    assert sorted(p.name for p in Path("convlstm-mnist").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert hub["model"].source == "convlstm-mnist" and Path("model.pt").is_file()
