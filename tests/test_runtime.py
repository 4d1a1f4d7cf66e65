import pytest
import torch

from framecast.config import ModelConfig, build_config
from framecast.inference.runtime import autocast, inference_layout, physical_memory
from framecast.model.predictor import Predictor
from framecast.training.run import training_device, training_precision


@pytest.mark.parametrize("dtype", [torch.bfloat16, None])
def test_autocast_to_a_dtype_or_none(dtype):
    with autocast(torch.device("cpu"), dtype):
        assert torch.is_autocast_enabled("cpu") == (dtype is not None)


def test_training_uses_the_precision_chosen_for_its_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert training_device("auto").type == "cuda" and training_device("cpu").type == "cpu"
    assert training_precision(build_config("tiny")).lightning == "bf16-mixed"  # the CUDA rule
    assert training_precision(build_config("tiny", overrides={"precision": "fp32"})).lightning == "32-true"


def test_float32_cpu_inference_runs_channels_last_and_gives_the_weights_back():
    model = Predictor(ModelConfig(hidden=(8, 8), kernel=(3, 3))).eval()

    def weights():  # the Parameter's data is replaced by each change of layout
        return model.rnn.cells[0].gates.weight

    x = torch.rand(2, 4, 1, 64, 64)
    with torch.no_grad():
        plain = model(x, 3)
        with inference_layout(model, torch.device("cpu"), None):
            assert weights().is_contiguous(memory_format=torch.channels_last) and not weights().is_contiguous()
            torch.testing.assert_close(model(x, 3), plain, atol=1e-5, rtol=0)  # the same predictions
        assert weights().is_contiguous()
        with inference_layout(model, torch.device("cpu"), torch.bfloat16):  # not measured in bf16: left alone
            assert weights().is_contiguous()


def test_physical_memory_is_the_machines_or_none_where_the_system_does_not_say(monkeypatch):
    memory = physical_memory()
    assert memory is None or memory > 2**26  # no machine runs torch in under 64 MiB
    monkeypatch.setattr("os.sysconf", lambda name: -1)  # sysconf's answer for a value it does not know
    assert physical_memory() is None
