"""The domain core: model description -> parameters, FLOPs, bytes, memory, time, cost, energy.

Pure functions on typed inputs; no FastAPI, no database, no JAX (tests/test_layering.py).
"""
