#!/usr/bin/env bash
# Deploy Halte to the cluster of the current kubectl context, in the only safe order:
#   1. the platform (namespace, Kafka and its topics, PostgreSQL, policies, monitoring), ready;
#   2. the migration Jobs of the release, each finished successfully;
#   3. the services, each rolled out.
# A failed step stops the script, leaving the running version serving.
# Usage: deploy/rollout.sh dev|prod
set -euo pipefail

env_name=${1:-}
case "$env_name" in
  dev) namespace=halte-dev ;;
  prod) namespace=halte ;;
  *) echo "usage: $0 dev|prod" >&2; exit 2 ;;
esac
overlay="$(cd "$(dirname "$0")" && pwd)/k8s/overlays/$env_name"
services=(suppression inbound dispatcher notifier campaign-api)
kc() { kubectl --namespace "$namespace" "$@"; }

echo "1/3 platform: applying $overlay/platform"
kubectl apply -k "$overlay/platform"
kc wait kafka/halte --for=condition=Ready --timeout=15m
kc wait kafkatopic --all --for=condition=Ready --timeout=5m
kc wait clusters.postgresql.cnpg.io/halte-pg --for=condition=Ready --timeout=15m

echo "2/3 migrations: replacing the previous release's Jobs"
kc delete job --selector app.kubernetes.io/component=migration --ignore-not-found --wait=true
kubectl apply -k "$overlay/migrations"
deadline=$((SECONDS + 900))
for service in "${services[@]}"; do
  job="$service-migrate"
  while :; do
    succeeded=$(kc get job "$job" -o jsonpath='{.status.succeeded}')
    failed=$(kc get job "$job" -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')
    if [ "${succeeded:-0}" -ge 1 ]; then
      echo "   $job finished"
      break
    fi
    if [ "$failed" = "True" ] || [ "$SECONDS" -ge "$deadline" ]; then
      echo "The migration $job did not finish; the services were NOT rolled out. Its last log lines:" >&2
      kc logs "job/$job" --tail=50 >&2 || true
      exit 1
    fi
    sleep 5
  done
done

echo "3/3 services: applying $overlay"
kubectl apply -k "$overlay"
for service in "${services[@]}"; do
  kc rollout status "deployment/$service" --timeout=10m
done
echo "Halte ($env_name) is rolled out in namespace $namespace."
