"""Halte inbound service."""
