"""Running a trained model: the device and precision it runs in (measured here and cached), the memory it may
use, the engines (PyTorch, or its one-step graph in ONNX Runtime), rollouts on numpy arrays with progress,
`framecast.load()` and the loaded model, `framecast predict`'s inputs and outputs, graphs exported for deployment,
and the Hugging Face folder convention (save_pretrained / from_pretrained). runtime.py, precision.py, memory.py and
progress.py serve the layers above too (training, evaluation, bench). Imports model/, data/ and the foundation;
never Lightning, so that loading and predicting stay light."""
