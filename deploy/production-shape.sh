#!/usr/bin/env bash
# Hearth's production shape on one machine, on loopback only, from Debian's packages:
# PostgreSQL + Redis, the repository pip-installed (not editable) into a virtualenv, two
# gunicorn web processes, two notification workers, and nginx with TLS in front.
#
#   bash deploy/production-shape.sh          bring it up (again: it restarts everything)
#   bash deploy/production-shape.sh stop     stop it all, remove the nginx site, drop the database
#   bash deploy/production-shape.sh purge    stop, then delete the state folder and its venv too
#
# The processes run the same commands as the units in deploy/systemd/ (systemd isn't
# there to start them in a container), with pid files and logs in the state folder.
# docs/operating.md describes the real thing. Settings (environment, all optional):
#   HEARTH_SHAPE_DIR   state folder (default /var/tmp/hearth-shape)
#   HEARTH_SHAPE_DB    PostgreSQL database and role (default hearth_shape)
#   PYTHON             the Python that makes the venv (default python3, 3.11 or newer)
set -Eeuo pipefail
trap 'echo "production-shape.sh: failed (line $LINENO); logs in ${LOG:-the state folder}" >&2' ERR

REPO="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${HEARTH_SHAPE_DIR:-/var/tmp/hearth-shape}"
DB="${HEARTH_SHAPE_DB:-hearth_shape}"
PYTHON="${PYTHON:-python3}"
PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_URL="redis://127.0.0.1:6379/1"
# Rate-limit keys carry this, so `stop` deletes only this shape's keys from Redis DB 1.
REDIS_PREFIX="hearth_shape"
WEB_PORTS=(8001 8002)
WORKERS=(1 2)
HTTPS_PORT=8443
HTTP_PORT=8080
URL="https://127.0.0.1:${HTTPS_PORT}"

VENV="$STATE/venv"
RUN="$STATE/run"
LOG="$STATE/log"
NGINX_DIR="$STATE/nginx"
ENV_FILE="$STATE/hearth.env"

say() { printf '== [%3ss] %s\n' "$SECONDS" "$*"; }
psql_admin() { psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q -X "$@"; }

# --- processes ------------------------------------------------------------------------

# A pid file names a live process that this script started: its command line mentions the
# state folder (a stale file's pid may belong to something else by now). Redis is the
# exception: its pid file exists only when this script started it.
alive() {
    local pid
    [ -s "$1" ] || return 1
    pid="$(cat "$1")"
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$(basename "$1")" = redis.pid ] || tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$STATE"
}

# Stop the processes whose ids are in the pid files given: TERM to all at once (gunicorn
# and the workers finish what they are doing), then KILL whatever is left after $GRACE s.
stop_pidfiles() {
    local pidfile pid pids=() waited=0
    for pidfile in "$@"; do
        if alive "$pidfile"; then
            pid="$(cat "$pidfile")"
            say "stopping $(basename "$pidfile" .pid) ($pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    while [ "${#pids[@]}" -gt 0 ] && [ "$waited" -lt $((${GRACE:-60} * 10)) ]; do
        local left=()
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
        pids=("${left[@]+"${left[@]}"}")
        [ "${#pids[@]}" -gt 0 ] || break
        sleep 0.1
        waited=$((waited + 1))
    done
    for pid in "${pids[@]+"${pids[@]}"}"; do
        echo "   $pid did not stop in ${GRACE:-60}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -f "$@"
}

stop_processes() {
    [ -d "$RUN" ] || return 0
    # nginx first, so no new request reaches a backend that is stopping.
    stop_pidfiles "$RUN/nginx.pid"
    local files=()
    for port in "${WEB_PORTS[@]}"; do files+=("$RUN/web-$port.pid"); done
    for n in "${WORKERS[@]}"; do files+=("$RUN/worker-$n.pid"); done
    stop_pidfiles "${files[@]}"
}

# --- packages and services ------------------------------------------------------------

ensure_packages() {
    local missing=()
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
    command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    "$PYTHON" -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    export PATH="$PATH:/usr/sbin"
}

ensure_services() {
    if ! pg_isready -h "$PG_HOST" -p "$PG_PORT" -q; then
        say "starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" \
            main start || true
        for _ in $(seq 1 30); do pg_isready -h "$PG_HOST" -p "$PG_PORT" -q && break; sleep 1; done
    fi
    pg_isready -h "$PG_HOST" -p "$PG_PORT" -q || {
        echo "PostgreSQL is not reachable on $PG_HOST:$PG_PORT" >&2
        exit 1
    }
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        say "starting Redis on 127.0.0.1:6379"
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
            --pidfile "$RUN/redis.pid"
        for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
    fi
}

# --- database -------------------------------------------------------------------------

ensure_database() {
    local password
    if [ ! -s "$STATE/db_password" ]; then
        "$PYTHON" -c 'import secrets; print(secrets.token_hex(24))' >"$STATE/db_password"
        chmod 600 "$STATE/db_password"
    fi
    password="$(cat "$STATE/db_password")"
    say "PostgreSQL: role and database $DB"
    # A login role that owns its database and nothing else; its password is in the env file.
    psql_admin <<SQL
SELECT format('CREATE ROLE %I LOGIN', '$DB')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB') \gexec
ALTER ROLE "$DB" LOGIN PASSWORD '$password';
SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8'' TEMPLATE template0', '$DB', '$DB')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB') \gexec
SQL
}

