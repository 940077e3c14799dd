# Sourced by scripts/test.sh and scripts/start.sh: make sure .venv exists and holds the pinned packages.
# Re-installs only when the requirements change (a stamp file stores their hash).
# Usage: source scripts/setup_env.sh [requirements-file]   (default requirements.txt)

_req="${1:-requirements.txt}"
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$_root"

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $(python3 --version)"
    if ! python3 -m venv .venv; then
        # Debian/Ubuntu ship venv separately; install it when we may, else say what to do.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            rm -rf .venv
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv .venv
        else
            echo "setup: python3 -m venv failed; install python3-venv (Debian/Ubuntu) and retry" >&2
            return 1 2>/dev/null || exit 1
        fi
    fi
fi

# The hash covers the named file and requirements.txt (requirements-dev.txt includes it with -r).
_hash="$(cat "$_req" requirements.txt | sha256sum | cut -d' ' -f1)"
_stamp=".venv/.requirements-$(basename "$_req").sha256"
_dev_hash="$(cat requirements-dev.txt requirements.txt 2>/dev/null | sha256sum | cut -d' ' -f1)"
_dev_stamp=".venv/.requirements-requirements-dev.txt.sha256"
if [ -f "$_dev_stamp" ] && [ "$(cat "$_dev_stamp")" = "$_dev_hash" ]; then
    :  # the dev set is installed and current, and it includes the runtime set
elif [ ! -f "$_stamp" ] || [ "$(cat "$_stamp")" != "$_hash" ]; then
    echo "setup: installing $_req into .venv (once per change of the requirements)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$_req"
    echo "$_hash" > "$_stamp"
fi
unset _req _root _hash _stamp _dev_hash _dev_stamp
