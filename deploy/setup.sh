#!/usr/bin/env bash
# One set-up for both README commands: system services (when root on Debian 12),
# Python environment, database schema. Idempotent and quiet when nothing is to do.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PHARE_VENV:-.venv}
PYTHON=${PYTHON:-python3}

say() { printf '\033[1m[phare setup]\033[0m %s\n' "$*"; }

# 1. System: PostgreSQL + PostGIS + TimescaleDB, Mosquitto (root on Debian 12 only).
status=0
bash deploy/setup-system.sh || status=$?
if [ "$status" -eq 2 ]; then
    if [ -z "${PHARE_DATABASE_URL:-}" ]; then
        say "set PHARE_DATABASE_URL and PHARE_MQTT_URL to existing services, then run this again"
        exit 2
    fi
    say "using the services named by PHARE_DATABASE_URL and PHARE_MQTT_URL"
elif [ "$status" -ne 0 ]; then
    exit "$status"
fi

# 2. Python environment (reinstalled when pyproject.toml changes).
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "Phare needs Python 3.11 or newer as '$PYTHON' (set PYTHON=... to choose another)"
    exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
    say "creating the Python environment in $VENV"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.phare-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing Phare and its dependencies into $VENV (a minute or two the first time)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'
    touch "$stamp"
fi

# 3. Database schema.
"$VENV/bin/phare" migrate
