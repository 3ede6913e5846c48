"""Plugin configuration: the ``--config`` string and typed option readers.

Every option reaches a plugin as a string (from an ini section, through the
command line). :class:`Options` turns them into typed values and names the
plugin, the option and what was expected when one is wrong.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Mapping
from typing import Any

ITEM_SEPARATOR = ":::"
"""Separates ``key:value`` items in ``--config`` (upstream's encoding)."""

_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})
_OFF = frozenset({"", "none", "off", "false", "no", "disabled"})
_UNITS = "BKMGTPEZY"


class PluginError(Exception):
    """A plugin cannot run: bad configuration, missing package, bad class name."""


class ConfigError(PluginError):
    """An option or the ``--config`` string is malformed."""


class MissingDependency(PluginError):
    """A plugin needs a package its environment lacks; the message names the pip extra."""


def parse_config(text: str | None) -> dict[str, str]:
    """Decode ``--config``: ``key:value:::key:value``, or a JSON object.

    Values keep their inner spaces and colons (only the first ``:`` of an item
    splits it); keys and values are stripped, as upstream did. A JSON object
    (text starting with ``{``) is accepted too, for values that hold ``:::``.

    Raises:
        ConfigError: an item has no ``:`` or an empty key, or the JSON is bad.
    """
    if text is None or not text.strip():
        return {}
    if text.lstrip().startswith("{"):
        try:
            decoded = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"--config: invalid JSON object: {exc}") from None
        if not isinstance(decoded, dict):
            raise ConfigError("--config: the JSON must be an object")
        return {str(key): _as_text(value) for key, value in decoded.items()}
    config: dict[str, str] = {}
    for item in text.split(ITEM_SEPARATOR):
        if not item.strip():
            continue
        key, colon, value = item.partition(":")
        if not colon:
            raise ConfigError(f"--config: item {item!r} is not key:value "
                              f"(items are separated by {ITEM_SEPARATOR!r})")
        if not key.strip():
            raise ConfigError(f"--config: item {item!r} has an empty key")
        config[key.strip()] = value.strip()
    return config


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def encode_config(config: Mapping[str, Any]) -> str:
    """The ``--config`` string for ``config``: sorted ``key:value`` items joined by ``:::``."""
    return ITEM_SEPARATOR.join(f"{key}:{config[key]}" for key in sorted(config))


def to_bool(value: Any) -> bool:
    """Read a boolean option (``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def parse_size(text: str) -> int:
    """Bytes from a size with a unit: ``512B``, ``250M``, ``1.5G`` (powers of 1024)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z])[iI]?[bB]?\s*", text)
    if match is None or match.group(2).upper() not in _UNITS:
        raise ValueError(f"expected a size such as 250M, got {text!r}")
    return int(float(match.group(1)) * 1024 ** _UNITS.index(match.group(2).upper()))


def parse_signal(value: str) -> int:
    """A signal number from a name (``TERM``, ``SIGTERM``) or a number."""
    text = value.strip().upper()
    if text.isdigit():
        return int(text)
    name = text if text.startswith("SIG") else "SIG" + text
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ValueError(f"expected a signal name or number, got {value!r}") from None


class Options:
    """Typed access to one plugin's string options.

    Args:
        plugin: how errors name the plugin (its class or section name).
        config: the plugin's ``config`` mapping.
    """

    def __init__(self, plugin: str, config: Mapping[str, Any]) -> None:
        self.plugin = plugin
        self.config = config

    def _raw(self, key: str) -> Any:
        return self.config.get(key)

    def _fail(self, key: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(f"plugin {self.plugin}: option {key!r} expects {expected}, "
                           f"got {value!r}")

    def text(self, key: str, default: str) -> str:
        """A string option."""
        value = self._raw(key)
        return default if value is None else str(value)

    def optional_text(self, key: str) -> str | None:
        """A string option that may be absent or empty (then None)."""
        value = self._raw(key)
        return None if value is None or not str(value).strip() else str(value).strip()

    def number(self, key: str, default: float, minimum: float | None = None,
               positive: bool = False) -> float:
        """A float option, at least ``minimum`` (or > 0 with ``positive``)."""
        value = self._raw(key)
        if value is None:
            return default
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self._fail(key, "a number", value) from None
        if positive and number <= 0:
            raise self._fail(key, "a number above 0", value)
        if minimum is not None and number < minimum:
            raise self._fail(key, f"a number of at least {minimum:g}", value)
        return number

    def optional_number(self, key: str, default: float | None) -> float | None:
        """A float option that ``none``/``off``/empty switches off (None)."""
        value = self._raw(key)
        if value is None:
            return default
        if str(value).strip().lower() in _OFF:
            return None
        return self.number(key, 0.0)

    def integer(self, key: str, default: int, minimum: int | None = None) -> int:
        """An int option (``"5.0"`` is refused: it is not an integer)."""
        value = self._raw(key)
        if value is None:
            return default
        try:
            number = int(str(value).strip())
        except ValueError:
            raise self._fail(key, "an integer", value) from None
        if minimum is not None and number < minimum:
            raise self._fail(key, f"an integer of at least {minimum}", value)
        return number

    def boolean(self, key: str, default: bool) -> bool:
        """A boolean option."""
        value = self._raw(key)
        if value is None:
            return default
        try:
            return to_bool(value)
        except ValueError:
            raise self._fail(key, "true or false", value) from None

    def regex(self, key: str, default: str, groups: tuple[str, ...] = ()) -> re.Pattern[str]:
        """A regular expression, which must define the named ``groups``.

        Surrounding double quotes are dropped: upstream's examples quote
        regexes so that its shlex-split command line keeps them whole.
        """
        raw = self.text(key, default).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1]
        try:
            pattern = re.compile(raw)
        except re.error as exc:
            raise self._fail(key, f"a regular expression ({exc})", raw) from None
        missing = [group for group in groups if group not in pattern.groupindex]
        if missing:
            raise self._fail(key, "a regular expression with the group(s) "
                             + ", ".join(f"(?P<{group}>...)" for group in missing), raw)
        return pattern

    def signal(self, key: str) -> int | None:
        """A signal name or number, or None when absent."""
        value = self.optional_text(key)
        if value is None:
            return None
        try:
            return parse_signal(value)
        except ValueError:
            raise self._fail(key, "a signal name or number", value) from None

    def limit(self, key: str, default: float | None) -> tuple[float, bool] | None:
        """A resource limit: ``(value, absolute)``, or None when switched off.

        A plain number is a percentage (``absolute`` False); a number with a
        unit (``250M``) is a size in bytes (``absolute`` True).
        """
        value = self._raw(key)
        if value is None:
            return None if default is None else (default, False)
        text = str(value).strip()
        if text.lower() in _OFF:
            return None
        try:
            return float(text), False
        except ValueError:
            pass
        try:
            return float(parse_size(text)), True
        except ValueError:
            raise self._fail(key, "a percentage (50) or a size with a unit (250M)",
                             value) from None


def require(module: str, extra: str, plugin: str) -> Any:
    """Import ``module`` or raise :class:`MissingDependency` naming the pip extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(
            f"plugin {plugin} needs the {module!r} package: "
            f"pip install 'circus-plugins[{extra}]'") from None
