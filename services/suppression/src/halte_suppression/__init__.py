"""Halte suppression service."""
