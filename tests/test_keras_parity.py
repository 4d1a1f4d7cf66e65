"""framecast.nn.ConvLSTM computes what Keras' ConvLSTM2D computes, given the same weights. TensorFlow is a test-only
extra: `pip install -e .[keras-parity]`, then `python -m pytest tests/test_keras_parity.py` (skipped without it)."""

import numpy as np
import pytest
import torch

from framecast.nn import ConvLSTM

tf = pytest.importorskip("tensorflow")
keras = tf.keras


def keras_stack(rng: np.random.Generator, in_channels: int, hidden: tuple[int, ...], kernel: tuple[int, ...]):
    """A Keras model of stacked ConvLSTM2D layers (no peepholes) with random weights, biases included, that
    returns every step's top output and each layer's final (h, c); inputs frames and each layer's initial (h, c)."""
    frames = keras.Input((None, 8, 8, in_channels))
    starts = [(keras.Input((8, 8, h)), keras.Input((8, 8, h))) for h in hidden]
    x, finals = frames, []
    for (h0, c0), h, k in zip(starts, hidden, kernel, strict=True):
        layer = keras.layers.ConvLSTM2D(h, k, padding="same", return_sequences=True, return_state=True)
        x, h_last, c_last = layer(x, initial_state=[h0, c0])
        layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in layer.get_weights()])
        finals += [h_last, c_last]
    model = keras.Model([frames, *[s for pair in starts for s in pair]], [x, *finals])
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.ConvLSTM2D)]
    return model, convs


def test_outputs_and_final_states_match_keras_convlstm2d():
    rng = np.random.default_rng(0)
    hidden, kernel = (4, 3), (3, 5)
    model, convs = keras_stack(rng, 2, hidden, kernel)
    frames = rng.random((2, 5, 8, 8, 2), dtype=np.float32)                      # Keras: [B, T, H, W, C]
    starts = [rng.normal(0, 0.5, (2, 8, 8, h)).astype(np.float32) for h in hidden for _ in "hc"]
    expected = [np.asarray(t) for t in model([frames, *starts])]

    rnn = ConvLSTM(2, hidden, kernel).eval()
    for cell, layer in zip(rnn.cells, convs, strict=True):
        cell.load_keras_weights(*layer.get_weights())
    nchw = lambda a: torch.from_numpy(np.moveaxis(a, -1, -3).copy())  # noqa: E731 - channels last -> first
    initial = [(nchw(starts[2 * i]), nchw(starts[2 * i + 1])) for i in range(len(hidden))]
    with torch.no_grad():
        out, states = rnn(nchw(frames), initial)

    np.testing.assert_allclose(out.numpy(), np.moveaxis(expected[0], -1, -3), atol=1e-5, rtol=0)
    for i, (h, c) in enumerate(states):
        np.testing.assert_allclose(h.numpy(), np.moveaxis(expected[1 + 2 * i], -1, -3), atol=1e-5, rtol=0)
        np.testing.assert_allclose(c.numpy(), np.moveaxis(expected[2 + 2 * i], -1, -3), atol=1e-5, rtol=0)