drop_database() {
    if pg_isready -h "$PG_HOST" -p "$PG_PORT" -q; then
        say "dropping database and role $DB"
        psql_admin -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)"
        psql_admin -c "DROP ROLE IF EXISTS \"$DB\""
    fi
}

# --- the app --------------------------------------------------------------------------

write_env_file() {
    if [ ! -s "$STATE/secret_key" ]; then
        "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(48))' >"$STATE/secret_key"
        chmod 600 "$STATE/secret_key"
    fi
    say "writing $ENV_FILE"
    umask 077
    cat >"$ENV_FILE" <<EOF
# Written by deploy/production-shape.sh; the same settings as deploy/hearth.env.example.
HEARTH_ENV=production
HEARTH_SECRET_KEY=$(cat "$STATE/secret_key")
HEARTH_BASE_URL=$URL
DATABASE_URL=postgresql://$DB:$(cat "$STATE/db_password")@$PG_HOST:$PG_PORT/$DB
HEARTH_RATELIMIT_STORAGE_URI=$REDIS_URL
HEARTH_RATELIMIT_KEY_PREFIX=$REDIS_PREFIX
HEARTH_CACHE_URL=$REDIS_URL
HEARTH_TRUSTED_PROXY_HOPS=1
HEARTH_INSTANCE_PATH=$STATE/instance
# No SMTP relay here: the workers write each message to a file instead.
HEARTH_NOTIFICATIONS_TRANSPORT=file
HEARTH_NOTIFICATIONS_MAIL_DIR=$STATE/mail
HEARTH_MAIL_DEFAULT_SENDER="Hearth <no-reply@localhost>"
# Mail new posts at once and poll often, so a smoke test sees the workers at work.
HEARTH_NOTIFICATIONS_EDIT_WINDOW=0
HEARTH_NOTIFICATIONS_POLL_INTERVAL=1
EOF
    umask 022
}

load_env() {
    set -a
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    set +a
}

install_app() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        "$PYTHON" -m venv "$VENV"
        pip_cmd install --upgrade pip
    fi
    # A snapshot of the working tree (tracked and new files, not ignored ones), so the
    # build writes nothing into the repository and picks up uncommitted changes.
    say "pip install of the repository (not editable) into $VENV"
    rm -rf "$STATE/src"
    mkdir -p "$STATE/src"
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -xf - -C "$STATE/src"
    # One wheel, as `pip wheel --no-deps .` makes for a release; then its dependencies, and
    # the wheel itself again even when its version is installed: this run's code must win.
    rm -rf "$STATE/wheel"
    # The build backend lives in the venv (pyproject.toml asks for setuptools>=77), so a
    # rebuild needs no throwaway build environment.
    "$VENV/bin/python" -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 77)' \
        2>/dev/null || pip_cmd install "setuptools>=77"
    pip_cmd wheel --no-build-isolation --no-deps --wheel-dir "$STATE/wheel" "$STATE/src"
    pip_cmd install "$STATE"/wheel/hearth-*.whl
    pip_cmd install --no-deps --force-reinstall "$STATE"/wheel/hearth-*.whl
}

