"""The trainer: one cell (architecture, subset, recipe, seed) from data to metrics."""
