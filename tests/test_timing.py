import math

import pytest

from gan.config import parse_epochs
from gan.timing import duration_text, eta_seconds


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (59.9, "59 s"), (60, "1 min 00 s"), (3599, "59 min 59 s"), (3600, "1 h 00 min"), (7325, "2 h 02 min"),
    (None, "–"), (math.nan, "–"), (math.inf, "–"),
])
def test_durations_read_as_seconds_minutes_or_hours(seconds, text):
    assert duration_text(seconds) == text


def test_eta_is_the_remaining_images_at_the_current_speed():
    assert eta_seconds(300, 100, 1000.0) == 30.0
    assert eta_seconds(0, 100, 1000.0) == 0.0


@pytest.mark.parametrize("speed", [0.0, math.nan])
def test_eta_is_unknown_before_a_speed_is_measured(speed):
    assert eta_seconds(300, 100, speed) is None


@pytest.mark.parametrize("text, epochs", [("0,5,10", (0, 5, 10)), (" 0, 5 ;10 ,", (0, 5, 10)), ("", ()), (" , ", ())])
def test_epoch_lists_accept_commas_semicolons_and_spaces(text, epochs):
    assert parse_epochs(text) == epochs


def test_an_epoch_list_with_a_non_number_names_what_it_expected():
    with pytest.raises(ValueError, match="expected comma-separated whole epochs like 0,5,10, got '0, five'"):
        parse_epochs("0, five")
