"""`framecast serve`: a local web page (Gradio) where anyone makes a Moving MNIST sequence or uploads their own,
predicts its future frames and watches the prediction beside the truth, with the error per future frame and the
metrics against the baselines (zeros, copy_last, shift, flow: model/baselines.py).

Everything the page writes (uploads, pictures, downloads) goes into one temporary folder, removed on exit.
Frames here are numpy uint8 `[T, H, W, C]`, the layout of sequence files.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..config import DataConfig
from ..data.dataset import to_tensor
from ..data.digits import digit_pool
from ..data.files import save_sequences, to_uint8
from ..data.images import IMAGE_SUFFIXES, conform_frames, to_model_frames
from ..data.media import GREY_TOLERANCE, VIDEO_SUFFIXES
from ..data.moving_mnist import generate
from ..errors import UserError, plural, whole_number
from ..inference.loading import load, model_name
from ..inference.rollout import check_memory, predict_array
from ..model.baselines import BASELINES, baseline
from ..model.predictor import Predictor
from ..plots import frame_labels, mark, tile, write_gif
from ..preflight import servable
from ..quality.evaluation import NAMES, baseline_wins
from ..quality.metrics import METRICS
from .inputs import KEPT_SECONDS, MAX_UPLOAD, UploadLimits, as_uploaded, forget_uploads, page_size, read_upload

try:  # the optional extra framecast[web]; everything above works without it
    import gradio as gr
    import pandas as pd  # Gradio's plots take data frames
    from starlette.middleware import Middleware  # Gradio's server is Starlette's
except ImportError:  # pragma: no cover - the README's set-up installs it
    gr = pd = Middleware = None

DATA_DEFAULTS = DataConfig()  # defaults from their one home

HOST, PORT = "127.0.0.1", 7860  # this machine only, unless --host says otherwise
MAX_CONTEXT, MAX_HORIZON, MAX_MADE = 40, 100, 200  # slider ranges: past the training horizon, within memory
SHOWN = ("mse", "mae", "ssim", "psnr")  # the page's metrics; `framecast evaluate` reports the rest
UPLOAD_TYPES = [*VIDEO_SUFFIXES, ".gif", ".npy", ".npz", *IMAGE_SUFFIXES]
UPLOAD_LABEL = (f"a video ({' '.join(VIDEO_SUFFIXES)}), a .gif, a .npy/.npz of sequences, or several .png/.jpg "
                f"frames (at most {MAX_UPLOAD} each)")
# Moving MNIST is grey digits on black: about 92% of its pixels are under 32 with two digits, over 85% with three.
DARK, DARK_SHARE = 32, 0.75
T = TypeVar("T")


class ModelThread:
    """One thread for every PyTorch call of the page (loading, rollout, metrics). Gradio calls handlers from a pool
    of threads, and each thread that enters PyTorch's OpenMP gets a thread team of its own: two teams on a 2-core CPU
    slowed a rollout by a third or more (docs/performance.md, "The browser page")."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="framecast-model")

    def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """`fn(*args, **kwargs)` on the thread: its result, or its exception raised here."""
        return self._executor.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        """Drop waiting calls and wait for the running one, so that it no longer writes when its folder goes."""
        self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass
class Prediction:
    """What one request shows: the side-by-side animation, the scores (`score`'s, None without a truth), the
    metrics table (markdown), the prediction as downloads (.gif, .npy), and a status line."""

    animation: Path
    result: dict | None
    table: str
    downloads: list[Path]
    status: str


def make_sequence(seed: int, num_digits: int, speed: float, frames: int, size: int) -> np.ndarray:
    """One Moving MNIST sequence of test digits (never seen in training), uint8 `[frames, size, size, 1]`."""
    seed, num_digits, frames = (whole_number(name, value, minimum) for name, value, minimum in
                                (("seed", seed, 0), ("digits", num_digits, 1), ("frames", frames, 2)))
    if frames > MAX_MADE:
        raise UserError(f"frames should be at most {MAX_MADE}, but got {frames}")
    return generate(digit_pool("test"), 1, frames=frames, num_digits=num_digits, size=size, speed=float(speed),
                    seed=seed)[0, ..., None]


def page_frames(frames: np.ndarray, shorter: int | None = None) -> np.ndarray:
    """uint8 frames `[T, H, W, C]` at `page_size`, or as they are."""
    _, h, w, c = frames.shape
    size = page_size(h, w, shorter)
    return frames if size == (h, w) else conform_frames(frames, c, size)


