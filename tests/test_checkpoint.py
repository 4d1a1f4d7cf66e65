import os
import pickle
import zipfile

import pytest
import torch

from framecast.config import build_config
from framecast.errors import UserError
from framecast.inference.loading import load
from framecast.model.checkpoint import FORMAT, load_weights, read_checkpoint, save_weights, training_summary
from framecast.model.history import device_history
from framecast.model.predictor import Predictor
from framecast.training.checkpoint_io import AtomicCheckpointIO


class _Payload:
    """Unpickling this runs code: it would create the file named in `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"framecast": _Payload(marker)}}, bad)
    with pytest.raises(UserError, match=r"refuses to unpickle \((?i:.*unsupported) GLOBAL (posix|os)\.system"):
        read_checkpoint(bad)  # the reason names what was refused, not torch's how-to-load-it-anyway advice
    assert not marker.exists()
    with open(tmp_path / "plain.ckpt", "wb") as f:  # a bare pickle, not even a torch zip
        pickle.dump(_Payload(marker), f)
    with pytest.raises(UserError):
        read_checkpoint(tmp_path / "plain.ckpt")
    assert not marker.exists()


def test_truncated_and_foreign_checkpoints(tmp_path):
    torch.save({"state_dict": {"w": torch.ones(3)}}, tmp_path / "other.ckpt")
    with pytest.raises(UserError, match="not a framecast checkpoint"):
        read_checkpoint(tmp_path / "other.ckpt")
    data = (tmp_path / "other.ckpt").read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="corrupt or truncated"):
        read_checkpoint(tmp_path / "cut.ckpt")
    with pytest.raises(UserError, match="not found"):
        read_checkpoint(tmp_path / "missing.ckpt")


def test_future_format_is_refused(tmp_path):
    meta = {"format": 99, "version": "9.0", "config": build_config("tiny").to_dict()}
    torch.save({"state_dict": {}, "hyper_parameters": {"framecast": meta}}, tmp_path / "new.ckpt")
    with pytest.raises(UserError, match="format 99"):
        read_checkpoint(tmp_path / "new.ckpt")


def test_safetensors_round_trip_and_mismatch(tmp_path):
    config = build_config("tiny")
    model = Predictor(config.model)
    save_weights(model, config, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors", device="cpu")
    x = torch.rand(1, 4, 1, 64, 64)
    torch.testing.assert_close(loaded(x, 2), model.eval()(x, 2))
    other = build_config("tiny", overrides={"hidden": "4,4"})
    save_weights(Predictor(other.model), config, tmp_path / "wrong.safetensors")  # tensors of another shape
    with pytest.raises(UserError, match="do not match their config"):
        load_weights(tmp_path / "wrong.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(UserError, match="corrupt"):
        load_weights(tmp_path / "junk.safetensors")


def test_export_a_training_checkpoint(tiny_checkpoint, tmp_path):
    from framecast.model.checkpoint import export

    path = export(tiny_checkpoint, tmp_path / "w.safetensors")
    a, b = load(tiny_checkpoint, device="cpu"), load(path, device="cpu")
    x = torch.rand(1, 10, 1, 64, 64)
    torch.testing.assert_close(a(x, 3), b(x, 3))
    with pytest.raises(UserError, match="should end in .safetensors"):
        export(tiny_checkpoint, tmp_path / "w.bin")
    upper = export(tiny_checkpoint, tmp_path / "W.SAFETENSORS")  # the suffix in any case
    torch.testing.assert_close(load(upper, device="cpu")(x, 3), b(x, 3))


def test_checkpoints_that_are_not_what_they_claim(tiny_checkpoint, tmp_path):
    from framecast.model.checkpoint import export

    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["state_dict"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                          for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, tmp_path / "diverged.ckpt")
    with pytest.raises(UserError, match="NaN"):  # a diverged run: refused, not evaluated into NaN metrics
        load(tmp_path / "diverged.ckpt")
    meta = {"format": 1, "version": "x", "config": build_config("tiny").to_dict()}
    torch.save({"hyper_parameters": {"framecast": meta}}, tmp_path / "nostate.ckpt")
    torch.save({"hyper_parameters": {"framecast": "text"}, "state_dict": {}}, tmp_path / "text.ckpt")
    for name in ("nostate.ckpt", "text.ckpt"):
        with pytest.raises(UserError, match="not a framecast checkpoint"):
            load(tmp_path / name)
    weights = export(tiny_checkpoint, tmp_path / "w.safetensors")
    (tmp_path / "w.ckpt").write_bytes(weights.read_bytes())  # weights under a checkpoint's name
    with pytest.raises(UserError, match="is a weights file, not a training checkpoint"):
        load(tmp_path / "w.ckpt")
    with pytest.raises(UserError, match="already a weights file"):
        export(weights, tmp_path / "again.safetensors")
    bad = {**meta, "config": {**meta["config"], "model": {**meta["config"]["model"], "patch": 0}}}
    torch.save({**ckpt, "hyper_parameters": {"framecast": bad}}, tmp_path / "patch0.ckpt")
    with pytest.raises(UserError, match=r"'.*patch0\.ckpt' holds a config framecast cannot use: .*patch"):
        load(tmp_path / "patch0.ckpt")  # the stored config's problem, with the file it came from


def test_a_full_disk_while_saving_weights_is_a_clear_error(tiny_checkpoint, tmp_path, monkeypatch):
    from framecast.model.checkpoint import export

    def full(*_, **__):
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr("framecast.model.checkpoint.save_file", full)  # safetensors' writer, as torch.save: no errno
    monkeypatch.setattr("framecast.atomic._free_mb", lambda _: 0.0)
    with pytest.raises(UserError, match="no space left to write"):
        export(tiny_checkpoint, tmp_path / "w.safetensors")
    assert not list(tmp_path.iterdir())
    monkeypatch.setattr("framecast.atomic._free_mb", lambda _: 1000.0)  # space left: the error is not ours
    with pytest.raises(RuntimeError):
        export(tiny_checkpoint, tmp_path / "w.safetensors")


def test_load_puts_the_model_on_the_best_device_or_the_one_asked(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr("framecast.inference.loading.pick_device", lambda: torch.device("meta"))  # stands in for a GPU
    assert next(load(tiny_checkpoint).parameters()).device.type == "meta"
    assert next(load(tiny_checkpoint, device="cpu").parameters()).device.type == "cpu"


def _framecast_ckpt(path, **extra):
    meta = {"format": FORMAT, "version": "x", "config": build_config("tiny").to_dict()}
    torch.save({"state_dict": {"model.w": torch.ones(2)}, "hyper_parameters": {"framecast": meta}, **extra}, path)


def test_malformed_inner_structure_is_one_clear_error(tmp_path):
    for name, extra in (("keys.ckpt", {"state_dict": {3: torch.ones(2)}}), ("stats.ckpt", {"framecast_train": 5}),
                        ("prior.ckpt", {"framecast_train": {"prior": [1]}})):
        _framecast_ckpt(tmp_path / name, **extra)
        with pytest.raises(UserError, match="not a framecast checkpoint"):
            read_checkpoint(tmp_path / name)


@pytest.mark.parametrize("extra", [{"global_step": "abc"}, {"framecast_train": {"prior": {"steps": "x"}}},
                                   {"framecast_train": {"seconds": float("nan")}}, {"global_step": True},
                                   {"framecast_train": {"device": 5}}, {"framecast_train": {"prior": {"device": [1]}}},
                                   {"framecast_train": {"precision": "fp32"}},
                                   {"framecast_train": {"precision": {"precision": 5}}}])
def test_corrupt_training_record_is_one_clear_error(tmp_path, extra):
    _framecast_ckpt(tmp_path / "c.ckpt", **extra)
    with pytest.raises(UserError, match="training record .* should hold finite numbers and device names"):
        read_checkpoint(tmp_path / "c.ckpt")


def test_a_stage_on_the_device_before_it_names_that_device_once(tmp_path):
    _framecast_ckpt(tmp_path / "c.ckpt", global_step=5, framecast_train={
        "device": "H100", "prior": {"steps": 10, "sequences": 80, "hours": 1.0, "device": "cpu, then H100"}})
    summary = training_summary(tmp_path / "c.ckpt")
    assert summary["device"] == "cpu, then H100" and summary["steps"] == 15 and summary["init_steps"] == 10


def test_resume_loads_a_gpu_saved_checkpoint_onto_the_cpu(tmp_path):
    """Lightning asks for no map_location; tensors saved on CUDA must still load (to the CPU) anywhere."""
    _framecast_ckpt(tmp_path / "cpu.ckpt")
    with zipfile.ZipFile(tmp_path / "cpu.ckpt") as src, zipfile.ZipFile(tmp_path / "gpu.ckpt", "w") as dst:
        for item in src.infolist():  # relabel the storages as saved on cuda (a pickled, length-prefixed str)
            data = src.read(item)
            if item.filename.endswith("data.pkl"):
                assert b"X\x03\x00\x00\x00cpu" in data
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x04\x00\x00\x00cuda")
            dst.writestr(item, data)
    ckpt = AtomicCheckpointIO().load_checkpoint(tmp_path / "gpu.ckpt")
    assert ckpt["state_dict"]["model.w"].device.type == "cpu"


@pytest.mark.parametrize(("prior", "device", "expected"), [
    ("", "cpu (2 cores)", "cpu (2 cores)"),                              # a first stage
    ("cpu (2 cores)", "cpu (2 cores)", "cpu (2 cores)"),                 # another stage on the same device
    ("cpu (2 cores)", "H100", "cpu (2 cores), then H100"),
    ("cpu (2 cores), then H100", "H100", "cpu (2 cores), then H100"),  # not "..., then H100, then H100"
    ("cpu, then H100, then H100", "cpu", "cpu, then H100, then cpu"),  # older files' repeats collapse too
])
def test_device_history_names_each_run_of_stages_once(prior, device, expected):
    assert device_history(prior, device) == expected
