"""Mistakes a user can fix: the one exception type (the command line prints it as one line and exits 2), the
check of counts passed to the Python API, and notes about what framecast decided for the user."""

import numbers
import sys


class UserError(Exception):
    """A problem with the user's input (file, shape, option), with a message that says what was expected."""


def whole_number(name: str, value, minimum: int | None = 1) -> int:
    """`value` as an int if it is a whole number (not a bool) >= `minimum`; UserError naming `name` otherwise.

    For the Python API, where nothing like argparse has checked the types: 2.5 frames is a mistake, not 2."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (minimum is not None and value < minimum):
        expected = "a whole number" + (f" >= {minimum}" if minimum is not None else "")
        raise UserError(f"{name} should be {expected}, but got {value!r}")
    return int(value)


def note(text: str) -> None:
    """Tell the user what framecast decided for them, on stderr: stdout stays for results (data show's JSON)."""
    print(f"note: {text}", file=sys.stderr, flush=True)
