# syntax=docker/dockerfile:1
# The one base every Halte service image starts from: Python 3.11, the pinned third-party
# packages (requirements.txt, installed with --require-hashes) and halte-shared, built once per
# commit. Build it from the repo root (deploy/build-images.sh does it all):
#   docker build -f docker/base.Dockerfile -t registry.example.com/halte/base:$TAG .
#
# The Python image is pinned by tag, not digest: a digest cannot be looked up offline, where this
# file was written. 3.11 is the interpreter the pins were resolved for; bookworm fixes the Debian
# release (and so the glibc the wheels link against) while still taking its security updates.
# The release pipeline records the digest it built with (docker buildx imagetools inspect) and can
# pin it here: FROM python:3.11-slim-bookworm@sha256:...

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /build
COPY requirements-bootstrap.txt requirements.txt ./
# pip installs only uv (hash-pinned in requirements-bootstrap.txt); uv installs the rest, hashes required.
RUN python -m venv /opt/halte \
    && /opt/halte/bin/pip install --require-hashes -r requirements-bootstrap.txt \
    && /opt/halte/bin/uv pip install --python /opt/halte/bin/python --require-hashes -r requirements.txt
COPY shared ./shared
COPY rules ./rules
RUN /opt/halte/bin/pip install --no-index --no-deps --no-build-isolation ./shared ./rules
COPY docker/healthcheck.py /opt/halte/healthcheck.py

FROM python:3.11-slim-bookworm
# A fixed, high UID/GID (10001) that the Kubernetes manifests name in runAsUser / runAsGroup.
RUN groupadd --system --gid 10001 halte \
    && useradd --system --uid 10001 --gid halte --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin halte
COPY --from=build /opt/halte /opt/halte
# The root filesystem is read-only in Kubernetes: bytecode was compiled at build time.
ENV PATH=/opt/halte/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HALTE_ENV=production \
    HALTE_HOST=0.0.0.0
WORKDIR /opt/halte
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 CMD ["python", "/opt/halte/healthcheck.py"]
