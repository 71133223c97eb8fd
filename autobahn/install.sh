#!/usr/bin/env bash
# Install Autobahn|Testsuite (wstest, Python 2.7 only) into a virtualenv.
# Idempotent: does nothing if the venv's wstest already runs.
set -euo pipefail

CACHE="${AUTOBAHN_CACHE:-$HOME/.cache/wsmachine-autobahn}"
VENV="${AUTOBAHN_VENV:-$CACHE/venv}"
SUITE="autobahntestsuite==25.10.1"
# The 25.10.1 sdist declares no dependencies: this is a known-good complete set.
DEPS=(attrs==21.4.0 autobahn==0.10.9 Automat==22.10.0 cffi==1.15.1 constantly==15.1.0
  cryptography==3.3.2 enum34==1.1.10 hyperlink==21.0.0 idna==2.10 incremental==16.10.1
  ipaddress==1.0.23 Jinja2==2.11.3 klein==17.10.0 linecache2==1.0.0 MarkupSafe==1.1.1
  pyasn1==0.5.1 pyasn1-modules==0.3.0 pycparser==2.21 PyHamcrest==1.10.1 pyOpenSSL==19.1.0
  service-identity==18.1.0 setuptools==44.0.0 six==1.16.0 traceback2==1.4.0 Twisted==19.10.0
  txaio==2.1.0 typing==3.10.0.0 ujson==2.0.3 unittest2==1.1.0 Werkzeug==1.0.1 wheel==0.37.1
  wsaccel==0.6.6 zope.interface==4.6.0)

log() { echo "[autobahn/install] $*" >&2; }
start=$SECONDS
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_PYTHON_VERSION_WARNING=1
# Python 2 pips carry a 2020 CA bundle: use the system's (which may hold a local proxy's root).
[ -n "${PIP_CERT:-}" ] || [ ! -f /etc/ssl/certs/ca-certificates.crt ] || export PIP_CERT=/etc/ssl/certs/ca-certificates.crt

if "$VENV/bin/wstest" --autobahnversion >/dev/null 2>&1; then
  log "wstest already installed: $VENV/bin/wstest"; exit 0
fi

# 1. A working Python 2.7 (a pyenv shim on PATH may exist but fail, so run each).
find_py2() {
  local p
  for p in ${AUTOBAHN_PYTHON2:-} "$HOME/.pyenv/versions/2.7.18/bin/python" $(type -ap python2.7) /usr/bin/python2.7; do
    if "$p" -c 'import sys; assert sys.version_info[:2] == (2, 7)' >/dev/null 2>&1; then
      echo "$p"; return 0
    fi
  done
  return 1
}
if ! PY2=$(find_py2); then
  log "no Python 2.7 found: installing Debian's python2.7 from bullseye (apt pin priority 50)"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  # The bullseye suite of the Debian mirror the machine's apt sources already use.
  mirror=$(grep -hoE '^(URIs:|deb) +[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
    awk '{print $2; exit}') || true
  [ -n "$mirror" ] || { log "ERROR: no Debian mirror in the apt sources"; exit 1; }
  echo "deb $mirror bullseye main" | $SUDO tee /etc/apt/sources.list.d/wsmachine-bullseye-py2.list >/dev/null
  printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 50\n' | $SUDO tee /etc/apt/preferences.d/wsmachine-bullseye-py2 >/dev/null
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python2.7 python2.7-dev gcc libc6-dev >&2
  PY2=$(find_py2)
fi
log "python 2.7: $PY2"

# 2. virtualenv for py2, bootstrapped by pip 20.3.4 run from its own wheel (works whether
#    or not this python has pip), installed into a private folder, not the interpreter.
BOOT="$CACHE/bootstrap"
if ! PYTHONPATH="$BOOT/lib" "$PY2" -m virtualenv --version >/dev/null 2>&1; then
  log "bootstrapping pip 20.3.4 + virtualenv 20.15.1 into $BOOT"
  rm -rf "$BOOT"; mkdir -p "$BOOT/whl"
  if "$PY2" -m pip --version >/dev/null 2>&1; then DL=("$PY2" -m pip); else DL=(python3 -m pip); fi
  "${DL[@]}" download -q --no-deps --only-binary=:all: -d "$BOOT/whl" pip==20.3.4
  pip2() { PYTHONPATH="$BOOT/setuptools" "$PY2" "$BOOT/whl/pip-20.3.4-py2.py3-none-any.whl/pip" "$@"; }
  pip2 install -q --target "$BOOT/setuptools" setuptools==44.1.1  # Debian's python2.7 has none: scandir's sdist needs it
  pip2 install -q --target "$BOOT/lib" virtualenv==20.15.1
fi

# 3. The venv, the pinned dependencies, then the suite itself without dependencies.
log "creating virtualenv $VENV"
[ ! -e "$VENV" ] || [ -f "$VENV/pyvenv.cfg" ] || { log "ERROR: $VENV exists and is not a virtualenv"; exit 1; }
rm -rf "$VENV"
VIRTUALENV_OVERRIDE_APP_DATA="$CACHE/virtualenv-data" PYTHONPATH="$BOOT/lib" \
  "$PY2" -m virtualenv -q --no-periodic-update --no-download "$VENV"
log "installing ${#DEPS[@]} pinned dependencies (builds wsaccel, ujson)"
"$VENV/bin/pip" install -q "${DEPS[@]}"
log "installing $SUITE --no-deps"
"$VENV/bin/pip" install -q --no-deps "$SUITE"
"$VENV/bin/wstest" --autobahnversion >&2
log "done in $((SECONDS - start)) s: $VENV/bin/wstest"
