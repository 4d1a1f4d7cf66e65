import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from framecast.data.dataset import MovingMNISTStream, to_tensor
from framecast.data.files import load_sequences, read_sequences, save_sequences
from framecast.data.windows import WindowSet
from framecast.errors import UserError


def test_own_file_round_trip(tmp_path, sequences):
    save_sequences(tmp_path / "s.npy", sequences)
    loaded = load_sequences(tmp_path / "s.npy")
    assert loaded.shape == (6, 12, 16, 16, 1)
    np.testing.assert_array_equal(loaded[..., 0], sequences)


def test_canonical_time_first_file_is_transposed(tmp_path, capsys):
    # mnist_test_seq.npy layout: (T=20, N, 64, 64); here N=3.
    canonical = np.random.default_rng(0).integers(0, 255, size=(20, 3, 64, 64), dtype=np.uint8)
    np.save(tmp_path / "mnist_test_seq.npy", canonical)
    loaded = load_sequences(tmp_path / "mnist_test_seq.npy")
    assert loaded.shape == (3, 20, 64, 64, 1)
    np.testing.assert_array_equal(loaded[1, 5, ..., 0], canonical[5, 1])
    # Only the name said so (not the full file's shape): the user is told, with the way out.
    assert "as time-first" in capsys.readouterr().err
    load_sequences(tmp_path / "mnist_test_seq.npy", layout="tnhw")
    assert capsys.readouterr().err == ""


def test_only_a_time_first_shape_is_transposed_by_name(tmp_path, sequences):
    np.save(tmp_path / "mnist_test_seq_small.npy", sequences)  # (6, 12, ...): not 20 frames first
    assert load_sequences(tmp_path / "mnist_test_seq_small.npy").shape == (6, 12, 16, 16, 1)


def test_twenty_frames_first_then_more_reads_time_first_with_a_note(tmp_path, capsys):
    # A 1,000-sequence slice of mnist_test_seq.npy under another name: (20, N > 20, H, W).
    slice_ = np.random.default_rng(0).integers(0, 255, size=(20, 30, 16, 16), dtype=np.uint8)
    np.save(tmp_path / "subset.npy", slice_)
    loaded, used = read_sequences(tmp_path / "subset.npy")
    assert used == "tnhw" and loaded.shape == (30, 20, 16, 16, 1)
    np.testing.assert_array_equal(loaded[7, 3, ..., 0], slice_[3, 7])
    err = capsys.readouterr().err
    assert "as time-first" in err and "--layout nthw" in err
    # Read as stated when told, without a note; 20 x 20 is not guessed at.
    loaded, used = read_sequences(tmp_path / "subset.npy", layout="nthw")
    assert used == "nthw" and loaded.shape == (20, 30, 16, 16, 1) and capsys.readouterr().err == ""
    np.save(tmp_path / "square.npy", slice_[:, :20])
    assert read_sequences(tmp_path / "square.npy")[1] == "nthw" and capsys.readouterr().err == ""


def test_reports_say_how_a_file_was_read(tmp_path, tiny_checkpoint, capsys):
    from framecast import evaluate
    from framecast.cli.data_commands import show_file

    time_first = np.random.default_rng(0).integers(0, 255, size=(20, 24, 64, 64), dtype=np.uint8)
    np.save(tmp_path / "t.npy", time_first)
    np.save(tmp_path / "n.npy", time_first.swapaxes(0, 1))
    for name, words in (("t", "time first, transposed"), ("n", "sequences first")):
        result = evaluate(tiny_checkpoint, data=tmp_path / f"{name}.npy", out=tmp_path / f"eval_{name}", limit=2,
                          progress=False)
        assert result["evaluated"]["layout"] == words and result["evaluated"]["sequences"] == 2
        assert f"({words})" in (tmp_path / f"eval_{name}" / "metrics.md").read_text()
        assert show_file(tmp_path / f"{name}.npy", tmp_path / f"show_{name}")["layout"] == words


