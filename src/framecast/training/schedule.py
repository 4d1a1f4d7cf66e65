"""A one-cycle learning rate that can end early, so that a time budget (`--max-minutes`) ends annealed.

torch's OneCycleLR is planned in steps. On a CPU, the steps a budget allows are not known in advance: a cycle
planned too long is cut while its learning rate is still high, and the run ends far from its best. Here the
cycle's remaining part can be re-fitted while it runs (`refit`), from the step reached to a new end step;
the training loop re-fits it every 20 steps from the measured speed (see `FramecastModule`).
"""

from __future__ import annotations

from torch.optim.lr_scheduler import OneCycleLR


class FittedOneCycleLR(OneCycleLR):
    """OneCycleLR whose remaining cycle can be compressed into fewer steps while it runs.

    Training step `s` maps to OneCycleLR's step number `cycle_step(s)` linearly, from `anchor`
    (training step, cycle step) to (`end`, last cycle step). Until the first `refit`, the map is the identity
    and the learning rates and momenta are exactly OneCycleLR's. After `end`, the learning rate stays at its
    minimum. `anchor` and `end` are plain numbers in `state_dict`, so a resumed run continues the same map.
    """

    def __init__(self, optimizer, max_lr: float, total_steps: int, pct_start: float) -> None:
        self.anchor = (0, 0.0)
        self.end = total_steps - 1  # OneCycleLR reaches its minimum at step total_steps - 1
        super().__init__(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start)

    def cycle_step(self, step: int) -> float:
        """OneCycleLR's step number for training step `step`."""
        start, done = self.anchor
        last = self.total_steps - 1
        if step >= self.end:
            return float(last)
        return done + (last - done) * (step - start) / (self.end - start)

    def refit(self, end: int) -> None:
        """Run the rest of the cycle from the current step to training step `end` (at most the planned
        total), continuing from the current learning rate without a jump."""
        step = self.last_epoch
        self.anchor = (step, self.cycle_step(step))
        self.end = max(step + 1, min(int(end), self.total_steps - 1))

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        self.last_epoch = self.cycle_step(step)  # OneCycleLR reads its position from last_epoch
        try:
            return super().get_lr()
        finally:
            self.last_epoch = step
