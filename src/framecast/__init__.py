"""framecast: predict the future frames of image sequences with Convolutional LSTMs.

The public API mirrors the command line:
    framecast.train("runs/demo", preset="default", overrides={"max_minutes": 5})  -> path of the best checkpoint
    model = framecast.load("runs/demo/best.ckpt")    # or framecast.load() for the shipped model; on the GPU if any
    model.predict(frames, horizon=10)                 # numpy in, numpy out
    framecast.evaluate(model, data="test.npy", out="eval/")  -> metrics dict (a path, a loaded model, or None)
    frames = framecast.read_video("clip.mp4", model=model)  # uint8 [T, H, W, C], as the model's training read
    framecast.save_pretrained(model, "my-model/")    # config.json + model.safetensors + README.md
    framecast.from_pretrained("my-model/")           # or a Hugging Face hub id "user/name"
The ConvLSTM layers themselves, for your own models: framecast.nn.ConvLSTM, framecast.nn.ConvLSTMCell.
"""

def __getattr__(name):
    # Lazy imports: `framecast --help` should not pay for importing torch and Lightning.
    if name == "__version__":  # config.py's, beside the config it is written into checkpoints with
        from .config import __version__
        return __version__
    if name == "train":
        from .training.run import train
        return train
    if name in ("load", "read_video"):
        from .inference import loading as api
        return getattr(api, name)
    if name == "evaluate":
        from .quality.evaluation import evaluate
        return evaluate
    if name == "predict":
        from .inference.prediction import predict_file
        return predict_file
    if name in ("save_pretrained", "from_pretrained"):
        from .inference import hub
        return getattr(hub, name)
    raise AttributeError(f"module 'framecast' has no attribute {name!r}")


__all__ = ["train", "load", "read_video", "evaluate", "predict", "save_pretrained", "from_pretrained", "__version__"]
