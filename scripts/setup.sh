#!/usr/bin/env bash
# Installs what Tonghu needs on Debian 12, as root, idempotently: Debian's PostgreSQL 15 and Mosquitto,
# TimescaleDB built from source, running services, and a virtual environment with the project.
#   scripts/setup.sh [extras]   extras default to "platform,edge,dev"
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${1:-platform,edge,dev}
VENV=${VENV:-.venv}
log() { printf 'setup: %s\n' "$*" >&2; }

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- Debian packages ---------------------------------------------------------------------------------
need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15 postgresql-client-15)
command -v mosquitto >/dev/null || need+=(mosquitto)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
# Browser tests of the dashboards drive Debian's Chromium through its matching chromedriver.
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || need+=(chromium chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt_install "${need[@]}"
fi

bash scripts/setup-timescaledb.sh
bash scripts/services.sh

# --- Python environment ------------------------------------------------------------------------------
stamp="$VENV/.tonghu-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $EXTRAS"
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing tonghu[$EXTRAS] into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
    echo "$want" >"$stamp"
fi
log "ready"
