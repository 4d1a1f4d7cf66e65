"""save_pretrained / from_pretrained in the Hugging Face convention (that of `huggingface_hub.ModelHubMixin`): one
folder with `config.json` (the model's architecture), `model.safetensors` (its weights) and a model card `README.md`.

`from_pretrained` takes such a folder, or a hub id ("user/name") that `huggingface_hub` downloads (cached, with the
user's token and `revision`). Only the config and the safetensors weights are read: nothing is unpickled, so a
folder from a stranger cannot run code. Upload a folder with `huggingface_hub.upload_folder`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from huggingface_hub import ModelCardData, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HFValidationError
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..atomic import atomic_files, ensure_writable_dir, folders_removed_if_unfinished
from ..config import Config, DataConfig, __version__, apply_overrides
from ..errors import UserError
from ..model.checkpoint import FORMAT, build_model, training_summary
from ..model.predictor import Predictor, count_parameters
from .loading import LoadedModel
from .runtime import pick_device

CONFIG, WEIGHTS, CARD = "config.json", "model.safetensors", "README.md"
LIBRARY = "framecast"


def save_pretrained(model: Predictor, folder: str | Path, *, training: dict | None = None) -> Path:
    """Write `model` to `folder` as config.json, model.safetensors and README.md (a model card), all or none.

    training: how the weights were trained, for the card (steps, sequences, hours, device); by default read
    from the file the model was loaded from, if any. Returns the folder."""
    if not isinstance(model, Predictor):
        raise UserError(f"save_pretrained takes a framecast Predictor (framecast.load(...)), but got a "
                        f"{type(model).__name__}")
    if training is None:
        source = Path(model.source) if getattr(model, "source", None) else None
        training = training_summary(source) if source is not None and source.is_file() else {}
    config = {"library_name": LIBRARY, "framecast_format": FORMAT, "framecast_version": __version__,
              "model": dataclasses.asdict(model.config)}
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    with folders_removed_if_unfinished(folder):  # a failed save (a full disk) leaves no empty folder behind
        folder = ensure_writable_dir(folder)
        with atomic_files(folder, last=CONFIG) as staging:  # config.json last: its presence says the set is whole
            save_file(state, str(staging / WEIGHTS), metadata={"format": "pt"})
            (staging / CARD).write_text(model_card(model, training))
            (staging / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return folder


def from_pretrained(name: str | Path, *, revision: str | None = None,
                    device: str | torch.device | None = None) -> LoadedModel:
    """The model saved by `save_pretrained` in folder `name`, or in the hub repository `name` ("user/name",
    downloaded by huggingface_hub at `revision`); in eval mode, on `device` (by default the best one here)."""
    folder = Path(name)
    if not folder.is_dir():
        folder = _download(str(name), revision)
    model = _load_folder(folder)
    return model.to(device if device is not None else pick_device())


def _download(repo_id: str, revision: str | None) -> Path:
    """The hub repository's config.json and model.safetensors, downloaded into huggingface_hub's cache."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise UserError(f"{repo_id!r} is neither a folder nor a hub id like 'user/name'; expected a folder "
                        f"written by save_pretrained ({CONFIG}, {WEIGHTS}, {CARD})") from None
    paths = []
    for filename in (CONFIG, WEIGHTS):
        try:
            paths.append(Path(hf_hub_download(repo_id, filename, revision=revision, library_name=LIBRARY,
                                              library_version=__version__)))
        except (OSError, EntryNotFoundError) as err:  # offline, not found, no access: all OSError or EntryNotFound
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise UserError(f"no folder {repo_id!r} here, and cannot download its {filename} from the Hugging Face "
                            f"hub ({first})") from None
    if paths[0].parent != paths[1].parent:  # the cache keeps one folder per revision
        raise UserError(f"the hub's {CONFIG} and {WEIGHTS} of {repo_id!r} came from different revisions; pass revision")
    return paths[0].parent


