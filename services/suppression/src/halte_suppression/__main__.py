"""`python -m halte_suppression serve|migrate`."""

import sys

from halte_shared.cli import run_service_cli
from halte_suppression.config import load_settings
from halte_suppression.entrypoints.http import create_app

if __name__ == "__main__":
    sys.exit(run_service_cli(package="halte_suppression", load_settings=load_settings, create_app=create_app))  # type: ignore[arg-type]
