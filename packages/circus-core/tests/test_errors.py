"""The exception tree: one class per wire errno, and every class carries one."""

from __future__ import annotations

import importlib
import inspect

import pytest
from circus import errors
from circus.errors import (
    ERRNO_CLASSES,
    CircusError,
    CommandError,
    ConfigError,
    ConflictError,
    UnknownWatcherError,
)

WIRE_ERRNOS = range(0, 7)


def _all_subclasses(cls: type[CircusError]) -> set[type[CircusError]]:
    found: set[type[CircusError]] = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _all_subclasses(sub)
    return found


def test_every_errno_has_a_class():
    assert set(ERRNO_CLASSES) == set(WIRE_ERRNOS)
    for errno, cls in ERRNO_CLASSES.items():
        assert issubclass(cls, CircusError)
        assert cls.errno == errno


def test_every_class_has_an_errno_in_range():
    # Includes subclasses defined outside errors.py (e.g. the pidfile error).
    for module in ("circus._daemon.pidfile", "circus.config", "circus.arbiter", "circus.circusd"):
        importlib.import_module(module)
    for cls in {CircusError} | _all_subclasses(CircusError):
        assert isinstance(cls.errno, int), cls
        assert cls.errno in WIRE_ERRNOS, cls
        assert issubclass(cls, ERRNO_CLASSES[cls.errno]), (
            f"{cls.__name__} has errno {cls.errno} but does not derive from "
            f"{ERRNO_CLASSES[cls.errno].__name__}")


def test_errno_constants_are_the_protocols():
    assert (errors.NOT_SPECIFIED, errors.INVALID_JSON, errors.UNKNOWN_COMMAND,
            errors.MESSAGE_ERROR, errors.OS_ERROR, errors.COMMAND_ERROR,
            errors.BAD_MSG_DATA_ERROR) == (0, 1, 2, 3, 4, 5, 6)


@pytest.mark.parametrize("cls", [ConfigError, ConflictError])
def test_command_errors(cls):
    assert issubclass(cls, CommandError)
    assert cls.errno == errors.COMMAND_ERROR
    with pytest.raises(CommandError, match="boom"):
        raise cls("boom")


def test_config_error_is_a_command_error_and_a_circus_error():
    assert ConfigError.__mro__[1:3] == (CommandError, CircusError)
    assert not issubclass(ConfigError, ValueError)


def test_every_error_class_has_a_docstring():
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, CircusError):
            assert (cls.__dict__.get("__doc__") or "").strip(), name


def test_module_docstring_draws_every_class():
    doc = errors.__doc__ or ""
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, CircusError):
            assert name in doc, name


def test_unknown_watcher_is_a_message_error_as_upstream_replies():
    # upstream answers "program X not found" with errno 3
    assert issubclass(UnknownWatcherError, errors.MessageError)
    assert UnknownWatcherError.errno == errors.MESSAGE_ERROR
