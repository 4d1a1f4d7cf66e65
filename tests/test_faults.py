"""Hostile files and failing machines: model sizes from files bounded before anything is built, full disks and
refused writes ending in one line with nothing left behind, leftovers of killed runs cleaned by the next run,
exports that are byte-identical, and page uploads refused before they are decoded."""

import errno
import io
import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

import framecast
from framecast.atomic import STALE_SECONDS, atomic_files, atomic_path
from framecast.cli.main import main
from framecast.config import MAX_CHANNELS, MAX_LAYERS, MAX_PARAMETERS
from framecast.errors import UserError
from framecast.model.checkpoint import FORMAT
from framecast.model.predictor import Predictor
from framecast.web import page as web

FULL = "Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: \"No space left on device\" })"


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- model sizes from files: bounded before any tensor is allocated ---

HUGE = [  # (model overrides, what the message names)
    ({"hidden": [100000], "kernel": [3]}, f"hidden should be at most {MAX_CHANNELS}, but got 100000"),
    ({"hidden": [1] * 100000, "kernel": [3] * 100000}, f"hidden should have at most {MAX_LAYERS} entries"),
    ({"hidden": [3000], "kernel": [3]}, f"hidden should be at most {MAX_CHANNELS}, but got 3000"),
    ({"kernel": [99, 3]}, "kernel should be at most 15"),
    ({"frame_size": 65536}, "frame_size should be at most 4096"),
    ({"hidden": [1024] * 8, "kernel": [15] * 8}, f"parameters; framecast builds at most {MAX_PARAMETERS:,}"),
]


@pytest.mark.parametrize(("model", "message"), HUGE)
def test_a_config_file_asking_for_a_huge_model_is_refused_at_once(tmp_path, capsys, model, message):
    import framecast.training.run  # noqa: F401 - imported before the clock starts: only the refusal is timed

    (tmp_path / "big.json").write_text(json.dumps({"preset": "tiny", "model": model}))
    start = time.perf_counter()
    code, _, err = run(["train", "--out", tmp_path / "run", "--config", tmp_path / "big.json"], capsys)
    assert code == 2 and message in err and err.count("\n") == 1 and time.perf_counter() - start < 1
    assert not (tmp_path / "run").exists()


def _with_model(raw: dict, model: dict) -> dict:
    return {**raw, "model": {**raw["model"], **model}}


@pytest.mark.parametrize(("model", "message"), HUGE[:3])
def test_checkpoints_weights_and_folders_with_a_huge_config_are_refused_before_building(
        tiny_checkpoint, tmp_path, model, message):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    meta = ckpt["hyper_parameters"]["framecast"]
    meta["config"] = _with_model(meta["config"], model)
    torch.save(ckpt, tmp_path / "big.ckpt")
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    save_file(state, str(tmp_path / "big.safetensors"),
              metadata={"format": json.dumps(FORMAT), "config": json.dumps(meta["config"])})
    framecast.save_pretrained(framecast.load(tiny_checkpoint, device="cpu"), tmp_path / "folder")
    config = json.loads((tmp_path / "folder" / "config.json").read_text())
    (tmp_path / "folder" / "config.json").write_text(json.dumps(_with_model(config, model)))
    for source, read in ((tmp_path / "big.ckpt", framecast.load), (tmp_path / "big.safetensors", framecast.load),
                         (tmp_path / "folder", framecast.from_pretrained)):
        start = time.perf_counter()
        with pytest.raises(UserError, match="framecast cannot use") as refused:
            read(source)
        assert message in str(refused.value) and time.perf_counter() - start < 1, source


def test_a_huge_checkpoint_config_ends_evaluate_in_one_line(tiny_checkpoint, mnist_file, tmp_path, capsys):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    meta = ckpt["hyper_parameters"]["framecast"]
    meta["config"] = _with_model(meta["config"], {"hidden": [100000, 8]})
    torch.save(ckpt, tmp_path / "big.ckpt")
    code, _, err = run(["evaluate", "--checkpoint", tmp_path / "big.ckpt", "--data", mnist_file], capsys)
    assert code == 2 and "hidden should be at most" in err and "Traceback" not in err


