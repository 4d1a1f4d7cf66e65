"""Pictures people read at a glance: titles in words, frame names, legends, captions, plain numbers."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

import framecast.plots as plots


@pytest.fixture
def figures(monkeypatch):
    """The figures the plotting functions make, kept open for inspection instead of being saved."""
    kept = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.append(fig))
    yield kept
    for fig in kept:
        plt.close(fig)


def _texts(fig) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text()]


def test_a_run_stopped_in_its_first_steps_gets_no_empty_loss_curve(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,step,lr-Adam\n0,0,0.002\n")  # nothing logged but the rate
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "No artists with labels found to put in legend" too
        plots.plot_loss_curve(tmp_path / "metrics.csv", tmp_path / "loss_curve.png")
    assert not (tmp_path / "loss_curve.png").exists()


@pytest.mark.parametrize("losses", [(0.171, 0.208), (0.002, 0.7)])  # within a decade, and across several
def test_the_loss_curve_labels_its_log_axis_with_plain_numbers(tmp_path, figures, losses):
    low, high = losses
    lines = ["step,train_loss_step,val_loss,val_mse", f"1,{high},,", f"2,{low},,", f"3,,{low},140"]
    (tmp_path / "metrics.csv").write_text("\n".join(lines) + "\n")
    plots.plot_loss_curve(tmp_path / "metrics.csv", tmp_path / "loss_curve.png")
    left = figures[0].axes[0]
    figures[0].canvas.draw()
    labels = [t.get_text() for t in left.get_yticklabels(which="both") if t.get_text()]
    assert labels and not [label for label in labels if "$" in label or "e-" in label], labels
    assert all(float(label) > 0 for label in labels)


def test_per_frame_titles_in_words_with_units_and_one_legend(figures):
    per = {"mse": [1.0, 2.0], "ssim": [0.9, 0.8]}
    result = {"per_frame": per, "baselines": {"zeros": {"per_frame": per}, "copy_last": {"per_frame": per}}}
    plots.plot_per_frame(result, "unused.png", title="m.ckpt on d.npy")
    fig = figures[0]
    assert [ax.get_title() for ax in fig.axes] == ["MSE per frame (lower is better)", "SSIM (higher is better)"]
    assert all(ax.get_xlabel() == "future frame (t+k)" and ax.get_ylabel() for ax in fig.axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["model", "zeros", "copy_last"]
    assert "m.ckpt on d.npy" in _texts(fig)


def test_comparison_grid_names_frames_and_wraps_a_long_rollout(figures):
    frames = np.zeros((1, 25, 8, 8, 1), np.uint8)
    plots.comparison_grid(frames[:, :10], frames[:, :10], frames, "unused.png", title="the shipped model on x.npy")
    fig = figures[0]
    texts = _texts(fig)
    assert ["t-9", "t", "t+1", "t+10", "t+11", "t+25"] == [t for t in texts if t in ("t-9", "t", "t+1", "t+10",
                                                                                       "t+11", "t+25")]
    assert "the shipped model on x.npy" in texts
    # context, then truth / prediction / |error| for t+1..t+10, then prediction rows for t+11..20 and t+21..25
    rows = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert rows == ["context", "truth", "prediction", "|error|", "prediction", "prediction"]
    assert max(ax.get_subplotspec().colspan.stop for ax in fig.axes) == plots.COLUMNS  # never wider than that


def test_gifs_are_scaled_up_and_captioned(tmp_path):
    frames = np.zeros((3, 64, 64, 1), np.uint8)
    frames[:, 10:20, 10:20] = 255
    plots.write_gif(frames, tmp_path / "a.gif", labels=plots.frame_labels(2, 1))
    gif = Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 3 and gif.size == (4 * 64, 4 * 64 + plots.LABEL_HEIGHT)
    first = np.asarray(gif.convert("L"))
    assert first[plots.LABEL_HEIGHT + 4 * 15, 4 * 15] == 255  # nearest neighbour: the square, 4x as large
    assert first[:plots.LABEL_HEIGHT].max() > 0  # a caption in the band above the frame
    assert plots.frame_labels(2, 2) == ["context t-1", "context t", "predicted t+1", "predicted t+2"]
    plots.write_gif(np.zeros((2, 8, 600, 1), np.uint8), tmp_path / "wide.gif")  # a strip: at most ~1,024 px wide
    assert Image.open(tmp_path / "wide.gif").size == (600, 8)


def test_the_loss_curve_names_the_rollout_validation_predicts(tmp_path, figures):
    lines = ["step,train_loss_step,val_loss,val_mse", "1,0.2,,", "2,,0.18,140"]
    (tmp_path / "metrics.csv").write_text("\n".join(lines) + "\n")
    plots.plot_loss_curve(tmp_path / "metrics.csv", tmp_path / "loss_curve.png", "10 -> 20")
    texts = _texts(figures[0])
    assert "validation (10 -> 20 rollout)" in texts and "validation MSE per frame (10 -> 20, lower is better)" in texts
    assert not [t for t in texts if "10 -> 10" in t]


def test_gifs_of_big_frames_are_scaled_down_by_area_with_a_note(tmp_path, capsys):
    frames = np.zeros((2, 720, 1280, 1), np.uint8)
    frames[:, :, ::2] = 255  # one-pixel stripes: averaged into greys, where picking pixels would keep 0 and 255
    plots.write_gif(frames, tmp_path / "examples.gif", labels=["context t", "predicted t+1"])
    gif = Image.open(tmp_path / "examples.gif")
    assert gif.n_frames == 2 and gif.size == (plots.GIF_MAX_WIDTH, 540 + plots.LABEL_HEIGHT)
    picture = np.asarray(gif.convert("L"))[plots.LABEL_HEIGHT:]
    assert 120 < picture.mean() < 135 and ((picture > 40) & (picture < 215)).mean() > 0.25  # 255, 128, 0, ...
    assert "note: examples.gif scaled to 960x540 px from 1280x720" in capsys.readouterr().err
    plots.write_gif(np.zeros((2, 64, 64, 1), np.uint8), tmp_path / "small.gif")  # Moving MNIST: as before
    assert Image.open(tmp_path / "small.gif").size == (256, 256) and capsys.readouterr().err == ""


def _drawn_widths(fig) -> list[float]:
    """The pixel width of each frame drawn in `fig` (the axes, narrowed to the frame's aspect as imshow draws it)."""
    fig.canvas.draw()
    widths = []
    for ax in fig.axes:
        if ax.images:
            box = ax.get_window_extent()
            h, w = ax.images[0].get_array().shape[:2]
            widths.append(min(box.width, box.height * w / h))
    return widths


def test_grids_draw_big_frames_readably_and_small_ones_as_before(figures, capsys):
    big = np.zeros((1, 3, 720, 1280, 3), np.uint8)
    plots.comparison_grid(big[:, :2], big[:, 2:], big[:, 2:], "examples.png", title="m on clip.mp4")
    assert min(_drawn_widths(figures[-1])) > 150 and max(figures[-1].get_size_inches()) < 6  # 2 columns, 4 rows
    assert "note: examples.png shows the 1280x720 frames 160 px wide" in capsys.readouterr().err
    wide = np.zeros((4, 10, 272, 640, 3), np.uint8)
    plots.sequence_grid(wide, "grid.png", title="clip.mp4: 4 stretches of 10 frames")
    widths = _drawn_widths(figures[-1])
    assert len(widths) == 40 and min(widths) > 150 and figures[-1].get_size_inches()[0] * plots.DPI < 2000
    assert "note: grid.png shows the 640x272 frames 160 px wide" in capsys.readouterr().err
    small = np.zeros((1, 10, 64, 64, 1), np.uint8)
    plots.sequence_grid(small, "grid.png", title="s.npy")
    assert tuple(figures[-1].get_size_inches()) == (9.0, 1.3)  # Moving MNIST's grid as it always was
    plots.comparison_grid(small, small, small, "examples.png")
    assert tuple(figures[-1].get_size_inches()) == (9.0, 4.0) and capsys.readouterr().err == ""


def test_a_caption_strip_sits_above_the_frames_and_fits_its_panels():
    frames = np.full((2, 64, 300, 3), 90, np.uint8)
    out = plots.caption_strip(frames, [("context t", "context t"), ("truth t+1", "predicted t+1")], at=(0, 152))
    strip = out.shape[1] - 64
    assert strip % 2 == 0 and strip >= plots.LABEL_SIZE and out.shape[2:] == (300, 3)
    np.testing.assert_array_equal(out[:, strip:], frames)  # the picture is whole, not written over
    assert out[:, :strip].max() == 255 and out[:, :strip].mean() < 60  # white text on black
    assert out[0, :, 152:].max() > 0 and not np.array_equal(out[0, :strip], out[1, :strip])
