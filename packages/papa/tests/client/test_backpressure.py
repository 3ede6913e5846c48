"""``Papa.make_process(..., backpressure=True)`` against our kernel, and papa 1.0.6's refusal."""

from __future__ import annotations

import papa
import pytest

from .conftest import Kernel

LINES = 60_000  # 3 MB of numbered lines: far more than bufsize and a pipe hold
WRITER = (
    "import os\n"
    f"data = b''.join(b'%09d\\n' % i for i in range({LINES}))\n"
    "view = memoryview(data)\n"
    "while view:\n"
    "    view = view[os.write(1, view[:1 << 16]):]\n"
)


def test_backpressure_delivers_every_line_in_order(kernel: Kernel) -> None:
    with kernel.client() as client:
        if kernel.kind != "ours":
            with pytest.raises(papa.Error):
                kernel.spawn(client, "fast", "pass", bufsize="4k", backpressure=True)
            return
        kernel.spawn(client, "fast", WRITER, bufsize="4k", backpressure=True)
        out, codes = b"", []
        with client.watch_processes("fast") as watcher:
            while watcher:
                batch = watcher.read()
                assert batch is not None
                out += b"".join(record.data for record in batch[0])  # type: ignore[misc]
                codes += [record.data for record in batch[2]]
    assert out == b"".join(b"%09d\n" % i for i in range(LINES))
    assert codes == [0]
