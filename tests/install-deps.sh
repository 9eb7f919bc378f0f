#!/usr/bin/env bash
# install-deps.sh - install what aodreport needs to build, test and run on
# Debian 12, from Debian's own packages.  Run as root; safe to run again.
# PostgreSQL is installed without its default cluster: the tests and the
# quick start run private servers of their own.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: run as root (or install the packages it lists yourself)" >&2
    exit 1
fi
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/aodreport-no-main.conf
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# libssl-dev: OpenSSL's libcrypto (SHA-256, HMAC, the Ed25519 signatures).
# libfribidi-dev: Arabic and Hebrew in the PDF; fonts-wqy-microhei: the PDF's
# fallback font for Chinese, Japanese and Korean names (test_scripts.sh).
# libxlsxwriter-dev: the spreadsheet output; its pkg-config file links -lz,
# so zlib1g-dev too.  libreoffice-calc-nogui: the spreadsheet test opens
# every XLSX in LibreOffice (headless) and compares the cells with the CSV.
# chromium: the HTML report's accessibility check runs axe-core in it,
# headless (tests/validate/axe-check.js).
# The Bundle validators run on Node.js 18.19 or later (tests/package.json
# pins versions that do): Debian 12's own nodejs and npm are enough, so a
# machine without node gets them; one with a newer node keeps it.
node_pkgs=()
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    node_pkgs=(nodejs npm)
fi
apt-get install -y -qq --no-install-recommends \
    build-essential autoconf automake pkg-config ca-certificates \
    libpq-dev libjansson-dev libhpdf-dev libxml2-dev libxml2-utils libcmocka-dev zlib1g-dev \
    libssl-dev \
    libxlsxwriter-dev libreoffice-calc-nogui \
    libharfbuzz-dev libfribidi-dev \
    postgresql-15 fonts-dejavu-core fonts-wqy-microhei python3 python3-psycopg2 time \
    poppler-utils qpdf clang-format chromium "${node_pkgs[@]}" "$@" >/dev/null
