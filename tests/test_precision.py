"""The precision choice: the faster of float32 and bf16 measured on the CPU (timings mocked here), its cache, the
CUDA rule and a user's override. No test times anything."""

import json

import pytest
import torch

from framecast.config import ModelConfig, build_config
from framecast.inference import precision
from framecast.inference.precision import Choice, choose, gate_step_shape, measure, pick

CPU = torch.device("cpu")
MODEL = ModelConfig(hidden=(8, 8), kernel=(3, 3))


@pytest.fixture
def bf16_cpu(monkeypatch):
    """A CPU with bf16 whose measurements return `timings` and are counted."""
    calls = []
    timings = {"fp32": 0.010, "bf16": 0.020}
    monkeypatch.setattr(precision, "onednn_supports", lambda name: name == "bf16")

    def fake_measure(shape, precisions):
        calls.append(shape)
        return {p: timings[p] for p in precisions}

    monkeypatch.setattr(precision, "measure", fake_measure)
    return calls, timings


def test_the_faster_precision_is_chosen_and_float32_wins_near_ties():
    assert pick({"fp32": 0.019, "bf16": 0.010}) == ("bf16", "bf16 1.90x faster than fp32 on this CPU")
    assert pick({"fp32": 0.010, "bf16": 0.019}) == ("fp32", "fp32 1.90x faster than bf16 on this CPU")
    chosen, why = pick({"fp32": 0.0102, "bf16": 0.0100})  # 2% faster: within a busy machine's noise
    assert chosen == "fp32" and why == "bf16 only 1.02x faster than fp32 on this CPU: fp32 kept"
    assert pick({"fp32": 0.03, "bf16": 0.02, "fp16": 0.01})[0] == "fp16"


def test_a_measured_choice_is_cached_and_used_next_time(bf16_cpu, tmp_path):
    calls, timings = bf16_cpu
    cache = tmp_path / "cache" / "precision.json"
    first = choose("train", CPU, MODEL, 8, cache=cache)
    assert first == Choice("fp32", "measured: fp32 2.00x faster than bf16 on this CPU")
    assert first.lightning == "32-true" and first.dtype is None
    timings["bf16"] = 0.001  # would now win, but the cached choice is not measured again
    again = choose("train", CPU, MODEL, 8, cache=cache)
    assert again == Choice("fp32", "cached: fp32 2.00x faster than bf16 on this CPU") and len(calls) == 1
    # Another kind of step (or shape) is measured on its own.
    infer = choose("infer", CPU, MODEL, 1, cache=cache)
    assert infer.precision == "bf16" and infer.dtype == torch.bfloat16 and len(calls) == 2
    stored = json.loads(cache.read_text())["machines"]
    assert len(stored) == 1 and len(next(iter(stored.values()))) == 2


@pytest.mark.parametrize("damage", [b"\x00\xff garbage", b'{"format": 1, "machines": [1]}', b"[1, 2]",
                                    b'{"format": 99, "machines": {}}', b""])
def test_a_damaged_cache_is_measured_again_and_repaired(bf16_cpu, tmp_path, damage):
    calls, _ = bf16_cpu
    cache = tmp_path / "precision.json"
    cache.write_bytes(damage)
    assert choose("train", CPU, MODEL, 8, cache=cache).reason.startswith("measured: ")
    assert choose("train", CPU, MODEL, 8, cache=cache).reason.startswith("cached: ") and len(calls) == 1


def test_a_damaged_entry_is_measured_again(bf16_cpu, tmp_path):
    calls, _ = bf16_cpu
    cache = tmp_path / "precision.json"
    choose("train", CPU, MODEL, 8, cache=cache)
    raw = json.loads(cache.read_text())
    for steps in raw["machines"].values():
        for entry in steps.values():
            entry["precision"] = "fp8"  # not a precision this CPU runs
    cache.write_text(json.dumps(raw))
    assert choose("train", CPU, MODEL, 8, cache=cache).reason.startswith("measured: ") and len(calls) == 2


def test_another_torch_version_or_cpu_is_measured_again(bf16_cpu, tmp_path, monkeypatch):
    calls, _ = bf16_cpu
    cache = tmp_path / "precision.json"
    choose("train", CPU, MODEL, 8, cache=cache)
    monkeypatch.setattr(torch, "__version__", "99.0.0")
    assert choose("train", CPU, MODEL, 8, cache=cache).reason.startswith("measured: ") and len(calls) == 2
    monkeypatch.setattr(precision, "cpu_name", lambda: "Another CPU")
    assert choose("train", CPU, MODEL, 8, cache=cache).reason.startswith("measured: ") and len(calls) == 3
    assert len(json.loads(cache.read_text())["machines"]) == 3  # a cache shared by machines keeps them all


