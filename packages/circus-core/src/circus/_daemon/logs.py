"""circusd's own logging: level, output (stdout, file, syslog) or a config file."""

from __future__ import annotations

import json
import logging
import logging.config
import logging.handlers
import os
import sys
from urllib.parse import urlparse

from circus.errors import ConfigError

LOG_FORMAT = "%(asctime)s %(name)s[%(process)d] [%(levelname)s] %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
LEVELS = ("critical", "error", "warning", "info", "debug")


def configure_logging(level: str = "info", output: str = "-", config: str | None = None) -> None:
    """Set up the ``circus`` logger (and the root logger) for circusd.

    Args:
        level: critical, error, warning, info or debug.
        output: ``-`` or ``stdout``, a file path, ``syslog://host:port?facility``
            or ``syslog:///dev/log?facility``.
        config: an INI, JSON or YAML logging configuration file, or ``default``.

    Raises:
        ConfigError: for an unknown level, a bad output or an unreadable config.
    """
    if config and config != "default":
        _load_config_file(config)
        return
    name = level.lower()
    if name not in LEVELS:
        raise ConfigError(f"log level {level!r}: expected one of {', '.join(LEVELS)}")
    handler = _handler(output)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, LOG_DATE_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(name.upper())


def _handler(output: str) -> logging.Handler:
    if output in ("-", "stdout", ""):
        return logging.StreamHandler(sys.stdout)
    if output == "stderr":
        return logging.StreamHandler(sys.stderr)
    if output.startswith("syslog://"):
        return _syslog_handler(output)
    try:
        return logging.handlers.WatchedFileHandler(output)
    except OSError as exc:
        raise ConfigError(f"log output {output}: cannot open it ({exc.strerror})") from exc


def _syslog_handler(output: str) -> logging.Handler:
    url = urlparse(output)
    facility_name = (url.query or "user").lower()
    facility = logging.handlers.SysLogHandler.facility_names.get(facility_name)
    if facility is None:
        raise ConfigError(f"log output {output}: unknown syslog facility {facility_name!r}")
    address: str | tuple[str, int]
    if url.netloc:
        address = (url.hostname or "localhost", url.port or 514)
    else:
        address = url.path or "/dev/log"
    try:
        return logging.handlers.SysLogHandler(address=address, facility=facility)
    except OSError as exc:
        raise ConfigError(f"log output {output}: cannot reach syslog ({exc})") from exc


def _load_config_file(path: str) -> None:
    if not os.path.isfile(path):
        raise ConfigError(f"logger config {path}: no such file")
    lowered = path.lower()
    try:
        if lowered.endswith(".json"):
            with open(path) as handle:
                logging.config.dictConfig(json.load(handle))
        elif lowered.endswith((".yaml", ".yml")):
            try:
                import yaml  # an optional dependency (circus-core[yaml]), needed only here
            except ImportError:
                raise ConfigError(
                    f"logger config {path}: YAML needs PyYAML (pip install pyyaml); "
                    "or use an INI or JSON file"
                ) from None
            with open(path) as handle:
                logging.config.dictConfig(yaml.safe_load(handle))
        else:
            logging.config.fileConfig(path, disable_existing_loggers=False)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"logger config {path}: {exc}") from exc
