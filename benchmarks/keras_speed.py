"""Training speed of the Keras ConvLSTM2D example on TensorFlow, for the `keras-example` comparison.

    pip install tensorflow-cpu   # in a separate environment: framecast does not depend on TensorFlow
    python benchmarks/keras_speed.py [--batch 8] [--seconds 60]

The model is the Keras example's (keras.io "Next-Frame Video Prediction with Convolutional LSTMs"): three
ConvLSTM2D layers of 64 filters (kernels 5, 3, 1, relu) with BatchNormalization between them, a 3x3x3
Conv3D with a sigmoid, binary cross-entropy and Adam, on 19-frame 64x64 inputs. Prints sequences per second
of full training steps (`train_on_batch`), after warm-up, on random data (speed does not depend on values).
"""

import argparse
import json
import os
import time

import numpy as np


def build(keras):
    layers = keras.layers
    inp = layers.Input(shape=(None, 64, 64, 1))
    x = layers.ConvLSTM2D(64, (5, 5), padding="same", return_sequences=True, activation="relu")(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(64, (3, 3), padding="same", return_sequences=True, activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(64, (1, 1), padding="same", return_sequences=True, activation="relu")(x)
    x = layers.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same")(x)
    model = keras.models.Model(inp, x)
    model.compile(loss=keras.losses.binary_crossentropy, optimizer=keras.optimizers.Adam())
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="sequences per step (framecast's keras-example: 8)")
    parser.add_argument("--seconds", type=float, default=60.0, help="time spent measuring, after warm-up")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    model = build(tf.keras)
    rng = np.random.default_rng(0)
    x = (rng.random((args.batch, 19, 64, 64, 1)) < 0.1).astype("float32")
    y = (rng.random((args.batch, 19, 64, 64, 1)) < 0.1).astype("float32")
    for _ in range(2):  # warm-up: graph tracing
        model.train_on_batch(x, y)
    steps, start = 0, time.perf_counter()
    while steps < 2 or time.perf_counter() - start < args.seconds:
        model.train_on_batch(x, y)
        steps += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({"tensorflow": tf.__version__, "batch": args.batch, "steps": steps,
                      "train_seq_per_s": round(steps * args.batch / elapsed, 3),
                      "threads": tf.config.threading.get_intra_op_parallelism_threads() or "default"}))


if __name__ == "__main__":
    main()
