"""The engine that runs a rollout: ONNX Runtime's frames equal PyTorch's, `auto` takes the one measured faster (timings
mocked here, nothing timed), measures once per machine, model and shape, and falls back to PyTorch wherever ONNX
Runtime cannot run; `--engine onnx` where it cannot is one clear line."""

import json
import shutil
import sys

import numpy as np
import pytest
import torch

from framecast.cli.main import main
from framecast.config import build_config
from framecast.errors import UserError
from framecast.inference import engine
from framecast.inference.engine import Choice, choose, pick
from framecast.inference.loading import LoadedModel
from framecast.inference.rollout import predict_array

REAL_MEASURE = engine.measure  # conftest mocks it once the session starts
SHAPE = (1, 10, 64, 64, 1)  # a single 64x64 grey sequence of 10 context frames


def tiny_model(seed: int = 0) -> LoadedModel:
    """The tiny preset's model, with weights from `seed` that make every part count."""
    model = LoadedModel(build_config("tiny").model).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=g) - 0.5)
    return model


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory):
    """The tiny model and its one-step graph, exported once for this file's tests (it takes seconds)."""
    model = tiny_model()
    folder = tmp_path_factory.mktemp("engine") / "framecast"
    choose(model, SHAPE, 10, "onnx", folder=folder)
    return model, next((folder / "onnx").glob("*.onnx"))


def with_graph(tiny_graph, folder):
    """The tiny model, its graph copied into the cache `folder` (so nothing is exported), and `folder`."""
    model, graph = tiny_graph
    (folder / "onnx").mkdir(parents=True, exist_ok=True)
    shutil.copy(graph, folder / "onnx" / graph.name)
    return model, folder


def test_onnx_runtime_runs_a_flow_model_with_its_field_as_pytorch_does(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    config = build_config("tiny", overrides={"warp": True, "flow": True, "residual": True, "channels": 3,
                                             "data": "colour.npy"}).model
    model = LoadedModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.3, 0.3)
    frames = np.random.default_rng(0).random((2, 5, 21, 30, 3)).astype(np.float32)  # not whole patches
    np.testing.assert_allclose(predict_array(model, frames, 4, engine="onnx"), predict_array(model, frames, 4),
                               atol=1e-4, rtol=0)


def timings(calls: list, seconds: dict):
    """A mocked `engine.measure` that records its calls and returns `seconds`."""
    def measure(model, shape, folder, digest):
        calls.append((shape, digest))
        return dict(seconds)
    return measure


def test_onnx_runtime_predicts_the_frames_pytorch_does_at_any_size_batch_and_horizon(tiny_graph, tmp_path,
                                                                                     monkeypatch):
    model, folder = with_graph(tiny_graph, tmp_path / "framecast")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    rng = np.random.default_rng(0)
    one = rng.integers(0, 256, (10, 64, 64), dtype=np.uint8)  # [T, H, W] uint8
    odd = rng.random((3, 4, 37, 50, 1)).astype(np.float32)  # a batch of frames not a whole number of patches
    for frames, horizon, shape in ((one, 10, (10, 64, 64)), (odd, 5, (3, 5, 37, 50, 1)),
                                   (odd[:1, :2, :5, :9], 1, (1, 1, 5, 9, 1))):
        onnx, pytorch = (predict_array(model, frames, horizon, engine=e) for e in ("onnx", "torch"))
        assert onnx.shape == pytorch.shape == shape
        np.testing.assert_allclose(onnx, pytorch, atol=1e-4, rtol=0)
    np.testing.assert_allclose(model.predict(odd, 3, engine="onnx"), model.predict(odd, 3), atol=1e-4, rtol=0)
    assert len(list((folder / "onnx").iterdir())) == 1  # one graph serves every size, batch, context and horizon


