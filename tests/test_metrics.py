import math

import pytest
import torch

from framecast.quality.evaluation import baseline
from framecast.quality.metrics import PSNR_CAP, accuracy, all_metrics, mae, mse, psnr, ssim, ssim_openstl


def frames(b=2, t=3, h=16, w=16, seed=0):
    return torch.rand(b, t, 1, h, w, generator=torch.Generator().manual_seed(seed))


def test_mse_and_mae_sum_over_pixels_by_hand():
    target = torch.zeros(1, 2, 1, 4, 4)
    pred = torch.zeros(1, 2, 1, 4, 4)
    pred[0, 0, 0, 0, :2] = 0.5     # frame 1: two pixels off by 0.5
    pred[0, 1] = 0.25              # frame 2: all 16 pixels off by 0.25
    assert mse(pred, target).tolist() == [[0.5, 1.0]]    # 2 * 0.25 ; 16 * 0.0625
    assert mae(pred, target).tolist() == [[1.0, 4.0]]    # 2 * 0.5  ; 16 * 0.25


def test_perfect_prediction():
    x = frames()
    m = all_metrics(x, x)
    assert m["mse"].abs().max() == 0 and m["mae"].abs().max() == 0
    torch.testing.assert_close(m["ssim"], torch.ones(2, 3))
    assert torch.all(m["psnr"] == PSNR_CAP) and not torch.isinf(m["psnr"]).any()
    assert torch.all(m["accuracy"] == 1)


def test_psnr_by_hand():
    target = torch.zeros(1, 1, 1, 8, 8)
    pred = torch.full_like(target, 0.1)  # pixel MSE 0.01 -> 10 * log10(1 / 0.01) = 20 dB
    assert psnr(pred, target).item() == pytest.approx(20.0, abs=1e-4)


def test_ssim_is_lower_for_worse_predictions():
    target = frames(seed=1)
    noisy = (target + 0.1 * frames(seed=2)).clamp(0, 1)
    assert (ssim(noisy, target) < 1).all() and (ssim(torch.zeros_like(target), target) < ssim(noisy, target)).all()


def test_accuracy_thresholds_at_one_half():
    target = torch.tensor([0.0, 0.6, 0.9, 0.2]).reshape(1, 1, 1, 2, 2)
    pred = torch.tensor([0.4, 0.7, 0.1, 0.6]).reshape(1, 1, 1, 2, 2)
    assert accuracy(pred, target).item() == 0.5


def test_shapes_are_per_sequence_and_frame():
    m = all_metrics(frames(b=3, t=5), frames(b=3, t=5, seed=4))
    assert all(v.shape == (3, 5) for v in m.values())


def test_baselines():
    ctx = frames(t=4)
    zeros, copy = baseline("zeros", ctx, 6), baseline("copy_last", ctx, 6)
    assert zeros.shape == copy.shape == (2, 6, 1, 16, 16)
    assert zeros.abs().max() == 0
    assert all(torch.equal(copy[:, k], ctx[:, -1]) for k in range(6))
    # The zeros baseline's MSE is the sum of squared target pixels.
    target = frames(t=6, seed=9)
    torch.testing.assert_close(mse(zeros, target), target.pow(2).sum(dim=(2, 3, 4)))
    assert not math.isnan(float(mse(copy, target).mean()))


def test_openstl_ssim_is_scikit_images_function_with_range_2():
    from skimage import metrics  # a dev dependency: the README set-up installs it
    target = frames(b=2, t=2, h=32, w=32, seed=3)
    target[0, 0] = 0                                              # an empty frame, as Moving MNIST has many
    pred = (target + 0.2 * (frames(b=2, t=2, h=32, w=32, seed=4) - 0.5)).clamp(0, 1)
    ours = ssim_openstl(pred, target)
    for b in range(2):
        for t in range(2):  # what OpenSTL's cal_ssim computes on one float frame (scikit-image <= 0.19.3 default)
            theirs = metrics.structural_similarity(pred[b, t, 0].double().numpy(), target[b, t, 0].double().numpy(),
                                                   data_range=2.0, win_size=7)
            assert ours[b, t].item() == pytest.approx(theirs, abs=1e-5)
    # Range 2 is the more lenient convention: the same frames score higher than with framecast's range 1.
    assert (ours > ssim_openstl(pred, target, data_range=1.0)).all()
    colour = torch.cat([pred, pred.flip(-1), pred.flip(-2)], dim=2)  # [B, T, 3, H, W]: channels averaged
    truth = torch.cat([target, target.flip(-1), target.flip(-2)], dim=2)
    torch.testing.assert_close(ssim_openstl(colour, truth), ours, atol=1e-5, rtol=0)
