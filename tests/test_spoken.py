"""parse_amount: numbers, durations and percentages said in words."""

from __future__ import annotations

import os
import subprocess
import sys
import time as clock
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.plugin import (
    Amount,
    duration_in_words,
    moment_in_words,
    parse_amount,
    time_left_in_words,
    time_of_day_in_words,
)
from assistant.spoken import AMOUNT_WORDS, number_in_words, twelve_hour_clock


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("five minutes", 300, "seconds"),
        ("ninety seconds", 90, "seconds"),
        ("one hour and ten minutes", 4200, "seconds"),
        ("an hour and a half", 5400, "seconds"),
        ("half an hour", 1800, "seconds"),
        ("one and a half minutes", 90, "seconds"),
        ("a minute", 60, "seconds"),
        ("one minute thirty", 90, "seconds"),
        ("two hours thirty", 9000, "seconds"),
        ("twenty-five seconds", 25, "seconds"),
        ("set a timer for twenty five minutes", 1500, "seconds"),
        ("10 minutes", 600, "seconds"),
        ("Five Minutes", 300, "seconds"),
        ("fifty percent", 50, "percent"),
        ("lights to seventy five percent", 75, "percent"),
        ("40%", 40, "percent"),
        ("one hundred and five", 105, ""),
        ("a hundred", 100, ""),
        ("two thousand three hundred forty", 2340, ""),
        ("zero", 0, ""),
        ("nineteen", 19, ""),
        ("nineteen hundred", 1900, ""),
        ("two hundred thousand and five", 200005, ""),
    ],
)
def test_parse_amount(text: str, value: float, unit: str) -> None:
    assert parse_amount(text) == Amount(value, unit)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no number"),
        ("minutes please", "'please' is not a number"),
        ("five ten minutes", "'five ten' is not one number"),
        ("percent", "percent of what"),
        ("five minutes fifty percent", "a duration and a percentage at once"),
        ("ten seconds five", "5 of what"),
        ("five 10 minutes", "two numbers in a row"),
        ("a thousand thousand hours", "'one thousand thousand' is not one number"),
        ("one hundred two hundred", "'one hundred two hundred' is not one number"),
        ("hundred hundred seconds", "'hundred hundred' is not one number"),
        ("two thousand hundred", "'two thousand hundred' is not one number"),
        ("[unk]", "'unk' is not a number"),
    ],
)
def test_parse_amount_names_what_it_did_not_understand(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        parse_amount(text)


def test_every_grammar_word_is_understood_alone_or_with_a_number() -> None:
    for word in AMOUNT_WORDS:
        phrase = "five percent" if word == "percent" else f"{word} minute"
        assert parse_amount(phrase).value > 0 or word == "zero"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (300, "five minutes"),
        (4200, "one hour and ten minutes"),
        (90, "one minute and thirty seconds"),
        (3661, "one hour, one minute and one second"),
        (0, "zero seconds"),
    ],
)
def test_duration_in_words(seconds: int, words: str) -> None:
    assert duration_in_words(seconds) == words


@given(st.integers(0, 999_999))
def test_numbers_in_words_parse_back(number: int) -> None:
    assert parse_amount(number_in_words(number)) == Amount(number, "")


@given(st.integers(1, 100 * 3600))
def test_durations_in_words_parse_back(seconds: int) -> None:
    assert parse_amount(duration_in_words(seconds)) == Amount(seconds, "seconds")


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.2, "one second"),  # a part of a second counts as a whole one
        (45, "forty five seconds"),
        (59.5, "one minute"),
        (60, "one minute"),
        (89, "about one minute"),
        (90, "about two minutes"),
        (299, "about five minutes"),  # not "four minutes and fifty nine seconds"
        (299.4, "five minutes"),
        (1799, "about thirty minutes"),
        (3599, "about one hour"),
        (4000, "about one hour and five minutes"),  # to five minutes from an hour on
        (7170, "about two hours"),
    ],
)
def test_time_left_is_rounded_the_more_the_longer_it_is(seconds: float, words: str) -> None:
    assert time_left_in_words(seconds) == words


