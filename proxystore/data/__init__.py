"""Datasets, their decoded uint8 cache, and proxy subsets stored as example-id sets."""
