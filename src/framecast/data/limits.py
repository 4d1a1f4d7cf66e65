"""How much footage framecast decodes: a budget of frames and bytes, checked against what a file declares
before anything is decoded, and again while decoding (a header can lie).

The command line's budget is the machine's to spend (a flag raises it); the page's is stricter, as its files
come from anyone who can reach it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

GIB = 2**30


@dataclass(frozen=True)
class Budget:
    """The most a read may decode: uint8 bytes in all, frames in all, and pixels in one frame."""

    bytes: int = 8 * GIB
    frames: int = 1_000_000
    frame_pixels: int = 8192 * 8192

    def check(self, name: str, frames: int, height: int, width: int, channels: int, hint: str = "") -> None:
        """Refuse `frames` frames of `height` x `width` x `channels` (as decoded, uint8) over budget."""
        if height * width > self.frame_pixels:
            raise UserError(f"{name} has {width}x{height} frames; framecast decodes at most "
                            f"{self.frame_pixels:,} pixels a frame{hint}")
        need = frames * height * width * channels
        if frames > self.frames or need > self.bytes:
            raise UserError(f"{name} decodes to {frames:,} frames of {width}x{height}x{channels} "
                            f"({need / GIB:.1f} GiB), over the budget of {self.bytes / GIB:.1f} GiB"
                            f"{hint or '; read fewer or smaller frames'}")


CLI = Budget()                                                    # the command line and the Python API
PAGE = Budget(bytes=256 * 2**20, frames=2_000, frame_pixels=2048 * 2048)  # framecast serve's uploads
