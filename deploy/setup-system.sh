#!/usr/bin/env bash
# Prepares this machine for Phare: PostgreSQL 15 + PostGIS + TimescaleDB (Apache edition),
# Mosquitto, a database and its role. Idempotent: every step is skipped when already done.
#
# Usage: deploy/setup-system.sh            (as root, on Debian 12)
# Elsewhere: run deploy/compose.yaml, or point PHARE_DATABASE_URL / PHARE_MQTT_URL at
# existing services and run `phare migrate`.
set -euo pipefail

PG_VERSION=15
PG_CLUSTER=main
PG_BIN=/usr/lib/postgresql/$PG_VERSION/bin
DB_NAME=${PHARE_DB_NAME:-phare}
DB_USER=${PHARE_DB_USER:-phare}
DB_PASSWORD=${PHARE_DB_PASSWORD:-phare}
# The API's role: not the owner of the tables, so row-level security applies to it.
API_DB_USER=phare_api  # the name migration 0005 grants to
API_DB_PASSWORD=${PHARE_API_DB_PASSWORD:-phare_api}
STATE_DIR=${PHARE_STATE_DIR:-/var/lib/phare}
MQTT_PORT=${PHARE_MQTT_PORT:-1884}
HERE=$(cd "$(dirname "$0")" && pwd)

say() { printf '\033[1m[phare setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[phare setup] %s\033[0m\n' "$*" >&2; exit 1; }

explain_manual_setup() {
    cat >&2 <<EOF
Phare's automatic set-up needs root on Debian 12. On this machine, either:
  - install PostgreSQL 15 with PostGIS 3 and TimescaleDB 2 (Apache or community edition),
    and Mosquitto 2, then create a database and role for Phare; or
  - run the services from containers:  docker compose -f deploy/compose.yaml up -d
and point Phare at them:
  export PHARE_DATABASE_URL=postgresql://phare:phare@HOST:5432/phare
  export PHARE_MQTT_URL=mqtt://HOST:1884
  phare migrate
EOF
}

# --- preconditions -----------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    say "not running as root: skipping system set-up."
    explain_manual_setup
    exit 2
fi
if ! grep -q '^VERSION_ID="12"' /etc/os-release 2>/dev/null || ! grep -q '^ID=debian' /etc/os-release; then
    say "this is not Debian 12: skipping system set-up."
    explain_manual_setup
    exit 2
fi

