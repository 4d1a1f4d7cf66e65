"""The doors a user comes in by: the `framecast` command line (main.py parses and dispatches; it checks a user's
paths before importing torch), `framecast data`, `demo`, `bench` and `try`. The top layer: it may import every
layer below it, and nothing imports it."""
