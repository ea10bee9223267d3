"""API keys: shown once, stored as a hash, recognisable when leaked.

Rule (CONTRACT.md ``POST /v1/accounts``: "the key is shown once, stored hashed"): a key is
``hk_live_`` followed by 32 URL-safe random characters (192 bits); the service keeps only
its SHA-256, so a leaked database reveals no usable key, and a fast hash is enough because
the key is random, not a password. The prefix lets secret scanners recognise a leaked key;
the first characters are kept to tell keys apart in listings.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

KEY_PREFIX: Final = "hk_live_"
RANDOM_CHARS: Final = 32
KEY_RE: Final = re.compile(rf"{KEY_PREFIX}[A-Za-z0-9_\-]{{{RANDOM_CHARS}}}")
DISPLAY_CHARS: Final = len(KEY_PREFIX) + 6


def format_key(random_part: str) -> str:
    """Return the key written with its prefix."""
    if len(random_part) != RANDOM_CHARS:
        raise ValueError(f"the random part must have {RANDOM_CHARS} characters")
    return KEY_PREFIX + random_part


def hash_key(key: str) -> str:
    """Return the hex SHA-256 the service stores for a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    """Tell whether a bearer token has the shape of an API key (no lookup needed otherwise)."""
    return KEY_RE.fullmatch(token) is not None


def display_prefix(key: str) -> str:
    """Return the part of a key that listings show."""
    return key[:DISPLAY_CHARS]
