"""SQLAlchemy 2 tables; importing this package registers every table on Base.metadata."""

from app.models.catalog import CatalogVersion, Gpu, GpuSource, Price
from app.models.recommendation import SavedRecommendation

__all__ = ["CatalogVersion", "Gpu", "GpuSource", "Price", "SavedRecommendation"]
