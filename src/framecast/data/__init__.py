"""Sequence data: digit pools, the Moving MNIST generator, sequence files and torch datasets."""
