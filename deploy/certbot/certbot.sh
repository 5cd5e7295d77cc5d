#!/bin/sh
# Entry point of the certbot container: gets the certificate for DOMAIN on the first start, then renews it.
# Webroot challenge: certbot writes the token into the volume nginx serves on port 80 under
# /.well-known/acme-challenge/. The certificate is always named "transcribe", so nginx's paths do not depend
# on the domain (/etc/letsencrypt/live/transcribe/). One command does both jobs: `certonly
# --keep-until-expiring` asks the CA only when there is no certificate, the domain changed, or fewer than
# 30 days are left.
set -u
: "${DOMAIN:?DOMAIN must be set (the public host name)}"
: "${CERTBOT_EMAIL:?CERTBOT_EMAIL must be set (Let's Encrypt writes to it about expiring certificates)}"

staging=
[ "${CERTBOT_STAGING:-0}" = 1 ] && staging=--staging

trap 'exit 0' TERM INT

# nginx needs a moment to listen on port 80 on the very first start.
sleep 10 & wait $!

while :; do
  if certbot certonly --webroot --webroot-path /var/www/certbot \
      --cert-name transcribe --domain "$DOMAIN" \
      --email "$CERTBOT_EMAIL" --agree-tos --no-eff-email \
      --non-interactive --keep-until-expiring $staging; then
    pause=43200   # twice a day, as Let's Encrypt recommends
  else
    # DNS not pointing here yet, or port 80 unreachable. Let's Encrypt allows 5 failed validations per
    # host an hour, so retry slowly.
    echo "certbot: no certificate for $DOMAIN yet; retrying in 15 minutes" >&2
    pause=900
  fi
  sleep "$pause" & wait $!
done
