#!/usr/bin/env bash
# Install the Debian packages Atendo's tests need: a real Dovecot (IMAP + LMTP) for the e-mail
# channel tests, Chromium for the panel tests, openssl, and wrk (the load generator of
# bench/api.py --postgres). Idempotent and quiet when all is present.
#
#   scripts/install-system-deps.sh
#
# As root: `apt-get update` (only when something is missing), then a non-interactive install
# without recommends. Not root and something missing: prints the `sudo apt-get install ...` line
# to run and exits 1.
#
# Debian's dovecot-core postinst starts the system Dovecot (ports 143/993, base_dir /run/dovecot).
# The tests run their own instance (own config, base_dir and free ports; tests/servers/dovecot.py)
# and need no system service, so while installing we forbid service starts (policy-rc.d, unless
# the machine already has one) and afterwards stop and disable any system dovecot service.
set -euo pipefail

PACKAGES=(dovecot-imapd dovecot-lmtpd chromium openssl wrk)

log() { printf 'install-system-deps: %s\n' "$*" >&2; }

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  log "this script needs a Debian-based system (dpkg, apt-get); install by hand: ${PACKAGES[*]}"
  exit 2
fi

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

# Stop + disable the distribution's Dovecot service, if one exists (root only; idempotent).
disable_system_dovecot() {
  [[ -e /etc/init.d/dovecot || -e /lib/systemd/system/dovecot.service ]] || return 0
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    if systemctl is-active --quiet dovecot.service dovecot.socket 2>/dev/null ||
       systemctl is-enabled --quiet dovecot.service 2>/dev/null; then
      log "stopping and disabling the system dovecot service"
      systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
    fi
  else
    if command -v update-rc.d >/dev/null 2>&1 && compgen -G '/etc/rc[2-5].d/S*dovecot' >/dev/null; then
      update-rc.d dovecot disable >/dev/null 2>&1 || true
    fi
  fi
  # Without systemd (containers) or if the service was started by hand: stop the master that
  # uses the system config. Only that one: our test instances use their own pid files.
  local pidfile=/run/dovecot/master.pid
  if [[ -s "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "stopping the system dovecot (pid $(cat "$pidfile"))"
    if [[ -x /etc/init.d/dovecot ]]; then
      /etc/init.d/dovecot stop >/dev/null 2>&1 || true
    fi
    if [[ -s "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      /usr/sbin/dovecot -c /etc/dovecot/dovecot.conf stop >/dev/null 2>&1 || true
    fi
  fi
}

if ((${#missing[@]} == 0)); then
  if [[ $EUID -eq 0 ]]; then
    disable_system_dovecot
  fi
  exit 0
fi

if [[ $EUID -ne 0 ]]; then
  echo "sudo apt-get install -y --no-install-recommends ${missing[*]}"
  exit 1
fi

# Forbid the packages' maintainer scripts from starting services during this install.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\n# temporary, by atendo scripts/install-system-deps.sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if ((own_policy)); then rm -f "$policy"; fi; }
trap cleanup EXIT

log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=300 -q)
apt-get "${apt_opts[@]}" update >/dev/null
apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null

for pkg in "${missing[@]}"; do
  if ! is_installed "$pkg"; then
    log "package $pkg is still not installed"
    exit 1
  fi
done

disable_system_dovecot
log "done"