def recorded_side(model) -> int | None:
    """The shorter side a footage model's training read its frames at, or None (not trained on footage, or at
    another kind of size)."""
    data = getattr(model, "trained_data", None)
    resize = tuple(data.resize) if data is not None and data.data is not None and data.resize else ()
    return resize[0] if len(resize) == 1 and resize[0] > 0 else None


def looks_like_moving_mnist(frames: np.ndarray) -> bool:
    """Whether frames `[T, H, W, C]` (uint8, or float in [0, 1]) look like Moving MNIST: grey, and mostly black (at
    least DARK_SHARE of the pixels under DARK), judged on at most 16 frames spread over the sequence."""
    sample = to_uint8(np.asarray(frames[np.unique(np.linspace(0, len(frames) - 1, 16).round().astype(int))]))
    grey = sample.shape[-1] == 1 or bool((np.ptp(sample, axis=-1) <= GREY_TOLERANCE).all())
    return grey and float((sample.max(axis=-1) < DARK).mean()) >= DARK_SHARE


def footage_note(model: Predictor, frames: np.ndarray) -> str:
    """One line for uploaded `frames` `[T, H, W, C]` that are footage (not Moving-MNIST-like) when `model` was not
    trained on footage: what to expect, and how to train and serve a model that knows such footage; "" otherwise."""
    trained = getattr(model, "trained_data", None)  # None: a model built in Python, which records no training
    if (trained is not None and trained.data is not None) or looks_like_moving_mnist(frames):
        return ""
    what = ("This model was trained on Moving MNIST digits, not on footage like this: expect a blur."
            if trained is not None else
            "This model does not record what it was trained on: unless that was footage like this, expect a blur.")
    return (f"**{what}** Train one on your footage with `framecast train --data YOUR_FOOTAGE --out runs/mine` and "
            "show it here with `framecast serve --checkpoint runs/mine/best.ckpt`.")


REQUEST_PREFIXES = ("prediction-", "sequence-")  # the folders request_folder makes, and prunes


def predict_sequence(model: Predictor, frames: np.ndarray, context: int, horizon: int, folder: Path,
                     engine: str = "auto") -> Prediction:
    """Predict `horizon` frames after the first `context` frames of `frames` `[T, H, W, C]` (any size: converted
    to the model's) by `engine` ("auto": ONNX Runtime where measured faster, see inference/engine.py), score them
    against whatever truth follows, and write the pictures into `folder`."""
    context, horizon = whole_number("context", context), whole_number("horizon", horizon)
    if horizon > MAX_HORIZON or context > MAX_CONTEXT:
        raise UserError(f"context and horizon should be at most {MAX_CONTEXT} and {MAX_HORIZON}, but got {context} "
                        f"and {horizon}")
    frames = to_model_frames(frames, model.config, "the sequence")
    if len(frames) < context:
        raise UserError(f"the sequence has {len(frames)} frames; context {context} needs at least {context}: "
                        "lower the context")
    ctx, truth = frames[:context], frames[context:context + horizon]
    check_memory((1,) + ctx.shape, horizon)
    # rollouts None: the page serves until stopped, so ONNX Runtime's start-up is paid once
    pred = np.rint(predict_array(model, ctx, horizon, engine=engine, rollouts=None) * 255).astype(np.uint8)
    result = score(ctx, truth, pred)
    folder = request_folder(folder, "prediction-")  # one per request: users never collide
    animation = folder / "truth_and_prediction.gif"
    padded = np.concatenate([truth, np.zeros_like(pred[len(truth):])])  # black where the sequence has ended
    both = np.stack([np.concatenate([ctx, padded]), np.concatenate([ctx, mark(pred)])])
    write_gif(tile(both), animation, labels=frame_labels(context, horizon, "{name}: truth | predicted (framed)"))
    downloads = [folder / "prediction.gif", folder / "prediction.npy"]
    write_gif(np.concatenate([ctx, mark(pred)]), downloads[0], labels=frame_labels(context, horizon))
    save_sequences(downloads[1], pred[None])  # [1, horizon, H, W, C]: a sequence file framecast reads
    status = f"predicted {plural(horizon, 'frame')} after the first {context} of {len(frames)}"
    if len(truth) < horizon:
        status += (f"; the sequence has a truth for {len(truth)} of them, which the metrics cover" if len(truth)
                   else "; the sequence has no frames after the context, so there is nothing to score against")
    return Prediction(animation, result, metrics_table(result), downloads, status)


