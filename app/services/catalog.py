"""Load and validate catalog/*.yaml, and sync it into the database idempotently."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from app.errors import CatalogError
from app.models import Gpu, GpuSource, Price
from app.repositories import catalog_versions as versions_repo
from app.repositories import gpus as gpus_repo
from app.schemas.catalog import (
    BandwidthMeasurement,
    CatalogGpu,
    CatalogModel,
    CatalogOffer,
    CatalogPrice,
    CatalogProvider,
    CompiledCostsData,
    EfficiencyData,
    ErrorBandData,
    HostsData,
    InterconnectMeasurement,
    MatmulMeasurement,
    SoftwareSupport,
)
from app.services.offers import sync_offers

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

GPU_GLOB = "gpus/*.yaml"
PRICES_FILE = "prices.yaml"
MODELS_FILE = "models.yaml"
EFFICIENCY_FILE = "efficiency.yaml"
ERROR_BAND_FILE = "error_bands.yaml"
MODEL_COSTS_FILE = "model_costs.yaml"
OFFERS_DIR = "offers"
PROVIDERS_FILE = "offers/providers.yaml"
HOSTS_FILE = "hosts.yaml"
SOFTWARE_FILE = "software.yaml"

# The C loader (libyaml) is ~10x faster; PyYAML falls back to the Python one where it is missing.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class LoadedCatalog:
    """The validated catalog held in memory; `version` is a hash of every file's content."""

    version: str
    gpus: tuple[CatalogGpu, ...]
    prices: tuple[CatalogPrice, ...]
    models: tuple[CatalogModel, ...]
    gpu_files: dict[str, str] = field(default_factory=dict)
    efficiency: EfficiencyData = field(default_factory=EfficiencyData)
    error_band: ErrorBandData | None = None
    model_costs: dict[str, CompiledCostsData] = field(default_factory=dict)
    offers: tuple[CatalogOffer, ...] = ()
    providers: tuple[CatalogProvider, ...] = ()
    hosts: HostsData | None = None
    software: tuple[SoftwareSupport, ...] = ()

    def offers_for(self, gpu_id: str) -> list[CatalogOffer]:
        return [o for o in self.offers if o.gpu == gpu_id]

    def gpu(self, gpu_id: str) -> CatalogGpu | None:
        return next((g for g in self.gpus if g.id == gpu_id), None)

    def prices_for(self, gpu_id: str) -> list[CatalogPrice]:
        return [p for p in self.prices if p.gpu == gpu_id]

    def model(self, model_id: str) -> CatalogModel | None:
        return next((m for m in self.models if m.id == model_id), None)


def _display(path: Path, catalog_dir: Path) -> str:
    try:
        return str(Path(catalog_dir.name) / path.relative_to(catalog_dir))
    except ValueError:
        return str(path)


