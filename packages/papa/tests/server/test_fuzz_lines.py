"""Fuzzing papa's line protocol with arbitrary bytes: an answer to every line, papa stays up.

Unlike the word-based fuzzing in test_robustness.py, the lines here are any
bytes at all (NUL, CR, bytes that are not UTF-8, escapes), one line per
example step. Each line is answered by ``Error: ...``, a reply, or ``ok``
(a ``quit``), always ending with the prompt; papa never stops serving, and
the fixture fails the test if its log shows a traceback.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 2000
# No newline (one example step is one line) and no "/" (so no absolute path
# can name a program; PATH is empty too).
RAW = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"/", b""))
# A known command word first, then raw bytes: gets past the command lookup.
WORDS = [b"m", b"make", b"p", b"process", b"s", b"socket", b"set", b"get", b"l", b"list",
         b"r", b"remove", b"w", b"watch", b"stats", b"version", b"help", b"h"]
PREFIXED = st.tuples(st.sampled_from(WORDS), RAW).map(b" ".join)


def test_arbitrary_byte_lines(make_kernel, tmp_path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    kernel = make_kernel(PATH=str(empty))
    conn = kernel.client()
    conn.ok("set keep.\x01 me")  # so a random exit-if-idle never finds papa idle
    counts = {"lines": 0, "errors": 0, "replies": 0, "quits": 0, "watches": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(lines=st.lists(RAW | PREFIXED, min_size=1, max_size=4))
    def check(lines: list[bytes]) -> None:
        nonlocal conn
        for line in lines:
            conn.send(line + b"\n")
            reply = conn.read_until_any((b"> ", b"ok\n", b"] ", b"Watching "))
            counts["lines"] += 1
            if reply.endswith(b"ok\n"):  # quit (or an exit-if-idle refused as not idle)
                counts["quits"] += 1
                conn.close()
                conn = kernel.client()
            elif not reply.endswith(b"> "):  # a watch: its stream, not a prompt
                counts["watches"] += 1
                conn.close()
                conn = kernel.client()
            elif reply.startswith(b"Error: "):
                counts["errors"] += 1
                assert reply.endswith(b"\n> ") and reply.count(b"\n") >= 1, reply
            else:
                counts["replies"] += 1
                assert reply == b"> " or reply.endswith(b"\n> "), reply
            assert kernel.proc.poll() is None, "papa exited"

    check()
    assert conn.ok("version").startswith("version=")
    print(f"\npapa line fuzz: {counts['lines']} lines ({counts['errors']} Error:, "
          f"{counts['replies']} replies, {counts['quits']} quit/ok, {counts['watches']} "
          f"watches), 0 crashes")
