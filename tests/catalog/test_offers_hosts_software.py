"""Integrity of catalog/offers/, hosts.yaml, software.yaml and the GPU feasibility facts.

Catches the classic errors: an offer for a GPU that does not exist, an undated or future price, a
per-GPU price that does not follow from the instance price, a spot price above on-demand, a
multi-node offer without its network, unsourced host prices, software rows naming architectures
no GPU has, and contradictory support rows.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from app.errors import CatalogError
from app.services.catalog import LoadedCatalog, load_catalog
from tests.factories import gpu_record, write_catalog

TODAY = dt.date(2026, 11, 25)
# Plausible on-demand USD per GPU-hour: a marketplace RTX card (~0.2) ... a hyperscaler B300.
GPU_HOUR_RANGE_USD = (0.05, 30.0)


def test_every_offer_names_a_catalog_gpu_and_a_listed_provider(catalog: LoadedCatalog) -> None:
    gpu_ids = {g.id for g in catalog.gpus}
    providers = {p.id for p in catalog.providers}
    for offer in catalog.offers:
        assert offer.gpu in gpu_ids, offer.label
        assert offer.provider in providers, offer.label


def test_offers_are_dated_sourced_and_not_from_the_future(catalog: LoadedCatalog) -> None:
    assert len(catalog.offers) >= 60
    for offer in catalog.offers:
        assert offer.observed <= offer.source.retrieved <= TODAY, offer.label
        assert offer.observed.year >= 2024, offer.label
        assert str(offer.source.url).startswith("https://"), offer.label


def test_prices_are_positive_and_per_gpu_hour_is_plausible(catalog: LoadedCatalog) -> None:
    low, high = GPU_HOUR_RANGE_USD
    for offer in catalog.offers:
        for price in (
            offer.usd_per_instance_hour,
            offer.spot_usd_per_instance_hour,
            offer.reserved_usd_per_instance_hour,
        ):
            if price is not None:
                per_gpu = price / offer.gpus_per_instance
                assert low <= per_gpu <= high, (offer.label, per_gpu)


def test_per_gpu_hour_is_the_instance_price_over_its_gpus(catalog: LoadedCatalog) -> None:
    for offer in catalog.offers:
        if offer.usd_per_instance_hour is None:
            assert offer.usd_per_gpu_hour is None
            continue
        assert offer.usd_per_gpu_hour == pytest.approx(
            offer.usd_per_instance_hour / offer.gpus_per_instance
        )


def test_spot_and_reserved_are_not_dearer_than_on_demand(catalog: LoadedCatalog) -> None:
    for offer in catalog.offers:
        if offer.usd_per_instance_hour is None:
            continue
        for cheaper in (offer.spot_usd_per_instance_hour, offer.reserved_usd_per_instance_hour):
            if cheaper is not None:
                assert cheaper <= offer.usd_per_instance_hour, offer.label


def test_multi_node_offers_state_their_network(catalog: LoadedCatalog) -> None:
    for offer in catalog.offers:
        if offer.multi_node:
            assert offer.gpus_per_instance >= 4, offer.label  # 8-GPU nodes; GB200 trays hold 4
            assert offer.interconnect, offer.label


def test_an_instance_fits_in_one_host_of_its_gpu(catalog: LoadedCatalog) -> None:
    for offer in catalog.offers:
        gpu = catalog.gpu(offer.gpu)
        assert gpu is not None
        if gpu.max_per_host is not None:
            assert offer.gpus_per_instance <= gpu.max_per_host, offer.label


def test_dated_cloud_prices_of_prices_yaml_have_an_offer(catalog: LoadedCatalog) -> None:
    """Each dated on-demand cloud price of prices.yaml is also a rentable offer (same GPU and
    provider), so the two files do not drift apart."""
    offered = {(o.gpu, o.provider) for o in catalog.offers}
    missing = [
        (p.gpu, p.provider)
        for p in catalog.prices
        if p.kind.value == "cloud_on_demand"
        and p.observed != "unknown"
        and (p.gpu, p.provider) not in offered
    ]
    assert missing == []


def test_most_rented_datacenter_gpus_have_a_dated_offer(catalog: LoadedCatalog) -> None:
    """The data-center parts every major GPU cloud rents (issue 11's target)."""
    must = {
        "nvidia-h100-sxm",
        "nvidia-h100-pcie",
        "nvidia-h100-nvl",
        "nvidia-h200-sxm",
        "nvidia-b200",
        "nvidia-b300",
        "nvidia-gb200",
        "nvidia-gh200",
        "nvidia-a100-sxm4-40gb",
        "nvidia-a100-sxm4-80gb",
        "nvidia-a100-pcie-80gb",
        "nvidia-a10",
        "nvidia-a10g",
        "nvidia-a40",
        "nvidia-l40",
        "nvidia-l40s",
        "nvidia-rtx-pro-6000-blackwell-server",
        "amd-instinct-mi300x",
        "amd-instinct-mi325x",
    }
    covered = {o.gpu for o in catalog.offers}
    assert must - covered == set()


def test_offer_files_hold_one_provider_and_no_duplicates() -> None:
    offers_dir = Path(__file__).parents[2] / "catalog" / "offers"
    for path in sorted(offers_dir.glob("*.yaml")):
        if path.name == "providers.yaml":
            continue
        rows = yaml.safe_load(path.read_text())["offers"]
        assert {r["provider"] for r in rows} == {path.stem}
        keys = Counter((r["instance"], r["gpu"]) for r in rows)
        assert [k for k, n in keys.items() if n > 1] == []


def test_an_offer_without_a_date_is_rejected_naming_file_row_and_field(tmp_path: Path) -> None:
    catalog_dir = write_catalog(tmp_path, [gpu_record()])
    gpu_id = gpu_record()["id"]
    (catalog_dir / "offers").mkdir()
    (catalog_dir / "offers" / "providers.yaml").write_text(
        yaml.safe_dump(
            {
                "providers": [
                    {"id": "acme", "name": "Acme", "kind": "gpu-cloud", "url": "https://acme.test/"}
                ]
            }
        )
    )
    row = {
        "provider": "acme",
        "instance": "big.8x",
        "gpu": gpu_id,
        "gpus_per_instance": 8,
        "usd_per_instance_hour": 10.0,
        "regions": ["us-1"],
        "source": {"title": "Acme prices", "url": "https://acme.test/p", "retrieved": "2026-11-01"},
    }
    (catalog_dir / "offers" / "acme.yaml").write_text(yaml.safe_dump({"offers": [row]}))
    with pytest.raises(CatalogError) as raised:
        load_catalog(catalog_dir)
    message = str(raised.value.message)
    assert "offers/acme.yaml" in message
    assert "record 1 (acme big.8x)" in message
    assert "field 'observed'" in message

    row["observed"] = "2026-11-01"
    del row["source"]
    (catalog_dir / "offers" / "acme.yaml").write_text(yaml.safe_dump({"offers": [row]}))
    with pytest.raises(CatalogError, match=r"record 1 \(acme big.8x\): field 'source'"):
        load_catalog(catalog_dir)


def test_hosts_are_sourced_and_defaults_stated(catalog: LoadedCatalog) -> None:
    hosts = catalog.hosts
    assert hosts is not None
    assert hosts.hosts
    for host in hosts.hosts:
        assert host.usd > 0, host.id
        assert host.observed <= host.source.retrieved <= TODAY, host.id
    assert hosts.pue.source is not None
    assert hosts.default_usd_per_kwh.source is not None
    assert 0.03 <= hosts.default_usd_per_kwh.value <= 0.5
    # Utilization and amortization are assumptions and must say so.
    assert "ssumption" in (hosts.utilization.note or "")
    assert "ssumption" in (hosts.amortization_years.note or "")


def test_software_rows_name_known_architectures_and_do_not_contradict(
    catalog: LoadedCatalog,
) -> None:
    architectures = {g.architecture for g in catalog.gpus}
    levels: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in catalog.software:
        for arch in row.architectures or []:
            assert arch in architectures, arch
            levels[(arch, row.technique.value)].add(row.level.value)
    contradictions = {k: v for k, v in levels.items() if len(v) > 1}
    assert contradictions == {}


def test_every_technique_has_rows_for_nvidia_amd_and_intel_parts(catalog: LoadedCatalog) -> None:
    by_technique: dict[str, set[str]] = defaultdict(set)
    vendor_of = {g.architecture: g.vendor.value for g in catalog.gpus}
    for row in catalog.software:
        for arch in row.architectures or []:
            by_technique[row.technique.value].add(vendor_of[arch])
    for technique in ("pytorch", "jax", "flash-attention", "bitsandbytes", "qlora", "fsdp", "vllm"):
        assert by_technique[technique] == {"nvidia", "amd", "intel"}, technique


def test_consumer_cards_without_peer_to_peer_and_with_a_host_limit(
    catalog: LoadedCatalog,
) -> None:
    for gpu in catalog.gpus:
        assert gpu.max_per_host is not None, gpu.id
        if gpu.segment.value == "consumer":
            assert gpu.max_per_host <= 4, gpu.id
        geforce_40_or_50 = (
            gpu.vendor.value == "nvidia"
            and gpu.segment.value == "consumer"
            and gpu.architecture in ("Ada Lovelace", "Blackwell")
        )
        consumer_radeon = gpu.vendor.value == "amd" and gpu.segment.value == "consumer"
        if geforce_40_or_50 or consumer_radeon:
            assert gpu.peer_to_peer is False, gpu.id
        if gpu.partitioning and "MIG" in gpu.partitioning:
            assert gpu.vendor.value == "nvidia", gpu.id


def test_purchase_prices_say_their_basis(catalog: LoadedCatalog) -> None:
    for price in catalog.prices:
        if price.kind.value == "purchase":
            assert price.price_basis in {"launch_msrp", "street"}, price.gpu
            assert price.observed != "unknown", price.gpu
