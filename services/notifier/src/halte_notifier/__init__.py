"""Halte notifier service."""