def test_weights_of_another_size_are_refused_before_the_model_is_built(tiny_checkpoint, tmp_path, monkeypatch):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    meta = ckpt["hyper_parameters"]["framecast"]
    meta["config"] = _with_model(meta["config"], {"hidden": [64, 64], "kernel": [3, 3]})  # within the bounds
    torch.save(ckpt, tmp_path / "other.ckpt")
    built = []
    original = Predictor.__init__

    def counting(self, config):
        built.append(torch.empty(0).device.type)  # the device new tensors go to
        original(self, config)
    monkeypatch.setattr(Predictor, "__init__", counting)
    with pytest.raises(UserError, match=r"the config's model has [\d,]+ parameters, the file holds 11,728"):
        framecast.load(tmp_path / "other.ckpt")
    assert built == ["meta"]  # compared on the meta device: no weights of the config's size were allocated


# --- full disks and refused writes: one line, exit 2, nothing left behind ---

@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), SafetensorError(FULL)])
def test_export_on_a_full_disk_is_one_line_and_leaves_nothing(tiny_checkpoint, tmp_path, capsys, monkeypatch,
                                                              error):
    def full(*_, **__):
        raise error
    monkeypatch.setattr("framecast.model.checkpoint.save_file", full)
    out = tmp_path / "new" / "m.safetensors"
    code, _, err = run(["export", tiny_checkpoint, "--out", out], capsys)
    assert code == 2 and err == f"framecast: error: no space left to write {str(out)!r}; free some space or " \
                                "write elsewhere\n"
    assert not list(tmp_path.iterdir())  # no temporary file, and not the folder made for it


@pytest.mark.parametrize(("error", "message"), [
    (OSError(errno.EACCES, "Permission denied"), "(Permission denied)"),
    (OSError(errno.EROFS, "Read-only file system"), "(Read-only file system)"),
    (SafetensorError("Error while serializing: something else"), "(Error while serializing: something else)"),
    (MemoryError(), "not enough memory to write"),
])
def test_writes_the_system_refuses_are_user_errors(tiny_checkpoint, tmp_path, monkeypatch, error, message):
    from framecast.model.checkpoint import export

    def refused(*_, **__):
        raise error
    monkeypatch.setattr("framecast.model.checkpoint.save_file", refused)
    with pytest.raises(UserError) as caught:
        export(tiny_checkpoint, tmp_path / "m.safetensors")
    assert message in str(caught.value) and str(tmp_path / "m.safetensors") in str(caught.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), SafetensorError(FULL)])
def test_save_pretrained_on_a_full_disk_leaves_no_folder(tiny_checkpoint, tmp_path, monkeypatch, error):
    def full(*_, **__):
        raise error
    monkeypatch.setattr("framecast.inference.hub.save_file", full)
    model = framecast.load(tiny_checkpoint, device="cpu")
    with pytest.raises(UserError, match="no space left to write"):
        framecast.save_pretrained(model, tmp_path / "a" / "saved")
    assert not list(tmp_path.iterdir())
    (tmp_path / "kept").mkdir()  # a folder the user had: kept, and nothing staged left in it
    with pytest.raises(UserError, match="no space left to write"):
        framecast.save_pretrained(model, tmp_path / "kept")
    assert list(tmp_path.iterdir()) == [tmp_path / "kept"] and not list((tmp_path / "kept").iterdir())


def test_train_refused_for_lack_of_space_leaves_no_run_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("framecast.atomic._free_mb", lambda _: 10.0)
    code, _, err = run(["train", "--out", tmp_path / "runs" / "run", "--preset", "tiny"], capsys)
    assert code == 2 and "only 10 MB free" in err and not list(tmp_path.iterdir())


