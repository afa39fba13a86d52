"""What a job costs under each way of getting the hardware: renting, buying, already owning.

Pure arithmetic on figures the caller looks up (offer prices, host prices, power, defaults):

- rent: the unit rented is an instance of G GPUs, so a job on N GPUs pays N / G instances for
  its whole wall-clock time (providers bill whole instances, per second or per hour).
- buy: the upfront price of the GPUs and the host(s) holding them is spread straight-line over
  `amortization_years` at `utilization` (the share of hours the machine does useful work), plus
  electricity: board power x PUE (Uptime Institute's PUE definition: facility energy / IT energy)
  at the user's price per kWh.
- own: the hardware is already paid for, so a job costs its electricity only.
"""

from __future__ import annotations

import math

HOURS_PER_YEAR = 8766.0  # 365.25 days


def instances_needed(gpus: int, gpus_per_instance: int) -> int:
    """Whole instances for `gpus` GPUs."""
    return math.ceil(gpus / gpus_per_instance)


def energy_usd_per_hour(count: int, board_power_w: float, pue: float, usd_per_kwh: float) -> float:
    """Electricity per hour: GPUs x board power at full load x PUE, at `usd_per_kwh`.

    Host CPUs, fans and network are covered only through the PUE factor (an assumption that
    errs low for small machines)."""
    return count * board_power_w * pue / 1000.0 * usd_per_kwh


def owned_usd_per_hour(upfront_usd: float, amortization_years: float, utilization: float) -> float:
    """The hardware's cost per hour of use: straight-line depreciation over the hours it is
    actually busy (`utilization` of `amortization_years`)."""
    return upfront_usd / (amortization_years * HOURS_PER_YEAR * utilization)


def breakeven_hours(
    upfront_usd: float, rent_usd_per_hour: float, energy_usd_per_hour_owned: float
) -> float | None:
    """Hours of this work after which buying costs less than renting: upfront + h x energy =
    h x rent. None where renting costs less per hour than the electricity of owning."""
    margin = rent_usd_per_hour - energy_usd_per_hour_owned
    if margin <= 0:
        return None
    return upfront_usd / margin
