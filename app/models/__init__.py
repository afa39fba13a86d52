"""SQLAlchemy 2 tables; importing this package registers every table on Base.metadata."""

from app.models.auth import ApiToken
from app.models.catalog import CatalogVersion, Gpu, GpuSource, Price
from app.models.probes import ProbeResult, ProbeRun
from app.models.recommendation import SavedRecommendation

__all__ = [
    "ApiToken",
    "CatalogVersion",
    "Gpu",
    "GpuSource",
    "Price",
    "ProbeResult",
    "ProbeRun",
    "SavedRecommendation",
]
