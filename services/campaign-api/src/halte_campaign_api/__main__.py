"""`python -m halte_campaign_api serve|migrate`."""

import sys

from halte_campaign_api.config import load_settings
from halte_campaign_api.entrypoints.http import create_app
from halte_shared.cli import run_service_cli

if __name__ == "__main__":
    sys.exit(run_service_cli(package="halte_campaign_api", load_settings=load_settings, create_app=create_app))  # type: ignore[arg-type]
