"""The human strings of ``stats`` replies, at the boundaries where rounding shows.

circus-core's copy of the wire vocabulary; ``integration-tests/test_wire_contract.py``
holds it equal to ``circus.client.protocol`` when both packages are installed.
"""

from __future__ import annotations

import pytest
from circus._base.protocol import EndpointError, cpu_clock, human_bytes, parse_endpoint


@pytest.mark.parametrize(("seconds", "clock"), [
    (0, "0:00.00"), (0.004, "0:00.00"), (0.05, "0:00.05"), (0.29, "0:00.29"),
    (59.99, "0:59.99"), (59.999, "0:59.99"), (60, "1:00.00"), (3600, "60:00.00"),
])
def test_cpu_clock_truncates_hundredths_and_never_shows_60_seconds(seconds, clock):
    assert cpu_clock(seconds) == clock


@pytest.mark.parametrize(("count", "text"), [
    (0, "0B"), (1023, "1023B"), (1024, "1.00K"), (1024**2 - 1, "1024.00K"),
    (1024**2, "1.00M"), (1024**6, "1.00E"), (1024**8, "1.00Y"),
])
def test_human_bytes_as_upstream(count, text):
    assert human_bytes(count) == text


def test_endpoints():
    assert parse_endpoint("tcp://[::1]:5555").host == "::1"
    with pytest.raises(EndpointError, match="port 0 is out of range"):
        parse_endpoint("tcp://127.0.0.1:0")
