"""``hallq web --config F [--listen HOST:PORT] [--data DIR]`` and
``hallq web user add NAME --role supervisor|manager`` (the password from standard input)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from hallq.errors import ConfigError
from hallq.http.login import read_password
from hallq.runtime.config import Config, WebConfig, load_config
from hallq.runtime.loop import setup_logging

log = logging.getLogger("hallq.web")


def default_data_dir(config: Config) -> str:
    return str(Path("hallq-data") / config.hall.id / "web")


def listen_address(config: Config, override: str | None) -> tuple[str, int]:
    text = override or (config.web.listen if config.web else WebConfig().listen)
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(config.path or "<config>", "--listen" if override else "web.listen",
                          f"HOST:PORT such as 0.0.0.0:8080, not {text!r}")
    return host or "0.0.0.0", int(port)


def add_user(config: Config, args: argparse.Namespace) -> int:
    from hallq.http.accounts import AccountError, Accounts  # noqa: PLC0415
    if len(args.words) != 3 or not args.role:
        print("hallq web: usage: hallq web user add NAME --role supervisor|manager (password on standard input)",
              file=sys.stderr)
        return 2
    try:
        password = read_password()
        accounts = Accounts(str(Path(args.data or default_data_dir(config)) / "web.db"))
        accounts.add_user(args.words[2], args.role, password)
    except (AccountError, ValueError) as err:
        print(f"hallq web: {err}", file=sys.stderr)
        return 2
    print(f"user {args.words[2]} ({args.role}) saved")
    return 0


def token_command(config: Config, args: argparse.Namespace) -> int:
    """`hallq web token add NAME [--webhook URL] [--events a,b]` (prints the API token and the webhook's
    signing secret, once), `token list`, `token remove NAME`, `token enable NAME` (a disabled webhook)."""
    from .api import KNOWN_EVENTS  # noqa: PLC0415
    from .integrations import IntegrationError, Integrations  # noqa: PLC0415
    words = args.words[1:]
    store = Integrations(Path(args.data or default_data_dir(config)) / "integrations.db")
    try:
        if words[:1] == ["add"] and len(words) == 2:
            events = [x.strip() for x in (args.events or "").split(",") if x.strip()]
            token, secret = store.add(words[1], args.webhook, events, KNOWN_EVENTS, after_seq=args.after_seq or 0)
            print(f"integration {words[1]} saved; shown once, keep them:\napi token: {token}")
            if args.webhook:
                print(f"webhook signing secret: {secret}")
            return 0
        if words == ["list"]:
            for i in store.all():
                state = "disabled" if i.disabled_at else ("failing: " + (i.last_error or "") if i.failing_since else "ok")
                print(f"{i.name}\t{i.webhook or '-'}\tafter seq {i.cursor}\t{','.join(sorted(i.events)) or 'all events'}\t{state}")
            return 0
        if words[:1] in (["remove"], ["enable"]) and len(words) == 2:
            done = store.remove(words[1]) if words[0] == "remove" else store.enable(words[1])
            if not done:
                print(f"hallq web: no integration {words[1]!r}", file=sys.stderr)
                return 1
            print(f"{words[0]}d {words[1]}")
            return 0
    except IntegrationError as err:
        print(f"hallq web token: {err}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print("hallq web: usage: hallq web token add NAME [--webhook URL] [--events a,b] | list | remove NAME | enable NAME",
          file=sys.stderr)
    return 2


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.broker)
    if config.web is None:
        config.web = WebConfig()          # a hall without [web] gets the defaults (no phone QR codes)
    if args.words[:2] == ["user", "add"]:
        return add_user(config, args)
    if args.words[:1] == ["token"]:
        return token_command(config, args)
    if args.words:
        print(f"hallq web: unknown words {' '.join(args.words)!r}; try: hallq web user add NAME --role supervisor",
              file=sys.stderr)
        return 2
    setup_logging(getattr(args, "verbose", False))
    host, port = listen_address(config, args.listen)
    data_dir = args.data or default_data_dir(config)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    return asyncio.run(serve(config, data_dir, host, port, voice=not args.no_voice))


async def serve(config: Config, data_dir: str, host: str, port: int, voice: bool = True) -> int:
    import uvicorn  # noqa: PLC0415

    from hallq.http.limits import DESCRIPTORS_KEPT, raise_descriptor_limit  # noqa: PLC0415

    from .server import WebService  # noqa: PLC0415
    descriptors = raise_descriptor_limit()
    # every open page holds a connection: bounded below the descriptors, so plain pages (and the
    # broker link, the databases) always find one; beyond, uvicorn answers 503 at once
    service = WebService(config, data_dir, voice=voice, max_streams=max(16, descriptors - 2 * DESCRIPTORS_KEPT))
    if not service.accounts.users():
        log.warning("no console user yet: add one with `hallq web user add NAME --role supervisor --config %s`",
                    config.path)
    web = config.web
    assert web is not None
    server = uvicorn.Server(uvicorn.Config(
        service.asgi, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
        timeout_graceful_shutdown=2, limit_concurrency=max(32, descriptors - DESCRIPTORS_KEPT),
        # X-Forwarded-For only from the proxies the hall names: otherwise anyone could claim any address
        proxy_headers=bool(web.trusted_proxies), forwarded_allow_ips=",".join(web.trusted_proxies) or None))
    stopping = asyncio.Event()
    owner = asyncio.create_task(service.run_shell(stopping))
    hooks = asyncio.create_task(service.webhooks.run())
    log.info("hallq web for hall %s on http://%s:%d (phone pages: %s)", config.hall.id, host, port,
             config.web.public_url if config.web and config.web.public_url else "off: no [web] public_url")
    try:
        await server.serve()      # until SIGINT/SIGTERM (uvicorn's handlers)
    finally:
        stopping.set()
        service.webhooks.stopped = True
        hooks.cancel()
        await owner
        service.accounts.close()
        service.integrations.close()
    return 0 if server.started else 1
