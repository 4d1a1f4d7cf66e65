"""framecast export: ONNX and TorchScript graphs of the whole rollout that match PyTorch, any batch size, and the
safetensors weights as the default."""

import numpy as np
import onnxruntime
import pytest
import torch

from framecast.cli.main import main
from framecast.config import build_config
from framecast.errors import UserError
from framecast.inference.export import export
from framecast.inference.loading import load
from framecast.model.predictor import Predictor


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def onnx_predict(path, frames: np.ndarray, **more: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"frames": frames, **more})[0]


def test_onnx_export_runs_in_onnxruntime_and_matches_pytorch(tiny_checkpoint, tmp_path, capsys):
    code, out, _ = run(["export", tiny_checkpoint, "--format", "onnx", "--out", tmp_path / "model.onnx",
                        "--horizon", 3], capsys)  # a short horizon: exporting unrolls every step (seconds each)
    assert code == 0 and out.strip() == f"onnx graph (10 -> 3 frames) written to {tmp_path / 'model.onnx'}"
    frames = torch.rand(5, 10, 1, 64, 64)
    with torch.no_grad():
        expected = load(tiny_checkpoint, device="cpu")(frames, 3).numpy()
    got = onnx_predict(tmp_path / "model.onnx", frames.numpy())  # 5 sequences, exported with 2: a dynamic batch
    assert got.shape == (5, 3, 1, 64, 64)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(onnx_predict(tmp_path / "model.onnx", frames[:1].numpy()), expected[:1], atol=1e-4,
                               rtol=0)


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.load` is deprecated")  # still the way to run TorchScript
def test_torchscript_export_is_chosen_by_suffix_and_matches_pytorch(tiny_checkpoint, tmp_path, capsys):
    code, out, _ = run(["export", tiny_checkpoint, "--out", tmp_path / "model.pt", "--context", 4, "--horizon", 3],
                       capsys)
    assert code == 0 and out.startswith("torchscript graph (4 -> 3 frames) written to")
    frames = torch.rand(5, 4, 1, 64, 64)
    traced = torch.jit.load(str(tmp_path / "model.pt"))
    with torch.no_grad():
        torch.testing.assert_close(traced(frames), load(tiny_checkpoint, device="cpu")(frames, 3), atol=1e-5, rtol=0)


def test_every_optional_part_exports_to_onnx(tmp_path):
    config = build_config("default", overrides={"frame_size": 16, "patch": 2, "hidden": "4,4", "kernel": "3,5",
                                                "peephole": True, "layer_norm": True, "batch_norm": True,
                                                "activation": "relu", "head_time": 2, "head_kernel": 3,
                                                "warp": True, "residual": True})
    model = Predictor(config.model).train()
    with torch.no_grad():
        for p in model.parameters():  # fresh peepholes are zero: make every part count
            p.uniform_(-0.5, 0.5)
    export(model, tmp_path / "all.onnx", context=3, horizon=4)
    assert model.training  # the caller's model is left as it was (the export runs a copy in eval mode)
    model.eval()
    frames = torch.rand(3, 3, 1, 16, 16)
    with torch.no_grad():
        expected = model(frames, 4).numpy()
    np.testing.assert_allclose(onnx_predict(tmp_path / "all.onnx", frames.numpy()), expected, atol=1e-4, rtol=0)


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.(load|trace|save)` is deprecated")
def test_a_flow_models_graphs_take_the_field_as_a_second_input(tmp_path):
    from framecast.model.baselines import flow_field

    config = build_config("default", overrides={"frame_size": 16, "patch": 4, "hidden": "4", "kernel": "3",
                                                "warp": True, "flow": True, "residual": True})
    model = Predictor(config.model).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.3, 0.3)
    export(model, tmp_path / "flow.onnx", context=3, horizon=2)
    export(model, tmp_path / "flow.pt", context=3, horizon=2)
    frames = torch.rand(3, 3, 1, 16, 16)
    field = flow_field(frames)  # what the user computes beside the graph, with OpenCV
    with torch.no_grad():
        expected = model(frames, 2)
        np.testing.assert_allclose(torch.jit.load(str(tmp_path / "flow.pt"))(frames, field), expected, atol=1e-5)
    got = onnx_predict(tmp_path / "flow.onnx", frames.numpy(), field=field.numpy())
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=0)


def test_safetensors_stays_the_default_format(tiny_checkpoint, tmp_path, capsys):
    code, out, _ = run(["export", tiny_checkpoint, "--out", tmp_path / "w.safetensors"], capsys)
    assert code == 0 and out.strip() == f"weights written to {tmp_path / 'w.safetensors'}"
    frames = torch.rand(1, 10, 1, 64, 64)
    torch.testing.assert_close(load(tmp_path / "w.safetensors", device="cpu")(frames, 2),
                               load(tiny_checkpoint, device="cpu")(frames, 2))


@pytest.mark.parametrize("args, message", [
    (["--format", "onnx", "--out", "m.safetensors"],
     "output 'OUT/m.safetensors' should end in .onnx for the onnx format"),
    (["--format", "tflite", "--out", "m.tflite"], "export format should be one of safetensors, onnx, torchscript, "
                                                  "but got 'tflite'"),
    (["--out", "m.bin"], "output 'OUT/m.bin' should end in .safetensors for the safetensors format"),
])
def test_a_wrong_format_or_suffix_is_one_clear_line(tiny_checkpoint, tmp_path, capsys, args, message):
    args = [str(a).replace("m.", f"{tmp_path}/m.") for a in args]
    code, out, err = run(["export", tiny_checkpoint, *args], capsys)
    assert code == 2 and err.strip() == f"framecast: error: {message.replace('OUT', str(tmp_path))}"
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_a_predictor_has_no_safetensors_export_but_graphs(tmp_path):
    with pytest.raises(UserError, match="save_pretrained"):
        export(Predictor(build_config("tiny").model), tmp_path / "w.safetensors")
