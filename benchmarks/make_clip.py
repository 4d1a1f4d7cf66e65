"""Make a test clip offline: a slow pan and zoom over a photograph (scikit-image's test images, public domain or
CC0), with a sprite crossing it, or cut-outs of photographs moving over a still one, at any frame size, as H.264.

    python benchmarks/make_clip.py OUT.mp4 --size 1280x720 --frames 132 [--image astronaut] [--seed 0]
    python benchmarks/make_clip.py OUT.mp4 --scene sprites --size 640x360 --frames 200 --image rocket

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


def sprites(image: torch.Tensor, size: tuple[int, int], count: int, seed: int = 0, n: int = 3) -> np.ndarray:
    """uint8 `[count, H, W, 3]`: `image` still, as a background, and `n` round cut-outs of the other photographs
    moving over it each at its own velocity (2 to 6 pixels a frame at 640 wide), bouncing off the frame's edges,
    passing over one another: motion that no single translation describes, with occlusions."""
    rng = np.random.default_rng(seed)
    h, w = size
    background = F.interpolate(image, size=(h, w), mode="bilinear", align_corners=False)[0]
    radius = max(4, round(min(h, w) * 0.16))
    ys, xs = torch.meshgrid(torch.arange(2 * radius) - radius + 0.5, torch.arange(2 * radius) - radius + 0.5,
                            indexing="ij")
    mask = (ys ** 2 + xs ** 2 < radius ** 2).float()
    others = [name for name in IMAGES if photograph(name).shape != image.shape][:n]
    cutouts = [F.interpolate(photograph(name), size=(2 * radius, 2 * radius), mode="bilinear",
                             align_corners=False)[0] for name in others]
    pos = rng.uniform([radius, radius], [h - radius, w - radius], (len(cutouts), 2))
    vel = rng.uniform(2, 6, (len(cutouts), 2)) * rng.choice([-1, 1], (len(cutouts), 2)) * w / 640
    out = np.empty((count, h, w, 3), dtype=np.uint8)
    for t in range(count):
        view = background.clone()
        for k, cut in enumerate(cutouts):
            top, left = (int(round(v)) - radius for v in pos[k])
            region = view[:, top:top + 2 * radius, left:left + 2 * radius]
            view[:, top:top + 2 * radius, left:left + 2 * radius] = mask * cut + (1 - mask) * region
            pos[k] += vel[k]
            for axis, side in ((0, h), (1, w)):  # bounce off the edges
                if not radius <= pos[k, axis] <= side - radius:
                    vel[k, axis] *= -1
                    pos[k, axis] = np.clip(pos[k, axis], radius, side - radius)
        out[t] = (view.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the .mp4 to write")
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT (default 1280x720)")
    parser.add_argument("--frames", type=int, default=132, help="frames (default 132)")
    parser.add_argument("--image", choices=IMAGES, default="astronaut", help="the photograph (default astronaut)")
    parser.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    parser.add_argument("--seed", type=int, default=0, help="the sprites' starts and velocities (default 0)")
    parser.add_argument("--scene", choices=("pan", "sprites"), default="pan",
                        help="pan: a pan and zoom over the photograph with a dark disc crossing it; sprites: the "
                             "photograph still, with cut-outs of the others moving over it (default pan)")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    make = frames if args.scene == "pan" else sprites
    write_video(make(photograph(args.image), (h, w), args.frames, args.seed), args.out, fps=args.fps)
    print(f"wrote {args.frames} frames of {w}x{h} to {args.out}")


if __name__ == "__main__":
    main()
