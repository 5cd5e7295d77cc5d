#!/bin/sh
# Grafana's own default admin password is "admin", and its login page is the first thing an SSH tunnel
# shows: refuse to start without a password of the operator's choosing, then run Grafana's entry point.
set -eu
case "${GF_SECURITY_ADMIN_PASSWORD:-}" in
  '' | admin)
    echo 'Grafana not started: set GRAFANA_ADMIN_PASSWORD in .env (anything but "admin")' >&2
    exit 1
    ;;
esac
exec "$@"
