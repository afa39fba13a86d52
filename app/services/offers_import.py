"""Import instance offers from SkyPilot's public catalog into catalog/offers/<provider>.yaml.

SkyPilot (github.com/skypilot-org/skypilot-catalog) publishes one CSV per cloud,
`catalogs/<version>/<cloud>/vms.csv`, with the columns InstanceType, AcceleratorName,
AcceleratorCount, vCPUs, MemoryGiB, Price (on-demand USD per instance-hour), SpotPrice and Region
(some clouds add AvailabilityZone and GpuInfo). Its bot refreshes the files from the clouds' price
APIs; the commit date is the date the prices were read, so it becomes each offer's `observed`.

One offer per instance type: the cheapest US region for on-demand and for spot (any region where a
cloud has no US region), with every region at that on-demand price listed. Accelerator names map to
catalog GPU ids through the explicit `ACCELERATORS` table; a name not in it is skipped and
reported, never guessed. A GPU row with neither Price nor SpotPrice is rejected, naming its row.

The import is idempotent: rows this importer wrote before (their `source.url` is the SkyPilot
repository) are replaced, hand-entered rows are kept, and the file is written in a fixed order, so
the same input gives a byte-identical file.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.errors import CatalogError
from app.schemas.catalog import CatalogOffer

SKYPILOT_REPO_URL = "https://github.com/skypilot-org/skypilot-catalog"

# SkyPilot cloud folder -> catalog provider slug (catalog/offers/providers.yaml).
CLOUD_PROVIDERS: dict[str, str] = {
    "aws": "aws",
    "gcp": "gcp",
    "azure": "azure",
    "oci": "oci",
    "lambda": "lambda",
    "runpod": "runpod",
    "fluidstack": "fluidstack",
    "cudo": "cudo",
    "paperspace": "paperspace",
    "vast": "vast",
    "nebius": "nebius",
    "do": "digitalocean",
    "hyperbolic": "hyperbolic",
    "primeintellect": "primeintellect",
    "shadeform": "shadeform",
    "seeweb": "seeweb",
    "mithril": "mithril",
    "ibm": "ibm",
}

# SkyPilot AcceleratorName -> catalog GPU id. Keys are (cloud, name) with "*" for any cloud;
# the cloud-specific entry wins. SkyPilot's names follow its common/metadata.csv; where one name
# covers two parts the instance families decide (AWS p4d "A100" is the 40 GB SXM4, GCP a2-highgpu
# too; RunPod's "A100-80GB" is the PCIe card and "A100-80GB-SXM" the SXM4 module).
ACCELERATORS: dict[tuple[str, str], str] = {
    ("*", "V100"): "nvidia-v100-sxm2-16gb",
    ("*", "V100-32GB"): "nvidia-v100-sxm2-32gb",
    ("*", "T4"): "nvidia-t4",
    ("*", "A10"): "nvidia-a10",
    ("*", "A10G"): "nvidia-a10g",
    ("*", "A40"): "nvidia-a40",
    ("*", "A30"): "nvidia-a30",
    ("*", "A100"): "nvidia-a100-sxm4-40gb",
    ("*", "A100-80GB"): "nvidia-a100-sxm4-80gb",
    ("*", "A100-80GB-SXM"): "nvidia-a100-sxm4-80gb",
    ("runpod", "A100-80GB"): "nvidia-a100-pcie-80gb",
    ("*", "L4"): "nvidia-l4",
    ("*", "L40"): "nvidia-l40",
    ("*", "L40S"): "nvidia-l40s",
    ("*", "H100"): "nvidia-h100-sxm",
    ("*", "H100-SXM"): "nvidia-h100-sxm",
    ("*", "H100-MEGA"): "nvidia-h100-sxm",
    ("*", "H100-NVLINK"): "nvidia-h100-sxm",
    ("*", "H100-NVL"): "nvidia-h100-nvl",
    ("*", "H100-PCIE"): "nvidia-h100-pcie",
    ("*", "H200"): "nvidia-h200-sxm",
    ("*", "H200-SXM"): "nvidia-h200-sxm",
    ("*", "GH200"): "nvidia-gh200",
    ("*", "B200"): "nvidia-b200",
    ("*", "B300"): "nvidia-b300",
    ("*", "GB200"): "nvidia-gb200",
    ("*", "RTXPRO6000"): "nvidia-rtx-pro-6000-blackwell-server",
    ("*", "A6000"): "nvidia-rtx-a6000",
    ("*", "RTXA6000"): "nvidia-rtx-a6000",
    ("*", "RTXA5000"): "nvidia-rtx-a5000",
    ("*", "RTXA4500"): "nvidia-rtx-a4500",
    ("*", "RTXA4000"): "nvidia-rtx-a4000",
    ("*", "A4000"): "nvidia-rtx-a4000",
    ("*", "RTX6000"): "nvidia-quadro-rtx-6000",
    ("*", "RTX8000"): "nvidia-quadro-rtx-8000",
    ("*", "RTX6000-Ada"): "nvidia-rtx-6000-ada",
    ("*", "RTX4000-Ada"): "nvidia-rtx-4000-ada",
    ("*", "RTX3090"): "nvidia-geforce-rtx-3090",
    ("*", "RTX4090"): "nvidia-geforce-rtx-4090",
    ("*", "RTX5090"): "nvidia-geforce-rtx-5090",
    ("*", "MI300X"): "amd-instinct-mi300x",
    ("*", "MI325X"): "amd-instinct-mi325x",
    ("*", "MI355X"): "amd-instinct-mi355x",
    ("*", "Gaudi HL-205"): "intel-gaudi-2",
}

# Instance families sold as clusters on a fast fabric, with the scale-out bandwidth per GPU
# (Gbit/s). AWS: EFA bandwidth of the instance / 8 GPUs (Amazon EC2 accelerated computing
# instance specifications); GCP: GPUDirect-TCPX/RDMA NICs of a3-mega/ultra and a4 (Compute
# Engine GPU machine types).
MULTI_NODE_FAMILIES: dict[str, dict[str, float]] = {
    "aws": {
        "p4d.": 50.0,
        "p4de.": 50.0,
        "p5.": 400.0,
        "p5e.": 400.0,
        "p5en.": 400.0,
        "p6-b200.": 400.0,
    },
    "gcp": {"a3-megagpu": 200.0, "a3-ultragpu": 400.0, "a4-highgpu": 400.0},
    "azure": {"Standard_ND96is": 200.0, "Standard_ND96as": 200.0, "Standard_ND96isr": 400.0},
}

# US regions: AWS/GCP/OCI/Lambda "us-...", RunPod "US", Azure "eastus", "southcentralus2", ...
_US_REGION = re.compile(
    r"^(us\b|us-|north-?america)|^(east|west|central|north|south)(central)?us\d?$"
)


@dataclass(frozen=True)
class SkippedRow:
    """A CSV row that was not imported, and why (e.g. an accelerator the table does not map)."""

    file: str
    row: int
    instance: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file} row {self.row} ({self.instance}): {self.reason}"


@dataclass
class ImportReport:
    """What one import wrote: offers per provider, skipped and rejected rows, the snapshot used."""

    commit: str | None
    observed: dt.date
    written: dict[str, int] = field(default_factory=dict)
    skipped: list[SkippedRow] = field(default_factory=list)
    rejected: list[SkippedRow] = field(default_factory=list)
    unknown_accelerators: dict[str, int] = field(default_factory=dict)


def map_accelerator(cloud: str, name: str) -> str | None:
    """The catalog GPU id of SkyPilot accelerator `name` on `cloud`, None if not in the table."""
    return ACCELERATORS.get((cloud, name)) or ACCELERATORS.get(("*", name))


def find_cloud_files(path: Path) -> dict[str, Path]:
    """`<cloud>: vms.csv` under a skypilot-catalog checkout (newest catalogs/vN) or a folder."""
    path = Path(path)
    root = path
    versions = sorted(
        (p for p in (path / "catalogs").glob("v*") if p.name[1:].isdigit()),
        key=lambda p: int(p.name[1:]),
    )
    if versions:
        root = versions[-1]
    return {
        csv_path.parent.name: csv_path
        for csv_path in sorted(root.glob("*/vms.csv"))
        if csv_path.parent.name in CLOUD_PROVIDERS
    }


def _git(path: Path, *args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(path), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def git_snapshot(path: Path) -> tuple[str, dt.date] | None:
    """(commit, commit date) where `path` is the root of a git checkout, else None.

    Only the checkout's own root counts: a folder of CSVs that merely sits inside another
    repository (a test fixture, a download inside this project) has no snapshot date.
    """
    top = _git(path, "rev-parse", "--show-toplevel")
    if not top or Path(top).resolve() != Path(path).resolve():
        return None
    out = (_git(path, "log", "-1", "--format=%H %cs") or "").split()
    if len(out) != 2:
        return None
    return out[0], dt.date.fromisoformat(out[1])


def _float(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _is_us(region: str) -> bool:
    return bool(_US_REGION.search(region.lower()))


def _round_usd(value: float) -> float:
    return round(value, 6)


@dataclass(frozen=True)
class _Row:
    line: int
    instance: str
    gpu: str
    count: int
    vcpus: float | None
    memory_gib: float | None
    price: float | None
    spot: float | None
    region: str


def _read_rows(cloud: str, csv_path: Path, shown: str, report: ImportReport) -> list[_Row]:
    rows: list[_Row] = []
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region"} - set(
            reader.fieldnames or []
        )
        if missing:
            raise CatalogError(f"{shown}: missing column(s) {', '.join(sorted(missing))}")
        for line, raw in enumerate(reader, start=2):
            name = (raw.get("AcceleratorName") or "").strip()
            instance = (raw.get("InstanceType") or "").strip()
            if not name:
                continue  # a CPU-only instance
            gpu = map_accelerator(cloud, name)
            if gpu is None:
                report.unknown_accelerators[f"{cloud}:{name}"] = (
                    report.unknown_accelerators.get(f"{cloud}:{name}", 0) + 1
                )
                report.skipped.append(
                    SkippedRow(shown, line, instance, f"accelerator '{name}' is not mapped")
                )
                continue
            count = _float(raw.get("AcceleratorCount"))
            if count is None or count != int(count):
                report.skipped.append(
                    SkippedRow(shown, line, instance, "fractional or missing AcceleratorCount")
                )
                continue
            price, spot = _float(raw.get("Price")), _float(raw.get("SpotPrice"))
            if price is None and spot is None:
                report.rejected.append(
                    SkippedRow(shown, line, instance, "no Price and no SpotPrice")
                )
                continue
            rows.append(
                _Row(
                    line=line,
                    instance=instance,
                    gpu=gpu,
                    count=int(count),
                    vcpus=_float(raw.get("vCPUs")),
                    memory_gib=_float(raw.get("MemoryGiB")),
                    price=price,
                    spot=spot,
                    region=(raw.get("Region") or "").strip() or "unknown",
                )
            )
    return rows


def _offers_for_cloud(
    cloud: str, rows: list[_Row], commit: str | None, observed: dt.date, shown: str
) -> list[dict[str, Any]]:
    provider = CLOUD_PROVIDERS[cloud]
    by_instance: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    for row in rows:
        by_instance[(row.instance, row.gpu)].append(row)
    offers: list[dict[str, Any]] = []
    for (instance, gpu), group in sorted(by_instance.items()):
        us = [r for r in group if _is_us(r.region)]
        scope = us or group
        on_demand = [r for r in scope if r.price is not None]
        spot_rows = [r for r in scope if r.spot is not None]
        price = min((r.price for r in on_demand if r.price is not None), default=None)
        spot = min((r.spot for r in spot_rows if r.spot is not None), default=None)
        if price is not None:
            regions = sorted({r.region for r in on_demand if r.price == price})
        else:
            regions = sorted({r.region for r in spot_rows if r.spot == spot})
        first = group[0]
        network = next(
            (
                gbps
                for prefix, gbps in MULTI_NODE_FAMILIES.get(cloud, {}).items()
                if instance.startswith(prefix)
            ),
            None,
        )
        where = "US regions" if us else "all regions (no US region listed)"
        note = f"Cheapest on-demand and spot price over {where} of {shown}."
        if spot is not None and price is not None:
            spot_regions = sorted({r.region for r in spot_rows if r.spot == spot})
            note += f" Spot price region(s): {', '.join(spot_regions)}."
        offers.append(
            {
                "provider": provider,
                "instance": instance,
                "gpu": gpu,
                "gpus_per_instance": first.count,
                "vcpus": int(first.vcpus) if first.vcpus else None,
                "host_memory_gb": round(first.memory_gib * 1.073741824, 1)
                if first.memory_gib
                else None,
                "interconnect": None,
                "network_gbps_per_gpu": network,
                "multi_node": network is not None,
                "usd_per_instance_hour": _round_usd(price) if price is not None else None,
                "spot_usd_per_instance_hour": _round_usd(spot) if spot is not None else None,
                "reserved_usd_per_instance_hour": None,
                "regions": regions,
                "observed": observed,
                "source": {
                    "title": f"SkyPilot catalog {shown}",
                    "url": SKYPILOT_REPO_URL,
                    "retrieved": observed,
                    "commit": commit,
                    "note": "MemoryGiB converted to GB (x 1.073741824).",
                },
                "note": note,
            }
        )
    return offers


def _is_imported(row: dict[str, Any]) -> bool:
    source = row.get("source")
    return isinstance(source, dict) and str(source.get("url", "")).startswith(SKYPILOT_REPO_URL)


def _sort_key(row: dict[str, Any]) -> tuple[str, int, str]:
    return (str(row.get("gpu")), int(row.get("gpus_per_instance") or 0), str(row.get("instance")))


class _NoAliasDumper(yaml.SafeDumper):
    """Writes shared objects out in full (no &id001 anchors), so every row reads on its own."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_offers(rows: list[dict[str, Any]]) -> str:
    """The YAML text of an offers file: rows in a fixed order, keys in the schema's order."""
    order = list(CatalogOffer.model_fields)
    ordered = [
        {key: row[key] for key in order if key in row}
        | {k: v for k, v in row.items() if k not in order}
        for row in sorted(rows, key=_sort_key)
    ]
    return yaml.dump(
        {"offers": ordered},
        Dumper=_NoAliasDumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )


