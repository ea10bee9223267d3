"""Root pytest configuration: the real-infrastructure fixtures every tier shares."""

pytest_plugins = ["halte_shared.testing"]
