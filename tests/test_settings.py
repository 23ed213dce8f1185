"""Settings against their declarations: types, choices and bounds, as config check reports them."""

from assistant.host import declaration_problem
from assistant.plugin import Setting, Skill
from assistant.settings import validate_settings

SCHEMA = (
    Setting("every", float, 10.0, "seconds", minimum=0.1),
    Setting("percent", int, -1, "brightness", minimum=-1, maximum=100),
    Setting("volume", float, 1.0, "0 to 1", maximum=1),
)


def messages(values):
    return [problem.message for problem in validate_settings(values, SCHEMA)[1]]


def test_numbers_outside_their_bounds_are_refused_and_the_bounds_are_inclusive():
    assert messages({"every": 0.0, "percent": 500, "volume": 5}) == [
        "every must be a number of 0.1 or more, not 0",
        "percent must be a number from -1 to 100, not 500",
        "volume must be a number of 1 or less, not 5",
    ]
    assert messages({"every": 0.1, "percent": -1, "volume": 1}) == []
    assert messages({"every": float("inf")}) == ["every must be a finite number, not inf"]


def test_a_default_outside_its_own_bounds_is_a_declaration_slip():
    class Slip(Skill):
        name = "slip"
        settings = (Setting("every", float, 0.0, "seconds", minimum=0.1),)

    assert "every must be a number of 0.1 or more, not 0" in declaration_problem(Slip)
