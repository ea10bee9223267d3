"""Halte dispatcher service."""