def test_every_optional_part_runs_in_onnx_runtime_quietly(tmp_path, capfd):
    config = build_config("default", overrides={"frame_size": 16, "patch": 2, "hidden": "4,4", "kernel": "3,5",
                                                "peephole": True, "layer_norm": True, "batch_norm": True,
                                                "activation": "relu", "head_time": 2, "head_kernel": 3,
                                                "residual": True})
    model = LoadedModel(config.model).train()
    with torch.no_grad():
        for p in model.parameters():  # fresh peepholes and a residual head are zero: make every part count
            p.uniform_(-0.5, 0.5)
    choice = choose(model.eval(), (3, 3, 16, 16, 1), 4, "onnx", folder=tmp_path)
    frames = torch.rand(3, 3, 1, 16, 16)  # exported with a batch of 2: the batch stays free
    with torch.no_grad():
        expected = model(frames, 4)
    torch.testing.assert_close(engine.rollout(choice.session, model, frames, 4), expected, atol=1e-4, rtol=0)
    out, err = capfd.readouterr()  # nothing from the exporter or ONNX Runtime: warnings, logs, C++ messages
    assert out == "" and err == "note: exporting the model's one-step graph for ONNX Runtime (once per model: " \
                                "seconds)\n"


@pytest.mark.parametrize("seconds, steps, started, chosen, why", [
    ({"torch": 0.030, "onnx": 0.020, "start": 0.3}, 1000, False, "onnx", "onnx 1.48x faster than torch on this CPU"),
    ({"torch": 0.020, "onnx": 0.030, "start": 0.3}, 1000, True, "torch", "torch 1.50x faster than onnx on this CPU"),
    ({"torch": 0.0102, "onnx": 0.0100, "start": 0.3}, 1000, True, "torch",
     "onnx only 1.02x faster than torch on this CPU: torch kept"),  # within a busy machine's noise
    ({"torch": 0.030, "onnx": 0.020, "start": 0.3}, 19, False, "torch",  # one short rollout in a new process
     "onnx's start-up (0.30 s) outweighs its gain on this job"),
    ({"torch": 0.030, "onnx": 0.020, "start": 0.3}, 19, True, "onnx", "onnx 1.50x faster than torch on this CPU"),
])
def test_the_engine_that_finishes_the_job_sooner_is_chosen(seconds, steps, started, chosen, why):
    assert pick(seconds, steps, started) == (chosen, why)


def test_auto_measures_once_then_runs_the_faster_engine_from_the_cache(tiny_graph, tmp_path, monkeypatch):
    model, folder = with_graph(tiny_graph, tmp_path / "framecast")
    calls = []
    monkeypatch.setattr(engine, "measure", timings(calls, {"torch": 0.030, "onnx": 0.020, "start": 0.3}))
    first = choose(model, SHAPE, 10, rollouts=None, folder=folder)  # the page: serves until stopped
    assert (first.engine, first.reason) == ("onnx", "measured: onnx 1.50x faster than torch on this CPU")
    assert first.session is not None and len(calls) == 1
    monkeypatch.setattr(engine, "measure", timings(calls, {"torch": 0.010, "onnx": 0.020, "start": 0.3}))
    again = choose(model, SHAPE, 30, rollouts=None, folder=folder)  # another horizon: the same seconds per step
    assert again == Choice("onnx", "cached: onnx 1.50x faster than torch on this CPU") and len(calls) == 1
    stored = json.loads((folder / "engine.json").read_text())["machines"]
    (machine, entries), = stored.items()
    assert "onnxruntime" in machine and list(entries) == [f"{engine.weights_digest(model)[:16]} batch 1, 64x64x1"]
    # Another frame size or batch is measured on its own.
    assert choose(model, (32, 10, 48, 64, 1), 10, rollouts=4, folder=folder).engine == "torch" and len(calls) == 2
    assert calls[-1][0] == (engine.MEASURE_BATCH, 48, 64, 1)  # a batch of 32 timed at 8


def test_another_model_does_not_reuse_a_decision(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(engine, "measure", timings(calls, {"torch": 0.010, "onnx": 0.020, "start": 0.3}))
    model, other = tiny_model(0), tiny_model(1)  # the same architecture, other weights
    for m in (model, model, other, other):
        assert choose(m, SHAPE, 10, rollouts=None, folder=tmp_path).reason.startswith(("measured", "cached"))
    assert len(calls) == 2 and calls[0][1] != calls[1][1]
    wider = LoadedModel(build_config("tiny", overrides={"hidden": "8,12"}).model).eval()
    choose(wider, SHAPE, 10, rollouts=None, folder=tmp_path)
    assert len(calls) == 3
    assert engine.weights_digest(tiny_model(0)) == engine.weights_digest(model)  # equal weights: one key


def test_a_short_job_is_not_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "measure", lambda *args: pytest.fail("a 10 -> 10 prediction was measured"))
    choice = choose(tiny_model(), SHAPE, 10, rollouts=1, folder=tmp_path)
    assert choice == Choice("torch", f"not measured: 19 sequence-steps, fewer than {engine.MEASURE_FROM}")
    assert not tmp_path.joinpath("onnx").exists()