@dataclass
class Example:
    """What the page shows when it opens: a made Moving MNIST sequence `[T, H, W, C]`, its preview, and its
    prediction."""

    frames: np.ndarray
    preview: Path
    prediction: Prediction


def first_example(model: Predictor, folder: Path, engine: str = "auto") -> Example | None:
    """The page's opening example, a Moving MNIST sequence of the defaults predicted 10 -> 10 (made once, when the
    server starts; it warms the model up as warm_up does, and with "auto" times the engines for the page's usual
    frames); None for a model whose frames cannot hold the digits."""
    try:
        frames = make_sequence(0, DATA_DEFAULTS.num_digits, DATA_DEFAULTS.speed, DATA_DEFAULTS.frames,
                               model.config.frame_size)
    except UserError:
        return None
    prediction = predict_sequence(model, frames, DATA_DEFAULTS.context, DATA_DEFAULTS.horizon, folder, engine)
    return Example(frames, preview(frames, folder), prediction)


def warm_up(model: Predictor, engine: str = "auto") -> None:
    """One rollout of blank frames, so that the first visitor does not wait for the kernels' first-call set-up."""
    cfg = model.config
    predict_array(model, np.zeros((DATA_DEFAULTS.context, cfg.frame_size, cfg.frame_size, cfg.channels), np.uint8),
                  DATA_DEFAULTS.horizon, engine=engine, rollouts=None)


