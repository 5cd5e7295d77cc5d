#!/bin/sh
# Entry point of the nginx container. On a fresh server there is no certificate yet, so nginx starts with
# the plain-http server only (it answers certbot's challenge); as soon as certbot has written the
# certificate, the https server is switched on and nginx reloads. Later renewals are picked up the same
# way: the certificate's checksum is compared every TLS_CHECK_SECONDS.
set -eu

cert=/etc/letsencrypt/live/transcribe/fullchain.pem
site=/etc/nginx/transcribe/https.conf
enabled=/etc/nginx/tls/https.conf
interval=${TLS_CHECK_SECONDS:-60}

stamp() {
  if [ -f "$cert" ]; then cksum <"$cert"; else echo none; fi
}

switch() {
  mkdir -p "$(dirname "$enabled")"
  if [ -f "$cert" ]; then ln -sf "$site" "$enabled"; else rm -f "$enabled"; fi
}

switch
seen=$(stamp)
[ "$seen" = none ] && echo "tls-when-ready: no certificate yet; serving http until certbot has one"

(
  while sleep "$interval"; do
    now=$(stamp)
    [ "$now" = "$seen" ] && continue
    switch
    if nginx -t -q; then
      nginx -s reload
      seen=$now
      echo "tls-when-ready: certificate changed; nginx reloaded"
    fi
  done
) &

# The official image's entry point, then nginx itself in the foreground.
exec /docker-entrypoint.sh "$@"
