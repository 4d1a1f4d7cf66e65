"""The layers import one way: no module of framecast imports another that imports it back (lazy imports inside
functions included), the model file needs only torch, and loading a model for inference needs no Lightning."""

import ast
import subprocess
import sys
from pathlib import Path

import framecast

PACKAGE = Path(framecast.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The framecast modules `path` imports anywhere in it (top level or inside functions)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            target = ".".join(p for p in (base, node.module or "") if p) if node.level else node.module or ""
            found |= {f"{target}.{alias.name}" for alias in node.names} | {target}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith("framecast")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_no_module_imports_one_that_imports_it_back():
    graph = _graph()
    done, path = set(), []

    def visit(name: str) -> None:
        assert name not in path, "import cycle: " + " -> ".join(path[path.index(name):] + [name])
        if name in done:
            return
        path.append(name)
        for target in sorted(graph.get(name, ())):
            visit(target)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


# The layers, bottom to top: a module may import its own layer and those below it (src/framecast/*/__init__.py
# say what each holds). The foundation is the package's top-level files; the package itself (its lazy public API)
# and __main__ sit above them all.
FOUNDATION = {"config", "errors", "atomic", "preflight", "nn", "plots"}
LAYERS = ("foundation", "data", "model", "inference", "quality", "training", "web", "cli")


def _layer(module: str) -> int:
    if module in ("framecast", "framecast.__main__"):
        return len(LAYERS)
    first = module.split(".")[1]
    return 0 if first in FOUNDATION else LAYERS.index(first)


def test_layers_import_downward_only():
    upward = [f"{name} -> {target}" for name, targets in sorted(_graph().items())
              for target in sorted(targets) if _layer(target) > _layer(name)]
    assert upward == []
    # side by side, not one above the other: the page serves a trained model and never trains one
    assert not [n for n, targets in _graph().items() if _layer(n) == LAYERS.index("web")
                and any(_layer(t) == LAYERS.index("training") for t in targets)]


def test_each_layer_names_the_layers_it_imports_and_the_top_level_stays_short():
    graph = _graph()
    for index, layer in enumerate(LAYERS[1:], start=1):
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text())) or ""
        used = {LAYERS[_layer(t)] for n, targets in graph.items() if _layer(n) == index for t in targets}
        assert all(f"{name}/" in doc for name in used - {layer, "foundation"}), (layer, used)
        assert "import" in doc.lower(), layer
    top = {p.stem for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert top == FOUNDATION | set(LAYERS[1:]) | {"__init__", "__main__"}


def test_no_layer_below_training_imports_lightning():
    for layer in ("data", "model", "inference", "quality", "web"):
        for path in (PACKAGE / layer).rglob("*.py"):
            names = {alias.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Import)
                     for alias in node.names}
            names |= {node.module or "" for node in ast.walk(ast.parse(path.read_text()))
                      if isinstance(node, ast.ImportFrom)}
            assert not {n for n in names if n.split(".")[0] in ("lightning", "pytorch_lightning")}, path


def test_the_model_file_imports_only_torch_and_its_layers():
    # and the classical flow a flow model starts from: baselines.py is a leaf (numpy, torch; OpenCV when called)
    assert _imports(PACKAGE / "model" / "predictor.py") <= {
        "framecast.config", "framecast.config.ModelConfig", "framecast.nn", "framecast.nn.ConvLSTM",
        "framecast.nn.State", "framecast.model.baselines", "framecast.model.baselines.flow_field"}
    assert _imports(PACKAGE / "nn.py") == set()
    assert _imports(PACKAGE / "model" / "baselines.py") == set()


def test_loading_and_predicting_imports_no_lightning(tmp_path):
    code = ("import sys, numpy as np, framecast\n"
            "model = framecast.load(device='cpu')\n"
            "assert model.predict(np.zeros((10, 64, 64), np.uint8), horizon=1).shape == (1, 64, 64)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert result.stdout.strip() == "[]", result.stdout