def score(ctx: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> dict | None:
    """Metrics of the prediction and the baselines on the frames with a truth (`truth` `[n, H, W, C]`, `pred`
    `[horizon, H, W, C]`, n <= horizon), in evaluate()'s result layout: mean and per_frame of each metric, and
    "baselines". None when n = 0."""
    n = len(truth)
    if n == 0:
        return None
    c, t, p = (to_tensor(x[None]) for x in (ctx, truth, pred[:n]))  # (1, T, C, H, W)

    def summary(guess) -> dict:
        per = {name: METRICS[name](guess, t)[0].tolist() for name in SHOWN}
        return {**{name: float(np.mean(v)) for name, v in per.items()}, "per_frame": per}

    return {**summary(p), "baselines": {name: summary(baseline(name, c, n)) for name in BASELINES}}


def metrics_table(result: dict | None) -> str:
    """The metrics of `score` as a markdown table: model and baselines, one row each."""
    if result is None:
        return "No metrics: the sequence has no frames after the context to compare with."
    heads = {"mse": "MSE/frame", "mae": "MAE/frame", "psnr": "PSNR (dB)"}
    lines = ["| | " + " | ".join(heads.get(name, NAMES[name]) for name in SHOWN) + " |",
             "|---" * (len(SHOWN) + 1) + "|"]
    for who, r in [("model", result), *result["baselines"].items()]:
        lines.append(f"| {who} | " + " | ".join(f"{r[name]:.4f}" if name == "ssim" else f"{r[name]:.2f}"
                                               for name in SHOWN) + " |")
    if losses := baseline_wins(result):  # as `framecast evaluate` says it
        lines += ["", f"**The model does worse than {losses}.**"]
    return "\n".join(lines + ["", "MSE/MAE: summed over a frame's pixels (values in [0, 1]); lower is better. "
                                  "SSIM, PSNR: higher is better."])


def error_curves(result: dict | None) -> pd.DataFrame | None:
    """The MSE of each future frame with a truth, model and baselines, as rows for Gradio's (client-drawn) plot:
    columns "future frame", "MSE", "who"."""
    if result is None:
        return None
    rows = [("model", result), *result["baselines"].items()]
    return pd.DataFrame([{"future frame": k + 1, "MSE": value, "who": who} for who, r in rows
                         for k, value in enumerate(r["per_frame"]["mse"])])


def preview(frames: np.ndarray, folder: Path) -> Path:
    """The sequence as a GIF in a new file in `folder`, captioned with frame numbers."""
    path = request_folder(folder, "sequence-") / "sequence.gif"
    write_gif(frames, path, labels=[f"frame {i + 1}" for i in range(len(frames))])
    return path


def request_folder(folder: Path, prefix: str) -> Path:
    """A new folder in `folder` for one request's pictures, named `prefix`...; first, the folders of earlier
    requests older than KEPT_SECONDS are removed (their pictures were shown long ago; Gradio serves its own copies
    and deletes those on the same clock), so a page that serves for days does not fill its disk."""
    now = time.time()
    for old in folder.glob("*-*"):
        try:
            if old.name.startswith(REQUEST_PREFIXES) and now - old.stat().st_mtime > KEPT_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:  # removed by another request at the same time
            pass
    return Path(tempfile.mkdtemp(prefix=prefix, dir=folder))


def build_app(model: Predictor, source: str, folder: Path, model_thread: ModelThread, example: Example | None = None,
              engine: str = "auto"):
    """The page: a sequence (made or uploaded) kept per visitor, context and horizon, predict (by `engine`), the
    results; every PyTorch call on `model_thread`. `example`: what it shows when it opens (a made sequence and its
    prediction)."""
    cfg = model.config
    shown_first = example.prediction if example is not None else None
    # delete_cache: Gradio keeps the files sent to its upload route whether or not the page reads them
    with gr.Blocks(title="framecast", analytics_enabled=False, delete_cache=(60, KEPT_SECONDS)) as app:
        gr.Markdown(f"# framecast\n{model_name(source)} ({cfg.frames_text} frames). Make a Moving MNIST sequence "
                    "or upload your own, choose how many frames the model reads and predicts, and press Predict.")
        sequence = gr.State(example.frames if example is not None else None)  # this visitor's frames [T, H, W, C]
        with gr.Row():
            with gr.Column():
                with gr.Tab("Moving MNIST"):
                    seed = gr.Number(value=0, precision=0, minimum=0, label="seed")
                    digits = gr.Slider(1, 3, value=DATA_DEFAULTS.num_digits, step=1, label="digits")
                    speed = gr.Slider(0.0, 1.0, value=DATA_DEFAULTS.speed, step=0.01,
                                      label="speed (share of the free range)")
                    length = gr.Slider(2, MAX_MADE, value=DATA_DEFAULTS.frames, step=1, label="frames")
                    make = gr.Button("Make a sequence")
                with gr.Tab("Upload"):
                    upload = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, label=UPLOAD_LABEL)
                    index = gr.Number(value=0, precision=0, label="sequence of a .npy/.npz (index)")
                shown = gr.Image(str(example.preview) if example is not None else None, label="the sequence",
                                 type="filepath", interactive=False)
            with gr.Column():
                context = gr.Slider(1, MAX_CONTEXT, value=DATA_DEFAULTS.context, step=1,
                                    label="context (frames the model reads)")
                horizon = gr.Slider(1, MAX_HORIZON, value=DATA_DEFAULTS.horizon, step=1,
                                    label=f"horizon (frames it predicts; trained on {DATA_DEFAULTS.horizon})")
                predict = gr.Button("Predict", variant="primary")
                status = gr.Markdown("Make or upload a sequence." if shown_first is None else
                                     f"An example: a Moving MNIST sequence made with seed 0; "
                                     f"{shown_first.status}. Make or upload your own.", elem_id="status")
                note = gr.Markdown("", elem_id="note")  # what the model can know of this sequence: footage_note
        animation = gr.Image(str(shown_first.animation) if shown_first else None, type="filepath",
                             label="truth | prediction (context first, then the future)", interactive=False,
                             elem_id="animation")
        with gr.Row():
            plot = gr.LinePlot(error_curves(shown_first.result) if shown_first else None, x="future frame", y="MSE",
                               color="who", label="error per future frame (MSE, lower is better)", elem_id="error")
            with gr.Column():
                table = gr.Markdown(shown_first.table if shown_first else "", elem_id="metrics")
                downloads = gr.File([str(p) for p in shown_first.downloads] if shown_first else None,
                                    label="download the prediction", file_count="multiple", interactive=False)

        # A new sequence clears the results (animation, plot, table, downloads): they were predicted from the old one.
        cleared = (None, None, "", None)

        def on_make(seed_value, digits_value, speed_value, frames_value):
            try:
                frames = make_sequence(seed_value, int(digits_value), speed_value, int(frames_value), cfg.frame_size)
            except UserError as err:
                return *_kept(2), f"**Could not make the sequence:** {err}", *_kept(5)
            made = f"made a sequence of {len(frames)} frames (seed {seed_value})"
            return frames, str(preview(frames, folder)), made, "", *cleared

        def on_upload(paths, index_value):
            if not paths:
                return _kept(8)
            if not any(Path(p).exists() for p in paths):  # another index of an upload read before
                return (*_kept(2), "**The page keeps no upload once read:** upload the file again to read another "
                        "of its sequences. The previous sequence is kept.", *_kept(5))
            try:
                side = recorded_side(model)
                read = read_upload(paths, 0 if index_value is None else int(index_value), folder, side)
                frames = page_frames(to_model_frames(read, model.config, "the upload"), side)  # a small preview
                return (frames, str(preview(frames, folder)), f"read {len(read)} frames of {read.shape[1]}x"
                        f"{read.shape[2]}x{read.shape[3]}; press Predict", footage_note(model, read), *cleared)
            except UserError as err:
                message = as_uploaded(str(err), paths, folder)
            except Exception as err:  # whatever an upload does, the page answers and keeps serving
                traceback.print_exc()
                message = as_uploaded(f"the upload could not be read ({type(err).__name__}: {err})", paths, folder)
            finally:
                forget_uploads(paths, folder)  # read or refused: the page keeps the frames, not the files
            return *_kept(2), f"**Could not use the upload:** {message}. The previous sequence is kept.", *_kept(5)

        def on_predict(frames, context_value, horizon_value):
            if frames is None:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), "**Make or upload a sequence first.**"
            try:
                out = model_thread.run(predict_sequence, model, frames, int(context_value), int(horizon_value),
                                       folder, engine)
            except UserError as err:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), f"**Could not predict:** {err}"
            return str(out.animation), error_curves(out.result), out.table, [str(p) for p in out.downloads], out.status

        new_sequence = [sequence, shown, status, note, animation, plot, table, downloads]
        make.click(on_make, [seed, digits, speed, length], new_sequence)
        upload.upload(on_upload, [upload, index], new_sequence)
        index.submit(on_upload, [upload, index], new_sequence)
        # A timer while it runs: a spinner over every output slowed the page by a quarter, the browser's drawing
        # competing with the model for the CPU (docs/performance.md).
        predict.click(on_predict, [sequence, context, horizon], [animation, plot, table, downloads, status],
                      api_name="predict", show_progress="minimal")
    return app


