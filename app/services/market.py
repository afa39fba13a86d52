"""How each catalog GPU can be had: rented (offers), bought (GPU + host prices) or already owned.

Built once per catalog version from catalog/offers/, catalog/hosts.yaml, catalog/software.yaml,
catalog/prices.yaml and the GPU records' feasibility facts; the recommender and the estimate
look prices, host limits and software support up here instead of scanning the catalog per GPU.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from app.config import PROJECT_ROOT
from app.estimator.acquisition import (
    energy_usd_per_hour,
    instances_needed,
    owned_usd_per_hour,
)
from app.estimator.feasibility import max_per_host, multi_node_realistic, peer_to_peer
from app.estimator.result import CostResult, Estimate
from app.schemas.acquisition import Acquisition
from app.schemas.catalog import CatalogGpu, CatalogHost, CatalogOffer, PriceKind, SoftwareSupport
from app.schemas.estimate import EstimateRequest
from app.services.catalog import LoadedCatalog
from app.services.offers import STALE_AFTER_DAYS

VALIDATION_PATHS = (
    PROJECT_ROOT / "tests" / "data" / "validation.yaml",
    PROJECT_ROOT / "tests" / "data" / "validation",
)

# When catalog/hosts.yaml is absent (e.g. a test catalog): stated assumptions, said so in answers.
FALLBACK_PUE = 1.5
FALLBACK_USD_PER_KWH = 0.15
FALLBACK_UTILIZATION = 0.5
FALLBACK_AMORTIZATION_YEARS = 3.0

# Host form factors that hold a GPU of each form factor.
_HOLDS = {
    "card": {"card", "pcie"},
    "pcie": {"pcie", "card"},
    "sxm": {"sxm"},
    "oam": {"oam"},
    "nvl-pair": {"nvl-pair", "pcie"},
    "superchip": {"superchip"},
    "mezzanine": {"mezzanine", "oam"},
}


@dataclass(frozen=True)
class Rental:
    """`instances` instances of `offer` for a job on `gpus` GPUs, priced per hour for all of them."""

    offer: CatalogOffer
    instances: int
    gpus: int
    usd_per_hour: float
    spot_usd_per_hour: float | None
    reserved_usd_per_hour: float | None

    @property
    def usd_per_gpu_hour(self) -> float:
        return self.usd_per_hour / (self.instances * self.offer.gpus_per_instance)


@dataclass(frozen=True)
class Ownership:
    """The figures that turn owned hardware into a cost per hour (with their basis)."""

    pue: float
    usd_per_kwh: float
    utilization: float
    amortization_years: float
    basis: tuple[str, ...]


@dataclass(frozen=True)
class HostChoice:
    host_id: str
    name: str
    count: int
    usd_each: float


@dataclass(frozen=True)
class Purchase:
    """Buying `gpus` GPUs and the hosts that hold them."""

    gpu_usd_each: float
    gpu_price_basis: str
    hosts: tuple[HostChoice, ...]
    upfront_usd: float
    amortized_usd_per_hour: float
    energy_usd_per_hour: float

    @property
    def usd_per_hour(self) -> float:
        return self.amortized_usd_per_hour + self.energy_usd_per_hour


@dataclass(frozen=True)
class GpuFacts:
    max_per_host: int
    peer_to_peer: bool
    multi_node: bool


@dataclass
class Market:
    """Offers per GPU, host classes, ownership defaults, software support and validated GPUs."""

    offers: dict[str, tuple[CatalogOffer, ...]]
    providers: frozenset[str]
    hosts: tuple[CatalogHost, ...]
    ownership: Ownership
    support: tuple[SoftwareSupport, ...]
    validated: frozenset[tuple[str, str]]
    today: dt.date = field(default_factory=dt.date.today)
    _facts: dict[str, GpuFacts] = field(default_factory=dict)
    _support: dict[tuple[str, str], SoftwareSupport | None] = field(default_factory=dict)
    # Per-catalog memo for callers (the recommender keeps GPU specs and efficiencies here).
    cache: dict[str, Any] = field(default_factory=dict)

    def facts(self, gpu: CatalogGpu) -> GpuFacts:
        found = self._facts.get(gpu.id)
        if found is None:
            found = GpuFacts(
                max_per_host=max_per_host(gpu.segment.value, gpu.max_per_host),
                peer_to_peer=peer_to_peer(gpu.segment.value, gpu.peer_to_peer),
                multi_node=multi_node_realistic(gpu.segment.value),
            )
            self._facts[gpu.id] = found
        return found

    def stale(self, offer: CatalogOffer) -> bool:
        return (self.today - offer.observed).days > STALE_AFTER_DAYS

    def rent_counts(self, gpu: CatalogGpu, max_gpus: int) -> list[int]:
        """GPU counts this GPU can be rented at: whole instances, several only where the
        provider sells clusters of the instance and multi-node is realistic for the GPU."""
        counts: set[int] = set()
        facts = self.facts(gpu)
        for offer in self.offers.get(gpu.id, ()):
            if offer.usd_per_instance_hour is None:
                continue
            g = offer.gpus_per_instance
            if g > max_gpus or (gpu.segment.value != "datacenter" and g > facts.max_per_host):
                continue
            counts.add(g)
            if offer.multi_node and facts.multi_node:
                n = 2 * g
                while n <= max_gpus:
                    counts.add(n)
                    n *= 2
        return sorted(counts)

    def rental(self, gpu: CatalogGpu, count: int) -> Rental | None:
        """The cheapest on-demand way to rent `count` GPUs of this model."""
        best: Rental | None = None
        facts = self.facts(gpu)
        for offer in self.offers.get(gpu.id, ()):
            price = offer.usd_per_instance_hour
            g = offer.gpus_per_instance
            if price is None or count % g:
                continue
            if count > g and not (offer.multi_node and facts.multi_node):
                continue
            rental = rental_of(offer, instances_needed(count, g), count)
            if best is None or rental.usd_per_hour < best.usd_per_hour:
                best = rental
        return best

    def buy_counts(self, gpu: CatalogGpu, max_gpus: int) -> list[int]:
        """Counts one can assemble: up to the host limit, and whole hosts beyond it only for
        datacenter GPUs (nodes on a fast fabric)."""
        facts = self.facts(gpu)
        counts = {n for n in powers_of_two(max_gpus) if n <= facts.max_per_host}
        if facts.max_per_host <= max_gpus:
            counts.add(facts.max_per_host)
        if facts.multi_node:
            n = 2 * facts.max_per_host
            while n <= max_gpus:
                counts.add(n)
                n *= 2
        return sorted(counts)

    def purchase(self, gpu: CatalogGpu, count: int, catalog: LoadedCatalog) -> Purchase | None:
        """Upfront price of `count` GPUs and their hosts, and the hourly cost of owning them."""
        price = gpu_purchase_price(gpu, catalog)
        if price is None:
            return None
        gpu_usd, basis = price
        per_host = self.facts(gpu).max_per_host
        holds = _HOLDS.get(gpu.form_factor, {gpu.form_factor})
        hosts: tuple[HostChoice, ...] = ()
        best_usd = math.inf
        for host in self.hosts:
            if not holds & set(host.gpu_form_factors):
                continue
            capacity = min(host.max_gpus, per_host)
            n = math.ceil(count / capacity)
            if n > 1 and not self.facts(gpu).multi_node:
                continue
            if n * host.usd < best_usd:
                best_usd = n * host.usd
                hosts = (HostChoice(host.id, host.name, n, host.usd),)
        if not hosts and self.hosts:
            return None  # no host class can hold this GPU at this count
        upfront = count * gpu_usd + sum(h.count * h.usd_each for h in hosts)
        own = self.ownership
        return Purchase(
            gpu_usd_each=gpu_usd,
            gpu_price_basis=basis,
            hosts=hosts,
            upfront_usd=upfront,
            amortized_usd_per_hour=owned_usd_per_hour(
                upfront, own.amortization_years, own.utilization
            ),
            energy_usd_per_hour=energy_usd_per_hour(
                count, gpu.tdp_w or 0.0, own.pue, own.usd_per_kwh
            ),
        )

    def support_level(self, gpu: CatalogGpu, technique: str) -> SoftwareSupport | None:
        """The support row for this technique on this GPU: a row naming the GPU wins over one
        naming its architecture; None where the catalog says nothing."""
        key = (gpu.id, technique)
        if key not in self._support:
            self._support[key] = self._find_support(gpu, technique)
        return self._support[key]

    def _find_support(self, gpu: CatalogGpu, technique: str) -> SoftwareSupport | None:
        by_arch: SoftwareSupport | None = None
        for row in self.support:
            if row.technique.value != technique:
                continue
            if row.gpus is not None and gpu.id in row.gpus:
                return row
            if by_arch is None and row.covers(gpu):
                by_arch = row
        return by_arch

    def is_validated(self, gpu_id: str, task: str) -> bool:
        return (gpu_id, task) in self.validated or (gpu_id, "*") in self.validated


def rental_of(offer: CatalogOffer, instances: int, gpus: int) -> Rental:
    """`instances` instances of `offer` for a job on `gpus` of their GPUs, priced per hour."""
    price = offer.usd_per_instance_hour or 0.0
    spot = offer.spot_usd_per_instance_hour
    reserved = offer.reserved_usd_per_instance_hour
    return Rental(
        offer=offer,
        instances=instances,
        gpus=gpus,
        usd_per_hour=instances * price,
        spot_usd_per_hour=instances * spot if spot else None,
        reserved_usd_per_hour=instances * reserved if reserved else None,
    )


def powers_of_two(limit: int) -> list[int]:
    """1, 2, 4, 8, ... up to `limit`."""
    out, n = [], 1
    while n <= limit:
        out.append(n)
        n *= 2
    return out


def gpu_purchase_price(gpu: CatalogGpu, catalog: LoadedCatalog) -> tuple[float, str] | None:
    """The lowest dated purchase price of one GPU (catalog/prices.yaml), else its launch price."""
    purchases = [
        p for p in catalog.prices_for(gpu.id) if p.kind is PriceKind.purchase and p.purchase_usd
    ]
    if purchases:
        best = min(purchases, key=lambda p: p.purchase_usd or 0.0)
        kind = getattr(best, "price_basis", None) or "purchase"
        label = kind.replace("_", " ")
        return (
            best.purchase_usd or 0.0,
            f"{label} ${best.purchase_usd:,.0f}, observed {best.observed} ({best.source.title})",
        )
    if gpu.launch_price_usd:
        return gpu.launch_price_usd, f"launch price ${gpu.launch_price_usd:,.0f}"
    return None


def _ownership(catalog: LoadedCatalog) -> Ownership:
    hosts = catalog.hosts
    if hosts is None:
        return Ownership(
            pue=FALLBACK_PUE,
            usd_per_kwh=FALLBACK_USD_PER_KWH,
            utilization=FALLBACK_UTILIZATION,
            amortization_years=FALLBACK_AMORTIZATION_YEARS,
            basis=("catalog/hosts.yaml missing: PUE, electricity price, utilization and "
                   "amortization are the project's stated fallbacks",),
        )  # fmt: skip

    def why(name: str, value: Any) -> str:
        text = value.source.title if value.source else value.note
        return f"{name} {value.value:g} ({text})"

    return Ownership(
        pue=hosts.pue.value,
        usd_per_kwh=hosts.default_usd_per_kwh.value,
        utilization=hosts.utilization.value,
        amortization_years=hosts.amortization_years.value,
        basis=(
            why("PUE", hosts.pue),
            why("default USD/kWh", hosts.default_usd_per_kwh),
            why("utilization", hosts.utilization),
            why("amortization years", hosts.amortization_years),
        ),
    )


def _validation_rows(paths: tuple[Path, ...]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.yaml")))
        elif path.exists():
            files.append(path)
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in files:
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and isinstance(data.get("measurements"), list):
            rows.extend(r for r in data["measurements"] if isinstance(r, dict))
    return rows


@lru_cache(maxsize=1)
def validated_pairs(paths: tuple[Path, ...] = VALIDATION_PATHS) -> frozenset[tuple[str, str]]:
    """(GPU id, task) pairs the project's validation set has published measurements for."""
    out: set[tuple[str, str]] = set()
    for row in _validation_rows(paths):
        if row.get("exclude"):
            continue
        hardware = row.get("hardware") or {}
        workload = row.get("workload") or {}
        gpu = hardware.get("gpu") if isinstance(hardware, dict) else None
        task = workload.get("task", "pretrain") if isinstance(workload, dict) else "pretrain"
        if isinstance(gpu, str):
            out.add((gpu, str(task)))
    return frozenset(out)


