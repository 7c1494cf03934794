"""The only package that speaks SQL."""

from .connection import open_database
from .store import Store

__all__ = ["open_database", "Store"]
