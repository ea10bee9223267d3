"""Halte's shared plumbing: contracts and infrastructure, no business rule of any one service."""
