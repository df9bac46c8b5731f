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

from .config import Config, load_config, resolve_path
from .topics import CONTROLLER_ID, CONTROLLER_LANE_ID, Topics

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


def write_broker_config(config: Config, out: str | os.PathLike[str], listen: str = "0.0.0.0",
                        persistence_dir: str | None = None, log_dest: str = "stderr",
                        port: int | None = None) -> BrokerFiles:
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    credentials_path = out_dir / "credentials.toml"
    # keep existing passwords: re-running must not lock every device out
    existing: dict[str, str] = {}
    if credentials_path.exists():
        existing = {k: v for k, v in tomllib.loads(credentials_path.read_text("utf-8")).items() if isinstance(v, str)}
    users = [CONTROLLER_ID, CONTROLLER_LANE_ID, *config.device_ids()]
    passwords = {user: existing.get(user) or secrets.token_urlsafe(18) for user in users}
    cred_lines = ["# hallq device passwords (clear text): copy each line to its device; keep this file private"]
    cred_lines += [f'"{user}" = "{pw}"' for user, pw in passwords.items()]
    credentials_path.write_text("\n".join(cred_lines) + "\n", "utf-8")
    credentials_path.chmod(0o600)
    password_path = out_dir / "passwords"
    password_path.write_text("".join(f"{u}:{hash_password(pw)}\n" for u, pw in passwords.items()), "utf-8")
    password_path.chmod(0o640)
    acl_path = out_dir / "acl"
    acl_path.write_text(acl_text(config), "utf-8")
    acl_path.chmod(0o640)
    persistence = Path(persistence_dir).resolve() if persistence_dir else out_dir / "data"
    persistence.mkdir(parents=True, exist_ok=True)
    tls_block = _tls_block(config, out_dir)
    template = resources.files("broker_config").joinpath("mosquitto.conf.template").read_text("utf-8")
    conf_path = out_dir / "mosquitto.conf"
    conf_path.write_text(template.format(
        hall_id=config.hall.id, password_file=password_path, acl_file=acl_path,
        port=port or config.broker.port, listen=listen, tls_block=tls_block,
        persistence_dir=persistence, log_dest=log_dest,
        client_id_block=("# a client's id is its user name: one device's password cannot take another's place\n"
                         "use_username_as_clientid true" if config.broker.bind_client_ids else
                         "# bind_client_ids = false: client ids are free (test rigs only)")), "utf-8")
    _let_mosquitto_read(password_path, acl_path, persistence)
    return BrokerFiles(conf_path, acl_path, password_path, credentials_path)


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
    files = write_broker_config(config, args.out, listen=args.listen, persistence_dir=args.persistence_dir)
    print(f"wrote {files.conf}\nwrote {files.acl}\nwrote {files.passwords}\n"
          f"wrote {files.credentials} (clear-text passwords for the devices; keep private)\n"
          f"run: mosquitto -c {files.conf}")
    return 0
