"""Numbers, durations, times of day and percentages said in words: "five minutes", "ninety
seconds", "one hour and ten minutes", "an hour and a half", "fifty percent", "twenty five",
"two oh three PM", "yesterday at two oh three PM".

`parse_amount` is the one parser every skill uses (through `assistant.plugin`);
`AMOUNT_WORDS` is the vocabulary it understands, ready to be used as a recognizer grammar.
"""

from __future__ import annotations

import locale
import math
import re
from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import Literal

from assistant.clocks import local_datetime

Unit = Literal["seconds", "percent", ""]

_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000}
_SECONDS_PER = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60,
    "hour": 3600, "hours": 3600,
}  # fmt: skip
_ARTICLES = {"a", "an"}
_FILLER = {"and", "for", "to", "at", "of", "the", "set", "timer", "light", "lights", "brightness"}

AMOUNT_WORDS: tuple[str, ...] = tuple(
    sorted({*_SMALL, *_TENS, *_SCALES, *_SECONDS_PER, *_ARTICLES, *_FILLER, "half", "percent"})
)
"""Every word parse_amount understands (for a recognizer grammar)."""


@dataclass(frozen=True)
class Amount:
    """A parsed amount: `value` in seconds when `unit` is "seconds", in percent when it is
    "percent", a plain number when it is ""."""

    value: float
    unit: Unit


def parse_amount(text: str) -> Amount:
    """Parse a number, a duration or a percentage said in words (digits work too).

    Durations add up ("one hour and ten minutes" is 4200 seconds, "one minute thirty" is 90);
    "half" goes with its unit ("half an hour", "an hour and a half", "one and a half
    minutes"). Raises ValueError naming what was not understood.
    """
    seconds = 0.0
    pending: float | None = None  # a number waiting for its unit
    last_unit = 0
    is_duration = is_percent = False
    for token in _tokens(text):
        if isinstance(token, float):
            if pending is not None:
                raise ValueError(f"{text!r}: two numbers in a row ({pending:g} and {token:g})")
            pending = token
        elif token == "half":
            if pending is not None:
                pending += 0.5
            elif last_unit:
                seconds += last_unit / 2
                last_unit = 0
            else:
                pending = 0.5
        elif token == "percent":
            if pending is None:
                raise ValueError(f"{text!r}: percent of what? Say a number first")
            is_percent = True
        else:
            unit = _SECONDS_PER[token]
            seconds += (1.0 if pending is None else pending) * unit
            pending, last_unit, is_duration = None, unit, True
    if is_duration and is_percent:
        raise ValueError(f"{text!r}: a duration and a percentage at once")
    if is_duration:
        if pending is not None:  # "one minute thirty": the next smaller unit
            if last_unit <= 1:
                raise ValueError(f"{text!r}: {pending:g} of what? Say minutes or seconds")
            seconds += pending * last_unit / 60
        return Amount(seconds, "seconds")
    if pending is None:
        raise ValueError(f"no number in {text!r}")
    return Amount(pending, "percent" if is_percent else "")


def _words(text: str) -> list[str]:
    text = text.lower().replace("%", " percent ").replace("per cent", "percent")
    return re.findall(r"\d+(?:\.\d+)?|[a-z]+", text.replace("-", " "))


def _tokens(text: str) -> list[float | str]:
    """Numbers as floats; "half", "percent" and time units as words; filler dropped."""
    words = _words(text)
    tokens: list[float | str] = []
    number: list[str] = []  # number words of the number being read

    def close() -> None:
        if number:
            tokens.append(float(_number(number, text)))
            number.clear()

    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in _SMALL or word in _TENS or word in _SCALES:
            number.append(word)
        elif word in _ARTICLES:  # "a minute", "a hundred"; "a half" and "half an hour" skip it
            if following in _SECONDS_PER or following in _SCALES:
                if following in _SECONDS_PER and tokens and tokens[-1] == "half":
                    continue
                number.append("one")
        elif word == "and" and number and number[-1] in _SCALES and following in _NUMBER_WORDS:
            continue  # "one hundred and five"
        elif re.fullmatch(r"\d+(?:\.\d+)?", word):
            close()
            tokens.append(float(word))
        elif word in _SECONDS_PER or word in ("half", "percent"):
            close()
            tokens.append(word)
        elif word in _FILLER:
            close()
        else:
            raise ValueError(f"{text!r}: {word!r} is not a number, a time unit or 'percent'")
    close()
    return tokens


_NUMBER_WORDS = {*_SMALL, *_TENS, *_SCALES}


def _number(words: list[str], text: str) -> int:
    """Value of consecutive number words ("twenty five", "one hundred five", "nineteen
    hundred"). "hundred" follows a number below a hundred or none, not the word "thousand";
    "thousand" comes once."""
    total = current = 0
    previous = ""
    for word in words:
        if word in _SCALES:
            scale = _SCALES[word]
            thousand_again = scale == 1000 and total > 0  # "one thousand thousand"
            hundred_too_many = scale == 100 and (current >= 100 or previous == "thousand")
            if thousand_again or hundred_too_many:  # "hundred hundred", "thousand hundred"
                raise ValueError(f"{text!r}: {' '.join(words)!r} is not one number")
            current = max(current, 1) * scale
            if scale == 1000:
                total, current = current, 0
        else:
            value = _SMALL.get(word, _TENS.get(word, 0))
            if previous and previous not in _SCALES and not (previous in _TENS and value < 10):
                raise ValueError(f"{text!r}: '{previous} {word}' is not one number")
            current += value
        previous = word
    return total + current


