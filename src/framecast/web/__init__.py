"""`framecast serve`: the Gradio page (a sequence in, its prediction beside the truth, scores against the
baselines) and the checks of what a visitor uploads. Imports quality/, inference/, model/, data/ and the
foundation; never training/ or the command line."""
