"""Human units: sizes as the publisher writes them, ages, and "N/A"."""

from __future__ import annotations

import pytest
from circus.top._units import format_age, format_percent, format_size, parse_size, to_number


@pytest.mark.parametrize(
    ("text", "size"),
    [("512B", 512), ("1.00K", 1024), ("25.34M", int(25.34 * 1024**2)), ("2G", 2 * 1024**3),
     (4096, 4096), ("N/A", None), ("lots", None), (None, None), (-3, None)],
)
def test_sizes_are_read_from_their_human_form(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(("size", "text"), [(512, "512B"), (1536, "1.50K"),
                                            (3 * 1024**3, "3.00G"), (None, "N/A")])
def test_sizes_are_written_like_the_publisher_writes_them(size, text):
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5.7, "0:05"), (62, "1:02"), (3723, "1:02:03"), (3 * 86400 + 4 * 3600 + 59, "3d 4h"),
     (None, "N/A"), (-1, "N/A")],
)
def test_ages_read_like_top(seconds, text):
    assert format_age(seconds) == text


@pytest.mark.parametrize(("value", "number"), [(1.5, 1.5), (3, 3.0), ("2.5", 2.5), ("N/A", None),
                                               (None, None), (True, None), (float("nan"), None),
                                               ([1], None)])
def test_numbers_accept_only_measurements(value, number):
    assert to_number(value) == number


def test_percentages_have_one_decimal_or_say_not_available():
    assert format_percent(12.345) == "12.3"
    assert format_percent(None) == "N/A"