def number_in_words(number: int) -> str:
    """0 to 999999 in words: 45 -> "forty five", 105 -> "one hundred and five"."""
    if not 0 <= number < 1_000_000:
        raise ValueError(f"{number} is out of range for words (0 to 999999)")
    if number == 0:
        return "zero"
    small = {value: word for word, value in _SMALL.items()}
    tens = {value: word for word, value in _TENS.items()}
    parts: list[str] = []
    thousands, rest = divmod(number, 1000)
    if thousands:
        parts += [number_in_words(thousands), "thousand"]
    hundreds, rest = divmod(rest, 100)
    if hundreds:
        parts += [small[hundreds], "hundred"]
    if rest and parts:
        parts.append("and")
    if rest >= 20:
        parts.append(tens[rest - rest % 10])
        rest %= 10
    if rest:
        parts.append(small[rest])
    return " ".join(parts)


def duration_in_words(seconds: float) -> str:
    """A duration as it is said: 300 -> "five minutes", 4200 -> "one hour and ten minutes";
    rounded to whole seconds."""
    remaining = round(seconds)
    parts = []
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{number_in_words(count)} {unit}{'s' if count > 1 else ''}")
    if not parts:
        return "zero seconds"
    return " and ".join(parts) if len(parts) < 3 else f"{parts[0]}, {parts[1]} and {parts[2]}"


def time_left_in_words(seconds: float) -> str:
    """A time left as an assistant says it, rounded the more the longer it is: to the second
    under a minute ("forty five seconds"), else to the nearest minute under an hour, else to
    the nearest five minutes, with "about" when rounded: 299 -> "about five minutes", 4000 ->
    "about one hour and five minutes". A part of a second counts as a whole one."""
    whole = math.ceil(seconds)
    step = 1 if whole < 60 else 60 if whole < 3600 else 300
    rounded = max(step, step * math.floor(whole / step + 0.5))
    return ("" if rounded == whole else "about ") + duration_in_words(rounded)


TWELVE_HOUR_CODES = ("%I", "%l", "%p", "%r")
"""strftime codes of a 12-hour clock; en_US's time format is "%r" ("%I:%M:%S %p")."""


def twelve_hour_clock(time_format: str | None = None) -> bool:
    """Whether the locale's time format (`time_format`, else LC_TIME's) uses a 12-hour clock.
    False (24-hour) when the platform cannot tell (no nl_langinfo: Windows) or LC_TIME is C
    or POSIX: `assistant` sets LC_TIME from the environment (LC_ALL, LC_TIME, LANG) at start."""
    if time_format is None:
        try:
            time_format = locale.nl_langinfo(locale.T_FMT)
        except AttributeError:
            return False
    return any(code in time_format for code in TWELVE_HOUR_CODES)


def time_of_day_in_words(when: time | datetime, twelve_hour: bool | None = None) -> str:
    """A time of day as people say it, to the minute: "two oh three PM", "two PM" (a 12-hour
    clock) or "fourteen oh three", "fourteen o'clock" (24-hour); "midnight" and "noon" on
    either. espeak-ng reads digits badly here ("2:03 PM" is "two zero three PM", "14:00"
    "fourteen zero zero"), hence words. `twelve_hour` None: as the locale (twelve_hour_clock)."""
    hour, minute = when.hour, when.minute
    if minute == 0 and hour in (0, 12):
        return "midnight" if hour == 0 else "noon"
    if twelve_hour is None:
        twelve_hour = twelve_hour_clock()
    said_hour = (hour % 12 or 12) if twelve_hour else hour
    if minute == 0:
        minutes = "" if twelve_hour else " o'clock"
    else:
        minutes = " oh " if minute < 10 else " "
        minutes += number_in_words(minute)
    suffix = (" PM" if hour >= 12 else " AM") if twelve_hour else ""
    return number_in_words(said_hour) + minutes + suffix


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def moment_in_words(
    when: datetime, now: datetime | None = None, twelve_hour: bool | None = None
) -> str:
    """A past moment (an aware datetime) as people say it, with its day when it is not today:
    "at two oh three PM", "yesterday at two oh three PM", "on Tuesday at two oh three PM" in the
    week before, "nine days ago, at two oh three PM" before that; on the local clock of the time
    zone the machine is set to as it is said (clocks.local_datetime). `now`: an aware datetime,
    the present by default; `twelve_hour` as for time_of_day_in_words."""
    when = local_datetime(when)
    days = (local_datetime(now or datetime.now(timezone.utc)).date() - when.date()).days
    at = f"at {time_of_day_in_words(when, twelve_hour)}"
    if days < 1:
        return at
    if days == 1:
        return f"yesterday {at}"
    if days < len(WEEKDAYS):
        return f"on {WEEKDAYS[when.weekday()]} {at}"
    return f"{number_in_words(days)} days ago, {at}"
