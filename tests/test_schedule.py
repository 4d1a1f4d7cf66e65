import io
import math

import pytest
import torch
from torch.optim.lr_scheduler import OneCycleLR

from framecast.training.schedule import FittedOneCycleLR

PEAK, TOTAL = 1e-2, 50


def _adam() -> torch.optim.Adam:
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=PEAK)


def _rates(schedule, steps: int) -> list[tuple[float, float]]:
    """(learning rate, beta1) after each of `steps` steps."""
    out = []
    for _ in range(steps):
        schedule.optimizer.step()
        schedule.step()
        group = schedule.optimizer.param_groups[0]
        out.append((group["lr"], group["betas"][0]))
    return out


def test_until_refitted_it_is_torchs_one_cycle():
    plain = OneCycleLR(_adam(), max_lr=PEAK, total_steps=TOTAL, pct_start=0.1)
    fitted = FittedOneCycleLR(_adam(), max_lr=PEAK, total_steps=TOTAL, pct_start=0.1)
    assert _rates(fitted, TOTAL - 1) == _rates(plain, TOTAL - 1)  # momentum cycles too


def test_refit_ends_the_cycle_at_the_new_end_without_a_jump():
    fitted = FittedOneCycleLR(_adam(), max_lr=PEAK, total_steps=TOTAL, pct_start=0.1)
    before = _rates(fitted, 20)[-1][0]
    fitted.refit(30)  # 10 more steps instead of 29
    after = [lr for lr, _ in _rates(fitted, 15)]
    minimum = PEAK / 25 / 1e4  # OneCycleLR's defaults: start at peak/25, end at start/1e4
    assert before > after[0] > after[1] and after[0] > 0.7 * before  # goes on from where it was
    assert after == sorted(after, reverse=True)
    assert after[9] == pytest.approx(minimum) and after[-1] == pytest.approx(minimum)  # step 30 and beyond


def test_refit_never_plans_past_the_planned_total():
    fitted = FittedOneCycleLR(_adam(), max_lr=PEAK, total_steps=TOTAL, pct_start=0.1)
    plain = OneCycleLR(_adam(), max_lr=PEAK, total_steps=TOTAL, pct_start=0.1)
    _rates(fitted, 5), _rates(plain, 5)
    fitted.refit(10 * TOTAL)  # a budget longer than the epochs: the epochs end the cycle
    torch.testing.assert_close(_rates(fitted, TOTAL - 6), _rates(plain, TOTAL - 6), rtol=1e-9, atol=0)


@pytest.mark.parametrize("saved_by", [FittedOneCycleLR, OneCycleLR])  # OneCycleLR: runs from before the refits
def test_a_resumed_schedule_continues_from_a_weights_only_checkpoint(saved_by):
    first = saved_by(_adam(), max_lr=PEAK, total_steps=TOTAL, pct_start=0.1)
    _rates(first, 10)
    if saved_by is FittedOneCycleLR:
        first.refit(25)
    buffer = io.BytesIO()
    torch.save({"schedule": first.state_dict(), "optimizer": first.optimizer.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # as framecast reads checkpoints: plain data only
    resumed = FittedOneCycleLR(_adam(), max_lr=PEAK, total_steps=TOTAL, pct_start=0.1)
    resumed.optimizer.load_state_dict(state["optimizer"])
    resumed.load_state_dict(state["schedule"])
    expected = _rates(first, 20)
    assert _rates(resumed, 20) == expected
    assert math.isclose(expected[-1][0], PEAK / 25 / 1e4) == (saved_by is FittedOneCycleLR)
