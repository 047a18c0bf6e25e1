#!/usr/bin/env bash
# Builds and installs TimescaleDB (Apache edition) for PostgreSQL 15 from Debian 13's source package,
# because Debian 12 ships no TimescaleDB. Every step is skipped when its result is already present.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config
BUILD_DIR=${TIMESCALEDB_BUILD_DIR:-/var/cache/tonghu/timescaledb}
SRC_LIST=/etc/apt/sources.list.d/tonghu-trixie-src.list
log() { printf 'setup-timescaledb: %s\n' "$*" >&2; }

installed() {
    local libdir
    libdir=$("$PG_CONFIG" --pkglibdir 2>/dev/null) || return 1
    compgen -G "$libdir/timescaledb-*.so" >/dev/null && [ -f "$libdir/timescaledb.so" ]
}

# The mirror the machine already uses for Debian's main archive (deb822 or one-line format).
debian_mirror() {
    {
        cat /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -E '^\s*URIs:' | awk '{for (i=2;i<=NF;i++) print $i}'
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -E '^\s*deb\s' \
            | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
    } | grep -E '/debian/?$' | head -n1 || true
}

if installed; then
    log "already installed in $("$PG_CONFIG" --pkglibdir)"
else
    export DEBIAN_FRONTEND=noninteractive
    if [ ! -f "$SRC_LIST" ]; then
        mirror=$(debian_mirror)
        [ -n "$mirror" ] || { log "no Debian mirror found in /etc/apt sources"; exit 1; }
        log "adding deb-src trixie from $mirror"
        echo "deb-src ${mirror%/} trixie main" >"$SRC_LIST"
        apt-get update -qq
    fi
    apt-get install -y -qq "postgresql-server-dev-${PG_MAJOR}" cmake gcc make dpkg-dev >/dev/null
    mkdir -p "$BUILD_DIR"
    cd "$BUILD_DIR"
    if ! compgen -G 'timescaledb_*.orig.tar.*' >/dev/null; then
        apt-get source --download-only timescaledb
    fi
    orig=$(ls timescaledb_*.orig.tar.* | head -n1)
    srcdir=$BUILD_DIR/src
    if [ ! -f "$srcdir/bootstrap" ]; then
        rm -rf "$srcdir" && mkdir -p "$srcdir"
        tar -xf "$orig" -C "$srcdir" --strip-components=1
    fi
    cd "$srcdir"
    if [ ! -f build/Makefile ]; then
        ./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DSEND_TELEMETRY_DEFAULT=OFF \
            -DUSE_TELEMETRY=OFF -DPG_CONFIG="$PG_CONFIG" >/dev/null
    fi
    make -C build -j"$(nproc)" install >/dev/null
    log "installed $(ls "$("$PG_CONFIG" --pkglibdir)"/timescaledb-*.so)"
fi

# Preload the library; the cluster must restart for shared_preload_libraries to take effect.
conf=/etc/postgresql/${PG_MAJOR}/main/conf.d/tonghu-timescaledb.conf
if [ ! -f "$conf" ]; then
    mkdir -p "$(dirname "$conf")"
    cat >"$conf" <<CONF
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_locks_per_transaction = 256
CONF
    log "preload configured in $conf"
fi
# services.sh restarts the cluster when the library is configured but not yet loaded.
