"""The hall screen's colours: the defaults and a hall's overrides (``[[display]] theme``), for the
pygame screen and the browser's alike."""
from __future__ import annotations

from hallq.errors import ConfigError

Colour = tuple[int, int, int]

DEFAULT_THEME: dict[str, str] = {
    "background": "#0b2545", "header": "#061a33", "panel": "#13315c", "panel_flash": "#d1495b",
    "text": "#ffffff", "muted": "#8da9c4", "accent": "#ffd166",      # accent: ticket numbers
    "ok": "#06d6a0", "warn": "#f4a261",                              # warn: 暂停服务 / 暂停取号
    "alert": "#e63946", "outage": "#9d0208", "reconnecting": "#b5651d", "resumed": "#2a9d8f",
    "ticker": "#061a33", "line": "#1f4e89",
}


def parse_colour(value: str) -> Colour:
    text = value.strip().lstrip("#")
    if len(text) != 6:
        raise ValueError(value)
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def make_theme(overrides: dict[str, str], where: str = "display.theme", path: str = "<config>") -> dict[str, Colour]:
    """Default colours with the hall's overrides; a bad key or colour is a ConfigError."""
    theme: dict[str, Colour] = {}
    for key, value in {**DEFAULT_THEME, **overrides}.items():
        if key not in DEFAULT_THEME:
            raise ConfigError(path, f"{where}.{key}", f"one of {', '.join(DEFAULT_THEME)}")
        try:
            theme[key] = parse_colour(value)
        except ValueError:
            raise ConfigError(path, f"{where}.{key}", f'a colour "#rrggbb", not {value!r}') from None
    return theme
