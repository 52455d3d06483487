#!/usr/bin/env bash
# The system packages the tests talk to as real peers, installed when missing:
#   redis-server  the Redis store's tests start their own servers on free loopback ports
#   redis-tools   redis-cli builds the 3-node test cluster; redis-benchmark gives the bench its ceiling
#   chromium      Debian's /usr/bin/chromium, driven by playwright-core (no browser download)
#   python3-prometheus-client  the Prometheus org's text-format parser, which reads the gateway's /metrics in its test
# `pnpm test` runs it first, and so does .ci/run. When everything is there it
# only looks (a few milliseconds). When something is missing it installs it
# with apt-get if it runs as root on Debian; otherwise it prints one line
# naming what to install and exits 1.
set -euo pipefail

missing=()
command -v "${REDIS_SERVER:-redis-server}" >/dev/null 2>&1 || missing+=(redis-server)
{ command -v "${REDIS_CLI:-redis-cli}" >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1; } ||
  missing+=(redis-tools)
[ -x /usr/bin/chromium ] || missing+=(chromium)
/usr/bin/python3 -c "import prometheus_client.parser" >/dev/null 2>&1 || missing+=(python3-prometheus-client)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 && [ -f /etc/debian_version ]; then
  echo "setup-system: installing ${missing[*]} with apt-get (the tests' real peers)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi

echo "setup-system: the tests need ${missing[*]} (Debian packages): run 'sudo apt-get install -y ${missing[*]}' (or as root: pnpm test), then pnpm test again" >&2
exit 1
