"""One root for every error hallq raises on purpose.

Faults that can happen in a running hall (a bad payload, a printer out of paper, a broker away)
become replies, events or status messages; these classes name them so that no caller has to
parse text.
"""
from __future__ import annotations


class HallqError(Exception):
    """Root of every error hallq raises on purpose."""


class ConfigError(HallqError):
    """The hall's TOML file is missing, unreadable or has a wrong key.

    The message names the file, the key and what was expected; commands exit with status 2.
    """

    def __init__(self, path: str, key: str, expected: str) -> None:
        self.path, self.key, self.expected = path, key, expected
        super().__init__(f"{path}: {key}: {expected}")


class RequestError(HallqError):
    """A request that is refused: it carries the contract's error code and a human message."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


class DeviceFault(HallqError):
    """A device (printer, LED sign, GPIO) cannot do what was asked; reported, never fatal."""

    def __init__(self, device: str, condition: str, detail: str = "") -> None:
        self.device, self.condition, self.detail = device, condition, detail
        super().__init__(f"{device}: {condition}" + (f" ({detail})" if detail else ""))
