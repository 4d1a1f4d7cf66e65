"""Recordings -> windows: the split in time never shares a frame, training draws every part of the training spans
(crops and flips too), and the baselines the model is judged against."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from framecast.data.windows import Span, WindowSet, WindowStream, auto_stride, split_in_time, windows_in
from framecast.errors import UserError
from framecast.model.baselines import baseline, phase_shift


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(20, 200), min_size=1, max_size=6), fraction=st.floats(0.05, 0.5))
def test_training_and_validation_never_share_a_frame(lengths, fraction):
    recordings = [np.zeros((n, 1, 1, 1), np.uint8) for n in lengths]
    if len(lengths) == 1 and lengths[0] < 50:  # one short sequence: nothing to hold out
        with pytest.raises(UserError, match="needs at least 2"):
            split_in_time(recordings, 20, fraction)
        return
    train, val, words = split_in_time(recordings, 20, fraction)
    used = {(s.recording, f) for s in train for f in range(s.start, s.stop)}
    held = {(s.recording, f) for s in val for f in range(s.start, s.stop)}
    assert used and held and not used & held and words.startswith("validation: ")
    assert all(s.positions(20) > 0 for s in val)  # every validation span holds a window
    for s in val:
        if lengths[s.recording] >= 50:  # a long recording: its end is held out, at least 1.5 windows
            assert s.stop == lengths[s.recording] and s.stop - s.start >= 30


def test_a_recording_shorter_than_a_window_is_refused():
    with pytest.raises(UserError, match="longest recording has 12 frames; .* needs 20"):
        split_in_time([np.zeros((12, 4, 4, 1))], 20, 0.1)


def test_windows_are_every_stride_frames_and_thinned_evenly():
    spans = [Span(0, 0, 30), Span(1, 5, 25)]
    assert windows_in(spans, 20, 5) == [(0, 0), (0, 5), (0, 10), (1, 5)]
    assert len(windows_in(spans, 20, 1)) == 11 + 1 and windows_in(spans, 20, 1, most=3) == [(0, 0), (0, 6), (1, 5)]
    assert auto_stride(spans, 20, 4) == 3 and auto_stride(spans, 20, 100) == 1


def test_the_stream_draws_random_crops_of_the_training_spans_reproducibly():
    clip = np.arange(60, dtype=np.uint8)[:, None, None, None] * np.ones((1, 12, 16, 1), np.uint8)  # frame t is t
    stream = WindowStream([clip], [Span(0, 0, 40)], window=8, batch_size=64, crop=8, flip=True, seed=3)
    batch = stream.batch(5)
    assert batch.shape == (64, 8, 1, 8, 8)
    starts = (batch[:, 0, 0, 0, 0] * 255).round().long()
    assert starts.min() >= 0 and starts.max() <= 32  # windows end inside the span: frame < 40
    assert len(set(starts.tolist())) > 10
    torch.testing.assert_close(stream.batch(5), batch)  # a pure function of (seed, step): resumable
    assert not torch.equal(stream.batch(6), batch)


def test_window_set_gives_stored_frames_and_tensors():
    clip = np.random.default_rng(0).integers(0, 255, (30, 8, 8, 3), dtype=np.uint8)
    windows = WindowSet([clip], [(0, 0), (0, 7)], 10)
    np.testing.assert_array_equal(windows.frames(1, 2)[0], clip[7:17])
    assert windows[0].shape == (10, 3, 8, 8) and windows[0].dtype == torch.float32


def test_phase_correlation_measures_a_translation_to_a_tenth_of_a_pixel():
    g = torch.Generator().manual_seed(0)
    scene = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 120, 140, generator=g), 5, 1, 2)[0, 0]
    a, b = scene[10:74, 10:90], scene[12:76, 7:87]  # the content moves 2 up and 3 right
    torch.testing.assert_close(phase_shift(a[None], b[None]), torch.tensor([[-2.0, 3.0]]), atol=0.1, rtol=0)


def test_the_shift_baseline_continues_a_pan_and_copy_last_does_not():
    g = torch.Generator().manual_seed(1)
    scene = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 64, 200, generator=g), 5, 1, 2)[0, 0]
    frames = torch.stack([scene[:, 2 * t:2 * t + 64] for t in range(20)])[None, :, None]  # a pan, 2 px a frame
    ctx, truth = frames[:, :10], frames[:, 10:]
    error = {name: ((baseline(name, ctx, 10) - truth) ** 2).sum(dim=(2, 3, 4)).mean().item()
             for name in ("zeros", "copy_last", "shift")}
    assert error["shift"] < 0.2 * error["copy_last"] < error["zeros"]
    assert baseline("shift", ctx[:, :1], 3).shape == (1, 3, 1, 64, 64)  # one frame: no motion to measure
