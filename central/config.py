"""The head office's TOML: ``[broker]`` (the central broker halls are bridged into; keys as in a
hall's ``[broker]``) and ``[central]``::

    [central]
    db = "postgresql://hq@db.example/hallq"   # or "sqlite:///var/lib/hallq/central.db" (default: --data)
    admin = "hq"             # the admin id halls know the centre by ([[admin]] id = "hq" in each hall)
    id = "central"           # this service's MQTT client id and user name on the central broker
    page = 500               # events asked for at once when repairing a gap
    service_level_wait_s = 900   # figures: share of customers called within this wait
    listen = "0.0.0.0:8090"  # the multi-hall dashboard (behind a login; `hallq central user add`)
    halls = ["h1", "h2"]     # the halls bridged in (`hallq central broker-config` makes their users)
"""
from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import msgspec

from hallq.errors import ConfigError
from hallq.runtime.config import BrokerConfig, Strict, _key_from_msgspec, parse_host_port

ID = re.compile(r"^[a-z0-9_-]{1,32}$")


class CentralSection(Strict):
    db: str | None = None
    admin: str = "hq"
    id: str = "central"
    page: int = 500
    service_level_wait_s: int = 900   # figures: share of customers called within this wait
    service_level_share: float = 0.8  # forecast: the share to call within that wait
    listen: str | None = None         # HOST:PORT of the dashboard (``--listen`` overrides); none: no dashboard
    halls: list[str] = []             # the halls bridged in: one broker user each (``central broker-config``)
    viewers: list[str] = []           # other users of the central broker that may only read


class CentralConfig(Strict):
    broker: BrokerConfig = msgspec.field(default_factory=BrokerConfig)
    central: CentralSection = msgspec.field(default_factory=CentralSection)
    path: str = ""

    def database(self, data_dir: str | None) -> str:
        """The store's URL: ``[central] db``, else a SQLite file in ``--data``."""
        if self.central.db:
            return self.central.db
        folder = Path(data_dir or "hallq-data/central")
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(folder / 'central.db').resolve()}"


def load_central_config(path: str | os.PathLike[str], broker: str | None = None) -> CentralConfig:
    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except OSError as err:
        raise ConfigError(str(path), "(file)", f"a readable TOML file ({err.strerror})") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(str(path), "(syntax)", f"valid UTF-8 TOML ({err})") from None
    try:
        config = msgspec.convert(data, CentralConfig, strict=True)
    except msgspec.ValidationError as err:
        key, expected = _key_from_msgspec(str(err))
        raise ConfigError(str(path), key, expected) from None
    central = config.central
    if central.db is not None and not re.match(r"^(sqlite:///.+|postgres(ql)?://.+)$", central.db):
        raise ConfigError(str(path), "central.db", 'sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB')
    for key in ("admin", "id"):
        if not ID.match(getattr(central, key)):
            raise ConfigError(str(path), f"central.{key}", "an id of 1 to 32 characters from a-z 0-9 _ -")
    for key in ("halls", "viewers"):
        for i, value in enumerate(getattr(central, key)):
            if not ID.match(value) or value in getattr(central, key)[:i]:
                raise ConfigError(str(path), f"central.{key}[{i}]", f"a unique id from a-z 0-9 _ -, not {value!r}")
    if not 10 <= central.page <= 1000:
        raise ConfigError(str(path), "central.page", "a page size from 10 to 1000 events")
    config.path = str(path)
    override = broker or os.environ.get("HALLQ_BROKER")
    if override:
        config.broker.host, config.broker.port = parse_host_port(override, str(path))
    return config