def _observed(row: dict[str, Any]) -> dt.date:
    value = row.get("observed")
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def merge_offers_file(path: Path, imported: list[dict[str, Any]]) -> str:
    """Replace the SkyPilot-imported rows of `path` with `imported`, keep hand-entered rows.

    Where a hand-entered row and an imported row name the same instance and GPU, the one
    observed later is kept (the imported one on a tie), so a file never lists an instance twice.
    """
    kept: list[dict[str, Any]] = []
    if path.exists():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        kept = [r for r in data.get("offers") or [] if not _is_imported(r)]
    # Validate before writing, so a bad import never leaves a file the app refuses to load.
    for index, row in enumerate(imported, start=1):
        try:
            CatalogOffer.model_validate(row)
        except ValueError as exc:
            raise CatalogError(
                f"{path.name}: imported row {index} ({row['instance']}): {exc}"
            ) from exc
    by_key = {(str(r.get("instance")), str(r.get("gpu"))): r for r in kept}
    for row in imported:
        key = (str(row["instance"]), str(row["gpu"]))
        hand = by_key.get(key)
        if hand is None or _observed(hand) <= _observed(row):
            by_key[key] = row
    return render_offers(list(by_key.values()))


def import_skypilot_offers(
    source: Path,
    catalog_dir: Path,
    *,
    clouds: list[str] | None = None,
    commit: str | None = None,
    observed: dt.date | None = None,
) -> ImportReport:
    """Read SkyPilot vms.csv files under `source` and write catalog/offers/<provider>.yaml.

    `commit` and `observed` default to the git commit and commit date of `source`; where it is
    not a git checkout both must be given, else CatalogError (an offer without a date is refused).
    """
    files = find_cloud_files(source)
    if clouds:
        unknown = sorted(set(clouds) - set(CLOUD_PROVIDERS))
        if unknown:
            raise CatalogError(f"unknown cloud(s): {', '.join(unknown)}")
        files = {c: p for c, p in files.items() if c in clouds}
    if not files:
        raise CatalogError(f"{source}: no <cloud>/vms.csv files found")
    snapshot = git_snapshot(source)
    if snapshot is not None:
        commit = commit or snapshot[0]
        observed = observed or snapshot[1]
    if observed is None:
        raise CatalogError(
            f"{source}: not a git checkout, so the prices have no date: pass --observed "
            "(the date the catalog was written) and --commit"
        )
    report = ImportReport(commit=commit, observed=observed)
    offers_dir = Path(catalog_dir) / "offers"
    offers_dir.mkdir(parents=True, exist_ok=True)
    for cloud, csv_path in sorted(files.items()):
        shown = f"{cloud}/vms.csv"
        rows = _read_rows(cloud, csv_path, shown, report)
        imported = _offers_for_cloud(cloud, rows, commit, observed, shown)
        provider = CLOUD_PROVIDERS[cloud]
        target = offers_dir / f"{provider}.yaml"
        text = merge_offers_file(target, imported)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        report.written[provider] = len(imported)
    return report
