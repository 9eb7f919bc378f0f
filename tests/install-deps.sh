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
apt-get install -y -qq --no-install-recommends \
    build-essential autoconf automake pkg-config ca-certificates \
    libpq-dev libjansson-dev libhpdf-dev libxml2-dev libxml2-utils libcmocka-dev \
    postgresql-15 fonts-dejavu-core python3 python3-psycopg2 time \
    poppler-utils qpdf "$@" >/dev/null
# The Bundle validators run on Node.js (20.19 or later); the machine image
# ships it.  Fall back to Debian's packages only where it is missing.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