def _kept(n: int) -> tuple:
    """`n` outputs left as they are (a new gr.skip() each: Gradio may change the one it is handed)."""
    return tuple(gr.skip() for _ in range(n))


def _theme():
    """Gradio's default look in the system's fonts: the page fetches nothing from the internet."""
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])


def serve(checkpoint: str | Path | None = None, *, folder: str | Path, host: str = HOST, port: int = PORT,
          engine: str = "auto") -> None:
    """Serve the page until Ctrl-C or SIGTERM (which the command line turns into KeyboardInterrupt), writing only
    into `folder`, a temporary folder that the caller removes (Gradio's own, GRADIO_TEMP_DIR, should be in it).
    `engine`: what runs the model ("auto": ONNX Runtime where measured faster, see inference/engine.py)."""
    if gr is None:
        raise UserError("framecast serve needs Gradio: pip install 'framecast[web]'")
    model_thread = ModelThread()
    try:
        model = model_thread.run(load, checkpoint)  # a bad checkpoint fails here, before anything listens
        # the opening example's pictures in a folder of their own, which is never pruned: every visitor sees them
        (Path(folder) / "example").mkdir(exist_ok=True)
        example = model_thread.run(first_example, model, Path(folder) / "example", engine)  # warms the model too
        if example is None:
            model_thread.run(warm_up, model, engine)
        source = str(checkpoint) if checkpoint is not None else str(model.source)
        app = build_app(model, source, Path(folder), model_thread, example, engine)
        _launch_until_stopped(app, model_name(source), host, port, Path(folder))
    finally:
        model_thread.close()


def _launch_until_stopped(app, name: str, host: str, port: int, folder: Path | None = None) -> None:
    """Serve `app` until stopped; uploads within MAX_UPLOAD a file and UploadLimits (Gradio keeps them in `folder`)."""
    limits = [Middleware(UploadLimits, folder=folder)] if folder is not None else []
    try:
        # quiet: Gradio's own lines (its URL, "set share=True in launch()") are for Python users; ours says the URL.
        try:
            app.launch(server_name=host, server_port=port, max_file_size=MAX_UPLOAD, prevent_thread_lock=True,
                       ssr_mode=False, mcp_server=False, enable_monitoring=False, footer_links=[], theme=_theme(),
                       quiet=True, app_kwargs={"middleware": limits})
        except OSError as err:  # Gradio's "Cannot find empty port in range: 7860-7860. You can specify..."
            # servable() raises: with the port's problem, else the server's words (its class where it gave none)
            servable(host, port, failed=str(err).split(". ")[0] or type(err).__name__)
        print(f"framecast: serving {name} on http://{host}:{port} (Ctrl-C stops)", file=sys.stderr, flush=True)
        while True:
            time.sleep(1)
    finally:
        app.close(verbose=False)  # framecast says how it ended ("interrupted"), not Gradio's "Closing server..."
