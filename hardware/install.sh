#!/bin/sh
# hallq offline install, from a bundle made by `hallq bundle` (docs/deploy.md, section 7).
#
#   sudo ./install.sh <device id>        e.g. controller, admin.web, kiosk.k1, counter.c3, display.d1
#
# Run it once per device on the device's machine (a Pi with two counters runs it twice). It:
#  1. creates the system user hallq first (groups gpio, dialout, lp, audio, video, render, input
#     where they exist), so every file after is owned right;
#  2. installs hallq in a venv (/opt/hallq/.venv) with pip --no-index from wheels/<arch>-cp<python>/
#     (no network is used);
#  3. puts the device's hall.toml, environment (the hall's time zone) and its own password line in
#     /etc/hallq (credentials.toml: 0600, owner hallq; lines of other devices on this machine kept);
#  4. installs its systemd units (and udev rules); on the controller's machine also wires Debian's
#     packaged Mosquitto: hallq.conf in /etc/mosquitto/conf.d (the main file stays as shipped), the
#     password file and ACL in /etc/mosquitto/hallq, a descriptor limit for mosquitto.service, and
#     a firewall rule (at most 32 MQTT connections per address), then restarts Mosquitto;
#  5. enables and starts the units.
# Re-running it is harmless: an upgrade keeps /var/lib/hallq (the data) and the passwords.
# HALLQ_SYSTEMD=0 skips only systemctl and udevadm (machines without systemd as PID 1).
set -eu

DEVICE=${1:?usage: install.sh <device id>   (the folders under devices/ are the choices)}
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=/opt/hallq
ETC=/etc/hallq
SYSTEMD=${HALLQ_SYSTEMD:-1}
UNITS_DIR=/etc/systemd/system
MOSQUITTO_ETC=/etc/mosquitto
ARCH=$(uname -m)
SRC="$HERE/devices/$DEVICE"

say() { printf 'install.sh: %s\n' "$*"; }
fail() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
warn() { printf 'install.sh: WARNING: %s\n' "$*" >&2; }

