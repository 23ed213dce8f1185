"""Settings against their declarations: types, choices and bounds, as config check reports them."""

import datetime

from assistant.discovery import declaration_problem
from assistant.plugin import Setting, Skill
from assistant.settings import SettingsProblem, validate_settings

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


def test_values_belong_to_a_dict_setting_and_are_one_of_the_six_types():
    class NotADict(Skill):
        name = "notadict"
        settings = (Setting("names", list, [], "names", values=str),)

    class NotAType(Skill):
        name = "notatype"
        settings = (Setting("names", dict, {}, "names", values=bytes),)

    assert "'names' has values=<class 'str'>; only a dict setting" in declaration_problem(NotADict)
    assert "'names' has values=<class 'bytes'>" in declaration_problem(NotAType)


def test_each_value_of_a_dict_setting_is_checked_against_its_type():
    schema = (Setting("phrases", dict, {}, "named phrases", values=str),)
    result, found = validate_settings({"phrases": {"a": "Hi", "b": 7}}, schema)
    assert result == {"phrases": {"a": "Hi", "b": "7"}} and found == []
    found = validate_settings({"phrases": {"a": ["Hi"]}}, schema)[1]
    assert [problem.message for problem in found] == ["phrases.a must be text, not ['Hi']"]


def test_a_value_yaml_reads_as_other_than_text_says_to_quote_it_and_where_it_is():
    schema = (Setting("phrases", dict, {}, "named phrases", values=str), Setting("text", str))
    found = validate_settings({"phrases": {"a": "Hi", "lunch": datetime.date(2024, 5, 1)}}, schema)
    assert found[1][0] == SettingsProblem(
        "phrases",
        "phrases.lunch must be text, and YAML reads 2024-05-01 as a date: put it in quotes to "
        "keep it as text",
        item="lunch",
    )
    found = validate_settings({"phrases": {"none": None}, "text": True}, schema)[1]
    assert found == [
        SettingsProblem(
            "phrases", 'phrases.none is empty; give it text (write "" for empty text)', "none"
        ),
        SettingsProblem(
            "text",
            "text must be text, and YAML reads true as a bool: put it in quotes to keep it as text",
        ),
    ]


def test_a_setting_under_an_earlier_name_is_refused_with_the_name_to_write():
    renamed = (Setting("ca_file", str, "", "CA file", formerly=("ca_certs", "cafile")),)
    assert [p.message for p in validate_settings({"cafile": "/etc/ca.pem"}, renamed)[1]] == [
        "setting 'cafile' was renamed 'ca_file': write ca_file: instead of cafile:"
    ]


def test_an_earlier_name_must_be_no_setting_of_now():
    class Taken(Skill):
        name = "taken"
        settings = (Setting("a", str, ""), Setting("b", str, "", formerly=("a",)))

    class NotATuple(Skill):
        name = "notatuple"
        settings = (Setting("b", str, "", formerly="a"),)

    for slip in (Taken, NotATuple):
        assert "give a tuple of names no setting has now" in declaration_problem(slip)


def test_a_dict_setting_without_values_takes_items_of_any_type():
    schema = (Setting("headers", dict, {}, "extra headers"),)
    headers = {"retries": 3, "names": ["a", "b"], "on": True}
    assert validate_settings({"headers": headers}, schema) == ({"headers": headers}, [])


def test_a_setting_declared_twice_is_a_declaration_slip():
    class Twice(Skill):
        name = "twice"
        settings = (Setting("host", str, ""), Setting("host", str, "localhost"))

    assert declaration_problem(Twice) == (
        "settings: 'host' is declared twice; give each setting its own name"
    )


def test_a_setting_of_another_type_than_the_six_is_a_declaration_slip():
    class Bytes(Skill):
        name = "bytes"
        settings = (Setting("key", bytes, b"", "a key"),)

    assert declaration_problem(Bytes) == (
        "settings: 'key' has type <class 'bytes'>; use one of str, int, float, bool, list, dict"
    )


def test_a_default_a_file_would_have_to_quote_is_a_declaration_slip():
    class Unquoted(Skill):
        name = "unquoted"
        settings = (Setting("port", str, 1883, "the broker's port"),)

    assert declaration_problem(Unquoted) == (
        "settings: the default of 'port' does not fit its type: write '1883', not 1883"
    )
