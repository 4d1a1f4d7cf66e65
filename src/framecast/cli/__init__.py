"""The doors a user comes in by: the `framecast` command line (main.py parses and dispatches; it checks a user's
paths before importing torch), `framecast data`, `demo`, `bench` and `try`. The top layer: it imports every layer
below it (web/, training/, quality/, inference/, model/, data/), and nothing imports it but `python -m framecast`
(__main__.py)."""
