"""Pydantic schemas: catalog files as written on disk, and API requests/responses."""