@pytest.mark.parametrize(("error", "message"), [
    (OSError(errno.ENOSPC, "No space left on device"), "framecast: error: No space left on device\n"),
    (MemoryError(), "framecast: error: out of memory"),
])
def test_system_errors_without_a_file_name_are_one_line(tmp_path, capsys, monkeypatch, error, message):
    def failing(_):
        raise error
    monkeypatch.setattr("framecast.cli.main.run", failing)
    code, _, err = run(["data", "generate", "--out", tmp_path / "o.npy"], capsys)
    assert code == 2 and err.startswith(message) and err.count("\n") == 1


# --- leftovers of killed runs: removed by the next run that writes the same target ---

def _age(path, seconds=STALE_SECONDS + 5):
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    # A writer killed by SIGKILL inside atomic_path / atomic_files, as predict and evaluate --out were.
    script = textwrap.dedent(f"""
        import os, signal
        from framecast.atomic import atomic_files, atomic_path
        with atomic_path({str(tmp_path / 'pred.npy')!r}), atomic_files({str(tmp_path)!r}, last="m.json") as s:
            (s / "plot.png").write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert subprocess.run([sys.executable, "-c", script], timeout=120).returncode == -9
    debris = sorted(p.name for p in tmp_path.iterdir())
    assert len(debris) == 2 and debris[0].startswith(".framecast-staging-") and debris[1].startswith(".pred.")
    for name in debris:
        _age(tmp_path / name)
    with atomic_path(tmp_path / "pred.npy") as tmp:
        tmp.write_bytes(b"new")
    with atomic_files(tmp_path, last="m.json") as stage:
        (stage / "m.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "pred.npy"]


def test_only_dead_old_temporary_files_of_the_target_are_removed(tmp_path):
    import fcntl

    names = {"dead": ".pred.abcd_123.tmp.npy", "young": ".pred.young123.tmp.npy", "live": ".pred.live1234.tmp.npy",
             "other target": ".other.abcd1234.tmp.npy", "not ours": ".pred.backup.npy", "user's": "pred.tmp.npy"}
    for key, name in names.items():
        (tmp_path / name).write_bytes(b"")
        if key != "young":
            _age(tmp_path / name)
    live = open(tmp_path / names["live"], "rb")  # a writer still at work holds its lock
    fcntl.flock(live, fcntl.LOCK_SH)
    try:
        with atomic_path(tmp_path / "pred.npy") as tmp:
            tmp.write_bytes(b"new")
    finally:
        live.close()
    left = {p.name for p in tmp_path.iterdir()}
    assert left == (set(names.values()) - {names["dead"]}) | {"pred.npy"}


# --- exports are byte-identical ---

def test_exporting_the_same_checkpoint_twice_gives_the_same_bytes(tiny_checkpoint, tmp_path, capsys):
    blobs = []
    for i in range(4):  # safetensors' metadata order changes from run to run: four orders all equal by chance is rare
        code, _, _ = run(["export", tiny_checkpoint, "--out", tmp_path / f"{i}.safetensors"], capsys)
        assert code == 0
        blobs.append((tmp_path / f"{i}.safetensors").read_bytes())
    assert all(blob == blobs[0] for blob in blobs)
    length = int.from_bytes(blobs[0][:8], "little")
    keys = list(json.loads(blobs[0][8:8 + length])["__metadata__"])
    assert keys == sorted(keys)
    with safe_open(str(tmp_path / "0.safetensors"), "pt") as f:  # still a file safetensors reads, config inside
        assert json.loads(f.metadata()["format"]) == FORMAT
    x = torch.rand(1, 10, 1, 64, 64)
    torch.testing.assert_close(framecast.load(tmp_path / "0.safetensors", device="cpu")(x, 2),
                               framecast.load(tiny_checkpoint, device="cpu")(x, 2))


# --- the page: uploads refused before decoding, one at a time, memory handed back ---

@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if a picture is decoded."""
    def decoded(*_, **__):
        pytest.fail("an upload over the page's budget was decoded")
    monkeypatch.setattr("framecast.data.images._loaded", decoded)
    monkeypatch.setattr("framecast.data.images._stack", decoded)


def test_large_png_frames_are_refused_from_their_headers(tmp_path, no_decoding):
    frame = Image.new("L", (4000, 3000))  # 12 million pixels: over the page's 4096x2160, within the command line's
    paths = [tmp_path / f"f{i}.png" for i in range(3)]
    for path in paths:
        frame.save(path)
    with pytest.raises(UserError, match="the upload has 4000x3000 frames; framecast decodes at most 8,847,360"):
        web.read_upload([str(p) for p in paths], 0, tmp_path)


def test_a_gif_of_large_frames_is_refused_from_its_header(tmp_path, no_decoding):
    frames = [Image.new("P", (4000, 3000), i) for i in range(2)]  # over the page's 4096x2160
    frames[0].save(tmp_path / "big.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(UserError, match="big.gif' has 4000x3000 frames"):
        web.read_upload([str(tmp_path / "big.gif")], 0, tmp_path)


def test_an_npz_whose_array_header_declares_too_much_is_refused_unread(tmp_path):
    header = io.BytesIO()  # 300 MiB declared, a few bytes stored: the zip's directory alone looks harmless
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (1, 300, 1024, 1024)})
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as archive:
        archive.writestr("frames.npy", header.getvalue() + bytes(64))
    with pytest.raises(UserError, match=r"unzips to 0\.3 GiB .* over the budget of 0\.2 GiB"):
        web.read_upload([str(tmp_path / "liar.npz")], 0, tmp_path)


