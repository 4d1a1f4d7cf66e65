import pytest
import torch

from framecast.runtime import autocast, fast_dtype, physical_memory
from framecast.training import auto_precision


@pytest.mark.parametrize("bf16, dtype, precision", [(True, torch.bfloat16, "bf16-mixed"),
                                                    (False, torch.float16, "16-mixed")])
def test_training_and_prediction_pick_the_same_precision_on_gpus(monkeypatch, bf16, dtype, precision):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    # Like torch on a V100 or T4: bf16 "supported" by slow emulation. Only native bf16 counts.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16 or including_emulation)
    assert fast_dtype(torch.device("cuda")) == dtype
    assert auto_precision("auto") == precision


def test_the_cpu_precision_follows_the_hardware(monkeypatch):
    for native in (True, False):
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda native=native: native)
        assert fast_dtype(torch.device("cpu")) == (torch.bfloat16 if native else None)
        assert auto_precision("cpu") == ("bf16-mixed" if native else "32-true")
        with autocast(torch.device("cpu")):
            assert torch.is_autocast_enabled("cpu") == native
    assert fast_dtype(torch.device("mps")) is None  # float32 on Apple GPUs


def test_physical_memory_is_the_machines_or_none_where_the_system_does_not_say(monkeypatch):
    memory = physical_memory()
    assert memory is None or memory > 2**26  # no machine runs torch in under 64 MiB
    monkeypatch.setattr("os.sysconf", lambda name: -1)  # sysconf's answer for a value it does not know
    assert physical_memory() is None
