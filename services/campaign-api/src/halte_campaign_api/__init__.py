"""Halte campaign-api service."""
