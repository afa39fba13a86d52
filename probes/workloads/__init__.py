"""Probe workloads, one module each: matmul, bandwidth, attention, train_step, collective.

Each module exposes `PROBE` (a `probes.workloads.common.Probe`): its name, a one-line
description, and `cases(config)`, the measurements it makes on this device. Every workload is a
pure jitted function with an analytic FLOP or byte count, timed with `probes.timing.measure`.
"""
