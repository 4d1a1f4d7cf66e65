"""`framecast demo`: the shipped model at work on unseen sequences, in under two minutes on a 2-core CPU.

Generates Moving MNIST sequences from the test digits (never seen in training), evaluates the model
against the baselines on them, and writes a prediction GIF and PNG.
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import ensure_writable_dir
from ..config import DataConfig
from ..data.digits import digit_pool
from ..data.moving_mnist import check_generator_args
from ..errors import UserError
from ..inference.loading import load
from ..inference.prediction import predict_file
from ..model.predictor import Predictor
from ..preflight import DEMO_FILES
from ..quality.evaluation import evaluate
from .data_commands import generate_file

FILES = DEMO_FILES  # what a demo writes


def demo(out: str | Path = "demo", *, num: int = 200, checkpoint: str | Path | None = None) -> dict:
    """Write test_sequences.npy, the evaluation report, prediction.gif and prediction.png into `out`; return the
    evaluation's metrics dict."""
    model = load(checkpoint)  # once, for the checks, the evaluation and both pictures
    _check_model(model, num)  # before anything is written
    out = ensure_writable_dir(out)
    data = generate_file(out / "test_sequences.npy", num=num, size=model.config.frame_size, split="test",
                         seed=2026)
    result = evaluate(model, data=data, out=out)
    predict_file(model, input=data, out=out / "prediction.gif", index=0)
    predict_file(model, input=data, out=out / "prediction.png", index=0)
    return result


def _check_model(model: Predictor, num: int) -> None:
    """Refuse a model the demo cannot show: it makes grey Moving MNIST at the model's frame size."""
    cfg, d = model.config, DataConfig()
    if cfg.channels != 1:
        raise UserError(f"the demo shows Moving MNIST (grey frames), but this model takes {cfg.frames_text} "
                        "frames; evaluate it on your own data instead")
    try:
        check_generator_args(digit_pool("test"), num, d.frames, d.num_digits, cfg.frame_size, d.speed)
    except UserError as err:
        raise UserError(f"the demo makes Moving MNIST at this model's frame size, {cfg.frame_size}x{cfg.frame_size}: "
                        f"{err}; evaluate it on your own data instead") from None
