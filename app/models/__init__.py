"""SQLAlchemy 2 tables; importing this package registers every table on Base.metadata."""

from app.models.auth import ApiToken
from app.models.catalog import CatalogVersion, Gpu, GpuSource, Price
from app.models.offers import Offer, Provider
from app.models.probes import ProbeResult, ProbeRun
from app.models.recommendation import SavedRecommendation

__all__ = [
    "ApiToken",
    "CatalogVersion",
    "Gpu",
    "GpuSource",
    "Offer",
    "Price",
    "ProbeResult",
    "ProbeRun",
    "Provider",
    "SavedRecommendation",
]