def test_an_unwritable_cache_is_no_error(bf16_cpu, tmp_path):
    calls, _ = bf16_cpu
    (tmp_path / "file").write_text("x")
    cache = tmp_path / "file" / "precision.json"  # its folder is a file
    assert choose("train", CPU, MODEL, 8, cache=cache).precision == "fp32"
    assert choose("train", CPU, MODEL, 8, cache=cache).reason.startswith("measured: ") and len(calls) == 2


@pytest.mark.parametrize("requested, short, lightning", [
    ("fp32", "fp32", "32-true"), ("bf16", "bf16", "bf16-mixed"), ("32", "fp32", "32-true"),
    ("bf16-mixed", "bf16", "bf16-mixed"), ("16-mixed", "fp16", "16-mixed"), ("64", "64", "64-true"),
    ("bf16-true", "bf16-true", "bf16-true")])
def test_a_users_precision_is_taken_as_it_is(bf16_cpu, tmp_path, requested, short, lightning):
    calls, _ = bf16_cpu
    choice = choose("train", CPU, MODEL, 8, requested, cache=tmp_path / "p.json")
    assert (choice.precision, choice.lightning, choice.reason) == (short, lightning, "set by user")
    assert not calls and not (tmp_path / "p.json").exists()


def test_nothing_is_measured_where_the_cpu_has_no_bf16(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "onednn_supports", lambda name: False)
    monkeypatch.setattr(precision, "measure", lambda *a: pytest.fail("measured"))
    assert choose("train", CPU, MODEL, 8, cache=tmp_path / "p.json") == Choice("fp32", "bf16 not supported on this CPU")


def test_fp16_is_a_candidate_for_inference_only(monkeypatch):
    monkeypatch.setattr(precision, "onednn_supports", lambda name: True)
    assert precision.cpu_candidates("infer") == ["bf16", "fp16"]
    assert precision.cpu_candidates("train") == ["bf16"]  # Lightning has no fp16 mixed precision on the CPU


@pytest.mark.parametrize("bf16, expected", [(True, "bf16"), (False, "fp16")])
def test_cuda_keeps_its_rule(monkeypatch, bf16, expected):
    # Like torch on a V100 or T4: bf16 "supported" by slow emulation. Only native bf16 counts.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16 or including_emulation)
    monkeypatch.setattr(precision, "measure", lambda *a: pytest.fail("measured"))
    for kind in ("train", "infer"):
        choice = choose(kind, torch.device("cuda"), MODEL, 8)
        assert choice.precision == expected and choice.reason.startswith("CUDA rule")
    assert choose("infer", torch.device("mps"), MODEL, 1) == Choice("fp32", "float32 on mps")


def test_the_timed_step_is_the_costliest_layer_kept_small():
    shape = gate_step_shape(ModelConfig(hidden=(8, 128), kernel=(5, 3)), 64, "train")
    assert (shape["in"], shape["hidden"], shape["kernel"], shape["size"]) == (136, 128, 3, 16)
    flops = 2 * shape["in"] * 4 * shape["hidden"] * shape["kernel"] ** 2 * shape["size"] ** 2
    assert 1 <= shape["batch"] < 64 and flops * shape["batch"] <= precision.MAX_GFLOP * 1e9
    keras = gate_step_shape(build_config("keras-example").model, 8, "infer")
    assert keras["batch"] == 1 and keras["size"] == 64 and keras["kernel"] == 5  # one sequence costs 3.4 GFLOP


def test_the_measurement_runs_every_precision_forward_and_backward():
    for kind in ("train", "infer"):
        shape = gate_step_shape(MODEL, 2, kind)
        seconds = measure(shape, ["fp32", "bf16"], repeats=2)  # bf16 runs everywhere, if slowly without support
        assert set(seconds) == {"fp32", "bf16"} and all(s > 0 for s in seconds.values())


def test_the_cache_key_names_the_machine_and_the_torch_version():
    key = precision.machine_key()
    assert torch.__version__ in key and f"{torch.get_num_threads()} threads" in key
    assert precision.step_key(gate_step_shape(MODEL, 4, "train")) == "train: conv 24->32 k3 16x16, batch 4"