def _load_folder(folder: Path) -> LoadedModel:
    """A Predictor from a save_pretrained folder; UserError naming the folder if a file is missing or foreign."""
    for filename in (CONFIG, WEIGHTS):
        if not (folder / filename).is_file():
            pickled = " (framecast never loads pickled .bin weights)" if filename == WEIGHTS else ""
            raise UserError(f"{str(folder)!r} holds no {filename}{pickled}; expected a folder written by "
                            f"save_pretrained ({CONFIG}, {WEIGHTS}, {CARD})")
    config = _read_config(folder / CONFIG)
    try:
        state = load_file(str(folder / WEIGHTS))
    except (SafetensorError, OSError, ValueError, MemoryError) as err:
        raise UserError(f"{str(folder / WEIGHTS)!r} is corrupt or not safetensors ({err})") from None
    model = build_model(config, state, str(folder), LoadedModel)
    model.source = str(folder)
    return model


def _read_config(path: Path) -> Config:
    """The Config (its model section from the file) in a save_pretrained config.json; UserError if foreign."""
    try:
        raw = json.loads(path.read_text())
    except OSError as err:
        raise UserError(f"cannot read {str(path)!r} ({err.strerror or err})") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{str(path)!r} is not valid JSON ({err})") from None
    library = raw.get("library_name") if isinstance(raw, dict) else None
    if library != LIBRARY or not isinstance(raw.get("model"), dict):
        raise UserError(f"{str(path)!r} is the config of another model (library_name {library!r}); expected "
                        f"a framecast config with library_name 'framecast' and a model section")
    if raw.get("framecast_format") != FORMAT:
        raise UserError(f"{str(path)!r} has format {raw.get('framecast_format')} from framecast "
                        f"{raw.get('framecast_version')}; this framecast {__version__} reads format {FORMAT}")
    # A colour model is trained on a user's file; the data section only has to say there was one.
    data = DataConfig(data=None if raw["model"].get("channels", 1) == 1 else str(path.parent))
    try:
        return apply_overrides(Config(preset="pretrained", data=data),
                               {f"model.{k}": v for k, v in raw["model"].items()})
    except UserError as err:
        raise UserError(f"{str(path)!r} holds a model config framecast cannot use: {err}") from None


OUTPUTS = {  # what each kind of output does, for the card
    "direct": "each frame predicted outright.",
    "residual": "each frame predicted as a change from the frame before (untrained: copy-last).",
    "warping": "each frame the one before moved along a motion field the model predicts, then corrected.",
    "warping from optical flow": "each frame the one before moved along a motion field that starts at the dense "
                                 "optical flow (OpenCV's DIS) over the context and that the model corrects, then "
                                 "corrected itself (untrained: the `flow` baseline). OpenCV computes the flow "
                                 "beside the network: an exported graph takes it as its second input, `field`.",
}


def model_card(model: Predictor, training: dict) -> str:
    """A model card: the hub's YAML metadata, what the model does, its architecture and how to run it."""
    m = model.config
    meta = ModelCardData(library_name=LIBRARY, license="mit", tags=["convlstm", "video-prediction", "framecast"])
    trained = (f"Trained for {training['steps']:,} steps ({training['sequences']:,} sequences, "
               f"{training['hours']} hours on {training['device']})." if {"steps", "sequences", "hours", "device"}
               <= training.keys() else "How it was trained is not recorded.")
    return f"""---
{meta.to_yaml()}
---

# framecast ConvLSTM

Predicts the next frames of {m.frames_text} image sequences (values in [0, 1]) with a stacked Convolutional LSTM
(Shi et al., 2015): {len(m.hidden)} layers of {", ".join(map(str, m.hidden))} channels, kernels
{", ".join(map(str, m.kernel))}, on {m.patch}x{m.patch} space-to-depth patches; {count_parameters(model):,} parameters;
{OUTPUTS[m.output_text]}
{trained}

```python
import framecast

model = framecast.from_pretrained("THIS_FOLDER_OR_HUB_ID")
future = model.predict(frames, horizon=10)  # numpy [T, H, W] or [B, T, H, W(, C)] in, same layout out
```

Files: `config.json` (the architecture), `model.safetensors` (the weights; no pickle), this card.
Made with framecast {__version__}.
"""
