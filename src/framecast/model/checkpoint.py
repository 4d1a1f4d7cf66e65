"""Checkpoint serialisation: reading `.ckpt` files without unpickling objects, safetensors weights (written
atomically), the shipped weights, and rebuilding a Predictor from either. No training library is imported
here: the Lightning plugin that writes `.ckpt` files during training is in training/checkpoint_io.py, loading
for a user in inference/loading.py.

A training checkpoint (`.ckpt`) is Lightning's dict, saved by torch; it is only ever read back with
`torch.load(weights_only=True)`, which refuses anything but tensors and plain containers. Released
weights are safetensors files whose metadata holds the config, so a weights file alone rebuilds its model.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ..atomic import atomic_path
from ..config import Config, __version__, config_from_dict
from ..errors import UserError
from ..preflight import is_weights_name, model_file
from .history import record_ok, training_record
from .predictor import Predictor

FORMAT = 1  # bump when checkpoints stop being loadable by older code
SHIPPED = Path(__file__).parents[1] / "weights" / "default.safetensors"


def read_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a `.ckpt` dict with `weights_only=True`; UserError if missing, corrupt or not framecast's."""
    path = model_file(path)
    with open(path, "rb") as f:
        head = f.read(9)
    if _is_safetensors(head):  # first: a safetensors header length can start with any byte, \x80 too
        raise UserError(f"{str(path)!r} is a weights file, not a training checkpoint; name it .safetensors")
    if len(head) >= 2 and head[:2] != b"PK" and head[:1] != b"\x80":  # torch's zip format, or a legacy pickle
        raise UserError(f"{str(path)!r} is not a training checkpoint; expected a .ckpt from framecast train")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UserError(f"checkpoint {str(path)!r} holds objects other than tensors and plain data, which "
                        f"framecast refuses to unpickle ({_unpickling_reason(err)})") from None
    except Exception as err:  # noqa: BLE001 - garbage makes the weights-only unpickler raise anything (fuzzed)
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UserError(f"checkpoint {str(path)!r} is corrupt or truncated ({first})") from None
    hparams = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    meta = hparams.get("framecast") if isinstance(hparams, dict) else None
    state = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
    stats = ckpt.get("framecast_train", {}) if isinstance(ckpt, dict) else None
    if not (isinstance(meta, dict) and isinstance(meta.get("config"), dict) and isinstance(state, dict)
            and all(isinstance(key, str) for key in state) and isinstance(stats, dict)
            and isinstance(stats.get("prior", {}), dict)):
        raise UserError(f"{str(path)!r} is not a framecast checkpoint (expected a framecast config and a "
                        "state_dict inside)")
    if not record_ok(ckpt):
        raise UserError(f"checkpoint {str(path)!r} is corrupt: its training record (global_step, framecast_train) "
                        "should hold finite numbers and device names")
    if meta.get("format") != FORMAT:
        raise UserError(f"checkpoint {str(path)!r} has format {meta.get('format')} from framecast "
                        f"{meta.get('version')}; this framecast {__version__} reads format {FORMAT}")
    return ckpt


def _unpickling_reason(err: Exception) -> str:
    """The line of torch's weights-only refusal that names what was refused ("Unsupported global: ...")."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(err)).splitlines() if line.strip()]
    reason = next((line for line in lines if "unsupported" in line.lower()), lines[0] if lines else type(err).__name__)
    return reason.removeprefix("WeightsUnpickler error: ").split(". Please use")[0][:200]


def stored_config(data: dict, path: str | Path) -> Config:
    """The config stored in a checkpoint or weights file; a bad one is reported with the file's name."""
    try:
        config = config_from_dict(data)
    except UserError as err:
        raise UserError(f"{str(path)!r} holds a config framecast cannot use: {err}") from None
    # A trained model is decided: files from before a key hold models without what it adds (a flow model warps,
    # a warping one is residual: what Predictor builds from such a config).
    m = config.model
    decided = {"flow": bool(m.flow), "warp": bool(m.warp or m.flow), "residual": bool(m.residual or m.warp or m.flow)}
    undecided = {k: v for k, v in decided.items() if getattr(m, k) is None}
    if undecided:
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, **undecided))
    return config


def checkpoint_meta(config: Config) -> dict:
    """What every checkpoint carries about itself: format, version and the resolved config (plain data)."""
    return {"format": FORMAT, "version": __version__, "config": config.to_dict()}


def build_model(config: Config, state_dict: dict[str, torch.Tensor], source: str,
                model_class: type[Predictor] = Predictor) -> Predictor:
    """A `model_class` (a Predictor) from `config` with `state_dict` loaded; UserError naming `source` if the
    tensors do not fit the config (checked before the model's own tensors are allocated)."""
    if not all(isinstance(v, torch.Tensor) and torch.isfinite(v).all() for v in state_dict.values()):
        raise UserError(f"weights in {source!r} contain NaN, infinite or non-tensor values; expected finite "
                        "weights (a run that diverged writes NaN: train again with a lower lr)")
    _check_shapes(config, state_dict, source, model_class)
    model = model_class(config.model)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        detail = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise UserError(f"weights in {source!r} do not match their config (preset {config.preset!r}): "
                        f"{detail[:200]}") from None
    model.trained_data = config.data  # how its training read footage: evaluate and predict read the same way
    return model.eval()