def test_without_onnxruntime_auto_runs_pytorch(tiny_graph, tmp_path, monkeypatch):
    model, folder = with_graph(tiny_graph, tmp_path / "framecast")
    monkeypatch.setattr(engine, "measure", REAL_MEASURE)
    monkeypatch.setattr(engine, "_SESSIONS", {})
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # installed, but its import fails
    choice = choose(model, SHAPE, 10, rollouts=None, folder=folder)
    assert choice.engine == "torch" and choice.reason.startswith("ONNX Runtime could not run the model (")
    with pytest.raises(UserError, match=r"^engine 'onnx' needs onnxruntime, onnx and onnxscript \(.*\); install "
                                        r"them with pip install 'framecast\[export\]'$"):
        choose(model, SHAPE, 10, "onnx", folder=folder)
    monkeypatch.setattr(engine, "_onnxruntime_version", lambda: None)  # not installed at all
    assert choose(model, SHAPE, 10, rollouts=None, folder=folder) == Choice(
        "torch", "onnxruntime is not installed; install it with pip install 'framecast[export]'")
    frames = np.zeros((10, 64, 64), np.uint8)
    np.testing.assert_array_equal(predict_array(model, frames, 2, engine="auto"), predict_array(model, frames, 2))


def test_engine_onnx_without_onnxruntime_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(engine, "_onnxruntime_version", lambda: None)
    np.save(tmp_path / "seqs.npy", np.zeros((2, 12, 64, 64), np.uint8))
    code = main(["predict", "--input", str(tmp_path / "seqs.npy"), "--out", str(tmp_path / "p.npy"), "--engine",
                 "onnx"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err == ("framecast: error: engine 'onnx': onnxruntime is not installed; "
                                               "install it with pip install 'framecast[export]'\n")
    assert not tmp_path.joinpath("p.npy").exists()


def test_a_model_the_exporter_cannot_take_runs_in_pytorch_and_is_not_exported_again(tmp_path, monkeypatch):
    tries = []

    def refuse(*args, **kwargs):
        tries.append(args)
        raise RuntimeError("Unsupported operator\nmore lines of exporter detail")

    monkeypatch.setattr(engine, "measure", REAL_MEASURE)
    monkeypatch.setattr(engine, "write_onnx", refuse)
    model = tiny_model()
    for how in ("", "cached: "):
        choice = choose(model, SHAPE, 10, rollouts=None, folder=tmp_path)
        assert choice == Choice("torch", f"{how}ONNX Runtime could not run the model (Unsupported operator)")
    assert len(tries) == 1
    with pytest.raises(UserError, match=r"^engine 'onnx' cannot run this model: Unsupported operator$"):
        choose(model, SHAPE, 10, "onnx", folder=tmp_path)  # asked for: tried again, and said in one line


def test_a_damaged_cache_is_measured_again(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(engine, "measure", timings(calls, {"torch": 0.010, "onnx": 0.020, "start": 0.3}))
    (tmp_path / "engine.json").write_bytes(b"\x00 not json")
    assert choose(tiny_model(), SHAPE, 10, rollouts=None, folder=tmp_path).reason.startswith("measured: ")
    assert choose(tiny_model(), SHAPE, 10, rollouts=None, folder=tmp_path).reason.startswith("cached: ")
    assert len(calls) == 1


def test_a_model_on_another_device_runs_in_pytorch(monkeypatch):
    model = tiny_model().to("meta")  # as a GPU's would be: ONNX Runtime runs on the CPU here
    assert choose(model, SHAPE, 10, rollouts=None) == Choice(
        "torch", "ONNX Runtime runs on the CPU here, but the model is on meta")
    with pytest.raises(UserError, match="^engine 'onnx': ONNX Runtime runs on the CPU here, but the model is on meta$"):
        choose(model, SHAPE, 10, "onnx")
    with pytest.raises(UserError, match="^engine should be one of auto, torch, onnx, but got 'tensorrt'$"):
        choose(model, SHAPE, 10, "tensorrt")