def build_market(catalog: LoadedCatalog, today: dt.date | None = None) -> Market:
    offers: dict[str, list[CatalogOffer]] = {}
    for offer in catalog.offers:
        offers.setdefault(offer.gpu, []).append(offer)
    return Market(
        offers={k: tuple(v) for k, v in offers.items()},
        providers=frozenset(p.id for p in catalog.providers),
        hosts=tuple(catalog.hosts.hosts) if catalog.hosts else (),
        ownership=_ownership(catalog),
        support=tuple(catalog.software),
        validated=validated_pairs(),
        today=today or dt.date.today(),
    )


_MARKETS: dict[int, tuple[LoadedCatalog, Market]] = {}


def market_for(catalog: LoadedCatalog) -> Market:
    """The market of this loaded catalog, built on first use (kept per catalog object)."""
    key = id(catalog)
    hit = _MARKETS.get(key)
    if hit is not None and hit[0] is catalog and hit[1].today == dt.date.today():
        return hit[1]
    market = build_market(catalog)
    if len(_MARKETS) > 8:
        _MARKETS.clear()
    _MARKETS[key] = (catalog, market)
    return market


def apply_acquisition(
    result: Estimate, gpu: CatalogGpu, count: int, request: EstimateRequest, catalog: LoadedCatalog
) -> None:
    """Re-price an estimate by how the hardware is had: rent (the cheapest instance offer for
    this count, else the catalog price already used), buy (GPUs + hosts amortized, plus
    electricity) or own (electricity only). The estimate's time is unchanged."""
    market = market_for(catalog)
    if request.usd_per_kwh is not None:
        market = replace(
            market, ownership=replace(market.ownership, usd_per_kwh=request.usd_per_kwh)
        )
    hours = result.time.total_seconds / 3600.0
    usd_per_hour: float | None
    if request.acquisition is Acquisition.rent:
        rental = market.rental(gpu, count)
        if rental is None:
            return
        o = rental.offer
        usd_per_hour = rental.usd_per_hour
        source = (
            f"{rental.instances} x {o.provider} {o.instance} ({o.gpus_per_instance} GPUs) on "
            f"demand, observed {o.observed} ({o.source.title})"
        )
        if market.stale(o):
            result.warnings.append(
                f"the {o.label} price was observed {o.observed}, over 12 months ago"
            )
    elif request.acquisition is Acquisition.buy:
        purchase = market.purchase(gpu, count, catalog)
        if purchase is None:
            result.warnings.append(
                f"no purchase price for {count} x {gpu.name}: cost not estimated"
            )
            usd_per_hour, source = None, "no purchase price"
        else:
            own = market.ownership
            usd_per_hour = purchase.usd_per_hour
            source = (
                f"bought: ${purchase.upfront_usd:,.0f} upfront ({purchase.gpu_price_basis}"
                + "".join(f"; {h.count} x {h.name}" for h in purchase.hosts)
                + f") over {own.amortization_years:g} years at {own.utilization:.0%} utilization, "
                f"plus electricity at PUE {own.pue:g} and ${own.usd_per_kwh:g}/kWh"
            )
    else:
        own = market.ownership
        usd_per_hour = energy_usd_per_hour(count, gpu.tdp_w or 0.0, own.pue, own.usd_per_kwh)
        source = f"owned: electricity only (PUE {own.pue:g}, ${own.usd_per_kwh:g}/kWh)"
        if not gpu.tdp_w:
            usd_per_hour, source = None, "owned: no board power to price electricity"
    result.cost = CostResult(
        gpu_hours=result.cost.gpu_hours,
        usd=usd_per_hour * hours if usd_per_hour is not None else None,
        price_per_gpu_hour_usd=usd_per_hour / count if usd_per_hour is not None else None,
        price_source=source,
    )
