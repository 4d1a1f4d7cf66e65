"""The model and what it is measured against: the Predictor (ConvLSTM layers from framecast.nn unrolled over a
rollout that feeds its predictions back), the classical baselines (zeros, copy-last, shift, optical flow; a flow
model starts from the last), checkpoints and weights files read without pickle, a weights file's training record,
and growing trained weights wider. Imports torch, numpy (OpenCV for the flow baseline) and the package's
foundation (config, errors, atomic, preflight, nn); nothing above: no Lightning, no data reading, no ONNX."""
