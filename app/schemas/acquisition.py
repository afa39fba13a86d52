"""How the user gets the hardware (shared by estimate and recommend requests)."""

from __future__ import annotations

from enum import StrEnum


class Acquisition(StrEnum):
    """rent: instance offers; buy: GPUs + hosts + power; own: electricity only."""

    rent = "rent"
    buy = "buy"
    own = "own"