@given(st.floats(0.001, 100 * 3600))
def test_time_left_is_a_duration_within_half_a_step_said_about_when_rounded(
    seconds: float,
) -> None:
    said = time_left_in_words(seconds)
    value = parse_amount(said.removeprefix("about ")).value
    step = 1 if seconds <= 59 else 60 if seconds <= 3599 else 300
    assert abs(value - seconds) <= step / 2 + 1
    assert said.startswith("about ") == (value != -(-seconds // 1))


@pytest.mark.parametrize(
    ("hour", "minute", "twelve", "twenty_four"),
    [
        (14, 3, "two oh three PM", "fourteen oh three"),
        (14, 0, "two PM", "fourteen o'clock"),
        (9, 45, "nine forty five AM", "nine forty five"),
        (23, 59, "eleven fifty nine PM", "twenty three fifty nine"),
        (0, 5, "twelve oh five AM", "zero oh five"),
        (12, 30, "twelve thirty PM", "twelve thirty"),
        (0, 0, "midnight", "midnight"),
        (12, 0, "noon", "noon"),
    ],
)
def test_a_time_of_day_is_said_as_people_say_it(
    hour: int, minute: int, twelve: str, twenty_four: str
) -> None:
    """In words: espeak-ng reads "2:03 PM" as "two zero three PM", "14:00" as "fourteen zero
    zero"."""
    assert time_of_day_in_words(time(hour, minute), twelve_hour=True) == twelve
    assert time_of_day_in_words(time(hour, minute), twelve_hour=False) == twenty_four


@pytest.mark.parametrize(
    ("ago", "said"),
    [
        (timedelta(hours=22), "at one AM"),
        (timedelta(hours=23, minutes=30), "yesterday at eleven thirty PM"),
        (timedelta(days=1, hours=23), "yesterday at midnight"),
        (timedelta(days=2), "on Sunday at eleven PM"),
        (timedelta(days=6), "on Wednesday at eleven PM"),
        (timedelta(days=7), "seven days ago, at eleven PM"),
        (timedelta(days=400), "four hundred days ago, at eleven PM"),
    ],
)
def test_a_past_moment_is_said_with_its_day_when_it_is_not_today(
    monkeypatch: pytest.MonkeyPatch, ago: timedelta, said: str
) -> None:
    """On the local clock (an hour ahead of UTC here): Tuesday 2026-11-24 23:00 is now."""
    monkeypatch.setenv("TZ", "XST-1")
    try:
        now = datetime(2026, 11, 24, 22, 0, tzinfo=timezone.utc)
        assert moment_in_words(now - ago, now, twelve_hour=True) == said
    finally:
        monkeypatch.undo()
        clock.tzset()


@pytest.mark.parametrize(
    ("time_format", "twelve"),
    [("%r", True), ("%I:%M:%S %p", True), ("%l:%M %p", True), ("%T", False), ("%H:%M:%S", False)],
)
def test_a_time_format_with_am_and_pm_is_a_twelve_hour_clock(time_format: str, twelve: bool):
    assert twelve_hour_clock(time_format) is twelve


@pytest.fixture(scope="module")
def locales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of compiled locales (LOCPATH) holding en_US.UTF-8 and en_GB.UTF-8, built from
    the system's locale sources (Debian's `locales`)."""
    folder = tmp_path_factory.mktemp("locales")
    for name in ("en_US", "en_GB"):
        subprocess.run(
            ["localedef", "-i", name, "-f", "UTF-8", str(folder / f"{name}.UTF-8")], check=True
        )
    return folder


SAY_14_03 = """
import contextlib, io, sys
from datetime import time
from assistant import cli
from assistant.spoken import time_of_day_in_words
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    cli.main(["config", "check", sys.argv[1]])  # any command: the locale is read at start
print(time_of_day_in_words(time(14, 3)))
"""
"""A command of `assistant` (checking a file that is not there), then 14:03 said as then."""


@pytest.mark.parametrize(
    ("locale_name", "said"),
    [
        ("en_US.UTF-8", "two oh three PM"),
        ("en_GB.UTF-8", "fourteen oh three"),
        ("C.UTF-8", "fourteen oh three"),
        ("xx_NOWHERE.UTF-8", "fourteen oh three"),  # not on the system: C, no error
    ],
)
def test_the_assistant_says_times_on_the_clock_of_the_users_locale(
    locales: Path, locale_name: str, said: str
) -> None:
    """`assistant` takes LC_TIME from the environment at start (`cli.main`), for every
    command, `run` included."""
    environment = {**os.environ, "LOCPATH": str(locales), "LC_ALL": locale_name}
    done = subprocess.run(
        [sys.executable, "-c", SAY_14_03, str(locales / "missing.yaml")],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == said
