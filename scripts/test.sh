#!/usr/bin/env bash
# The one test command: bash scripts/test.sh [pytest args...]
# On a fresh machine it sets everything up: .venv with the pinned packages, and (as root) the system packages
# the suite needs (chromium for the browser tests, Debian's fashion-mnist, PostgreSQL for the shared run store).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh requirements-dev.txt

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
[ -d /usr/lib/postgresql ] || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "setup: missing system packages (${missing[*]}); run as root or: sudo apt-get install ${missing[*]}" >&2
    fi
fi

# A throw-away PostgreSQL cluster for the shared-store tests (scripts/postgres.sh, from the run-store work,
# exports COMPRESSION_TEST_PG_URL and defines pg_stop). Each run gets a cluster of its own in a fresh folder:
# several runs on one machine (CI jobs, sessions sharing a checkout) must never stop each other's server.
own_pg_dir=""
cleanup() {
    if declare -F pg_stop >/dev/null; then
        pg_stop || true
    fi
    if [ -n "$own_pg_dir" ]; then
        rm -rf "$own_pg_dir"
    fi
}
trap cleanup EXIT
if [ -f scripts/postgres.sh ]; then
    if [ -z "${CLA_PG_DIR:-}" ]; then
        own_pg_dir="$(mktemp -d /tmp/cla-pg-run.XXXXXX)"
        export CLA_PG_DIR="$own_pg_dir"
    fi
    # shellcheck source=/dev/null
    source scripts/postgres.sh
fi

# Lint first, but run the tests even when lint fails: one run reports everything; the exit code fails if either does.
echo "lint: ruff check"
lint=0
.venv/bin/ruff check . || lint=$?

# No path given: pytest uses testpaths (tests/) from pyproject.toml; a path narrows the run, e.g.
#   bash scripts/test.sh tests/unit -k artifact       bash scripts/test.sh -m "not e2e"
echo "test: pytest"
tests=0
.venv/bin/python -m pytest -q -p no:cacheprovider --timeout=900 --continue-on-collection-errors "$@" || tests=$?

if [ "$lint" != 0 ]; then
    echo "FAILED: ruff check (see above)" >&2
fi
[ "$tests" = 0 ] && [ "$lint" = 0 ]
