#!/usr/bin/env bash
# `make run`: migrate, seed and serve Rivane (gunicorn + Celery worker + beat).
# Uses the embedded PostgreSQL/Redis unless DATABASE_URL is already set. Only the
# embedded install gets the demo company (and its published logins), unless
# RIVANE_SEED_DEMO=1 asks for it; a named database is treated as production.
# Migrations run as the database's owner, everything else as the app role (README,
# "Two database roles"): DATABASE_OWNER_URL and DATABASE_URL when both are set, else
# DATABASE_URL is the owner's and the app role connects to the same database.
# Ctrl-C (or SIGTERM) stops every child; if any child dies, the rest are stopped too.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT=${PORT:-8000}

if [ -z "${DATABASE_URL:-}" ]; then
  # Captured first so a failed start aborts here (`eval "$(...)"` would hide it).
  svc_env="$("$BIN/python" scripts/services.py start)"
  eval "$svc_env"
fi
mkdir -p var

# A database URL with its user (and password) replaced by the app role's name.
as_app_role() {
  local scheme=${1%%://*} rest=${1#*://}
  case ${rest%%/*} in *@*) rest=${rest#*@} ;; esac
  printf '%s://%s@%s\n' "$scheme" "$RIVANE_APP_ROLE" "$rest"
}

export RIVANE_APP_ROLE=${RIVANE_APP_ROLE:-rivane_app}
owner_url=${DATABASE_OWNER_URL:-$DATABASE_URL}
if [ -z "${DATABASE_OWNER_URL:-}" ]; then
  DATABASE_URL=$(as_app_role "$owner_url")
fi
export DATABASE_URL
# The serving processes never see the owner's connection.
unset DATABASE_OWNER_URL

DATABASE_URL=$owner_url "$BIN/python" manage.py migrate --noinput
# Fails here, not on the first request, if the app role cannot connect.
"$BIN/python" manage.py migrate --check >/dev/null
if [ "${RIVANE_EMBEDDED_SERVICES:-0}" = 1 ] || [ "${RIVANE_SEED_DEMO:-0}" = 1 ]; then
  "$BIN/python" manage.py seed_demo
  logins="The demo logins were printed by seed_demo above."
else
  logins="No demo data was loaded (production database); create users with manage.py create_user."
fi
"$BIN/python" manage.py collectstatic --noinput

# Ctrl-C may reach the children directly as well; the traps make sure each one
# gets a TERM and is waited for, so nothing is left behind.
pids=()
stop_children() {
  trap - INT TERM
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap 'echo "run: stopping..."; stop_children; exit 130' INT
trap 'echo "run: stopping..."; stop_children; exit 143' TERM

"$BIN/gunicorn" config.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 \
  --access-logfile - &
pids+=($!)
"$BIN/celery" -A config worker -l info --concurrency 2 &
pids+=($!)
"$BIN/celery" -A config beat -l info --schedule var/celerybeat-schedule &
pids+=($!)

base="http://127.0.0.1:$PORT"
cat <<EOF

Rivane is starting (gunicorn, celery worker, celery beat). Ctrl-C stops all three.
  Screens     $base/
  Login       $base/accounts/login/
  Admin       $base/admin/
  API docs    $base/v1/docs/
  API schema  $base/v1/schema/
  Metrics     $base/metrics
$logins
Embedded PostgreSQL/Redis keep running afterwards; \`make services-stop\` stops them.

EOF

# Wait for the first child to exit, then take the others down with it.
status=0
wait -n "${pids[@]}" || status=$?
echo "run: a process exited (status $status); stopping the others"
stop_children
exit $((status == 0 ? 1 : status))
