"""build_stream: turn a ``stdout_stream``/``stderr_stream`` option dict into a stream."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import TypeGuard

from ._base import Stream, StreamMessage
from ._file import FileStream, WatchedFileStream
from ._queue import QueueStream
from ._stdout import FancyStdoutStream, StdoutStream
from ._timed import TimedRotatingFileStream

_BUILTINS: dict[str, type[Stream]] = {
    cls.__name__.lower(): cls
    for cls in (
        FileStream,
        WatchedFileStream,
        TimedRotatingFileStream,
        QueueStream,
        StdoutStream,
        FancyStdoutStream,
    )
}
_BUILTIN_NAMES = ", ".join(cls.__name__ for cls in _BUILTINS.values())


def build_stream(spec: Mapping[str, object]) -> Stream:
    """Create the stream described by ``spec``.

    ``spec["class"]`` is a builtin name (``FileStream``, any case, also as
    ``circus.stream.FileStream``) or a dotted ``module.Class`` path; the other
    keys are passed to the class as keyword arguments. Without ``class`` but
    with ``filename`` a FileStream is built. Objects lacking ``close`` or
    ``reopen`` (upstream streams only had to be callable) get no-op ones.

    Every configuration problem raises ValueError with a readable message.
    """
    options = dict(spec)
    class_path = options.pop("class", None)
    factory: Callable[..., object]
    if class_path is None or (isinstance(class_path, str) and not class_path.strip()):
        if "filename" not in options:
            raise ValueError("a stream needs a 'class' option (or a 'filename' for FileStream)")
        factory, label = _resolve("FileStream")
    elif isinstance(class_path, str):
        factory, label = _resolve(class_path.strip())
    else:
        raise ValueError(f"stream class: expected a class name, got {class_path!r}")
    _check_options(factory, label, options)
    try:
        stream = factory(**options)
    except TypeError as exc:
        raise ValueError(f"cannot create stream {label}: {exc}") from exc
    if not callable(stream):
        raise ValueError(f"stream class {label} does not produce a callable stream")
    if _is_stream(stream):
        return stream
    return _CallableStream(stream)


def _is_stream(candidate: object) -> TypeGuard[Stream]:
    """True for a callable with callable ``close`` and ``reopen`` attributes."""
    return (
        callable(candidate)
        and callable(getattr(candidate, "close", None))
        and callable(getattr(candidate, "reopen", None))
    )


def _resolve(class_path: str) -> tuple[Callable[..., object], str]:
    """Return (factory, label used in messages) for a class name or dotted path."""
    key = class_path.lower()
    last = key.rpartition(".")[2]
    if "." not in key or (key.startswith("circus.stream.") and last in _BUILTINS):
        # Upstream configs spell builtins in several ways (FileStream,
        # circus.stream.FileStream, circus.stream.file_stream.FileStream).
        builtin = _BUILTINS.get(last)
        if builtin is None:
            raise ValueError(
                f"unknown stream class {class_path!r}: expected one of {_BUILTIN_NAMES}"
                " or a dotted module.Class path"
            )
        return builtin, builtin.__name__
    module_name, _, attr = class_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        # Anything can fail while importing user code; all of it is a config error.
        raise ValueError(f"cannot import stream class {class_path!r}: {exc}") from exc
    factory = getattr(module, attr, None)
    if factory is None:
        raise ValueError(
            f"cannot import stream class {class_path!r}: "
            f"module {module_name!r} has no attribute {attr!r}"
        )
    if not callable(factory):
        raise ValueError(f"stream class {class_path!r} is not a class")
    return factory, class_path


def _check_options(
    factory: Callable[..., object], label: str, options: Mapping[str, object]
) -> None:
    """Reject options the constructor does not take, before calling it.

    Checking the signature gives a message naming the option, where calling
    would give a TypeError that does not say which class was configured.
    """
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # some builtins have no signature; let the call decide
    params = signature.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    named = {p.name: p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    for option in sorted(options):
        if option not in named:
            raise ValueError(f"stream option {option!r} is not accepted by {label}")
    for name, param in named.items():
        if param.default is param.empty and name not in options:
            raise ValueError(f"stream class {label} requires option {name!r}")


class _CallableStream:
    """Give a callable-only stream the ``close``/``reopen`` of the protocol."""

    def __init__(self, wrapped: Callable[[StreamMessage], object]) -> None:
        self.wrapped = wrapped

    def __call__(self, data: StreamMessage) -> None:
        self.wrapped(data)

    def close(self) -> None:
        close = getattr(self.wrapped, "close", None)
        if callable(close):
            close()

    def reopen(self) -> None:
        reopen = getattr(self.wrapped, "reopen", None)
        if callable(reopen):
            reopen()

    def __getattr__(self, name: str) -> object:
        # Keep custom attributes reachable (a stream exposing a queue, say).
        return getattr(self.wrapped, name)
