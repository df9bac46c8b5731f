"""``hallq broker-config``: Mosquitto config, ACL and password file for one hall, from its TOML.

No anonymous access; one username per device id; each device may write only its own
``dev/<device id>/req|status`` and ``presence/<device id>``; only the controller writes
``state``, ``event`` and ``presence/controller``; operators (``admin.*``) may also drive stub
devices through ``sim/#``. Passwords are random, hashed for Mosquitto (PBKDF2-SHA512, ``$7$``),
and written in clear only to ``credentials.toml`` (mode 0600) for provisioning the devices.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import logging
import os
import pwd
import secrets
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hallq.contract.topics import CONTROLLER_ID, CONTROLLER_LANE_ID, Topics
from hallq.runtime.config import APPOINTMENT_KEY, Config, load_config, resolve_path

log = logging.getLogger("hallq.broker_config")

PBKDF2_ITERATIONS = 101   # what mosquitto_passwd uses for $7$


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def acl_text(config: Config) -> str:
    t = Topics(config.hall.id)
    lines = [f"# hallq ACL for hall {config.hall.id}: each user is a device id", ""]
    lines += [f"user {CONTROLLER_ID}", f"topic readwrite {t.everything}", ""]
    lines += [f"user {CONTROLLER_LANE_ID}", f"topic read {t.root}/dev/+/req", f"topic read {t.root}/dev/+/status",
              f"topic read {t.root}/presence/#", ""]
    for device in config.device_ids():
        kind = device.partition(".")[0]
        lines += [
            f"user {device}",
            f"topic write {t.request(device)}",
            f"topic read {t.reply(device)}",
            f"topic readwrite {t.status(device)}",
            f"topic readwrite {t.presence(device)}",
            f"topic read {t.root}/presence/#",
            f"topic read {t.state}",
            f"topic read {t.event}",
        ]
        if kind == "admin":
            lines += [f"topic readwrite {t.root}/sim/#", f"topic read {t.root}/dev/+/status"]
        else:
            lines.append(f"topic read {t.sim(device)}")
        lines.append("")
    return "\n".join(lines)


@dataclass
class BrokerFiles:
    conf: Path
    acl: Path
    passwords: Path
    credentials: Path


# Debian's (and Raspberry Pi OS's) packaged Mosquitto: its main file sets these, and reads every
# *.conf of conf.d at its end; a file there must not set pid_file, persistence_location or
# log_dest again (Mosquitto refuses a second persistence_location and stops).
DEBIAN_MAIN_FILE = "/etc/mosquitto/mosquitto.conf"
DEBIAN_CONF_D = "/etc/mosquitto/conf.d"
DEBIAN_PERSISTENCE = "/var/lib/mosquitto"
INSTALLED_FILES = "/etc/mosquitto/hallq"     # where install.sh puts the password file and ACL
MQTT_CONNECTIONS_PER_ADDRESS = 32            # broker-firewall.nft: idle sockets cannot fill the broker


def keep_credentials(config: Config, path: Path) -> dict[str, str]:
    """Every identity's password, from ``path`` (kept: re-running must not lock devices out) or new;
    written back (mode 0600) with the ones the hall has gained."""
    existing: dict[str, str] = {}
    if path.exists():
        existing = {k: v for k, v in tomllib.loads(path.read_text("utf-8")).items() if isinstance(v, str)}
    users = [CONTROLLER_ID, CONTROLLER_LANE_ID, *config.device_ids()]
    passwords = {user: existing.get(user) or secrets.token_urlsafe(18) for user in users}
    key = existing.get(APPOINTMENT_KEY) or secrets.token_urlsafe(32)
    lines = ["# hallq device passwords (clear text): copy each line to its device; keep this file private"]
    lines += [f'"{user}" = "{pw}"' for user, pw in passwords.items()]
    lines += ["# the key of appointment codes' hashes: the controller's and the kiosks' only",
              f'"{APPOINTMENT_KEY}" = "{key}"']
    private_write(path, "\n".join(lines) + "\n")
    return {**passwords, APPOINTMENT_KEY: key}


def private_write(path: Path, text: str) -> None:
    """A file only its owner reads (0600 from its first byte: never readable for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    path.chmod(0o600)


def mosquitto_conf(config: Config, password_file: str, acl_file: str, listen: str = "0.0.0.0",
                   port: int | None = None, persistence_dir: str | None = None, log_dest: str | None = "stderr",
                   tls_dir: Path | None = None) -> str:
    """The hall's Mosquitto settings. ``persistence_dir`` and ``log_dest`` None: a file for Debian's
    conf.d, whose main file already sets where Mosquitto keeps its data and its log."""
    template = resources.files("hallq.broker_config").joinpath("mosquitto.conf.template").read_text("utf-8")
    include = persistence_dir is None
    return template.format(
        hall_id=config.hall.id, password_file=password_file, acl_file=acl_file,
        port=port or config.broker.port, listen=listen, tls_block=_tls_block(config, tls_dir or Path(acl_file).parent),
        main_file_note=(f"# Read by Debian's {DEBIAN_MAIN_FILE} from {DEBIAN_CONF_D}: that file keeps its\n"
                        "# pid_file, persistence_location and log_dest; this one adds the hall's listener.\n"
                        if include else ""),
        persistence_block="" if include else f"persistence_location {persistence_dir}/\n",
        log_block=f"log_dest {log_dest}\n" if log_dest else "",
        client_id_block=("# a client's id is its user name: one device's password cannot take another's place\n"
                         "use_username_as_clientid true" if config.broker.bind_client_ids else
                         "# bind_client_ids = false: client ids are free (test rigs only)"))


def firewall_rules(config: Config, per_address: int = MQTT_CONNECTIONS_PER_ADDRESS) -> str:
    """nftables rules for the broker's host: at most ``per_address`` MQTT connections from one
    address. Mosquitto 2.0 keeps a socket that never sends CONNECT for ever; thousands of them
    from one machine would take every descriptor and lock the hall's devices out."""
    port = config.broker.port
    return (f"# hallq: at most {per_address} MQTT connections per address to the hall's broker (port {port});\n"
            "# loaded by hallq-firewall.service before Mosquitto. Written by `hallq bundle`.\n"
            "table inet hallq\ndelete table inet hallq\n"
            "table inet hallq {\n"
            "  set mqtt_clients { type ipv4_addr; flags dynamic; size 65535; }\n"
            "  set mqtt_clients6 { type ipv6_addr; flags dynamic; size 65535; }\n"
            "  chain input {\n"
            "    type filter hook input priority 0; policy accept;\n"
            f"    tcp dport {port} ct state new add @mqtt_clients {{ ip saddr ct count over {per_address} }} "
            "counter reject with tcp reset\n"
            f"    tcp dport {port} ct state new add @mqtt_clients6 {{ ip6 saddr ct count over {per_address} }} "
            "counter reject with tcp reset\n"
            "  }\n}\n")


def write_mosquitto_files(config: Config, passwords: dict[str, str], out_dir: Path) -> tuple[Path, Path]:
    """The hashed password file and the ACL (mode 0640; group mosquitto where it exists)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    password_path = out_dir / "passwords"
    password_path.write_text("".join(f"{u}:{hash_password(pw)}\n" for u, pw in passwords.items()
                                     if u != APPOINTMENT_KEY), "utf-8")
    password_path.chmod(0o640)
    acl_path = out_dir / "acl"
    acl_path.write_text(acl_text(config), "utf-8")
    acl_path.chmod(0o640)
    return password_path, acl_path


def write_broker_config(config: Config, out: str | os.PathLike[str], listen: str = "0.0.0.0",
                        persistence_dir: str | None = None, log_dest: str = "stderr",
                        port: int | None = None) -> BrokerFiles:
    """A Mosquitto of its own for the hall (``mosquitto -c DIR/mosquitto.conf``): tests, trials."""
    out_dir = Path(out).resolve()
    passwords = keep_credentials(config, out_dir / "credentials.toml")
    password_path, acl_path = write_mosquitto_files(config, passwords, out_dir)
    persistence = Path(persistence_dir).resolve() if persistence_dir else out_dir / "data"
    persistence.mkdir(parents=True, exist_ok=True)
    conf_path = out_dir / "mosquitto.conf"
    conf_path.write_text(mosquitto_conf(config, str(password_path), str(acl_path), listen, port, str(persistence),
                                        log_dest, tls_dir=out_dir), "utf-8")
    _let_mosquitto_read(password_path, acl_path, persistence)
    return BrokerFiles(conf_path, acl_path, password_path, out_dir / "credentials.toml")


def write_debian_include(config: Config, passwords: dict[str, str], out: Path,
                         installed_at: str = INSTALLED_FILES) -> Path:
    """For Debian's packaged Mosquitto: ``hallq.conf`` (for /etc/mosquitto/conf.d), the password
    file and ACL (for ``installed_at``) and ``broker-firewall.nft``, all in ``out``. The main file
    stays as shipped."""
    write_mosquitto_files(config, passwords, out)
    conf = out / "hallq.conf"
    conf.write_text(mosquitto_conf(config, f"{installed_at}/passwords", f"{installed_at}/acl", "0.0.0.0",
                                   persistence_dir=None, log_dest=None, tls_dir=Path(installed_at)), "utf-8")
    (out / "broker-firewall.nft").write_text(firewall_rules(config), "utf-8")
    return conf


def _tls_block(config: Config, out_dir: Path) -> str:
    """Listener lines for ``[broker.tls]``: the hall's one listener speaks TLS only.

    ``ca`` is the CA the clients trust (and, with ``require_client_cert``, the one client
    certificates must chain to); ``server_cert``/``server_key`` are the broker's certificate and
    key (default ``server.crt``/``server.key`` in the output folder). The key must be readable by
    the user Mosquitto runs as.
    """
    tls = config.broker.tls
    if tls is None:
        return ""
    ca = Path(resolve_path(config, tls.ca)).resolve()
    cert = Path(resolve_path(config, tls.server_cert)).resolve() if tls.server_cert else out_dir / "server.crt"
    key = Path(resolve_path(config, tls.server_key)).resolve() if tls.server_key else out_dir / "server.key"
    for what, path in (("ca", ca), ("server_cert", cert), ("server_key", key)):
        if not path.exists():
            log.warning("[broker.tls] %s: %s does not exist yet; Mosquitto will not start without it", what, path)
    lines = [
        "# TLS on this listener ([broker.tls] in the hall TOML): no plain MQTT is accepted here",
        f"cafile {ca}",
        f"certfile {cert}",
        f"keyfile {key}",
        f"require_certificate {'true' if tls.require_client_cert else 'false'}",
    ]
    return "\n".join(lines) + "\n"


def _let_mosquitto_read(password_path: Path, acl_path: Path, persistence: Path) -> None:
    """Mosquitto started as root drops to user ``mosquitto``: it must read these and write its data."""
    if os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam("mosquitto")
    except KeyError:
        return
    for path in (password_path, acl_path):
        os.chown(path, 0, user.pw_gid)
    os.chown(persistence, user.pw_uid, user.pw_gid)
    for child in persistence.iterdir():
        os.chown(child, user.pw_uid, user.pw_gid)


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.broker)
    if args.debian:
        out = Path(args.out).resolve()
        passwords = keep_credentials(config, out / "credentials.toml")
        conf = write_debian_include(config, passwords, out, installed_at=str(out))
        print(f"wrote {conf} (for {DEBIAN_CONF_D}/), {out / 'passwords'}, {out / 'acl'}, "
              f"{out / 'broker-firewall.nft'}\nwrote {out / 'credentials.toml'} (clear-text passwords; keep private)\n"
              f"run: cp {conf} {DEBIAN_CONF_D}/ && systemctl restart mosquitto")
        return 0
    files = write_broker_config(config, args.out, listen=args.listen, persistence_dir=args.persistence_dir)
    print(f"wrote {files.conf}\nwrote {files.acl}\nwrote {files.passwords}\n"
          f"wrote {files.credentials} (clear-text passwords for the devices; keep private)\n"
          f"run: mosquitto -c {files.conf}")
    return 0
