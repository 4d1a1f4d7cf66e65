"""Shared fixtures: tiny data made in the test, never downloaded; every test hermetic and CPU-independent.

Hermetic: each test gets its own empty cache folders (framecast's precision cache, Hugging Face's, Gradio's),
so no test reads what another one left, in whatever order they run (pytest-randomly shuffles them).
CPU-independent: in this process the CPU is mocked as one without bf16 (auto precision is float32, nothing is
timed), unless a test asks for `cpu_kind`, which runs it once per CPU kind the project runs on, with that
kind's flags, oneDNN's answer and precision timings; and ONNX Runtime is measured slower than PyTorch there
(the auto engine is PyTorch; nothing is exported or timed) unless a test mocks other timings. Commands a test
starts as subprocesses see the real CPU, so what they assert holds on every kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch


@dataclass(frozen=True)
class CpuKind:
    """A CPU as framecast sees it: its name and precision flags, what oneDNN says it runs, and the measured
    seconds of the precision probe's gate step (None where bf16 is not offered, so nothing is timed)."""

    id: str
    name: str
    flags: tuple[str, ...]
    bf16: bool
    seconds: dict[str, float] | None
    auto: tuple[str, str]  # what precision=auto should choose here, and why (for training and inference)


CPU_KINDS = {
    "amd-avx2": CpuKind("amd-avx2", "AMD EPYC 7B13", ("avx2", "fma"), bf16=False, seconds=None,
                        auto=("fp32", "bf16 not supported on this CPU")),
    # Native BF16: bf16 about twice float32's speed.
    "amd-avx512-bf16": CpuKind(
        "amd-avx512-bf16", "AMD EPYC 9B14", ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni"),
        bf16=True, seconds={"fp32": 0.010, "bf16": 0.005},
        auto=("bf16", "measured: bf16 2.00x faster than fp32 on this CPU")),
    # oneDNN emulates bf16 through AVX-512: it says yes, and bf16 runs about 3.8x slower than float32.
    "intel-avx512-emulated-bf16": CpuKind(
        "intel-avx512-emulated-bf16", "Intel(R) Xeon(R) CPU @ 2.20GHz", ("avx2", "fma", "avx512f", "avx512_vnni"),
        bf16=True, seconds={"fp32": 0.010, "bf16": 0.038},
        auto=("fp32", "measured: fp32 3.80x faster than bf16 on this CPU")),
}
DEFAULT_KIND = "amd-avx2"  # what every in-process test sees unless it asks for cpu_kind
# The engines' seconds per rollout step and ONNX Runtime's start-up on every mocked kind: PyTorch is the faster.
ENGINE_SECONDS = {"torch": 0.010, "onnx": 0.020, "start": 0.3}


def mock_cpu(patch: pytest.MonkeyPatch, kind: CpuKind) -> None:
    """Make framecast in this process see `kind`: flags, name, oneDNN's bf16/fp16 answers, probe timings."""
    from framecast.inference import engine, precision

    # framecast's own question, not torch.ops.mkldnn's functions: the ONNX exporter walks those ops
    patch.setattr(precision, "onednn_supports", lambda name: kind.bf16 and name == "bf16")
    patch.setattr(precision, "cpu_flags", lambda: list(kind.flags))
    patch.setattr(precision, "cpu_name", lambda: kind.name)

    def measure(shape, names, repeats=precision.REPEATS):
        if kind.seconds is None:
            pytest.fail(f"precision measured on {kind.name}, which offers no bf16")
        return {name: kind.seconds[name] for name in names}

    patch.setattr(precision, "measure", measure)
    patch.setattr(engine, "measure", lambda *args: dict(ENGINE_SECONDS))


def _private_folders(patch: pytest.MonkeyPatch, root) -> None:
    patch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    patch.setenv("HF_HOME", str(root / "huggingface"))
    patch.setenv("GRADIO_TEMP_DIR", str(root / "gradio"))


@pytest.fixture(scope="session", autouse=True)
def session_isolation(tmp_path_factory):
    """For session fixtures and the commands tests start: private cache folders (Matplotlib's too, read at
    import), and the default mocked CPU."""
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("session_folders")
        _private_folders(patch, root)
        patch.setenv("MPLCONFIGDIR", str(root / "matplotlib"))
        mock_cpu(patch, CPU_KINDS[DEFAULT_KIND])
        yield


@pytest.fixture(autouse=True)
def private_folders(tmp_path_factory, monkeypatch):
    """Each test's own empty cache folders: tests neither read a user's cached choices nor each other's; and torch's
    random numbers from the same seed (pytest-randomly seeds Python's and numpy's, not torch's), so that a test's
    weights and data do not depend on the tests before it."""
    _private_folders(monkeypatch, tmp_path_factory.mktemp("folders"))
    torch.manual_seed(0)


@pytest.fixture(params=list(CPU_KINDS))
def cpu_kind(request, monkeypatch) -> CpuKind:
    """Run the test once per CPU kind the project runs on, with that kind mocked in this process."""
    kind = CPU_KINDS[request.param]
    mock_cpu(monkeypatch, kind)
    return kind


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
    from framecast.cli.data_commands import generate_file

    return generate_file(tmp_path_factory.mktemp("data") / "test.npy", num=6, seed=1)


@pytest.fixture(scope="session")
def video(tmp_path_factory):
    """A 60-frame 24x16 colour clip of a square moving right, as an .mp4: footage for end-to-end tests."""
    from test_media import moving_square

    from framecast.data.media import write_video

    path = tmp_path_factory.mktemp("footage") / "clip.mp4"
    write_video(moving_square(60, h=16, w=24, step=1), path, fps=10)
    return path
