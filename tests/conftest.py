"""Shared fixtures: tiny data made in the test, never downloaded."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """The precision cache (precision.cache_dir) in a temporary folder, for this process and the commands
    the tests start: tests neither read a user's cached choices nor leave their own behind."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def digits() -> np.ndarray:
    """A small fake digit pool, uint8 [30, 28, 28]: filled squares of different brightness."""
    pool = np.zeros((30, 28, 28), dtype=np.uint8)
    for i in range(30):
        pool[i, 4:24, 8:20] = 50 + 6 * i
    return pool


@pytest.fixture
def sequences() -> np.ndarray:
    """Random uint8 sequences [6, 12, 16, 16]."""
    return np.random.default_rng(0).integers(0, 256, size=(6, 12, 16, 16), dtype=np.uint8)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A real (tiny, 2-epoch) framecast checkpoint on 64x64 Moving MNIST, trained once per test session."""
    import framecast

    run = tmp_path_factory.mktemp("tiny_run")
    return framecast.train(run / "run", preset="tiny", overrides={"val_sequences": 4}, progress=False)


@pytest.fixture(scope="session")
def mnist_file(tmp_path_factory):
    """Six generated 64x64 Moving MNIST test sequences of 20 frames, as framecast's own .npy."""
    from framecast.data.commands import generate_file

    return generate_file(tmp_path_factory.mktemp("data") / "test.npy", num=6, seed=1)
