"""Write files whole or not at all: write a temporary file beside the target, then rename it over the target."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it to `target` only if the block finishes.

    The temporary name keeps the target's suffix, so libraries that choose a format by extension
    (matplotlib, Pillow, numpy) write the right one. On any error the temporary file is removed and an
    existing `target` is left as it was.
    """
    target = check_target(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp (and some writers) make 0600 files; give the usual permissions
        os.replace(tmp, target)
    except Exception as err:
        # torch.save and safetensors report a full disk as RuntimeError / SafetensorError, not as ENOSPC
        full = getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or _free_mb(target.parent) < 1
        if full:
            raise UserError(f"no space left to write {str(target)!r}; free some space or write elsewhere") from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_files(folder: str | os.PathLike, last: str) -> Iterator[Path]:
    """Yield a hidden staging folder inside `folder`; move what the block wrote in it into `folder` only if the
    block finishes (`last` moved last, so its presence says the set is complete). A report is written whole
    or not at all: never new metrics beside an older run's pictures."""
    folder = Path(folder)
    staging = Path(tempfile.mkdtemp(prefix=".framecast-staging-", dir=folder))
    try:
        yield staging
        (folder / last).unlink(missing_ok=True)  # from here on, an interrupted move leaves no `last` behind
        for path in sorted(staging.iterdir(), key=lambda p: p.name == last):
            os.replace(path, folder / path.name)
    except UserError as err:  # name the file the user asked for, not the staging folder about to vanish
        raise UserError(str(err).replace(str(staging), str(folder))) from None
    except OSError as err:
        if err.filename is not None:
            err.filename = str(err.filename).replace(str(staging), str(folder))
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def folders_removed_if_unfinished(path: str | os.PathLike) -> Iterator[None]:
    """Remove the folders of `path` (itself included) that the block created and left empty, if the block does
    not finish (a mistake, Ctrl-C, SIGTERM): a stopped command leaves no empty --out folder behind."""
    path = Path(path)
    created = [folder for folder in (path, *path.parents) if not folder.exists()]  # deepest first
    try:
        yield
    except BaseException:
        for folder in created:
            if not folder.is_dir() or any(folder.iterdir()):
                break
            folder.rmdir()
        raise


def _free_mb(directory: Path) -> float:
    return shutil.disk_usage(directory).free / 2**20


def check_target(target: str | os.PathLike, need_mb: float = 0) -> Path:
    """`target` as a Path, once its folder is writable (with `need_mb` free) and it is not itself a folder."""
    target = Path(target)
    if target.is_dir():
        raise UserError(f"{str(target)!r} is a folder; expected the path of a file to write")
    ensure_writable_dir(target.parent, need_mb)
    return target


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    """Write `text` to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def ensure_writable_dir(directory: str | os.PathLike, need_mb: float = 0) -> Path:
    """Create `directory` if needed and check that files can be written in it (and `need_mb` of space is free);
    raise UserError if not.

    Called before long work so that a read-only or missing location fails at once, not after hours.
    """
    directory = Path(directory)
    blocker = next((p for p in (directory, *directory.parents) if p.exists() or p.is_symlink()), None)
    if blocker is not None and not blocker.is_dir():  # mkdir would say only "File exists" or "Not a directory"
        raise UserError(f"{str(blocker)!r} is a file; expected a folder (or a new name) to write into")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".framecast-probe-"):
            pass
    except OSError as err:
        reason = err.strerror or err
        raise UserError(f"cannot write to {str(directory)!r} ({reason}); choose a writable location") from None
    free_mb = _free_mb(directory)
    if free_mb < need_mb:
        raise UserError(f"only {free_mb:.0f} MB free in {str(directory)!r}; need at least {need_mb:.0f} MB")
    return directory
