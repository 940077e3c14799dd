#!/usr/bin/env bash
# The one start command: bash scripts/start.sh   (PORT=8600 bash scripts/start.sh to change the port)
# Private by default: the app listens on 127.0.0.1 only. ADDRESS=0.0.0.0 bash scripts/start.sh shares it
# with the network: anyone who can reach the port can then upload weights, record and delete runs.
# Sets up .venv if needed; the digits baselines ship in assets/, so nothing is downloaded or trained to start.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh requirements.txt

# ui.warmup serves app.py and, in the background at start-up, measures every shipped baseline and runs every
# page once for each (each lab's default result cached), so the first visitor does not pay for it.
# COMPRESSION_WARMUP=off skips that; COMPRESSION_WARMUP=digits__lenet5 warms only the baselines named so.
exec .venv/bin/python -m ui.warmup --server.port "${PORT:-8501}" --server.address "${ADDRESS:-127.0.0.1}" \
    --browser.gatherUsageStats false