def _read_yaml(path: Path, shown: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{shown}: cannot read: {exc.strerror}") from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(f"{shown}:{where}: not valid YAML: {problem}") from exc


def _records(data: Any, key: str, shown: str) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise CatalogError(f"{shown}: expected a mapping with a list under '{key}'")
    return list(data[key])


def _record_label(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    if record.get("provider") and record.get("instance"):
        return f"{record['provider']} {record['instance']}"
    label = record.get("id") or record.get("gpu") or record.get("technique")
    return str(label) if label else None


def _validate(model: type[M], records: list[Any], shown: str) -> list[M]:
    out: list[M] = []
    for index, record in enumerate(records, start=1):
        label = _record_label(record)
        where = f"{shown}: record {index}" + (f" ({label})" if label else "")
        try:
            out.append(model.model_validate(record))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(record)"
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise CatalogError(
                f"{where}: field '{loc}': {first['msg']}{more}",
                detail=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()],
            ) from exc
    return out


def load_catalog(catalog_dir: Path) -> LoadedCatalog:
    """Read and validate every catalog file; raise CatalogError naming file, record and field."""
    catalog_dir = Path(catalog_dir)
    if not catalog_dir.is_dir():
        raise CatalogError(f"catalog folder not found: {catalog_dir}")
    digest = hashlib.sha256()
    gpus: list[CatalogGpu] = []
    gpu_files: dict[str, str] = {}
    gpu_paths = sorted(catalog_dir.glob(GPU_GLOB))
    if not gpu_paths:
        raise CatalogError(f"{catalog_dir}: no GPU files match {GPU_GLOB}")
    for path in gpu_paths:
        shown = _display(path, catalog_dir)
        digest.update(shown.encode() + b"\0" + path.read_bytes())
        for gpu in _validate(CatalogGpu, _records(_read_yaml(path, shown), "gpus", shown), shown):
            if gpu.id in gpu_files:
                raise CatalogError(
                    f"{shown}: record ({gpu.id}): field 'id': duplicate, "
                    f"already defined in {gpu_files[gpu.id]}"
                )
            gpu_files[gpu.id] = shown
            gpus.append(gpu)

    prices: list[CatalogPrice] = []
    prices_path = catalog_dir / PRICES_FILE
    if prices_path.exists():
        shown = _display(prices_path, catalog_dir)
        digest.update(shown.encode() + b"\0" + prices_path.read_bytes())
        prices = _validate(
            CatalogPrice, _records(_read_yaml(prices_path, shown), "prices", shown), shown
        )
        for index, price in enumerate(prices, start=1):
            if price.gpu not in gpu_files:
                raise CatalogError(
                    f"{shown}: record {index} ({price.gpu}): field 'gpu': no GPU with this id"
                )

    models: list[CatalogModel] = []
    models_path = catalog_dir / MODELS_FILE
    if models_path.exists():
        shown = _display(models_path, catalog_dir)
        digest.update(shown.encode() + b"\0" + models_path.read_bytes())
        models = _validate(
            CatalogModel, _records(_read_yaml(models_path, shown), "models", shown), shown
        )
        seen: set[str] = set()
        for model in models:
            if model.id in seen:
                raise CatalogError(f"{shown}: record ({model.id}): field 'id': duplicate")
            seen.add(model.id)

    efficiency = EfficiencyData()
    efficiency_path = catalog_dir / EFFICIENCY_FILE
    if efficiency_path.exists():
        shown = _display(efficiency_path, catalog_dir)
        digest.update(shown.encode() + b"\0" + efficiency_path.read_bytes())
        data = _read_yaml(efficiency_path, shown)
        if not isinstance(data, dict):
            raise CatalogError(
                f"{shown}: expected a mapping with matmul/bandwidth/interconnect lists"
            )
        efficiency = EfficiencyData(
            matmul=_validate(
                MatmulMeasurement, list(data.get("matmul") or []), f"{shown} [matmul]"
            ),
            bandwidth=_validate(
                BandwidthMeasurement, list(data.get("bandwidth") or []), f"{shown} [bandwidth]"
            ),
            interconnect=_validate(
                InterconnectMeasurement,
                list(data.get("interconnect") or []),
                f"{shown} [interconnect]",
            ),
            # Published GEMM size sweeps, read as points by services/efficiency.py.
            size_curves=list(data.get("size_curves") or []),
        )

    error_band = None
    band_path = catalog_dir / ERROR_BAND_FILE
    if band_path.exists():
        shown = _display(band_path, catalog_dir)
        band = _read_yaml(band_path, shown)
        try:
            error_band = ErrorBandData.model_validate(band)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise CatalogError(
                f"{shown}: field '{'.'.join(map(str, first['loc']))}': {first['msg']}"
            ) from exc

    model_costs: dict[str, CompiledCostsData] = {}
    costs_path = catalog_dir / MODEL_COSTS_FILE
    if costs_path.exists():
        shown = _display(costs_path, catalog_dir)
        digest.update(shown.encode() + b"\0" + costs_path.read_bytes())
        data = _read_yaml(costs_path, shown)
        entries = data.get("models") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise CatalogError(f"{shown}: expected a mapping with 'models' keyed by preset id")
        for model_id, entry in entries.items():
            try:
                model_costs[model_id] = CompiledCostsData.model_validate(entry)
            except ValidationError as exc:
                first = exc.errors()[0]
                raise CatalogError(
                    f"{shown}: model {model_id}: field '{'.'.join(map(str, first['loc']))}': {first['msg']}"
                ) from exc

    providers, offers = _load_offers(catalog_dir, set(gpu_files), digest)
    hosts = _load_hosts(catalog_dir, digest)
    software = _load_software(catalog_dir, gpus, digest)

    return LoadedCatalog(
        version=digest.hexdigest()[:16],
        gpus=tuple(gpus),
        prices=tuple(prices),
        models=tuple(models),
        gpu_files=gpu_files,
        efficiency=efficiency,
        error_band=error_band,
        model_costs=model_costs,
        offers=tuple(offers),
        providers=tuple(providers),
        hosts=hosts,
        software=tuple(software),
    )


def _load_offers(
    catalog_dir: Path, gpu_ids: set[str], digest: Any
) -> tuple[list[CatalogProvider], list[CatalogOffer]]:
    """catalog/offers/providers.yaml and every catalog/offers/<provider>.yaml."""
    providers_path = catalog_dir / PROVIDERS_FILE
    if not providers_path.exists():
        return [], []
    shown = _display(providers_path, catalog_dir)
    digest.update(shown.encode() + b"\0" + providers_path.read_bytes())
    providers = _validate(
        CatalogProvider, _records(_read_yaml(providers_path, shown), "providers", shown), shown
    )
    known: set[str] = set()
    for index, provider in enumerate(providers, start=1):
        if provider.id in known:
            raise CatalogError(f"{shown}: record {index} ({provider.id}): field 'id': duplicate")
        known.add(provider.id)
    offers: list[CatalogOffer] = []
    for path in sorted((catalog_dir / OFFERS_DIR).glob("*.yaml")):
        if path == providers_path:
            continue
        shown = _display(path, catalog_dir)
        digest.update(shown.encode() + b"\0" + path.read_bytes())
        rows = _validate(CatalogOffer, _records(_read_yaml(path, shown), "offers", shown), shown)
        seen: set[tuple[str, str]] = set()
        for index, offer in enumerate(rows, start=1):
            where = f"{shown}: record {index} ({offer.label})"
            if offer.provider != path.stem:
                raise CatalogError(
                    f"{where}: field 'provider': '{offer.provider}' in the file of '{path.stem}'"
                )
            if offer.provider not in known:
                raise CatalogError(f"{where}: field 'provider': not in {PROVIDERS_FILE}")
            if offer.gpu not in gpu_ids:
                raise CatalogError(f"{where}: field 'gpu': no GPU with this id")
            key = (offer.instance, offer.gpu)
            if key in seen:
                raise CatalogError(f"{where}: field 'instance': duplicate offer for this GPU")
            seen.add(key)
        offers.extend(rows)
    return providers, offers


def _load_hosts(catalog_dir: Path, digest: Any) -> HostsData | None:
    path = catalog_dir / HOSTS_FILE
    if not path.exists():
        return None
    shown = _display(path, catalog_dir)
    digest.update(shown.encode() + b"\0" + path.read_bytes())
    data = _read_yaml(path, shown)
    if not isinstance(data, dict):
        raise CatalogError(f"{shown}: expected a mapping with 'hosts' and the cost defaults")
    try:
        return HostsData.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        where = shown
        if len(loc) >= 2 and loc[0] == "hosts" and isinstance(loc[1], int):
            rows = data.get("hosts") or []
            label = _record_label(rows[loc[1]]) if loc[1] < len(rows) else None
            where += f": record {loc[1] + 1}" + (f" ({label})" if label else "")
            loc = loc[2:]
        field_name = ".".join(str(p) for p in loc) or "(record)"
        raise CatalogError(f"{where}: field '{field_name}': {first['msg']}") from exc


def _load_software(catalog_dir: Path, gpus: list[CatalogGpu], digest: Any) -> list[SoftwareSupport]:
    path = catalog_dir / SOFTWARE_FILE
    if not path.exists():
        return []
    shown = _display(path, catalog_dir)
    digest.update(shown.encode() + b"\0" + path.read_bytes())
    rows = _validate(SoftwareSupport, _records(_read_yaml(path, shown), "support", shown), shown)
    architectures = {g.architecture for g in gpus}
    ids = {g.id for g in gpus}
    for index, row in enumerate(rows, start=1):
        where = f"{shown}: record {index} ({row.technique.value})"
        for name in row.architectures or []:
            if name not in architectures:
                raise CatalogError(
                    f"{where}: field 'architectures': no GPU has architecture '{name}'"
                )
        for gpu_id in row.gpus or []:
            if gpu_id not in ids:
                raise CatalogError(f"{where}: field 'gpus': no GPU with id '{gpu_id}'")
    return rows


@dataclass
class SyncReport:
    """What one sync changed; a second sync of the same catalog reports only `unchanged`."""

    version: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    version_recorded: bool = False
    offers: tuple[int, int, int] = (0, 0, 0)  # added, updated, removed

    @property
    def changed(self) -> bool:
        return bool(
            self.added or self.updated or self.removed or self.version_recorded or any(self.offers)
        )


def _content_sha256(gpu: CatalogGpu, prices: Iterable[CatalogPrice], catalog_file: str) -> str:
    payload = {
        "gpu": gpu.model_dump(mode="json"),
        "prices": [p.model_dump(mode="json") for p in prices],
        "file": catalog_file,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _fill_row(row: Gpu, gpu: CatalogGpu, prices: list[CatalogPrice], catalog_file: str) -> None:
    peak = gpu.peak_tflops
    row.vendor = gpu.vendor.value
    row.name = gpu.name
    row.architecture = gpu.architecture
    row.segment = gpu.segment.value
    row.form_factor = gpu.form_factor
    row.release_date = gpu.release_date
    row.memory_gb = gpu.memory_gb
    row.memory_type = gpu.memory_type
    row.memory_bus_width_bits = gpu.memory_bus_width_bits
    row.memory_bandwidth_gb_s = gpu.memory_bandwidth_gb_s
    row.fp64_dense_tflops = peak.fp64
    row.fp64_matrix_dense_tflops = peak.fp64_matrix
    row.fp32_dense_tflops = peak.fp32
    row.tf32_dense_tflops = peak.tf32
    row.bf16_dense_tflops = peak.bf16
    row.fp16_dense_tflops = peak.fp16
    row.fp8_dense_tflops = peak.fp8
    row.int8_dense_tops = peak.int8
    row.fp4_dense_tflops = peak.fp4
    row.tdp_w = gpu.tdp_w
    row.pcie_gen = gpu.pcie_gen
    link = gpu.interconnect
    row.interconnect_type = link.type if link else None
    row.interconnect_bandwidth_gb_s = link.bandwidth_gb_s if link else None
    row.interconnect_note = link.note if link else None
    row.launch_price_usd = gpu.launch_price_usd
    eco = gpu.ecosystem
    row.ecosystem_platform = eco.platform.value
    row.compute_capability = eco.compute_capability
    row.rocm_supported = eco.rocm_supported
    row.supports_pytorch = eco.frameworks.pytorch
    row.supports_jax = eco.frameworks.jax
    row.supports_tensorflow = eco.frameworks.tensorflow
    row.notes = [n.model_dump(mode="json") for n in gpu.notes]
    row.catalog_file = catalog_file
    row.sources = [
        GpuSource(
            position=i,
            title=s.title,
            url=str(s.url),
            retrieved_on=s.retrieved,
            fields=s.fields,
            location=s.where,
        )
        for i, s in enumerate(gpu.sources)
    ]
    row.prices = [
        Price(
            position=i,
            kind=p.kind.value,
            provider=p.provider,
            instance=p.instance,
            gpus_per_instance=p.gpus_per_instance,
            region=p.region,
            instance_usd_per_hour=p.instance_usd_per_hour,
            usd_per_gpu_hour=p.usd_per_gpu_hour,
            purchase_usd=p.purchase_usd,
            observed=p.observed,
            source_title=p.source.title,
            source_url=str(p.source.url),
            source_retrieved_on=p.source.retrieved,
            note=p.note,
        )
        for i, p in enumerate(prices)
    ]


def sync_catalog(session: Session, catalog: LoadedCatalog) -> SyncReport:
    """Make the database match the catalog: add new GPUs, update changed ones, drop removed ones.

    Unchanged records are not written, so a second sync of the same files changes nothing. The
    caller owns the transaction; concurrent starts on PostgreSQL serialize on an advisory lock.
    """
    gpus_repo.lock_for_catalog_sync(session)
    report = SyncReport(version=catalog.version)
    existing = gpus_repo.content_hashes(session)
    wanted: set[str] = set()
    for gpu in catalog.gpus:
        wanted.add(gpu.id)
        catalog_file = catalog.gpu_files.get(gpu.id, "")
        prices = catalog.prices_for(gpu.id)
        digest = _content_sha256(gpu, prices, catalog_file)
        if existing.get(gpu.id) == digest:
            report.unchanged += 1
            continue
        row = gpus_repo.get(session, gpu.id) if gpu.id in existing else None
        if row is None:
            row = Gpu(id=gpu.id)
            gpus_repo.add(session, row)
            report.added.append(gpu.id)
        else:
            report.updated.append(gpu.id)
            gpus_repo.touch(row)
        _fill_row(row, gpu, prices, catalog_file)
        row.content_sha256 = digest
    for gone in sorted(set(existing) - wanted):
        gpus_repo.remove(session, gone)
        report.removed.append(gone)
    session.flush()  # offers reference the GPUs
    report.offers = sync_offers(session, catalog)
    latest = versions_repo.latest(session)
    if latest is None or latest.version != catalog.version:
        versions_repo.add(
            session,
            version=catalog.version,
            gpu_count=len(catalog.gpus),
            price_count=len(catalog.prices),
            model_count=len(catalog.models),
        )
        report.version_recorded = True
    session.flush()
    if report.changed:
        log.info(
            "catalog %s synced: %d added, %d updated, %d removed, %d unchanged",
            catalog.version,
            len(report.added),
            len(report.updated),
            len(report.removed),
            report.unchanged,
        )
    return report


def sync_catalog_into(factory: sessionmaker[Session], catalog: LoadedCatalog) -> SyncReport:
    """Sync in a transaction of its own (start-up and the CLI, outside any request)."""
    with factory.begin() as session:
        return sync_catalog(session, catalog)


def list_models(catalog: LoadedCatalog) -> list[CatalogModel]:
    """Model presets in catalog order."""
    return list(catalog.models)
