"""Mistakes a user can fix: the one exception type (the command line prints it as one line and exits 2), the
check of counts passed to the Python API, and notes about what framecast decided for the user; and the one
exception for work a user stopped."""

import numbers
import sys


class UserError(Exception):
    """A problem with the user's input (file, shape, option), with a message that says what was expected."""


class Unreadable(UserError):
    """A file that cannot be decoded (damaged, empty, not media): one of many can be skipped, unlike a budget or an
    option, which would refuse the others too."""


class Interrupted(KeyboardInterrupt):
    """Work stopped by Ctrl-C or SIGTERM, unwound like Ctrl-C so that temporary files are removed; the message says
    what happened (and how to go on). `sigterm`: the command line then exits 143 (128 + SIGTERM), not 130."""

    def __init__(self, message: str, *, sigterm: bool = False) -> None:
        super().__init__(message)
        self.sigterm = sigterm


def whole_number(name: str, value, minimum: int | None = 1) -> int:
    """`value` as an int if it is a whole number (not a bool) >= `minimum`; UserError naming `name` (if any)
    otherwise.

    For the Python API, where nothing has checked the types, 2.5 frames is a mistake, not 2; the command line
    checks its counts with this too."""
    subject = f"{name} " if name else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = "a whole number" + (f" >= {minimum}" if minimum is not None else "")
        raise UserError(f"{subject}should be {expected}, but got {value!r}")
    if minimum is not None and value < minimum:
        raise UserError(f"{subject}should be >= {minimum}, but got {value}")
    return int(value)


def note(text: str) -> None:
    """Tell the user what framecast decided for them, on stderr: stdout stays for results (data show's JSON)."""
    print(f"note: {text}", file=sys.stderr, flush=True)


def plural(count: int, noun: str) -> str:
    """`count` and `noun`, in the plural unless it is one: "1 frame", "0 frames", "20 frames"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
