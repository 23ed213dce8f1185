"""parse_amount: numbers, durations and percentages said in words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.plugin import Amount, duration_in_words, parse_amount
from assistant.spoken import AMOUNT_WORDS, number_in_words


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
