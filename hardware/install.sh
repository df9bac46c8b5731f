#!/bin/sh
# hallq offline install, from a bundle made by `hallq bundle` (docs/deploy.md, section 7).
#
#   sudo ./install.sh <device id>        e.g. controller, kiosk.k1, counter.c3, display.d1
#
# Installs hallq in a venv (/opt/hallq/.venv) with pip --no-index from wheels/<arch>/ (no network is
# used), the device's hall.toml and its own credentials line in /etc/hallq, its systemd unit
# (enabled and started), its udev rules; on the controller's machine also Mosquitto's files.
# HALLQ_PREFIX, HALLQ_ETC and HALLQ_SYSTEMD=0 change where it installs and skip systemd (tests).
set -eu

DEVICE=${1:?usage: install.sh <device id>   (the folders under devices/ are the choices)}
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${HALLQ_PREFIX:-/opt/hallq}
ETC=${HALLQ_ETC:-/etc/hallq}
SYSTEMD=${HALLQ_SYSTEMD:-1}
ARCH=$(uname -m)
WHEELS="$HERE/wheels/$ARCH"
SRC="$HERE/devices/$DEVICE"

say() { printf 'install.sh: %s\n' "$*"; }
fail() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

[ -d "$SRC" ] || fail "no device $DEVICE in this bundle (devices: $(ls "$HERE/devices" | tr '\n' ' '))"
[ -d "$WHEELS" ] || fail "no wheels for $ARCH in this bundle (it has: $(ls "$HERE/wheels" | tr '\n' ' ')): bundle again with network"
command -v python3 >/dev/null || fail "python3 is missing (apt install python3 python3-venv)"

EXTRA=""
if [ "$ARCH" = aarch64 ] || [ "$ARCH" = armv7l ]; then EXTRA="[pi]"; fi
say "installing hallq$EXTRA for $DEVICE into $PREFIX (no network: wheels from $WHEELS)"
mkdir -p "$PREFIX"
python3 -m venv "$PREFIX/.venv" || fail "python3 -m venv failed (apt install python3-venv)"
PIP_NO_INDEX=1 "$PREFIX/.venv/bin/pip" install --quiet --no-index --find-links "$WHEELS" "hallq$EXTRA" \
    || fail "pip could not install from $WHEELS (is this bundle for this machine's Python $(python3 -V 2>&1)?)"

mkdir -p "$ETC"
cp "$SRC/hall.toml" "$ETC/hall.toml"
umask 077
cp "$SRC/credentials.toml" "$ETC/credentials.toml"
umask 022
# hall.toml names /etc/hallq/credentials.toml; elsewhere (tests) point it at the copy made here
if [ "$ETC" != /etc/hallq ]; then
    sed -i "s#credentials = \"/etc/hallq/credentials.toml\"#credentials = \"$ETC/credentials.toml\"#" "$ETC/hall.toml"
fi
if id hallq >/dev/null 2>&1; then chown hallq "$ETC/credentials.toml"; fi

if [ "$DEVICE" = controller ]; then
    mkdir -p "$ETC/mosquitto"
    cp "$HERE/broker/credentials.toml" "$ETC/mosquitto/credentials.toml"
    "$PREFIX/.venv/bin/hallq" broker-config --config "$ETC/hall.toml" --out "$ETC/mosquitto" \
        --persistence-dir "${HALLQ_MOSQUITTO_DATA:-/var/lib/mosquitto}"
    say "Mosquitto's files are in $ETC/mosquitto: include them (include_dir) and restart mosquitto"
    if [ "$SYSTEMD" = 1 ]; then
        # Debian's mosquitto gets 1024 descriptors; sockets that never send CONNECT can hold them all
        # (broker_config/README.md, "Connections"): 4096 leaves the hall's devices room
        mkdir -p /etc/systemd/system/mosquitto.service.d
        printf '[Service]\nLimitNOFILE=4096\n' > /etc/systemd/system/mosquitto.service.d/hallq.conf
    fi
fi

if [ -f "$SRC/60-hallq.rules" ] && [ "$SYSTEMD" = 1 ]; then
    cp "$SRC/60-hallq.rules" /etc/udev/rules.d/60-hallq.rules && udevadm control --reload || true
fi

UNIT=$(ls "$SRC" | grep '\.service$' | head -n 1)
if [ "$SYSTEMD" = 1 ]; then
    id hallq >/dev/null 2>&1 || useradd --system --home /var/lib/hallq --groups gpio,dialout,video,audio,lp,plugdev hallq 2>/dev/null \
        || useradd --system --home /var/lib/hallq hallq
    cp "$SRC/$UNIT" "/etc/systemd/system/$UNIT"
    systemctl daemon-reload
    case "$UNIT" in
        *@.service) NAME="${UNIT%@.service}@${DEVICE#*.}" ;;
        *) NAME="${UNIT%.service}" ;;
    esac
    systemctl enable --now "$NAME"
    say "$NAME enabled and started"
fi
say "done: $("$PREFIX/.venv/bin/hallq" --help >/dev/null && echo "hallq runs")"
