"""Make a test clip offline: a slow pan and zoom over a photograph (scikit-image's test images, public domain or
CC0), with a sprite crossing it, at any frame size, as H.264.

    python benchmarks/make_clip.py OUT.mp4 --size 1280x720 --frames 132 [--image astronaut] [--seed 0]

Used for the frame-size table of docs/own-footage.md (720p, 1080p and 4K clips through the README's commands).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from framecast.data.media import write_video

IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field")


def photograph(name: str) -> torch.Tensor:
    """A scikit-image test image as float `[1, 3, H, W]` in [0, 1]."""
    from skimage import data

    image = getattr(data, name)()
    image = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3]
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def frames(image: torch.Tensor, size: tuple[int, int], count: int, seed: int = 0) -> np.ndarray:
    """uint8 `[count, H, W, 3]`: a view that pans right and down and zooms in slowly over `image`, with a dark
    disc moving across on a straight line."""
    rng = np.random.default_rng(seed)
    h, w = size
    out = np.empty((count, h, w, 3), dtype=np.uint8)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    start, velocity = rng.uniform(0.1, 0.3, 2), rng.uniform(0.004, 0.008, 2)
    for t in range(count):
        zoom = 0.6 - 0.1 * t / count                                   # share of the photograph in view
        cx, cy = -0.3 + 0.6 * t / count, -0.2 + 0.3 * t / count        # the view's centre, in [-1, 1]
        grid = torch.stack([cx + zoom * xs, cy + zoom * ys], dim=-1)[None]
        view = F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=True)[0]
        sy, sx = start + velocity * t * 100 / count * 2                # the sprite's centre, share of the frame
        disc = ((ys - (2 * sy - 1)) ** 2 + (xs * w / h - (2 * sx - 1) * w / h) ** 2) < 0.15 ** 2
        view = torch.where(disc, view * 0.2 + 0.1, view)
        out[t] = (view.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the .mp4 to write")
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT (default 1280x720)")
    parser.add_argument("--frames", type=int, default=132, help="frames (default 132)")
    parser.add_argument("--image", choices=IMAGES, default="astronaut", help="the photograph (default astronaut)")
    parser.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    parser.add_argument("--seed", type=int, default=0, help="the sprite's start and velocity (default 0)")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    write_video(frames(photograph(args.image), (h, w), args.frames, args.seed), args.out, fps=args.fps)
    print(f"wrote {args.frames} frames of {w}x{h} to {args.out}")


if __name__ == "__main__":
    main()
