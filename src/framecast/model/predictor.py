"""framecast's predictor: the stacked ConvLSTM of framecast.nn (Shi et al., 2015) unrolled over a rollout that feeds
its predictions back, with a causal output convolution.

Tensors are `[B, T, C, H, W]` with values in [0, 1]. The predictor works on space-to-depth patches
(`patch` p: a 64x64x1 frame becomes 16x16x16 for p=4), which makes the recurrence cheap on a CPU. It is fully
convolutional: without peepholes it predicts frames of any size (padded to a multiple of the patch, then cropped
back), whatever size it was trained on.

A residual predictor (`residual`) adds its output to the logit of the frame it just read, so that before any
training it predicts that frame again (copy-last): for natural video, a start where the trivial baseline is,
not a grey blob. A warping predictor (`warp`) also predicts a motion field, two more output channels per patch
(in units of a patch, upsampled to pixels), moves the frame it read along it (backward warping: each output pixel
samples the frame where the field points, bilinearly) and adds its correction to that: the next frame is mostly
the last one moved, as in the video predictors that win on real footage (Deep Voxel Flow, SDC-Net, DMVFN). A
flow predictor (`flow`, footage's default) starts its motion at the classical optical flow of the `flow` baseline
(OpenCV's DIS over the context, computed outside the network, read by the cells as two more input channels) and
predicts a gain on it and a correction to it: untrained, it is the `flow` baseline (exactly, in frames of whole
patches; near the right and bottom edges of others, the padding differs a little), and training starts from there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ..config import ModelConfig
from ..nn import ConvLSTM, State
from .baselines import flow_field

# A residual model's base is the logit of the frame read, clamped to [eps, 1 - eps]: black and white stay finite,
# and sigmoid brings them back within 0.1 of a uint8 level.
RESIDUAL_EPS = 1e-4


class Predictor(nn.Module):
    """Reads context frames, then predicts the next frames one by one, feeding each prediction back."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        p = config.patch
        self.patched = config.channels * p * p  # channels of a frame after space-to-depth
        # A flow model warps, and a warping one corrects as a residual one does, whatever keys were left undecided.
        self.warps = bool(config.warp or config.flow)
        self.residual = bool(config.residual or self.warps)
        # Peepholes as in Shi et al.: one weight per position, so the model takes frames of its size only.
        seen = 2 if config.flow else 0  # a flow model also reads its starting field, averaged per patch
        self.rnn = ConvLSTM(self.patched + seen, config.hidden, config.kernel, activation=config.activation,
                            peephole=config.peephole, peephole_size=config.frame_size // p,
                            layer_norm=config.layer_norm, batch_norm=config.batch_norm)
        # A causal 3-D convolution over the last `head_time` outputs, written as a 2-D convolution over
        # their channel concatenation: the output for frame t+1 never sees inputs after frame t.
        k = config.head_kernel
        # (dx, dy) per patch, and for a flow model a gain on its starting field, before the correction's channels
        motion = 3 if config.flow else 2 if self.warps else 0
        self.head = nn.Conv2d(config.hidden[-1] * config.head_time, motion + self.patched, k, padding=k // 2)
        if self.residual:  # a change of zero (and no motion): the last frame, exactly
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        else:
            # Start from dark frames of about the data's mean brightness: from sigmoid(0) = 0.5, training first
            # spends many steps learning to output black, and often stays stuck at predicting empty frames.
            nn.init.constant_(self.head.bias, config.head_bias)

    def to_patches(self, frames: torch.Tensor) -> torch.Tensor:
        p = self.config.patch
        return rearrange(frames, "b t c (h p1) (w p2) -> b t (c p1 p2) h w", p1=p, p2=p)

    def from_patches(self, patches: torch.Tensor) -> torch.Tensor:
        p = self.config.patch
        return rearrange(patches, "b t (c p1 p2) h w -> b t c (h p1) (w p2)", p1=p, p2=p)

    def rollout(self, frames: torch.Tensor, context: int, steps: int, teacher: torch.Tensor | None = None,
                field: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of `steps` next-frame predictions `[B, steps, C, H, W]`; output k predicts frame k+1.

        frames: `[B, T, C, H, W]` in [0, 1], T >= context (T >= steps with `teacher`: it feeds true frames).
        The first `context` frames are always read.
        After that the model's own prediction is fed back, except where `teacher` `[B, steps - context]`
        is True: there the true frame `frames[:, t]` is fed instead (scheduled sampling in training).
        field: a flow model's starting motion `[B, 2, H', W']` (`start_field`'s), where the caller computed it
        (an exported graph takes it as an input: OpenCV's flow is not part of a graph).
        """
        h, w = frames.shape[-2:]
        if self.config.peephole and (h, w) != (self.config.frame_size,) * 2:
            raise ValueError(f"a model with peepholes takes {self.config.frames_text} frames, but got {h}x{w}")
        # A traced graph (TorchScript, ONNX) is exported at one size, a multiple of the patch, and records no padding.
        x = self.to_patches(frames if torch.jit.is_tracing() else self.pad(frames))  # (B, T, C*p*p, H/p, W/p)
        if field is None:
            field = self.start_field(frames, context)
        states, window = self.initial_carry(x[:, 0])
        logits, prev = [], None
        for t in range(steps):
            inp = x[:, t] if t < context else prev
            if teacher is not None and t >= context:
                inp = torch.where(teacher[:, t - context, None, None, None], x[:, t], prev)
            out, states, window = self.advance(inp, states, window, field)
            logits.append(out)
            prev = torch.sigmoid(out).to(x.dtype)
        return self.from_patches(torch.stack(logits, dim=1))[..., :h, :w]  # the padding cropped off

    def pad(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames `[B, T, C, H, W]` with their bottom and right edges replicated up to whole patches."""
        h, w = frames.shape[-2:]
        p = self.config.patch
        if h % p == 0 and w % p == 0:
            return frames
        return F.pad(frames.flatten(0, 1), (0, -w % p, 0, -h % p), mode="replicate").unflatten(0, frames.shape[:2])

    def start_field(self, frames: torch.Tensor, context: int) -> torch.Tensor | None:
        """The motion a `flow` model starts from `[B, 2, H', W']` (padded like the frames): the classical optical
        flow of the `flow` baseline over the context frames (`baselines.flow_field`); None for other models."""
        if not self.config.flow:
            return None
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            raise ValueError("a flow model's graph takes its starting field as an input: pass field=")
        field = flow_field(frames[:, :context]).to(frames.device) if context >= 2 else frames.new_zeros(
            len(frames), 2, *frames.shape[-2:], dtype=torch.float32)
        h, w = frames.shape[-2:]
        return F.pad(field, (0, -w % self.config.patch, 0, -h % self.config.patch), mode="replicate")

    def initial_carry(self, first: torch.Tensor) -> tuple[list[State], list[torch.Tensor]]:
        """What a rollout carries into its first step, for the patched frame it reads `[B, C*p*p, H/p, W/p]`: each
        layer's zero (h, c), and a window of head_time - 1 zero top-layer outputs."""
        states = self.rnn.init_state(first)
        return states, [torch.zeros_like(states[-1][0])] * (self.config.head_time - 1)

    def advance(self, inp: torch.Tensor, states: list[State], window: list[torch.Tensor],
                field: torch.Tensor | None = None) -> tuple[torch.Tensor, list[State], list[torch.Tensor]]:
        """One step of the rollout, which framecast's ONNX engine also exports as a graph of its own.

        inp: the patched frame read `[B, C*p*p, H/p, W/p]`; states: each layer's (h, c); window: the top layer's
        outputs of the last `head_time - 1` steps; field: a flow model's starting motion `[B, 2, H, W]` (the same at
        every step). Returns the logits of the next frame `[B, C*p*p, H/p, W/p]`, the new states and the new
        window."""
        p = self.config.patch
        seen = inp if field is None else torch.cat([inp, F.avg_pool2d(field, p).to(inp.dtype) / p], dim=1)
        top, states = self.rnn.step(seen, states)
        window = [*window, top]                         # the head reads the last head_time outputs
        out = self.head(torch.cat(window, dim=1))       # (B, (motion +) C*p*p, H/p, W/p)
        base = inp
        if self.warps:
            k = 3 if self.config.flow else 2
            motion, out = out[:, :k], out[:, k:]
            if field is not None:  # the starting field, scaled by 1 + gain (per patch): 0 keeps it, -1 drops it
                gain = F.interpolate(motion[:, 2:].float(), size=field.shape[-2:], mode="bilinear",
                                     align_corners=False)
                field = field * (1 + gain)
            moved = warp(self.from_patches(inp[:, None])[:, 0], motion[:, :2] * p, field)
            base = self.to_patches(moved[:, None])[:, 0]
        if self.residual:
            out = out + torch.logit(base.float(), eps=RESIDUAL_EPS).to(out.dtype)
        return out, states, window[1:]

    def forward(self, frames: torch.Tensor, horizon: int) -> torch.Tensor:
        """Context frames `[B, T_in, C, H, W]` in [0, 1] -> the next `horizon` frames `[B, horizon, C, H, W]`."""
        if horizon < 1:
            raise ValueError(f"horizon should be >= 1, but got {horizon}")
        steps = frames.shape[1] + horizon - 1
        return torch.sigmoid(self.rollout(frames, frames.shape[1], steps)[:, -horizon:])


def warp(frame: torch.Tensor, motion: torch.Tensor, field: torch.Tensor | None = None) -> torch.Tensor:
    """`frame` `[B, C, H, W]` moved along `motion` `[B, 2, h, w]` (dx, dy in pixels, at any resolution: upsampled
    bilinearly): each output pixel (x, y) samples the frame at (x + dx, y + dy), bilinearly; edges repeat the
    border. A zero field returns the frame."""
    h, w = frame.shape[-2:]
    motion = F.interpolate(motion.float(), size=(h, w), mode="bilinear", align_corners=False)
    if field is not None:  # a full-resolution field [B, 2, H, W] the motion corrects
        motion = motion + field
    # In pixels, then in grid_sample's [-1, 1]; with tensor arithmetic only, so that an exported graph keeps its
    # frame size free (Python arithmetic on a traced size would fix it).
    ys = torch.arange(h, device=frame.device, dtype=torch.float32)
    xs = torch.arange(w, device=frame.device, dtype=torch.float32)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")                          # (H, W) each
    at = torch.stack([gx, gy], dim=-1) + motion.permute(0, 2, 3, 1)         # (B, H, W, 2) as (x, y), in pixels
    extent = torch.stack([xs[-1], ys[-1]]).clamp(min=1.0)                   # (W - 1, H - 1)
    grid = at * (2.0 / extent) - 1.0
    moved = F.grid_sample(frame.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return moved.to(frame.dtype)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
