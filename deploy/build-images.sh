#!/usr/bin/env bash
# Build (and with --push, push) Halte's images from one commit: the shared base first, then
# each service on top of it, all with the same tag. Run from anywhere; the context is the repo root.
# Usage: deploy/build-images.sh TAG [--push]   (REGISTRY defaults to registry.example.com/halte)
set -euo pipefail

tag=${1:?usage: deploy/build-images.sh TAG [--push]}
push=${2:-}
registry=${REGISTRY:-registry.example.com/halte}
cd "$(dirname "$0")/.."
export DOCKER_BUILDKIT=1

docker build -f docker/base.Dockerfile -t "$registry/base:$tag" .
images=("$registry/base:$tag")
for service in campaign-api inbound suppression dispatcher notifier; do
  docker build -f "services/$service/Dockerfile" --build-arg "BASE_IMAGE=$registry/base:$tag" \
    -t "$registry/$service:$tag" .
  images+=("$registry/$service:$tag")
done
if [ "$push" = "--push" ]; then
  for image in "${images[@]}"; do
    docker push "$image"
  done
fi
printf 'built %s\n' "${images[@]}"
