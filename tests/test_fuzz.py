"""Fuzzing the loaders: every input either loads correctly or ends in a UserError; nothing else escapes."""

import io
import zipfile

import numpy as np
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from framecast.data.dataset import to_tensor
from framecast.data.files import load_sequences
from framecast.data.images import read_frames
from framecast.errors import UserError
from framecast.model.checkpoint import load_weights, read_checkpoint

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
DTYPES = st.sampled_from([np.uint8, np.int16, np.int64, np.float16, np.float32, np.float64, np.bool_, np.complex64,
                          np.dtype(">f4"), np.dtype(">f8"), np.longdouble])


def _check_loaded(array: np.ndarray) -> None:
    assert array.ndim == 5 and array.size > 0 and array.shape[-1] in (1, 3)
    assert array.dtype == np.uint8 or (array.dtype.kind == "f" and np.isfinite(array).all()
                                       and array.min() >= 0 and array.max() <= 1)


@FUZZ
@given(array=arrays(DTYPES, array_shapes(min_dims=0, max_dims=6, min_side=0, max_side=5)),
       kind=st.sampled_from(["npy", "npz", "compressed"]))
def test_random_arrays_load_correctly_or_fail_clearly(tmp_path, array, kind):
    path = tmp_path / ("x.npy" if kind == "npy" else "x.npz")
    if kind == "npy":
        np.save(path, array)
    else:
        (np.savez_compressed if kind == "compressed" else np.savez)(path, frames=array)
    try:
        loaded = load_sequences(path)
    except UserError as err:
        assert str(err) and "\n" not in str(err)
        return
    _check_loaded(loaded)
    expected = array if array.ndim == 5 else array[..., None]
    np.testing.assert_array_equal(np.asarray(loaded), expected)
    tensor = to_tensor(loaded)  # and it converts: float32 [N, T, C, H, W] in [0, 1]
    assert tensor.dtype == torch.float32 and tuple(tensor.shape) == tuple(np.moveaxis(expected, -1, 2).shape)


@FUZZ
@given(values=arrays(np.float32, (2, 3, 4, 4), elements=st.floats(width=32, allow_nan=True, allow_infinity=True)))
def test_float_values_outside_unit_range_or_nan_are_refused(tmp_path, values):
    np.save(tmp_path / "f.npy", values)
    try:
        _check_loaded(load_sequences(tmp_path / "f.npy"))
        assert np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1
    except UserError:
        assert not (np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1)


@FUZZ
@given(data=st.binary(max_size=400), cut=st.integers(0, 300), suffix=st.sampled_from([".npy", ".npz"]))
@example(data=b"\x00" * 9 + b"(", cut=118, suffix=".npy")  # a header numpy's tokenizer fails on (TokenError)
def test_garbage_and_truncated_files(tmp_path, data, cut, suffix):
    buf = io.BytesIO()
    if suffix == ".npy":
        np.save(buf, np.zeros((2, 3, 4, 4), np.uint8))
    else:
        np.savez_compressed(buf, frames=np.zeros((2, 3, 4, 4)))
    for content in (data, buf.getvalue()[:cut], buf.getvalue()[:cut] + data):
        path = tmp_path / f"g{suffix}"
        path.write_bytes(content)
        try:
            _check_loaded(load_sequences(path))
        except UserError:
            pass


@FUZZ
@given(data=st.binary(max_size=300))
def test_garbage_checkpoints_weights_and_gifs(tmp_path, data):
    for name, loader in (("c.ckpt", read_checkpoint), ("w.safetensors", load_weights), ("i.gif", read_frames)):
        (tmp_path / name).write_bytes(data)
        try:
            loader(tmp_path / name)
        except UserError:
            pass


def test_an_npz_with_no_arrays_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "e.npz", "w"):
        pass
    try:
        load_sequences(tmp_path / "e.npz")
    except UserError as err:
        assert "no .npy arrays" in str(err) or "not a readable" in str(err)
    else:
        raise AssertionError("an empty .npz was accepted")
