# shellcheck shell=bash
# Helpers of scripts/compose-smoke: the compose command, waiting, the manager's operator API,
# the bots' stats, timings. Sourced after ensure-tools.sh; uses the smoke's variables
# (ROOT, MANAGER, ADMIN, BOTS_NAME, logs).
# shellcheck disable=SC2154

ensure_curl() {
    if ! command -v curl >/dev/null 2>&1; then
        echo "==> installing curl (Debian package)"
        _apt_install curl
    fi
}

ensure_jq() {
    if ! command -v jq >/dev/null 2>&1; then
        echo "==> installing jq (Debian package)"
        _apt_install jq
    fi
}

# ---------------------------------------------------------------- output and timings

_timings=()
_phase_start=$SECONDS
_smoke_start=$SECONDS

phase() {
    _phase_start=$SECONDS
    echo "==> $*"
}

phase_done() {
    _timings+=("$(printf '%5d s  %s' $((SECONDS - _phase_start)) "$1")")
}

print_timings() {
    echo "==> timings"
    local t
    for t in "${_timings[@]}"; do echo "    $t"; done
    printf '    %5d s  total\n' $((SECONDS - _smoke_start))
    printf '%s\n' "${_timings[@]}" >"$logs/timings.txt"
}

ok_line() { echo "    ok: $*"; }
note() { echo "    note: $*"; }
fail() {
    echo "error: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- docker and compose

# `docker-compose` (1.29+) when installed, else the `docker compose` plugin; $COMPOSE wins.
detect_compose() {
    if [ -n "${COMPOSE:-}" ]; then
        read -r -a _compose <<<"$COMPOSE"
    elif command -v docker-compose >/dev/null 2>&1; then
        _compose=(docker-compose)
    elif docker compose version >/dev/null 2>&1; then
        _compose=(docker compose)
    else
        fail "neither docker-compose nor the docker compose plugin is installed"
    fi
    echo "==> compose: ${_compose[*]} ($("${_compose[@]}" version --short 2>/dev/null || echo '?'))"
}

compose() {
    "${_compose[@]}" -f "$ROOT/compose.yaml" "$@"
}

require_docker() {
    docker info >/dev/null 2>&1 || fail "the Docker engine does not answer (docker info)"
}

# Fails when something already listens on one of these loopback ports (another cluster).
require_free_ports() {
    local p
    for p in "$@"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            fail "port $p on 127.0.0.1 is in use (another cluster running?); stop it or set NATS_PORT, MANAGER_PORT, CHARACTER_API_PORT, QUEST_API_PORT"
        fi
    done
}

# wait_for DESCRIPTION SECONDS COMMAND...: runs COMMAND every second until it succeeds.
wait_for() {
    local what="$1" timeout="$2"
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        if [ $SECONDS -ge $deadline ]; then
            fail "timed out after ${timeout} s waiting for $what"
        fi
        sleep 1
    done
}

containers_healthy_at_least() {
    local n=0 id status
    for id in $(compose ps -q); do
        status="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id" 2>/dev/null || true)"
        case "$status" in healthy | running) n=$((n + 1)) ;; esac
    done
    [ "$n" -ge "$1" ]
}

wait_healthy() {
    wait_for "$1 containers healthy" "$2" containers_healthy_at_least "$1"
}

# The zone container serving PORT (each writes its port to /tmp/zone-server.port).
zone_container_on_port() {
    local id
    for id in $(compose ps -q zone); do
        if [ "$(docker exec "$id" cat /tmp/zone-server.port 2>/dev/null | tr -d '[:space:]')" = "$1" ]; then
            echo "$id"
            return 0
        fi
    done
}

# ---------------------------------------------------------------- the manager

manager_ready() {
    curl -fsS -o /dev/null "$MANAGER/readyz" 2>/dev/null
}

admin_get() {
    curl -fsS -H "Authorization: Bearer $ADMIN" "$MANAGER$1"
}

# Zones the manager holds as alive (idle, allocated or draining).
zones_live() {
    admin_get /v1/zones | jq '[.[] | select(.state != "unhealthy")] | length'
}

zones_live_at_least() {
    local n
    n="$(zones_live 2>/dev/null)" || return 1
    [ "${n:-0}" -ge "$1" ]
}

zones_in_state() {
    admin_get /v1/zones | jq --arg s "$1" '[.[] | select(.state == $s)] | length'
}

zones_idle_at_least() {
    local n
    n="$(zones_in_state idle 2>/dev/null)" || return 1
    [ "${n:-0}" -ge "$1" ]
}

areas_allocated_at_least() {
    local n
    n="$(admin_get "/v1/areas?allocated=true" 2>/dev/null | jq length)" || return 1
    [ "${n:-0}" -ge "$1" ]
}

# The zone id owning area X-Z ("null" when none).
area_owner() {
    admin_get /v1/areas | jq -r --argjson x "$1" --argjson z "$2" \
        '.[] | select(.area.x == $x and .area.z == $z) | .zone'
}

area_owner_is_set() {
    local owner
    owner="$(area_owner "$1" "$2" 2>/dev/null)" || return 1
    [ -n "$owner" ] && [ "$owner" != null ]
}

area_moved_from() {
    local owner
    owner="$(area_owner "$1" "$2" 2>/dev/null)" || return 1
    [ -n "$owner" ] && [ "$owner" != null ] && [ "$owner" != "$3" ]
}

# The port of the zone's advertised WebSocket URL.
zone_port() {
    admin_get /v1/zones | jq -r --arg z "$1" '.[] | select(.zone == $z) | .ws_url' |
        sed -E 's|^ws://[^/]*:([0-9]+)/.*$|\1|'
}

# ---------------------------------------------------------------- the bots

# The last stats line of the bots container (one JSON object per second).
bots_line() {
    docker logs "$BOTS_NAME" 2>/dev/null | grep '^{' | tail -n 1
}

bot_stat() {
    local v
    v="$(bots_line | jq -r ".$1 // 0" 2>/dev/null)"
    echo "${v:-0}"
}

# The last stats line of compose.yaml's `bots` service.
profile_bots_line() {
    local id
    id="$(compose --profile bots ps -q bots)"
    [ -n "$id" ] && docker logs "$id" 2>/dev/null | grep '^{' | tail -n 1
}

profile_bots_at_least() {
    local v
    v="$(profile_bots_line | jq -r ".$1 // 0" 2>/dev/null)"
    [ "${v:-0}" -ge "$2" ]
}

bots_alive() {
    if [ "$(docker inspect -f '{{.State.Running}}' "$BOTS_NAME" 2>/dev/null)" != true ]; then
        docker logs --tail 20 "$BOTS_NAME" >&2 || true
        fail "the bots container stopped"
    fi
}

bots_at_least() {
    bots_alive
    [ "$(bot_stat "$1")" -ge "$2" ]
}

# Keeps the bots' current stats line as snapshot NAME.
bots_snapshot() {
    bots_line >"$logs/bots-$1.json"
}

# bots_each_since SNAPSHOT FIELD OP N [ROUTE]: for every bot (of ROUTE, "roam" or
# "borderrunner", when given), FIELD now minus FIELD at SNAPSHOT compares OP (jq: >=, ==)
# to N.
bots_each_since() {
    bots_alive
    bots_line | jq -e --slurpfile s "$logs/bots-$1.json" --arg f "$2" --argjson n "$4" \
        --arg r "${5:-}" "[.each[] as \$b | (\$s[0].each[] | select(.name == \$b.name)) as \$o
            | select(\$r == \"\" or \$b.route == \$r) | (\$b[\$f] - \$o[\$f]) $3 \$n] | all" \
        >/dev/null
}
