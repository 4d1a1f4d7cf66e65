"""The field's metrics, as pure functions of `(pred, target)`.

Both arguments are float tensors `[B, T, C, H, W]` in [0, 1]. Every function returns a `[B, T]` tensor,
one value per sequence and frame: average over dim 0 for the per-frame curve, over everything for the
headline figure. MSE and MAE follow the literature (OpenSTL, PredRNN): error summed over the pixels of a
frame, on [0, 1] values. `frame_loss`, the training loss, is the one mean: it takes logits and returns a scalar.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

PSNR_CAP = 100.0  # dB: PSNR of a perfect frame is infinite; capping keeps averages finite


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over each frame's pixels (and channels), `[B, T]`."""
    return (pred - target).pow(2).sum(dim=(2, 3, 4))


def mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Absolute error summed over each frame's pixels (and channels), `[B, T]`."""
    return (pred - target).abs().sum(dim=(2, 3, 4))


def _per_frame(fn, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    b, t = pred.shape[:2]
    return fn(pred.flatten(0, 1), target.flatten(0, 1)).reshape(b, t)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM of each frame, `[B, T]`: torchmetrics, 7x7 uniform window, data range 1.

    The window is scikit-image's default (which OpenSTL calls), but the range and the formulas differ in
    detail (sample covariance, border handling): published SSIM figures compare with `ssim_openstl`.
    """
    return _per_frame(lambda p, t: structural_similarity_index_measure(
        p, t, gaussian_kernel=False, kernel_size=7, data_range=1.0, reduction="none"), pred, target)


SSIM_WINDOW = 7  # scikit-image's default window, which OpenSTL's cal_ssim uses


def ssim_openstl(pred: torch.Tensor, target: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """SSIM of each frame in the field's published convention, `[B, T]`.

    OpenSTL's `cal_ssim` calls scikit-image's `structural_similarity` on float frames without `data_range`;
    the scikit-image it pins (<= 0.19.3) then takes the float dtype's range, [-1, 1], so a range of 2, not
    the range 1 of the values. This is that function: a 7x7 uniform window, sample covariance
    (49/48), K1 = 0.01, K2 = 0.03, the mean over the pixels at least 3 from the border (where the window fits,
    so scikit-image's border mode never matters), channels averaged. Published SSIM figures compare with it.
    """
    b, t, c, h, w = pred.shape
    x, y = pred.reshape(b * t * c, 1, h, w), target.reshape(b * t * c, 1, h, w)

    def mean(z: torch.Tensor) -> torch.Tensor:  # the window's mean wherever it fits: (n, 1, h-6, w-6)
        return F.avg_pool2d(z, SSIM_WINDOW, stride=1)

    cov_norm = SSIM_WINDOW**2 / (SSIM_WINDOW**2 - 1)
    ux, uy = mean(x), mean(y)
    vx, vy = cov_norm * (mean(x * x) - ux * ux), cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3)).reshape(b, t, c).mean(dim=2)


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR of each frame in dB, `[B, T]`, data range 1; a perfect frame scores PSNR_CAP."""
    values = _per_frame(lambda p, t: peak_signal_noise_ratio(
        p, t, data_range=1.0, reduction="none", dim=(1, 2, 3)), pred, target)
    return values.clamp(max=PSNR_CAP)


def accuracy(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Share of pixels on the same side of `threshold` in both, `[B, T]` (older Keras notebooks' "accuracy").

    Mostly-black frames make it flattering: predicting an empty frame already scores about 0.9 on Moving MNIST.
    """
    return ((pred > threshold) == (target > threshold)).float().mean(dim=(2, 3, 4))


METRICS = {"mse": mse, "mae": mae, "ssim": ssim, "ssim_openstl": ssim_openstl, "psnr": psnr, "accuracy": accuracy}


CHUNK_VALUES = 2**21  # values per metric call: SSIM's intermediates are ~20 copies of its input, so big frames
# are scored a few at a time, and the memory evaluation needs stays flat whatever the frame size


def all_metrics(pred: torch.Tensor, target: torch.Tensor, names=None) -> dict[str, torch.Tensor]:
    """Every metric of METRICS (or those `names`), each `[B, T]`, computed in float32, a few frames at a time."""
    names = list(METRICS if names is None else names)
    frames = pred[0, 0].numel()
    step = max(1, CHUNK_VALUES // frames)  # frames per call
    flat_p, flat_t = pred.flatten(0, 1), target.flatten(0, 1)  # (B*T, C, H, W)
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    for i in range(0, len(flat_p), step):
        p, t = flat_p[i:i + step, None].float(), flat_t[i:i + step, None].float()  # (n, 1, C, H, W)
        for name in names:
            parts[name].append(METRICS[name](p, t)[:, 0])
    return {name: torch.cat(values).reshape(pred.shape[:2]) for name, values in parts.items()}


# The training loss, beside the metrics so that a model test or a benchmark needs no training library.
def frame_loss(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean loss of predicted logits against target frames in [0, 1] (any matching shape)."""
    logits, target = logits.float(), target.float()  # losses in fp32 even under bf16 autocast
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    return F.mse_loss(torch.sigmoid(logits), target)
