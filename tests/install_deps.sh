#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian 12 (as root).
set -euo pipefail
pkgs="postgresql-15 postgresql-server-dev-15 postgresql-contrib libcurl4-openssl-dev
      libjson-c-dev libipc-run-perl pkg-config make gcc python3 python3-yaml
      python3-jsonschema ca-certificates
      libmicrohttpd-dev libpq-dev libssl-dev
      chromium chromium-driver python3-selenium"
# (libmicrohttpd..libssl: the webhook receiver and the page, src/web;
# chromium, its driver and selenium: the page's browser test,
# tests/browser/test_page.py -- Debian's own, nothing is downloaded)
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "== installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# Debian's postgresql package starts a cluster of its own; the tests and the
# demo use throwaway clusters and do not need it.