pip_cmd() {
    # Quiet, but for errors (and without the noise of index folders that don't exist).
    "$VENV/bin/python" -m pip "$1" --quiet --disable-pip-version-check "${@:2}" \
        2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2 || true)
}

# Every flask command runs in the state folder, as the units do in /srv/hearth: never in
# the repository, whose forum/ would shadow the installed package.
flask_cmd() { (cd "$STATE" && "$VENV/bin/flask" --app forum "$@"); }

write_helper() {
    # `$STATE/bin/hearth-flask notifications status` and so on, with the shape's settings.
    mkdir -p "$STATE/bin"
    cat >"$STATE/bin/hearth-flask" <<EOF
#!/usr/bin/env bash
set -a; . "$ENV_FILE"; set +a
cd "$STATE" && exec "$VENV/bin/flask" --app forum "\$@"
EOF
    chmod 755 "$STATE/bin/hearth-flask"
}

start_web() {
    local port
    for port in "${WEB_PORTS[@]}"; do
        say "starting web 127.0.0.1:$port (gunicorn)"
        (cd "$STATE" && "$VENV/bin/gunicorn" --workers 2 --bind "127.0.0.1:$port" \
            --access-logfile "$LOG/web-$port.access.log" --error-logfile "$LOG/web-$port.log" \
            --graceful-timeout 30 --control-socket "$RUN/web-$port.ctl" \
            --pid "$RUN/web-$port.pid" --daemon 'forum:create_app()')
    done
    for port in "${WEB_PORTS[@]}"; do
        for _ in $(seq 1 100); do
            curl -fsS -o /dev/null "http://127.0.0.1:$port/static/hearth.css" 2>/dev/null && break
            sleep 0.2
        done
        if ! alive "$RUN/web-$port.pid" || ! curl -fsS -o /dev/null "http://127.0.0.1:$port/"; then
            echo "web 127.0.0.1:$port did not answer; its log:" >&2
            tail -n 40 "$LOG/web-$port.log" >&2 || true
            exit 1
        fi
    done
}

start_workers() {
    local n
    for n in "${WORKERS[@]}"; do
        say "starting notification worker $n"
        # exec all the way down, so the pid recorded is the worker's own.
        (cd "$STATE" && exec nohup setsid "$VENV/bin/flask" --app forum notifications worker \
            >>"$LOG/worker-$n.log" 2>&1 </dev/null) &
        echo $! >"$RUN/worker-$n.pid"
    done
    sleep 2
    for n in "${WORKERS[@]}"; do
        if ! alive "$RUN/worker-$n.pid"; then
            echo "notification worker $n exited; its log:" >&2
            tail -n 40 "$LOG/worker-$n.log" >&2 || true
            exit 1
        fi
    done
}

# --- nginx ----------------------------------------------------------------------------

make_certificate() {
    if [ ! -s "$STATE/tls/cert.pem" ]; then
        say "self-signed certificate for localhost and 127.0.0.1"
        mkdir -p "$STATE/tls"
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$STATE/tls/key.pem" -out "$STATE/tls/cert.pem" 2>/dev/null
        chmod 600 "$STATE/tls/key.pem"
    fi
}

configure_nginx() {
    local static nginx_user
    static="$(cd "$STATE" && "$VENV/bin/python" -c 'from forum import paths; print(paths.static_dir())')"
    ln -sfn "$static" "$STATE/static"
    nginx_user=www-data
    id "$nginx_user" >/dev/null 2>&1 || nginx_user=nobody
    mkdir -p "$NGINX_DIR/tmp"
    chown "$nginx_user" "$NGINX_DIR/tmp"
    # The site: deploy/nginx/hearth.conf with its placeholders filled in for loopback.
    sed -e "s|listen 443 ssl http2;|listen 127.0.0.1:$HTTPS_PORT ssl http2;|" \
        -e "s|listen 80;|listen 127.0.0.1:$HTTP_PORT;|" \
        -e '/listen \[::\]/d' \
        -e "s|server_name reflect.example.org;|server_name localhost 127.0.0.1;|" \
        -e "s|https://reflect.example.org|$URL|" \
        -e "s|/etc/ssl/hearth/fullchain.pem|$STATE/tls/cert.pem|" \
        -e "s|/etc/ssl/hearth/privkey.pem|$STATE/tls/key.pem|" \
        -e "s|server 10.0.0.11:8000|server 127.0.0.1:${WEB_PORTS[0]}|" \
        -e "s|server 10.0.0.12:8000|server 127.0.0.1:${WEB_PORTS[1]}|" \
        -e "s|/srv/hearth/static/|$STATE/static/|" \
        "$REPO/deploy/nginx/hearth.conf" >"$NGINX_DIR/hearth-site.conf"
    # A private nginx instance: its own main file, pid, logs and temp folders, so the
    # machine's own nginx (if any) and its port 80 default site are left alone.
    cat >"$NGINX_DIR/nginx.conf" <<EOF
# Written by deploy/production-shape.sh.
user $nginx_user;
worker_processes 1;
pid $RUN/nginx.pid;
error_log $LOG/nginx-error.log warn;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    server_tokens off;
    access_log $LOG/nginx-access.log;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    include $NGINX_DIR/hearth-site.conf;
}
EOF
    nginx -q -t -c "$NGINX_DIR/nginx.conf" -p "$NGINX_DIR"
}

