#!/usr/bin/env bash
# (Re)starts PostgreSQL 15 and Mosquitto when they are not answering, and makes sure TimescaleDB is loaded.
set -euo pipefail
PG_MAJOR=${PG_MAJOR:-15}
log() { printf 'services: %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    for _ in $(seq 1 100); do port_open "$1" && return 0; sleep 0.1; done
    log "nothing answers on port $1"; return 1
}

if ! pg_lsclusters -h 2>/dev/null | awk -v v="$PG_MAJOR" '$1==v && $2=="main"' | grep -q .; then
    log "creating PostgreSQL cluster $PG_MAJOR/main"
    pg_createcluster "$PG_MAJOR" main >/dev/null
fi
if ! port_open 5432; then
    log "starting PostgreSQL $PG_MAJOR"
    pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main start
fi
wait_port 5432

# Tests and the demo connect as postgres over TCP. A stock Debian cluster asks for a password there; on a
# machine set up by this script (a development, test or demo host) loopback connections are trusted.
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
    hba=$(su postgres -c "psql -tAc 'SHOW hba_file'")
    log "trusting loopback connections for postgres in $hba"
    sed -i '1i host all postgres 127.0.0.1/32 trust  # added by tonghu scripts/services.sh' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main reload
fi
active=$(psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SHOW shared_preload_libraries')
if [[ "$active" != *timescaledb* ]]; then
    log "restarting PostgreSQL $PG_MAJOR to load timescaledb"
    pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main restart
    wait_port 5432
fi

if ! port_open 1883; then
    log "starting Mosquitto"
    install -d -o mosquitto -g mosquitto /run/mosquitto /var/lib/mosquitto /var/log/mosquitto 2>/dev/null \
        || mkdir -p /run/mosquitto /var/lib/mosquitto /var/log/mosquitto
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
    wait_port 1883
fi
log "PostgreSQL (TimescaleDB) on 5432 and Mosquitto on 1883 are answering"
