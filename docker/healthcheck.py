"""Say whether the Halte process in this container answers on its port (Docker HEALTHCHECK).

Kubernetes does not use it (its probes call /healthz and /readyz); `docker run` and compose do.
"""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    """Exit 0 when GET /healthz on PORT answers below 500, else 1."""
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status < 500 else 1
    except urllib.error.HTTPError as exc:
        return 0 if exc.code < 500 else 1
    except OSError as exc:
        print(f"health check of {url} failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
