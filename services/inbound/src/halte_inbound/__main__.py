"""`python -m halte_inbound serve|migrate`."""

import sys

from halte_inbound.config import load_settings
from halte_inbound.entrypoints.http import create_app
from halte_shared.cli import run_service_cli

if __name__ == "__main__":
    sys.exit(
        run_service_cli(
            package="halte_inbound",
            load_settings=load_settings,
            create_app=create_app,  # type: ignore[arg-type]
            app_factory="halte_inbound.entrypoints.http:app_from_environment",
        )
    )