def test_explicit_layout_overrides_detection(tmp_path, sequences):
    np.save(tmp_path / "x.npy", sequences)
    assert load_sequences(tmp_path / "x.npy", layout="tnhw").shape == (12, 6, 16, 16, 1)


def test_npz_float_and_colour(tmp_path):
    frames = np.random.default_rng(0).random((2, 5, 8, 8, 3)).astype(np.float32)
    np.savez_compressed(tmp_path / "c.npz", frames=frames, labels=np.arange(2))
    loaded = load_sequences(tmp_path / "c.npz")
    assert loaded.shape == (2, 5, 8, 8, 3) and loaded.dtype == np.float32


@pytest.mark.parametrize("array, message", [
    (np.zeros((4, 16, 16), np.uint8), "expected sequences"),
    (np.zeros((0, 5, 8, 8), np.uint8), "empty"),
    (np.zeros((2, 5, 8, 8), np.int64), "dtype int64"),
    (np.full((2, 5, 8, 8), np.nan, np.float32), "NaN"),
    (np.full((2, 5, 8, 8), 2.0, np.float32), r"expected \[0, 1\]"),
    (np.zeros((2, 5, 8, 8, 4), np.uint8), "4 channels"),
    (np.zeros((2, 5, 8, 8), np.longdouble), "dtype float128"),
    (np.zeros((20, 64, 64, 1), np.uint8), r"frames 64x1 pixels; if it is one sequence \[T, H, W, C\], add a leading"),
    (np.zeros((20, 32, 32, 3), np.uint8), r"frames 32x3 pixels; if it is one sequence"),
    (np.zeros((2, 20, 1, 64, 64), np.uint8), r"64 channels .*; if channels come before .*np.moveaxis\(array, 2, -1\)"),
])
def test_bad_arrays_are_refused_with_a_clear_message(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(UserError, match=message):
        load_sequences(tmp_path / "bad.npy")


def test_missing_corrupt_and_pickled_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_sequences(tmp_path / "missing.npy")
    (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(UserError, match="not a readable"):
        load_sequences(tmp_path / "corrupt.npy")
    (tmp_path / "text.npy").write_text("hello")
    with pytest.raises(UserError, match="not a .npy/.npz file"):
        load_sequences(tmp_path / "text.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="never unpickles"):
        load_sequences(tmp_path / "obj.npy")


def test_dataset_yields_float_t_c_h_w_in_unit_range(sequences):
    ds = WindowSet(sequences[..., None], [(i, 0) for i in range(len(sequences))], 12)
    item = ds[2]
    assert item.shape == (12, 1, 16, 16) and item.dtype == torch.float32
    assert 0 <= item.min() and item.max() <= 1
    torch.testing.assert_close(item[3, 0], torch.from_numpy(sequences[2, 3]).float() / 255)


def test_big_endian_floats_load(tmp_path):
    frames = np.full((1, 2, 4, 4), 0.25, dtype=">f4")
    np.save(tmp_path / "be.npy", frames)
    assert torch.equal(to_tensor(load_sequences(tmp_path / "be.npy")), torch.full((1, 2, 1, 4, 4), 0.25))


def test_to_tensor_keeps_float_input():
    frames = np.full((1, 2, 4, 4, 3), 0.5, np.float32)
    assert torch.equal(to_tensor(frames), torch.full((1, 2, 3, 4, 4), 0.5))


def test_stream_batches_are_a_function_of_step(digits):
    stream = MovingMNISTStream(digits, batch_size=3, frames=6, seed=1)
    first = next(iter(stream))
    assert first.shape == (3, 6, 1, 64, 64) and 0 <= first.min() and first.max() <= 1
    stream.start_step = 5
    torch.testing.assert_close(next(iter(stream)), stream.batch(5))
    assert not torch.equal(stream.batch(5), stream.batch(6))


def test_release_pages_keeps_the_data_readable(tmp_path, sequences):
    from framecast.data.files import release_pages

    np.save(tmp_path / "s.npy", sequences)
    loaded = load_sequences(tmp_path / "s.npy")
    first = np.array(loaded[2])
    release_pages(loaded)           # a memory map: pages dropped, data read again on demand
    release_pages(np.zeros(3))      # not a memory map: nothing happens
    np.testing.assert_array_equal(loaded[2], first)


def _resident_kb(path) -> int:
    """Resident kB of this process's mappings of `path` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:  # a mapping's header line
            inside = line.endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux /proc")
def test_release_pages_drops_the_pages_read(tmp_path):
    from framecast.data.files import release_pages

    np.save(tmp_path / "big.npy", np.ones((16, 20, 64, 64), np.uint8))  # 1.3 MB
    loaded = load_sequences(tmp_path / "big.npy")
    assert int(np.asarray(loaded).sum()) == loaded.size  # every page read
    assert _resident_kb(tmp_path / "big.npy") > 1000
    release_pages(loaded[3:5])  # a view of the memory map: the whole map is released
    assert _resident_kb(tmp_path / "big.npy") < 100


def test_npy_and_npz_are_told_apart_by_content_not_name(tmp_path, sequences):
    np.savez(tmp_path / "archive.npz", frames=sequences)
    (tmp_path / "archive.npz").rename(tmp_path / "named_npy.npy")
    np.save(tmp_path / "plain.npy", sequences)
    (tmp_path / "plain.npy").rename(tmp_path / "named_npz.NPZ")
    for name in ("named_npy.npy", "named_npz.NPZ"):
        np.testing.assert_array_equal(load_sequences(tmp_path / name)[..., 0], sequences)
    with zipfile.ZipFile(tmp_path / "notes.npz", "w") as z:  # a zip, but not of arrays
        z.writestr("readme.txt", "hello")
    with pytest.raises(UserError, match="holds no .npy arrays"):
        load_sequences(tmp_path / "notes.npz")
    with pytest.raises(UserError, match="is a folder"):
        load_sequences(tmp_path)


def test_summary_is_the_same_in_chunks_of_any_size(monkeypatch):
    from framecast.cli import data_commands as commands

    array = np.random.default_rng(1).integers(0, 255, size=(7, 5, 8, 8, 1), dtype=np.uint8)
    whole = commands.summarize(array)
    monkeypatch.setattr(commands, "SUMMARY_CHUNK_VALUES", 3 * 5 * 8 * 8)  # 3 sequences per chunk
    assert commands.summarize(array) == pytest.approx(whole)
    values = array.astype(np.float64)
    assert whole["mean"] == pytest.approx(values.mean())
    assert whole["mean_motion"] == pytest.approx(np.abs(np.diff(values, axis=1)).mean())
    assert whole["lit_fraction"] == pytest.approx((array > 0).mean())


def test_an_npz_that_would_unzip_past_the_budget_is_refused_before_unzipping(tmp_path):
    import io

    header = io.BytesIO()  # a header declaring 78 GiB, followed by a few zeros
    np.lib.format.write_array_header_2_0(header, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (1000, 20, 2048, 2048)})
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("frames.npy", header.getvalue() + bytes(1000))
    with pytest.raises(UserError, match=r"unzips to 78.1 GiB \(frames: shape \(1000, 20, 2048, 2048\), uint8\), "
                                        r"over the budget of 8.0 GiB"):
        load_sequences(tmp_path / "bomb.npz")
    np.savez_compressed(tmp_path / "zeros.npz", frames=np.zeros((1, 20, 1024, 1024), np.uint8))  # 20 MB of zeros
    with zipfile.ZipFile(tmp_path / "zeros.npz") as z:
        assert z.getinfo("frames.npy").compress_size < 100_000
    from framecast.data import files

    with pytest.raises(UserError, match=r"unzips to 20\.0 MiB .* over the budget of 1\.0 MiB"):
        files._read_npz(tmp_path / "zeros.npz", budget=files.Budget(bytes=2**20))
