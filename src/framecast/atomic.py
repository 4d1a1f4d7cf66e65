"""Write files whole or not at all: write a temporary file beside the target, then rename it over the target."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from safetensors import SafetensorError

from .errors import UserError

try:  # the lock that tells a live writer's temporary file from a killed one's (POSIX)
    import fcntl
except ImportError:  # pragma: no cover - Windows: leftovers are not cleaned
    fcntl = None

# A temporary file or staging folder is a leftover when no process holds its lock (the system drops a lock when
# its process dies, SIGKILL too) and it has not changed for this long: a writer that has just made its file and
# not locked it yet is never taken for a dead one.
STALE_SECONDS = 60
STAGING = ".framecast-staging-"
_RANDOM = "[a-z0-9_]{8}"  # what tempfile puts in a name


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it to `target` only if the block finishes.

    The temporary name keeps the target's suffix, so libraries that choose a format by extension
    (matplotlib, Pillow, numpy) write the right one. On any error the temporary file is removed and an
    existing `target` is left as it was; the folders made for it are removed, and an error of the system or
    the writer (no space, no permission, no memory) becomes a UserError naming `target`. Temporary files
    left beside `target` by killed runs are removed first.
    """
    with folders_removed_if_unfinished(Path(target).parent):
        target = check_target(target)
        remove_leftovers(target.parent, rf"\.{re.escape(target.stem)}\.{_RANDOM}\.tmp{re.escape(target.suffix)}")
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp)
        held = _hold(tmp)
        try:
            yield tmp
            _usual_mode(tmp)
            os.replace(tmp, target)
        except Exception as err:
            raise write_error(err, target) from None
        finally:
            _release(held)
            tmp.unlink(missing_ok=True)


def write_error(err: Exception, target: Path) -> Exception:
    """The error to raise for `err`, raised while writing `target`: a UserError for what the system or a writing
    library reports (a full disk, no permission, no memory), `err` itself otherwise (a bug stays a traceback)."""
    if isinstance(err, UserError):
        return err
    code = getattr(err, "errno", None)
    # torch.save and safetensors report a full disk as RuntimeError / SafetensorError, with no errno
    full = any(words in str(err) for words in ("No space left", "os error 28", "StorageFull"))
    if code in (errno.ENOSPC, errno.EDQUOT) or full or _free_mb(target.parent) < 1:
        return UserError(f"no space left to write {str(target)!r}; free some space or write elsewhere")
    if isinstance(err, MemoryError):
        return UserError(f"not enough memory to write {str(target)!r}")
    if isinstance(err, OSError | SafetensorError):
        reason = getattr(err, "strerror", None) or str(err).strip().splitlines()[0][:200] or type(err).__name__
        return UserError(f"cannot write {str(target)!r} ({reason}); choose a writable location")
    return err


@contextlib.contextmanager
def atomic_files(folder: str | os.PathLike, last: str) -> Iterator[Path]:
    """Yield a hidden staging folder inside `folder`; move what the block wrote in it into `folder` only if the
    block finishes (`last` moved last, so its presence says the set is complete). A report is written whole
    or not at all: never new metrics beside an older run's pictures. Staging folders of killed runs are removed
    first; errors become UserErrors as in `atomic_path`."""
    folder = Path(folder)
    remove_leftovers(folder, rf"{re.escape(STAGING)}{_RANDOM}")
    staging = Path(tempfile.mkdtemp(prefix=STAGING, dir=folder))
    held = _hold(staging)
    try:
        yield staging
        (folder / last).unlink(missing_ok=True)  # from here on, an interrupted move leaves no `last` behind
        for path in sorted(staging.iterdir(), key=lambda p: p.name == last):
            _usual_mode(path)
            os.replace(path, folder / path.name)
    except Exception as err:  # name the file the user asked for, not the staging folder about to vanish
        if isinstance(err, OSError) and err.filename is not None:
            err.filename = str(err.filename).replace(str(staging), str(folder))
        mapped = write_error(err, folder)
        if mapped is err and not isinstance(err, UserError):
            raise
        raise UserError(str(mapped).replace(str(staging), str(folder))) from None
    finally:
        _release(held)
        shutil.rmtree(staging, ignore_errors=True)


def _hold(path: Path) -> int | None:
    """A descriptor of `path` that marks it as in use by this process until `_release` or the process's death;
    None where there are no such locks (Windows, where an open file could not be renamed either)."""
    if fcntl is None:
        return None
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def _release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def remove_leftovers(folder: Path, pattern: str) -> None:
    """Remove the entries of `folder` whose names match `pattern` (framecast's temporary names only) that are
    leftovers of killed runs: unlocked and unchanged for STALE_SECONDS. Whatever cannot be removed is left."""
    if fcntl is None or not folder.is_dir():
        return
    for entry in os.scandir(folder):
        if not re.fullmatch(pattern, entry.name) or entry.is_symlink():
            continue
        with contextlib.suppress(OSError):
            if time.time() - entry.stat().st_mtime < STALE_SECONDS:
                continue
            fd = os.open(entry.path, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # refused while a live writer holds its lock
                if entry.is_dir():
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            finally:
                os.close(fd)


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


def _usual_mode(path: Path) -> None:
    """Give a written file the permissions of any new file (0644 under the usual umask): mkstemp, and writers such
    as safetensors, make 0600 files, which the other users of a shared model or report folder could not read."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


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
    # A refused check leaves none of the folders it made behind (train --out on a full disk: no empty run folder)
    with folders_removed_if_unfinished(directory):
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
