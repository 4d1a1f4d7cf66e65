"""benchmarks/device_stage.sh, the GPU stage script, run here on the CPU with a tiny model and budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]


def test_device_stage_trains_exports_and_compares_with_the_shipped_model(tmp_path, tiny_checkpoint):
    import framecast.model.checkpoint as ck

    tiny = ck.export(tiny_checkpoint, tmp_path / "tiny.safetensors")
    env = {**os.environ, "OUT": str(tmp_path / "out"), "TMPDIR": str(tmp_path), "VAL_NUM": "2",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # python3: this one
    args = ["bash", "benchmarks/device_stage.sh", "0.02", "--init", str(tiny),
            "--set", "val_sequences=2", "--set", "steps_per_epoch=2"]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]

    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"stage.safetensors", "metrics.csv", "loss_curve.png", "val.json"}
    with safe_open(str(out / "stage.safetensors"), framework="pt") as f:  # the tiny model, trained on
        assert json.loads(f.metadata()["config"])["model"]["hidden"] == [8, 8]
    rows = json.loads((out / "val.json").read_text())
    assert set(rows) == {"stage", "start"}  # the stage beside the model it started from, on the same sequences
    assert rows["start"]["evaluated"]["checkpoint"] == str(tiny)
    assert rows["stage"]["evaluated"]["checkpoint"] == str(out / "stage.safetensors")
    assert rows["stage"]["evaluated"]["data"] == rows["start"]["evaluated"]["data"]
    assert rows["stage"]["evaluated"]["sequences"] == 2 and all(0 < rows[m]["mse"] < 4096 for m in rows)
