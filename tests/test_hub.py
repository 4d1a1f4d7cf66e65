"""save_pretrained / from_pretrained: the Hugging Face folder convention, a hub download (against a local fake,
never the network), and one clear error for a folder that is not a framecast model."""

import json
import shutil

import pytest
import torch
from huggingface_hub.errors import LocalEntryNotFoundError
from safetensors.torch import save_file

import framecast
from framecast.config import build_config
from framecast.errors import UserError
from framecast.inference import hub
from framecast.inference.loading import load
from framecast.model.checkpoint import training_summary
from framecast.model.predictor import Predictor


@pytest.fixture
def small(tmp_path):
    """A small colour model with random weights, saved with save_pretrained to tmp_path / "saved"."""
    config = build_config("default", overrides={"frame_size": 16, "channels": 3, "data": "colour.npy",
                                                "hidden": "4,4", "kernel": "3,3", "peephole": True})
    model = Predictor(config.model).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.5, 0.5)
    framecast.save_pretrained(model, tmp_path / "saved")
    return model, tmp_path / "saved"


def test_a_saved_folder_holds_config_weights_and_card_and_loads_the_same_model(small):
    model, folder = small
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["library_name"] == "framecast" and config["model"]["hidden"] == [4, 4]
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: framecast" in card and "16x16x3" in card
    loaded = framecast.from_pretrained(folder, device="cpu")
    frames = torch.rand(2, 4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(frames, 3), model(frames, 3), atol=0, rtol=0)


def test_the_card_of_a_model_from_a_file_says_how_it_was_trained(tiny_checkpoint, tmp_path):
    framecast.save_pretrained(load(tiny_checkpoint, device="cpu"), tmp_path / "tiny")
    run = training_summary(tiny_checkpoint)
    assert run["steps"] > 0 and f"Trained for {run['steps']:,} steps ({run['sequences']:,} sequences, {run['hours']} " \
        f"hours on {run['device']})" in (tmp_path / "tiny" / "README.md").read_text()


def fake_hub(remote, calls):
    """hf_hub_download against a local folder per repository and revision, copying into a cache folder per
    revision (as huggingface_hub's snapshots are)."""
    def download(repo_id, filename, *, revision=None, **kwargs):
        calls.append((repo_id, filename, revision, kwargs.get("library_name")))
        source = remote / repo_id / (revision or "main") / filename
        if not source.is_file():
            raise LocalEntryNotFoundError(f"cannot find {filename} in the cache and outgoing traffic is disabled")
        target = remote.parent / "cache" / repo_id / (revision or "main") / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        return str(target)
    return download


def test_a_hub_id_is_downloaded_by_huggingface_hub_and_loads(small, tmp_path, monkeypatch):
    model, folder = small
    shutil.copytree(folder, tmp_path / "remote" / "someone" / "convlstm" / "v1")
    calls = []
    monkeypatch.setattr(hub, "hf_hub_download", fake_hub(tmp_path / "remote", calls))
    loaded = framecast.from_pretrained("someone/convlstm", revision="v1", device="cpu")
    assert calls == [("someone/convlstm", "config.json", "v1", "framecast"),
                     ("someone/convlstm", "model.safetensors", "v1", "framecast")]
    frames = torch.rand(1, 4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(frames, 2), model(frames, 2), atol=0, rtol=0)
    with pytest.raises(UserError, match=r"^no folder 'someone/other' here, and cannot download its config.json from "
                                        r"the Hugging Face hub \(cannot find config.json in the cache and outgoing "
                                        r"traffic is disabled\)$"):
        framecast.from_pretrained("someone/other")


def corrupt(folder, what):
    """Spoil a saved folder the way `what` says."""
    if what == "pickle only":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    elif what == "no config":
        (folder / "config.json").unlink()
    elif what == "another model":
        (folder / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 768}))
    elif what == "not json":
        (folder / "config.json").write_text("{'hidden': ")
    elif what == "bad key":
        config = json.loads((folder / "config.json").read_text())
        config["model"]["hiden"] = [4, 4]
        (folder / "config.json").write_text(json.dumps(config))
    elif what == "other weights":
        save_file({"head.weight": torch.zeros(3)}, str(folder / "model.safetensors"))
    elif what == "garbage weights":
        (folder / "model.safetensors").write_bytes(b"\x00" * 100)


@pytest.mark.parametrize("what, message", [
    ("pickle only", r"holds no model.safetensors \(framecast never loads pickled .bin weights\); expected a folder "
                    r"written by save_pretrained \(config.json, model.safetensors, README.md\)"),
    ("no config", "holds no config.json; expected a folder written by save_pretrained"),
    ("another model", r"is the config of another model \(library_name None\); expected a framecast config"),
    ("not json", "is not valid JSON"),
    ("bad key", "holds a model config framecast cannot use: unknown config key 'model.hiden'"),
    ("other weights", r"weights in '.*saved' do not match their config"),
    ("garbage weights", "model.safetensors' is corrupt or not safetensors"),
])
def test_a_folder_that_is_not_a_framecast_model_is_one_clear_error(small, what, message):
    _, folder = small
    corrupt(folder, what)
    with pytest.raises(UserError, match=message) as err:
        framecast.from_pretrained(folder)
    assert "\n" not in str(err.value)


def test_a_name_that_is_neither_a_folder_nor_a_hub_id(tmp_path):
    with pytest.raises(UserError, match=r"'.*/no/such/folder' is neither a folder nor a hub id like 'user/name'"):
        framecast.from_pretrained(tmp_path / "no" / "such" / "folder")


def test_save_pretrained_takes_a_framecast_model_only(tmp_path):
    with pytest.raises(UserError, match="takes a framecast Predictor.*but got a Linear"):
        framecast.save_pretrained(torch.nn.Linear(2, 2), tmp_path / "x")


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_saved_files_follow_the_umask_as_every_output_does(small, tmp_path, umask):
    """safetensors writes 0600 files; a shared model folder should be as readable as any other new file."""
    import os
    import stat

    from framecast.model.checkpoint import save_weights

    model, _ = small
    previous = os.umask(umask)
    try:
        framecast.save_pretrained(model, tmp_path / "shared")
        save_weights(model, build_config("tiny"), tmp_path / "weights.safetensors")
    finally:
        os.umask(previous)
    for path in [*(tmp_path / "shared").iterdir(), tmp_path / "weights.safetensors"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name