[ -d "$SRC" ] || fail "no device $DEVICE in this bundle (devices: $(ls "$HERE/devices" | tr '\n' ' '))"
command -v python3 >/dev/null || fail "python3 is missing (apt install python3 python3-venv)"
[ "$(id -u)" = 0 ] || fail "run it as root: sudo ./install.sh $DEVICE"
KIND=$(cat "$SRC/kind")
PYTAG=$(python3 -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
WHEELS="$HERE/wheels/$ARCH-$PYTAG"
[ -d "$WHEELS" ] || fail "no wheels for $ARCH with Python $(python3 -V 2>&1 | cut -d' ' -f2) in this bundle (it has: $(ls "$HERE/wheels" | tr '\n' ' ')): make the bundle again where PyPI is reachable (without --offline)"

# 1. the user, before any file is installed
if ! id hallq >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/hallq --no-create-home --shell /usr/sbin/nologin hallq
    say "created user hallq"
fi
for group in gpio dialout lp audio video render input plugdev; do
    if getent group "$group" >/dev/null 2>&1; then usermod -a -G "$group" hallq; fi
done
install -d -m 0755 /var/lib/hallq

# 2. hallq and its libraries, from the bundle's wheels only
EXTRA=""
VENV_OPTS=""
if [ "$ARCH" = aarch64 ] || [ "$ARCH" = armv7l ]; then
    if ls "$WHEELS"/lgpio-0.2* >/dev/null 2>&1; then
        EXTRA="[pi]"
    elif python3 -c 'import lgpio' 2>/dev/null; then
        VENV_OPTS="--system-site-packages"      # Debian's python3-lgpio: no wheel for this Python
        say "GPIO through Debian's python3-lgpio"
    else
        fail "no lgpio for Python $PYTAG in this bundle: sudo apt install python3-lgpio, then run install.sh again"
    fi
fi
say "installing hallq$EXTRA for $DEVICE into $PREFIX (no network: wheels from $WHEELS)"
mkdir -p "$PREFIX"
python3 -m venv $VENV_OPTS "$PREFIX/.venv" || fail "python3 -m venv failed (apt install python3-venv)"
PIP_NO_INDEX=1 "$PREFIX/.venv/bin/pip" install --quiet --no-index --find-links "$WHEELS" --upgrade "hallq$EXTRA" \
    || fail "pip could not install from $WHEELS"
if [ -n "$VENV_OPTS" ] && ls "$WHEELS"/pyusb-* >/dev/null 2>&1; then
    PIP_NO_INDEX=1 "$PREFIX/.venv/bin/pip" install --quiet --no-index --find-links "$WHEELS" pyusb
fi

# 3. the configuration: readable by hallq; the password only by hallq
install -d -m 0750 -o root -g hallq "$ETC"
install -m 0640 -o root -g hallq "$SRC/hall.toml" "$ETC/hall.toml"
install -m 0644 -o root -g root "$SRC/environment" "$ETC/environment"
# this device's lines replace its old ones; other devices' lines on this machine stay
CRED="$ETC/credentials.toml"
NEW=$(mktemp "$ETC/.credentials.XXXXXX")
if [ -f "$CRED" ]; then
    keys=$(sed -n 's/^\("[^"]*"\) *=.*/\1/p' "$SRC/credentials.toml")
    cp "$CRED" "$NEW"
    for key in $keys; do grep -v -F "$key =" "$NEW" > "$NEW.x" || true; mv "$NEW.x" "$NEW"; done
    grep -v '^#' "$SRC/credentials.toml" >> "$NEW"
else
    cp "$SRC/credentials.toml" "$NEW"
fi
chown hallq:hallq "$NEW"
chmod 0600 "$NEW"
mv "$NEW" "$CRED"

# what this machine needs, said once (the device may be plugged in later)
if [ -f "$SRC/printer" ]; then
    set -- $(cat "$SRC/printer")
    case "$1" in
        usb) if ! grep -qsi "^PRODUCT=$(echo "$2" | sed 's/^0*//;s/:0*/\//')/" /sys/bus/usb/devices/*/uevent; then
                 warn "the kiosk's USB printer ($2) is not plugged in (lsusb); tickets wait for it"
             fi
             ls /usr/lib/*/libusb-1.0.so.0 /lib/*/libusb-1.0.so.0 >/dev/null 2>&1 \
                 || warn "libusb-1.0-0 is missing: apt install libusb-1.0-0 (a USB printer says 'No backend available')";;
        path) [ -e "$2" ] || warn "the kiosk's printer $2 does not exist (yet)";;
    esac
fi
if [ "$KIND" = display ]; then
    ls /dev/dri/card* >/dev/null 2>&1 || warn "no screen (/dev/dri/card*): the hall screen needs the Pi's HDMI output"
    ls /dev/snd/pcm* >/dev/null 2>&1 || warn "no sound card (/dev/snd): calls are shown, not spoken"
fi

# 4. units, udev rules, and on the broker's machine Mosquitto
install -d -m 0755 "$UNITS_DIR"
for unit in "$SRC"/*.service "$SRC"/*.timer; do
    [ -e "$unit" ] || continue
    install -m 0644 "$unit" "$UNITS_DIR/$(basename "$unit")"
done
if [ -f "$SRC/60-hallq.rules" ]; then
    install -d /etc/udev/rules.d
    install -m 0644 "$SRC/60-hallq.rules" "/etc/udev/rules.d/60-hallq-$DEVICE.rules"
    if [ "$SYSTEMD" = 1 ]; then udevadm control --reload || true; fi
fi

if [ "$KIND" = controller ]; then
    MAIN="$MOSQUITTO_ETC/mosquitto.conf"
    [ -f "$MAIN" ] || fail "Mosquitto is not installed: apt install mosquitto, then run install.sh again"
    grep -q "^include_dir $MOSQUITTO_ETC/conf.d" "$MAIN" \
        || fail "$MAIN does not read $MOSQUITTO_ETC/conf.d (include_dir): restore Debian's file (apt install --reinstall -o Dpkg::Options::=--force-confask mosquitto)"
    other=$(grep -l -E '^[[:space:]]*(listener|port)[[:space:]]' "$MAIN" "$MOSQUITTO_ETC"/conf.d/*.conf 2>/dev/null | grep -v '/hallq.conf$' || true)
    [ -z "$other" ] || fail "another listener is set in $other: the hall's broker needs the port of [broker] in hall.toml alone"
    install -d -m 0750 -o root -g mosquitto "$MOSQUITTO_ETC/hallq"
    install -m 0640 -o root -g mosquitto "$SRC/mosquitto/passwords" "$MOSQUITTO_ETC/hallq/passwords"
    install -m 0640 -o root -g mosquitto "$SRC/mosquitto/acl" "$MOSQUITTO_ETC/hallq/acl"
    install -m 0644 "$SRC/mosquitto/hallq.conf" "$MOSQUITTO_ETC/conf.d/hallq.conf"
    install -m 0644 "$SRC/mosquitto/broker-firewall.nft" "$ETC/broker-firewall.nft"
    # Debian's mosquitto gets 1024 descriptors: 4096 leaves the hall's devices room (broker_config/README.md)
    install -d "$UNITS_DIR/mosquitto.service.d"
    printf '[Service]\n# hallq: room for the hall beside idle sockets (install.sh)\nLimitNOFILE=4096\n' \
        > "$UNITS_DIR/mosquitto.service.d/hallq.conf"
    if command -v nft >/dev/null 2>&1; then
        nft -f "$ETC/broker-firewall.nft" || warn "nft could not load $ETC/broker-firewall.nft"
    else
        warn "nft is missing (apt install nftables): no limit of MQTT connections per address"
    fi
    say "Mosquitto: $MOSQUITTO_ETC/conf.d/hallq.conf (port $(sed -n 's/^listener \([0-9]*\).*/\1/p' "$SRC/mosquitto/hallq.conf"), passwords, ACL)"
fi

# 5. start (restart: an upgrade runs the new code at once)
if [ "$SYSTEMD" = 1 ]; then
    systemctl daemon-reload
    case "$KIND" in
        controller) UNITS="hallq-firewall.service hallq-controller.service"
                    systemctl restart mosquitto
                    systemctl enable --now hallq-report.timer ;;
        web)        UNITS="hallq-web.service" ;;
        *)          UNITS="hallq-$KIND@${DEVICE#*.}.service" ;;
    esac
    systemctl enable $UNITS
    systemctl restart $UNITS
    say "started: $UNITS"
fi
say "done: $DEVICE installed ($("$PREFIX/.venv/bin/hallq" --help >/dev/null && echo "hallq runs"))"
