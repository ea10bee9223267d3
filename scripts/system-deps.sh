#!/usr/bin/env bash
# Debian packages the tests drive for real; installed only when missing (needs root, as on CI).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/sbin/bearerbox ] || missing+=(kannel)
[ -x /usr/lib/kannel/test/fakesmsc ] || missing+=(kannel-extras)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "Missing Debian packages: ${missing[*]}; install them as root (apt-get install -y ${missing[*]})." >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
