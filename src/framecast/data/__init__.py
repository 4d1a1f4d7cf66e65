"""Sequence data: footage read through PyAV (videos, folders, pictures, GIFs), sequence files, the decoding
budgets, cuts, windows of recordings and their split in time, digit pools, the Moving MNIST generator and torch
datasets. Imports only the foundation (config, errors, atomic); nothing here knows about models."""
