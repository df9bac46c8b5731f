"""``hallq central broker-config --config central.toml --out DIR``: the central broker's files.

Every hall bridged into head office has its own user (``hall-<id>``) that may write only under
its own root: its ``state``, ``event``, ``presence/+``, ``dev/+/status`` and its answers to the
centre's requests (``dev/admin.<admin>/res``), and read only the centre's requests to it. A hall's
password can therefore never publish as another hall: one broken or stolen hall cannot poison
another's figures (head office also refuses, per hall, what it cannot read: hallq/records/archive.py).
The service (``[central] id``) reads every hall and asks each for missing events; ``viewers``
read only.

Written: ``mosquitto.conf`` (one TLS listener when ``[broker.tls]`` names the broker's certificate
and key), ``acl``, ``passwords`` (hashed) and ``credentials.toml`` (clear, 0600: each hall's bridge
needs its line; re-running keeps them).
"""
from __future__ import annotations

import argparse
import os
import secrets
import tomllib
from pathlib import Path

from hallq.broker_config import hash_password, private_write
from hallq.runtime.config import resolve_path

from .config import CentralConfig


def central_acl(config: CentralConfig) -> str:
    c = config.central
    lines = [f"# hallq head office: one user per hall ({len(c.halls)}), each writing only its own hall", ""]
    for hall in c.halls:
        root = f"hallq/v1/{hall}"
        lines += [f"user hall-{hall}", f"topic write {root}/state", f"topic write {root}/event",
                  f"topic write {root}/presence/+", f"topic write {root}/dev/+/status",
                  f"topic write {root}/dev/admin.{c.admin}/res", f"topic read {root}/dev/admin.{c.admin}/req",
                  f"topic write {root}/bridge", ""]
    lines += [f"user {c.id}", "topic read hallq/v1/+/state", "topic read hallq/v1/+/event",
              "topic read hallq/v1/+/presence/+", "topic read hallq/v1/+/dev/+/status",
              f"topic read hallq/v1/+/dev/admin.{c.admin}/res", f"topic write hallq/v1/+/dev/admin.{c.admin}/req", ""]
    for viewer in c.viewers:
        lines += [f"user {viewer}", "topic read hallq/v1/+/state", "topic read hallq/v1/+/event",
                  "topic read hallq/v1/+/presence/+", ""]
    return "\n".join(lines)


def write_central_broker(config: CentralConfig, out: Path, listen: str = "0.0.0.0") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    c = config.central
    cred_path = out / "credentials.toml"
    existing = tomllib.loads(cred_path.read_text("utf-8")) if cred_path.exists() else {}
    users = [c.id, *(f"hall-{h}" for h in c.halls), *c.viewers]
    passwords = {u: existing.get(u) if isinstance(existing.get(u), str) else secrets.token_urlsafe(18) for u in users}
    private_write(cred_path, "# head office's broker: each hall's bridge needs its own line\n"
                  + "".join(f'"{u}" = "{p}"\n' for u, p in passwords.items()))
    (out / "passwords").write_text("".join(f"{u}:{hash_password(p)}\n" for u, p in passwords.items()), "utf-8")
    (out / "acl").write_text(central_acl(config), "utf-8")
    tls = config.broker.tls
    tls_lines = ""
    if tls is not None and tls.server_cert and tls.server_key:
        tls_lines = (f"cafile {resolve_path(config, tls.ca)}\ncertfile {resolve_path(config, tls.server_cert)}\n"
                     f"keyfile {resolve_path(config, tls.server_key)}\n")
    (out / "mosquitto.conf").write_text(
        "# hallq head office's broker, written by `hallq central broker-config`\n"
        f"per_listener_settings false\nallow_anonymous false\npassword_file {out / 'passwords'}\n"
        f"acl_file {out / 'acl'}\n\nlistener {config.broker.port} {listen}\n"
        "use_username_as_clientid true\n" + tls_lines +
        "\npersistence true\npersistence_location " + str(out / "data") + "/\n"
        "max_queued_messages 100000\nset_tcp_nodelay true\nmax_packet_size 262144\n", "utf-8")
    (out / "data").mkdir(exist_ok=True)
    for name in ("passwords", "acl"):
        os.chmod(out / name, 0o640)
    return [out / "mosquitto.conf", out / "acl", out / "passwords", cred_path]


def main(config: CentralConfig, args: argparse.Namespace) -> int:
    if not args.out:
        print("hallq central: usage: hallq central broker-config --config central.toml --out DIR", flush=True)
        return 2
    for path in write_central_broker(config, Path(args.out).resolve()):
        print(f"wrote {path}")
    return 0