start_nginx() {
    say "starting nginx on 127.0.0.1:$HTTPS_PORT (TLS) and 127.0.0.1:$HTTP_PORT (redirect)"
    nginx -c "$NGINX_DIR/nginx.conf" -p "$NGINX_DIR"
    for _ in $(seq 1 50); do
        curl -ksS -o /dev/null "$URL/" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "nginx did not answer on $URL; its log:" >&2
    tail -n 20 "$LOG/nginx-error.log" >&2 || true
    exit 1
}

# --- commands -------------------------------------------------------------------------

up() {
    local started=$SECONDS
    ensure_packages
    mkdir -p "$STATE" "$RUN" "$LOG" "$NGINX_DIR" "$STATE/instance" "$STATE/mail"
    chmod 755 "$STATE"
    stop_processes # running it again restarts everything with this run's code
    ensure_services
    ensure_database
    write_env_file
    load_env
    install_app
    write_helper
    say "flask --app forum db upgrade"
    flask_cmd db upgrade 2>&1 | sed 's/^/   /'
    say "flask --app forum demo seed --force"
    flask_cmd demo seed --force 2>&1 | sed 's/^/   /' | tail -n 12
    start_web
    start_workers
    make_certificate
    configure_nginx
    start_nginx
    echo
    echo "Hearth is up at $URL (self-signed certificate; http://127.0.0.1:$HTTP_PORT redirects)"
    echo "  web:     127.0.0.1:${WEB_PORTS[0]} and 127.0.0.1:${WEB_PORTS[1]} (gunicorn, 2 workers each)"
    echo "  workers: ${#WORKERS[@]} x flask --app forum notifications worker (mail written to $STATE/mail)"
    echo "  status:  $STATE/bin/hearth-flask notifications status"
    echo "  logs:    $LOG/"
    echo "  smoke:   HEARTH_SMOKE_URL=$URL .venv/bin/pytest -q -m smoke tests/smoke"
    echo "  stop:    bash deploy/production-shape.sh stop"
    echo "(up in $((SECONDS - started))s)"
}

down() {
    stop_processes
    if [ -f "$RUN/redis.pid" ]; then
        say "stopping the Redis this script started"
        stop_pidfiles "$RUN/redis.pid"
    elif redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        # Only this shape's keys in DB 1: its rate limits and its page cache.
        for pattern in "*/${REDIS_PREFIX}/*" "hearth:page:*"; do
            redis-cli -h 127.0.0.1 -p 6379 -n 1 --scan --pattern "$pattern" \
                | xargs -r redis-cli -h 127.0.0.1 -p 6379 -n 1 del >/dev/null
        done
    fi
    say "removing the nginx site and the shape's settings"
    rm -rf "$NGINX_DIR" "$STATE/static" "$ENV_FILE" "$STATE/bin" "$STATE/instance" \
        "$STATE/mail" "$STATE/src" "$STATE/wheel" "$STATE/secret_key" "$STATE/db_password" "$RUN"
    drop_database
    echo "Stopped. The virtualenv stays in $VENV for next time ('purge' deletes it)."
}

case "${1:-up}" in
    up | start) up ;;
    stop | down) down ;;
    purge)
        down
        rm -rf "$STATE"
        echo "Deleted $STATE."
        ;;
    *)
        echo "usage: $0 [up|stop|purge]" >&2
        exit 2
        ;;
esac
