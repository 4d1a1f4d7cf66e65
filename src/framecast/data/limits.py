"""How much footage framecast decodes: a budget of frames, bytes, pixels a frame and (for the page) seconds, checked
against what a file declares before anything is decoded, and again for every frame as it is decoded (a header, or
a GIF's screen, can lie), summed over everything one read decodes (every frame of a folder, every video of a
folder of videos).

The command line's budget is the machine's to spend (a flag raises it); the page's is stricter, as its files
come from anyone who can reach it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..errors import UserError
from .inputs import amount

GIB = 2**30


@dataclass
class Budget:
    """The most a read may decode: uint8 bytes in all, frames in all, pixels in one frame (as decoded, before any
    resizing), and seconds of decoding (None: no limit)."""

    bytes: int = 8 * GIB
    frames: int = 1_000_000
    frame_pixels: int = 8192 * 8192
    raise_hint: str = ""  # how a user raises this budget, said when it refuses
    seconds: float | None = None
    flags: bool = True  # whether a refusal may name the command line's ways to read less (the page has none)

    def check(self, name: str, frames: int, height: int, width: int, channels: int, hint: str = "",
              spent: int = 0) -> None:
        """Refuse `frames` frames of `height` x `width` x `channels` (as decoded, uint8) over budget, where `spent`
        bytes are decoded already."""
        self.check_frame(name, height, width, hint)
        self.check_frames(name, frames, hint)
        need = spent + frames * height * width * channels
        if need > self.bytes:
            before = f" with the {amount(spent)} read before it" if spent else ""
            raise UserError(f"{name} decodes to {frames:,} frames of {width}x{height}x{channels} "
                            f"({amount(need)}{before}), over the budget of {amount(self.bytes)}"
                            f"{self.raise_hint}{hint or '; read fewer or smaller frames'}")

    def check_frames(self, name: str, frames: int, hint: str = "") -> None:
        """Refuse more than `self.frames` frames, said in frames: many small frames are no measure in bytes."""
        if frames > self.frames:
            raise UserError(f"{name} decodes to {frames:,} frames, over the budget of {self.frames:,} frames"
                            f"{self.raise_hint}{hint or '; read fewer frames'}")

    def check_frame(self, name: str, height: int, width: int, hint: str = "") -> None:
        """Refuse one frame of `height` x `width` over the pixel limit."""
        if height * width > self.frame_pixels:
            raise UserError(f"{name} has {width}x{height} frames; framecast decodes at most "
                            f"{self.frame_pixels:,} pixels a frame{hint}")

    def tally(self, name: str, hint: str = "") -> Tally:
        """A count of what one read decodes, against this budget, its clock starting now."""
        return Tally(self, name, hint)


@dataclass
class Tally:
    """What one read has decoded so far: every frame counted at the size it is decoded at, before its pixels
    are allocated, summed over every file the read decodes; refused in one line once over the budget."""

    budget: Budget
    name: str
    hint: str = ""  # how to read less, said when it refuses
    frames: int = 0
    bytes: int = 0
    started: float = field(default_factory=lambda: time.monotonic())  # looked up when counting starts

    def __post_init__(self) -> None:
        if not self.budget.flags:
            self.hint = ""

    def expect(self, frames: int, height: int, width: int, channels: int, name: str | None = None) -> None:
        """Refuse, before decoding, `frames` more frames that a header declares, if they would not fit."""
        self.budget.check(name or self.name, frames, height, width, channels, self.hint, spent=self.bytes)

    def decoded(self, height: int, width: int, channels: int, name: str | None = None) -> None:
        """Refuse a frame as the decoder made it (whatever is kept of it): over the pixel limit, alone over the
        bytes, or past the time limit."""
        name = name or self.name
        self.budget.check_frame(name, height, width, self.hint)
        if height * width * channels > self.budget.bytes:
            raise UserError(f"{name} has frames of {width}x{height}x{channels} ({amount(height * width * channels)}"
                            f" each), over the budget of {amount(self.budget.bytes)}{self.budget.raise_hint}"
                            f"{self.hint or '; read smaller frames'}")
        self._in_time(name)

    def add(self, height: int, width: int, channels: int, name: str | None = None) -> None:
        """Count one frame kept at `height` x `width` x `channels` (uint8), refused before it is allocated if the
        read would go over the budget."""
        name = name or self.name
        self.decoded(height, width, channels, name)
        need, frames = self.bytes + height * width * channels, self.frames + 1
        if frames > self.budget.frames:
            raise UserError(f"{name} decodes to more than {self.frames:,} frames, over the budget of "
                            f"{self.budget.frames:,}{self.budget.raise_hint}{self.hint or '; read fewer frames'}")
        if need > self.budget.bytes:
            raise UserError(f"{name} decodes to more than {self.frames:,} frames ({amount(need)}, the last of "
                            f"{width}x{height}x{channels}), over the budget of {amount(self.budget.bytes)}"
                            f"{self.budget.raise_hint}{self.hint or '; read fewer or smaller frames'}")
        self.frames, self.bytes = frames, need

    def _in_time(self, name: str) -> None:
        seconds = self.budget.seconds
        if seconds is not None and time.monotonic() - self.started > seconds:
            raise UserError(f"{name} takes more than {seconds:g} s to decode; framecast decodes for at most "
                            f"{seconds:g} s here{self.hint or '; use fewer or smaller frames'}")


# The command line's and the Python API's: one object, which every reader takes by default, so that
# raise_cli_budget (--max-gib) reaches them all.
CLI = Budget(raise_hint=" (--max-gib raises it)")
# framecast serve's uploads: decoded one at a time while every other visitor waits, so in seconds too; frames up
# to 4K (4096x2160), as phones record them (a video is scaled as it is decoded)
PAGE = Budget(bytes=256 * 2**20, frames=2_000, frame_pixels=4096 * 2160, seconds=20, flags=False)


def raise_cli_budget(gib: float) -> None:
    """Let the command line decode up to `gib` GiB (and as many more frames in proportion, never fewer)."""
    if not 0 < gib < float("inf"):
        raise UserError(f"--max-gib should be a positive number of GiB, but got {gib}")
    default = Budget()
    CLI.bytes = max(int(gib * GIB), 1)
    CLI.frames = max(default.frames, int(default.frames * CLI.bytes / default.bytes))