# --- Debian packages -----------------------------------------------------------------
packages=(postgresql-$PG_VERSION postgresql-$PG_VERSION-postgis-3 postgresql-server-dev-$PG_VERSION
          postgresql-client-$PG_VERSION mosquitto mosquitto-clients python3-venv
          cmake gcc make dpkg-dev libssl-dev libkrb5-dev
          chromium)  # chromium: headless browser of the officials' pages test
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
apt_updated=0
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    apt_updated=1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- TimescaleDB (built from Debian 13's source package: Debian 12 has no binary) ---
if [ ! -f /usr/share/postgresql/$PG_VERSION/extension/timescaledb.control ]; then
    say "building TimescaleDB (Apache edition) from Debian 13 sources, about a minute"
    src_list=/etc/apt/sources.list.d/phare-trixie-src.list
    build_dir=$(mktemp -d /tmp/phare-timescaledb.XXXXXX)
    chmod 755 "$build_dir"  # apt-get source downloads as the _apt user
    # Source lines only: never binary packages from trixie on this bookworm machine.
    echo "deb-src http://deb.debian.org/debian trixie main" > "$src_list"
    trap 'rm -f "$src_list"; apt-get update -qq || true' EXIT
    apt-get update -qq
    (cd "$build_dir" && apt-get source -qq timescaledb >/dev/null)
    rm -f "$src_list"
    apt-get update -qq
    trap - EXIT
    src=$(find "$build_dir" -maxdepth 1 -mindepth 1 -type d -name 'timescaledb-*' | head -n 1)
    [ -n "$src" ] || die "apt-get source timescaledb gave no source tree"
    cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DPG_CONFIG=$PG_BIN/pg_config \
        -DAPACHE_ONLY=1 -DUSE_TELEMETRY=OFF -DSEND_TELEMETRY_DEFAULT=OFF -DREGRESS_CHECKS=OFF \
        -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF >"$build_dir/cmake.log" 2>&1 \
        || die "TimescaleDB configure failed, see $build_dir/cmake.log"
    make -C "$src/build" -j"$(nproc)" install >"$build_dir/make.log" 2>&1 \
        || die "TimescaleDB build failed, see $build_dir/make.log"
    rm -rf "$build_dir"
    say "TimescaleDB installed"
fi

# --- PostgreSQL configuration and start ------------------------------------------------
conf_dir=/etc/postgresql/$PG_VERSION/$PG_CLUSTER/conf.d
[ -d "$conf_dir" ] || die "no PostgreSQL $PG_VERSION cluster '$PG_CLUSTER' (expected $conf_dir)"
want_conf=$'# Written by Phare (deploy/setup-system.sh)\nshared_preload_libraries = \'timescaledb\'\ntimescaledb.telemetry_level = off\nmax_locks_per_transaction = 256\n'
restart_pg=0
if [ "$(cat "$conf_dir/50-phare.conf" 2>/dev/null)" != "$(printf '%s' "$want_conf")" ]; then
    printf '%s' "$want_conf" > "$conf_dir/50-phare.conf"
    restart_pg=1
fi
pg_running() { pg_lsclusters -h 2>/dev/null | awk -v v=$PG_VERSION -v c=$PG_CLUSTER '$1==v && $2==c {print $4}' | grep -q online; }
if pg_running; then
    # Restart only when the running server does not have TimescaleDB preloaded.
    preload=$(su postgres -c "psql -XAtqc 'show shared_preload_libraries'" 2>/dev/null || true)
    if [[ "$preload" != *timescaledb* ]] || [ $restart_pg -eq 1 ]; then
        say "restarting PostgreSQL to apply Phare's settings (TimescaleDB preload)"
        pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $PG_CLUSTER restart
    fi
else
    say "starting PostgreSQL $PG_VERSION"
    pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $PG_CLUSTER start
fi
for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
pg_isready -q -h 127.0.0.1 || die "PostgreSQL did not accept connections on 127.0.0.1"

# --- database, role and extensions ------------------------------------------------------
psql_su() { su postgres -c "PGOPTIONS='--client-min-messages=warning' psql -XAtq -v ON_ERROR_STOP=1 $*"; }
create_db() {
    local db=$1
    if [ "$(psql_su "-c \"select 1 from pg_database where datname = '$db'\"")" != 1 ]; then
        say "creating database $db"
        psql_su "-c 'create database \"$db\" owner \"$DB_USER\"'"
    fi
    # Extensions need a superuser; the application role stays an ordinary owner.
    psql_su "-d $db -c 'create extension if not exists timescaledb' -c 'create extension if not exists postgis'" >/dev/null
}
if [ "$(psql_su "-c \"select 1 from pg_roles where rolname = '$DB_USER'\"")" != 1 ]; then
    say "creating role $DB_USER"
    psql_su "-c \"create role \\\"$DB_USER\\\" login password '$DB_PASSWORD'\""
fi
create_db "$DB_NAME"
create_db "${DB_NAME}_test"
# The API connects as its own role: tenant scoping is enforced by row-level security, which
# binds every role but the tables' owner. `phare migrate` grants it what it needs.
if [ "$(psql_su "-c \"select 1 from pg_roles where rolname = '$API_DB_USER'\"")" != 1 ]; then
    say "creating role $API_DB_USER"
    psql_su "-c \"create role \\\"$API_DB_USER\\\" login password '$API_DB_PASSWORD'\""
fi
for db in "$DB_NAME" "${DB_NAME}_test"; do
    psql_su "-c 'grant connect on database \"$db\" to \"$API_DB_USER\"'"
done

# --- Mosquitto: Phare's own broker instance, with Phare's config ----------------------
mkdir -p "$STATE_DIR/mosquitto"
chown -R mosquitto: "$STATE_DIR/mosquitto" 2>/dev/null || true
sed -e "s|@PORT@|$MQTT_PORT|g" -e "s|@STATE_DIR@|$STATE_DIR/mosquitto|g" \
    "$HERE/mosquitto/phare.conf" > "$STATE_DIR/mosquitto/phare.conf"
pid_file=$STATE_DIR/mosquitto/mosquitto.pid
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    if ! cmp -s "$STATE_DIR/mosquitto/phare.conf" "$STATE_DIR/mosquitto/phare.conf.running" 2>/dev/null; then
        say "reloading Mosquitto configuration"
        kill -HUP "$(cat "$pid_file")"
        cp "$STATE_DIR/mosquitto/phare.conf" "$STATE_DIR/mosquitto/phare.conf.running"
    fi
elif (exec 3<>/dev/tcp/127.0.0.1/"$MQTT_PORT") 2>/dev/null; then
    say "port $MQTT_PORT already has an MQTT broker that Phare did not start: using it as it is"
else
    say "starting Mosquitto on 127.0.0.1:$MQTT_PORT"
    mosquitto -d -c "$STATE_DIR/mosquitto/phare.conf"
    cp "$STATE_DIR/mosquitto/phare.conf" "$STATE_DIR/mosquitto/phare.conf.running"
    for _ in $(seq 20); do (exec 3<>/dev/tcp/127.0.0.1/"$MQTT_PORT") 2>/dev/null && break; sleep 0.25; done
fi
(exec 3<>/dev/tcp/127.0.0.1/"$MQTT_PORT") 2>/dev/null || die "Mosquitto is not listening on 127.0.0.1:$MQTT_PORT"

say "system ready: PostgreSQL (db $DB_NAME, ${DB_NAME}_test) and Mosquitto on 127.0.0.1:$MQTT_PORT"
