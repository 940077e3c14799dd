"""Every result is a run: the persistent run store (SQLite or any SQLAlchemy URL)."""

from compression.runs.exchange import ImportRefused, export_csv, export_json, import_json, parse_export
from compression.runs.record import record_run, save_artifact
from compression.runs.store import (
    Run,
    RunStore,
    StoreError,
    artifact_dir,
    data_dir,
    default_url,
    new_row,
    open_store,
    read_only,
)

__all__ = [
    "ImportRefused",
    "Run",
    "RunStore",
    "StoreError",
    "artifact_dir",
    "data_dir",
    "default_url",
    "export_csv",
    "export_json",
    "import_json",
    "new_row",
    "open_store",
    "parse_export",
    "read_only",
    "record_run",
    "save_artifact",
]
