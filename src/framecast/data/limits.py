"""How much footage framecast decodes: a budget of frames and bytes, checked against what a file declares
before anything is decoded, and again while decoding (a header can lie).

The command line's budget is the machine's to spend (a flag raises it); the page's is stricter, as its files
come from anyone who can reach it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

GIB = 2**30


@dataclass
class Budget:
    """The most a read may decode: uint8 bytes in all, frames in all, and pixels in one frame."""

    bytes: int = 8 * GIB
    frames: int = 1_000_000
    frame_pixels: int = 8192 * 8192
    raise_hint: str = ""  # how a user raises this budget, said when it refuses

    def check(self, name: str, frames: int, height: int, width: int, channels: int, hint: str = "") -> None:
        """Refuse `frames` frames of `height` x `width` x `channels` (as decoded, uint8) over budget."""
        if height * width > self.frame_pixels:
            raise UserError(f"{name} has {width}x{height} frames; framecast decodes at most "
                            f"{self.frame_pixels:,} pixels a frame{hint}")
        need = frames * height * width * channels
        if frames > self.frames or need > self.bytes:
            raise UserError(f"{name} decodes to {frames:,} frames of {width}x{height}x{channels} "
                            f"({need / GIB:.1f} GiB), over the budget of {self.bytes / GIB:.1f} GiB"
                            f"{self.raise_hint}{hint or '; read fewer or smaller frames'}")


# The command line's and the Python API's: one object, which every reader takes by default, so that
# raise_cli_budget (--max-gib) reaches them all.
CLI = Budget(raise_hint=" (--max-gib raises it)")
PAGE = Budget(bytes=256 * 2**20, frames=2_000, frame_pixels=2048 * 2048)  # framecast serve's uploads


def raise_cli_budget(gib: float) -> None:
    """Let the command line decode up to `gib` GiB (and as many more frames in proportion, never fewer)."""
    if not 0 < gib < float("inf"):
        raise UserError(f"--max-gib should be a positive number of GiB, but got {gib}")
    default = Budget()
    CLI.bytes = max(int(gib * GIB), 1)
    CLI.frames = max(default.frames, int(default.frames * CLI.bytes / default.bytes))