def test_uploads_are_decoded_one_at_a_time_and_memory_is_handed_back(tmp_path, monkeypatch):
    from framecast.web import inputs as web_inputs

    returned, held = [], []
    monkeypatch.setattr(web_inputs, "_return_memory", lambda: returned.append(1))
    decode = web_inputs._decode_upload

    def watched(*args):
        held.append(web_inputs._ONE_UPLOAD.locked())
        return decode(*args)
    monkeypatch.setattr(web_inputs, "_decode_upload", watched)
    for i in range(2):
        Image.new("L", (8, 8), i).save(tmp_path / f"f{i}.png")
    assert web.read_upload([str(tmp_path / f"f{i}.png") for i in range(2)], 0, tmp_path).shape == (2, 8, 8, 1)
    with pytest.raises(UserError):
        web.read_upload([str(tmp_path / "f0.png")], 0, tmp_path)  # refused: memory handed back all the same
    assert held == [True, True] and returned == [1, 1] and not web_inputs._ONE_UPLOAD.locked()


def test_the_command_line_budget_is_named_and_raised_with_max_gib(tmp_path, capsys, monkeypatch):
    from framecast.data import limits

    monkeypatch.setattr(limits.CLI, "bytes", 2**20)  # restored after the test: --max-gib changes it for the process
    monkeypatch.setattr(limits.CLI, "frames", limits.CLI.frames)
    np.savez_compressed(tmp_path / "seq.npz", frames=np.zeros((4, 20, 64, 64), np.uint8))  # 0.3 MiB of zeros
    np.savez(tmp_path / "more.npz", frames=np.zeros((1, 20, 256, 256), np.uint8))            # 1.25 MiB
    code, _, err = run(["data", "show", tmp_path / "more.npz", "--out", tmp_path / "look"], capsys)
    assert code == 2 and "over the budget of 1.0 MiB (--max-gib raises it)" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "look").exists()
    code, _, err = run(["data", "show", tmp_path / "more.npz", "--out", tmp_path / "look", "--max-gib", "0.01"],
                       capsys)
    assert code == 0 and (tmp_path / "look" / "grid.png").is_file(), err
    assert limits.CLI.bytes == int(0.01 * limits.GIB) and limits.CLI.frames == 1_000_000
    code, _, err = run(["evaluate", "--data", tmp_path / "seq.npz", "--max-gib", "0"], capsys)
    assert code == 2 and "--max-gib should be a positive number of GiB, but got 0.0" in err
