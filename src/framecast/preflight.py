"""Checks of what a user named that need no model and no data: a path that is not there, a run folder that holds a
run (or none to resume), an output's suffix. The command line runs them before it imports torch and Lightning,
which takes seconds, so that such a mistake is told at once; the modules that do the work call the same functions,
so each message has one home. Also what `demo --help` lists without importing the demo. Nothing here imports more
than the standard library."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from .errors import UserError

EXPORT_SUFFIXES = {"safetensors": ".safetensors", "onnx": ".onnx", "torchscript": ".pt"}  # format -> file suffix
PREDICT_OUTPUTS = (".mp4", ".gif", ".png", ".npy")


def is_weights_name(path: str | Path) -> bool:
    """Whether `path` names a safetensors weights file (any case: a Windows user may write .SAFETENSORS)."""
    return Path(path).suffix.lower() == ".safetensors"


def model_file(path: str | Path) -> Path:
    """`path` of a `.ckpt` or `.safetensors` file, once it is one that exists; UserError naming it otherwise."""
    path = Path(path)
    if path.is_dir():  # a run directory: the user most likely meant its best checkpoint
        raise UserError(f"{str(path)!r} is a folder; expected a checkpoint file such as {str(path / 'best.ckpt')!r}")
    if not path.is_file():
        raise UserError(f"{'weights file' if is_weights_name(path) else 'checkpoint'} {str(path)!r} not found")
    return path


def run_folder(out: str | Path, *, resume: bool, init: str | Path | None) -> None:
    """Refuse a training run that cannot start in `out`: --resume with no run there, a run there without --resume,
    --init with --resume, or --init weights that are not there."""
    last = Path(out) / "last.ckpt"
    if resume and not last.is_file():
        raise UserError(f"nothing to resume: {last} not found")
    if resume and init is not None:
        raise UserError("--init and --resume exclude each other: --resume continues the run's own weights")
    if not resume and last.is_file():
        raise UserError(f"{out} already holds a run; pass --resume to continue it, or choose a new --out")
    if init is not None:
        model_file(init)


def export_format(out: str | Path, fmt: str | None) -> str:
    """The export format: `fmt`, or the one `out`'s suffix names (safetensors for any other suffix)."""
    if fmt is None:
        suffix = Path(out).suffix.lower()
        return next((name for name, s in EXPORT_SUFFIXES.items() if s == suffix), "safetensors")
    if fmt not in EXPORT_SUFFIXES:
        raise UserError(f"export format should be one of {', '.join(EXPORT_SUFFIXES)}, but got {fmt!r}")
    return fmt


def export_out(out: str | Path, fmt: str | None) -> tuple[Path, str]:
    """`out` as a Path and its export format, once its suffix fits the format; UserError otherwise."""
    out, fmt = Path(out), export_format(out, fmt)
    if out.suffix.lower() != EXPORT_SUFFIXES[fmt]:
        raise UserError(f"output {str(out)!r} should end in {EXPORT_SUFFIXES[fmt]} for the {fmt} format")
    return out, fmt


def predict_out(out: str | Path) -> Path:
    """`out` as a Path, once its suffix names a kind of file predict writes; UserError otherwise."""
    out = Path(out)
    if out.suffix.lower() not in PREDICT_OUTPUTS:
        raise UserError(f"output {str(out)!r} should end in one of {', '.join(PREDICT_OUTPUTS)}")
    return out


# What `framecast demo` writes into its folder (cli/demo.py writes them; `demo --help` lists them without importing it).
DEMO_FILES = ("test_sequences.npy", "metrics.md", "metrics.json", "per_frame.png", "examples.png", "examples.gif",
              "prediction.gif", "prediction.png")


def port_problem(host: str, port: int) -> str | None:
    """Why `framecast serve` could not listen on `host`:`port` (the port in use, an address not of this machine), or
    None. Bound as the web server binds (SO_REUSEADDR: a port left in TIME_WAIT by a stopped server is free)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as err:
        return f"{host!r} is not a host name or address here ({err.strerror})"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            return f"port {port} is in use" if err.errno == errno.EADDRINUSE else (err.strerror or str(err))
    return None


def servable(host: str, port: int, failed: str | None = None) -> None:
    """Refuse a `framecast serve` that could not listen where asked, before seconds of loading the model; or, with
    `failed` (the server's own words), one that failed to listen after all."""
    problem = port_problem(host, port) or failed
    if problem:
        raise UserError(f"cannot serve on {host}:{port}: {problem}; pass another --port")
