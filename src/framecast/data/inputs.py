"""The paths a user names and the bytes behind them: what a path is when it is no file to read (a folder, a named
pipe, a device, a link loop), and the exceptions decoders raise on hostile bytes, turned into one line.

Every reader (files.py, images.py, media.py) asks `require_file` before opening a path: opening a named pipe
would wait forever, and "not found" for a folder or a link loop sends the user looking in the wrong place.
"""

from __future__ import annotations

import errno
import lzma
import stat
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path

from ..errors import UserError

# What third-party decoders (zipfile, numpy's header parser, Pillow, PyAV) raise about the bytes they are given:
# errors about the data, not about the calling code (TypeError, AttributeError, NameError stay bugs, and
# MemoryError stays the command line's "out of memory"). Pillow also raises SyntaxError on malformed headers.
# A reader catches these around its decoder calls only, and says which file could not be read.
DATA_ERRORS = (ValueError, OSError, EOFError, RuntimeError, ArithmeticError, LookupError, SyntaxError,
               struct.error, zlib.error, lzma.LZMAError, zipfile.BadZipFile, tokenize.TokenError)


def reason(err: BaseException) -> str:
    """A decoder's complaint on one line (its type where it says nothing): the text after "not readable"."""
    if isinstance(err, struct.error):  # a header's fields read past its end: "unpack_from requires a buffer..."
        return "cut short or damaged: a header ends early"
    if isinstance(err, tokenize.TokenError):  # its args: (message, position)
        err = err.args[0] if err.args else err
    text = getattr(err, "strerror", None) or str(err)
    return " ".join(text.split()) or type(err).__name__


def require_file(path: Path, what: str, expected: str) -> None:
    """UserError unless `path` is a regular file (after links), saying what it is instead: missing, a folder, a
    link that loops or leads nowhere, a named pipe, a device or a socket. `what`: how the message names the path
    ("video", "sequence file"); `expected`: what the user should pass instead."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        broken = " (a link to nothing)" if path.is_symlink() else ""
        raise UserError(f"{what} {str(path)!r} not found{broken}; expected {expected}") from None
    except OSError as err:
        why = "is a link that loops back on itself" if err.errno == errno.ELOOP else f"cannot be read ({reason(err)})"
        raise UserError(f"{what} {str(path)!r} {why}; expected {expected}") from None
    if stat.S_ISREG(mode):
        return
    kind = ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a special file")
    link = " (through a link)" if path.is_symlink() else ""
    raise UserError(f"{what} {str(path)!r} is {kind}{link}; expected {expected}")


def amount(size: int) -> str:
    """Bytes as a person reads them, never "0.0": "8.0 GiB", "0.3 GiB", "20.0 MiB", "1.5 KiB", "300 bytes"; what
    a hostile header declares in EiB ("7.4e+19 EiB" past a million of them)."""
    if size >= 2**80:
        return f"{size / 2**60:.1e} EiB"
    for unit, scale in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20),
                        ("KiB", 2**10)):
        least = scale / 10 if unit == "GiB" else scale  # budgets read in GiB: 0.2 GiB, not 256.0 MiB
        if size >= least:
            return f"{size / scale:.1f} {unit}"
    return f"{size:,} bytes"