def _check_shapes(config: Config, state_dict: dict[str, torch.Tensor], source: str,
                  model_class: type[Predictor]) -> None:
    """Refuse weights whose parameter count differs from their config's model: the model is built on the meta
    device for this, which gives every shape and allocates nothing."""
    with torch.device("meta"):
        expected = model_class(config.model).state_dict()
    want = sum(t.numel() for t in expected.values())
    have = sum(t.numel() for t in state_dict.values())
    if want != have:
        raise UserError(f"weights in {source!r} do not match their config (preset {config.preset!r}): the config's "
                        f"model has {want:,} parameters, the file holds {have:,}")


def model_of_checkpoint(path: str | Path, model_class: type[Predictor] = Predictor) -> tuple[Predictor, Config, dict]:
    """The model (a `model_class`), its config, and a summary of its training (steps, sequences, hours, device)."""
    ckpt = read_checkpoint(path)
    config = stored_config(ckpt["hyper_parameters"]["framecast"]["config"], path)
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    return build_model(config, state, str(path), model_class), config, training_record(ckpt, config)


def training_summary(path: str | Path) -> dict:
    """How the weights in a `.ckpt` or `.safetensors` file were trained (empty if unknown)."""
    if is_weights_name(path):
        summary = weights_metadata(path).get("training", {})
        return summary if isinstance(summary, dict) else {}
    ckpt = read_checkpoint(path)
    return training_record(ckpt, stored_config(ckpt["hyper_parameters"]["framecast"]["config"], path))


def weights_metadata(path: str | Path) -> dict:
    """The JSON metadata of a safetensors weights file: format, version, config, training."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"weights file {str(path)!r} has unreadable metadata ({err})") from None


def _is_safetensors(head: bytes) -> bool:
    """Whether a file's first bytes look like safetensors: an 8-byte header length, then a JSON header."""
    return len(head) == 9 and head[8:9] == b"{"


def shipped_weights() -> Path:
    if not SHIPPED.is_file():
        raise UserError("no pretrained model ships with this install yet; pass --checkpoint RUN_DIR/best.ckpt "
                        "from `framecast train`")
    return SHIPPED


def save_weights(model: Predictor, config: Config, path: str | Path, training: dict | None = None) -> None:
    """Write the model's weights and config (and how it was trained) as one safetensors file, atomically."""
    meta = {k: json.dumps(v) for k, v in {**checkpoint_meta(config), "training": training or {}}.items()}
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
        _sort_metadata(tmp)


def _sort_metadata(path: Path) -> None:
    """Rewrite a safetensors file's header with its metadata in sorted order. safetensors writes the metadata in
    the order of a Rust HashMap, which changes from run to run: the same weights exported twice would differ."""
    blob = path.read_bytes()
    length = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + length])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # safetensors pads the header with spaces to keep the tensors aligned
    path.write_bytes(len(text).to_bytes(8, "little") + text + blob[8 + length:])


def load_weights(path: str | Path, model_class: type[Predictor] = Predictor) -> Predictor:
    """Rebuild a Predictor (a `model_class`) from a safetensors file written by `save_weights`."""
    path = model_file(path)
    config = _weights_config(path)  # first: a config too large to build is refused before the tensors are read
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, MemoryError) as err:
        raise UserError(f"weights file {str(path)!r} is corrupt or not safetensors ({err})") from None
    return build_model(config, state, str(path), model_class)


def _weights_config(path: Path) -> Config:
    """The checked config in a safetensors file's metadata (the header only is read)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, MemoryError) as err:
        raise UserError(f"weights file {str(path)!r} is corrupt or not safetensors ({err})") from None
    if "config" not in meta:
        raise UserError(f"weights file {str(path)!r} carries no framecast config in its metadata")
    try:
        fmt, config = json.loads(meta.get("format", "null")), json.loads(meta["config"])
    except ValueError:
        raise UserError(f"weights file {str(path)!r} has unreadable metadata") from None
    if fmt != FORMAT:
        raise UserError(f"weights file {str(path)!r} has format {fmt}; this framecast reads format {FORMAT}")
    return stored_config(config, path)


def export(checkpoint: str | Path, out: str | Path) -> Path:
    """Write the model of a training checkpoint as a safetensors weights file (config in its metadata)."""
    out = Path(out)
    if not is_weights_name(out):
        raise UserError(f"output {str(out)!r} should end in .safetensors")
    if is_weights_name(checkpoint):
        raise UserError(f"{str(checkpoint)!r} is already a weights file; export takes a .ckpt from framecast "
                        "train (copy the file to have it elsewhere, or export it as onnx or torchscript)")
    model, config, training = model_of_checkpoint(checkpoint)
    save_weights(model, config, out, training)
    return out
