"""Money and energy: GPU-hours x a sourced price; board power x time; a grid CO2 intensity."""

from __future__ import annotations

from dataclasses import dataclass

# World-average carbon intensity of electricity generation in 2023: 480 gCO2/kWh (Ember,
# "Global Electricity Review 2024", p. 9). Users pass their own grid's figure to override it.
DEFAULT_GRID_KG_CO2_PER_KWH = 0.48
# Purchase amortization when a GPU has no cloud price: straight-line over three years of
# continuous use (a common depreciation period for servers; hyperscalers book 5-6 years, so
# this errs high), electricity not included.
AMORTIZATION_YEARS = 3.0
HOURS_PER_YEAR = 8766.0


@dataclass(frozen=True)
class Pricing:
    """A price for one GPU-hour and where it came from."""

    usd_per_gpu_hour: float
    source: str


def amortized_price(purchase_usd: float, source: str) -> Pricing:
    """Hourly cost of owning a GPU bought for `purchase_usd` (straight-line, 3 years)."""
    hourly = purchase_usd / (AMORTIZATION_YEARS * HOURS_PER_YEAR)
    return Pricing(
        hourly, f"purchase ${purchase_usd:,.0f} amortized over 3 years of use ({source})"
    )


def gpu_hours(count: int, seconds: float) -> float:
    return count * seconds / 3600.0


def energy_kwh(count: int, board_power_w: float, seconds: float, utilization: float = 1.0) -> float:
    """Board energy: GPUs x board power x time (host, network and cooling not included)."""
    return count * board_power_w * utilization * seconds / 3.6e6


def co2_kg(kwh: float, grid_kg_co2_per_kwh: float = DEFAULT_GRID_KG_CO2_PER_KWH) -> float:
    return kwh * grid_kg_co2_per_kwh
