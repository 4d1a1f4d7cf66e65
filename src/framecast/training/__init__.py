"""Training with Lightning: the LightningModule and data module, the callbacks (logs, the time budget, progress
lines, saving on interrupt, EMA weights), atomic checkpoint writing, the schedule fitted to a time budget, a run's
config, and the verdict a run ends with. Imports quality/, inference/, model/, data/ and the foundation."""
