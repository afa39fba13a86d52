"""Probe runs: the probe CLI's JSON (contract in docs/api.md) and what the API returns."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, model_validator

# Names of the probe workloads (probes/workloads); tests/probes checks this against
# `python -m probes list`, since the web process never imports the probes package.
PROBE_NAMES = ("matmul", "bandwidth", "attention", "train_step", "collective")
MAX_RESULTS = 5_000
MAX_SUBMISSION_BYTES = 2_000_000


def _nul_path(value: Any, path: str = "") -> str | None:
    """Where a NUL character hides in JSON-like input (PostgreSQL text cannot store one)."""
    if isinstance(value, str):
        return (path or "(body)") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return here
            found = _nul_path(item, here)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


class ProbeResultIn(BaseModel):
    """One measurement as the probe CLI prints it; extra keys are kept as context."""

    model_config = ConfigDict(extra="allow")

    probe: str = Field(min_length=1, max_length=40)
    dtype: str | None = Field(default=None, max_length=20)
    size: str | None = Field(default=None, max_length=80)
    tflops: NonNegativeFloat | None = Field(default=None, le=1e6)
    gb_s: NonNegativeFloat | None = Field(default=None, le=1e6)
    median_s: NonNegativeFloat | None = Field(default=None, le=1e6)
    error: str | None = Field(default=None, max_length=4000)
    skipped: str | None = Field(default=None, max_length=4000)


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    backend: str = Field(min_length=1, max_length=16)
    device_kind: str = Field(min_length=1, max_length=200)
    device_count: int | None = Field(default=None, ge=1, le=100_000)
    catalog_id: str | None = Field(
        default=None, max_length=80, description="The probe CLI's catalog match."
    )
    jax_version: str | None = Field(default=None, max_length=40)


class ProbeSubmission(BaseModel):
    """`python -m probes run --json` output, as a remote agent posts it."""

    model_config = ConfigDict(extra="allow")

    device: DeviceIn
    results: list[ProbeResultIn] = Field(min_length=1, max_length=MAX_RESULTS)
    quick: bool = False
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        where = _nul_path(data)
        if where is not None:
            raise ValueError(f"{where}: text must not contain a NUL character (\\u0000)")
        return data


class ProbeRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quick: bool = Field(
        default=True, description="Small sizes (seconds) instead of the full sweep."
    )
    only: list[Literal["matmul", "bandwidth", "attention", "train_step", "collective"]] | None = (
        Field(default=None, max_length=5, description="Run only these probes.")
    )


class SelfCheck(BaseModel):
    """The estimator's predicted training-step time for the train_step probe's model on the same
    device, beside the measured one."""

    measured_step_s: float = Field(
        description="Measured training-step time of the train_step probe, s."
    )
    predicted_step_s: float = Field(description="The estimator's prediction for the same step, s.")
    error_pct: float = Field(description="(predicted - measured) / measured, %.")
    basis: str = Field(description="What was compared.")


class ProbeResultRead(BaseModel):
    probe: str = Field(
        description="Probe name (matmul, bandwidth, attention, train_step, collective)."
    )
    dtype: str | None = Field(description="Data type measured.")
    size: str | None = Field(description="Problem size, as the probe names it.")
    tflops: float | None = Field(description="Achieved throughput, TFLOP/s (compute probes).")
    gb_s: float | None = Field(
        description="Achieved bandwidth, GB/s (bandwidth and collective probes)."
    )
    median_s: float | None = Field(description="Median time of one repeat, s.")
    error: str | None = Field(description="Why the probe failed, if it did.")
    data: dict[str, Any] = Field(
        description="Everything else the probe reported (spread, repeats, ...)."
    )


class ProbeRunRead(BaseModel):
    id: int = Field(description="Run id.")
    status: Literal["queued", "running", "succeeded", "failed", "interrupted"] = Field(
        description="queued, running, succeeded, failed or interrupted."
    )
    source: Literal["local", "remote"] = Field(
        description="local (run here) or remote (posted by an agent)."
    )
    quick: bool = Field(description="Small sizes (seconds) instead of the full sweep.")
    progress: float = Field(description="0-1.")
    message: str | None = Field(description="Last progress or error message.")
    backend: str | None = Field(description="JAX backend (cpu, cuda, rocm, tpu).")
    device_kind: str | None = Field(description="Device name as JAX reports it.")
    gpu_id: str | None = Field(
        description="The catalog GPU the server identified, or None (unmatched, a partition or "
        "a power-capped card: kept apart)."
    )
    partition: str | None = Field(default=None, description='E.g. "MIG 1g.10gb".')
    device: dict[str, Any] | None = Field(description="The device block of the probe JSON.")
    jax_version: str | None = Field(description="JAX version that ran the probes.")
    created_at: dt.datetime | None = Field(description="When the run was created (UTC).")
    started_at: dt.datetime | None = Field(description="When it started (UTC).")
    finished_at: dt.datetime | None = Field(description="When it finished (UTC).")
    retracted_at: dt.datetime | None = Field(
        default=None, description="Set when retracted: the run no longer feeds any estimate."
    )
    retracted_by: str | None = Field(default=None, description="Token name that retracted it.")
    results: list[ProbeResultRead] = Field(description="One row per measurement.")
    self_check: SelfCheck | None = Field(
        None, description="Estimator vs measured train_step time, when available."
    )


class ProbeRunSummary(BaseModel):
    """One line per run (the list and the retraction answer)."""

    id: int = Field(description="Run id.")
    status: Literal["queued", "running", "succeeded", "failed", "interrupted"] = Field(
        description="Where the run stands."
    )
    source: Literal["local", "remote"] = Field(
        description="local: run by this server; remote: submitted by an agent."
    )
    quick: bool = Field(description="The quick suite (smaller sizes).")
    device_kind: str | None = Field(description="Device name as JAX reports it.")
    gpu_id: str | None = Field(description="The catalog GPU the server identified.")
    partition: str | None = Field(description='A partition such as "MIG 1g.10gb", else None.')
    submitted_by: str | None = Field(description="Token name that submitted or started it.")
    created_at: dt.datetime | None = Field(description="When the run was created (UTC).")
    finished_at: dt.datetime | None = Field(description="When it finished (UTC).")
    retracted_at: dt.datetime | None = Field(description="When it was retracted (UTC), else None.")
