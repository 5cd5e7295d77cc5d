#!/usr/bin/env bash
# Before the tests: the Debian packages they run for real (dovecot's IMAP server, espeak-ng's speech,
# alsa-utils' recorded human speech, nginx running the repository's config, openssl for its test
# certificate, ffmpeg: the maintained decoder the service prefers over npm's static build). Installs what is missing when root on Debian/Ubuntu;
# otherwise stops with one line naming the packages.
set -euo pipefail

missing=()
[ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
[ -f /usr/share/sounds/alsa/Front_Center.wav ] || missing+=(alsa-utils)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi

echo "The tests need these Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
exit 1
