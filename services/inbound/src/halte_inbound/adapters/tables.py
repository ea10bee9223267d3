"""The inbound service's tables (its own schema; search_path points there)."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
