#!/usr/bin/env bash
# Installs the servers and tools the integration tests start on loopback, from Debian's
# packages: InfluxDB 1.x (influxd), Prometheus (promtool), Alertmanager, Chromium (driven by
# playwright-core, never a browser download) and docker-compose (to validate the compose file).
# Idempotent: does nothing when every tool is already present. Needs root and apt-get.
set -euo pipefail

need=()
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)

if [ ${#need[@]} -eq 0 ]; then
  echo "install-test-deps: all test servers present"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing ${need[*]}; run as root on Debian/Ubuntu: sudo bash scripts/install-test-deps.sh" >&2
  exit 3
fi
echo "install-test-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start the services: the tests start their own on free ports.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
trap 'if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install-test-deps: done"
