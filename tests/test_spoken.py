"""parse_amount: numbers, durations and percentages said in words."""

from __future__ import annotations

import pytest

from assistant.plugin import Amount, parse_amount
from assistant.spoken import AMOUNT_WORDS


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
