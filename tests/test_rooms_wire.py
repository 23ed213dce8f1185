"""The rooms protocol without a broker: topics, payloads, settings, discovery, de-duplication."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant import PACKAGE
from assistant.config import ConfigError, load_config
from assistant.plugin import CommandEvent
from assistant.rooms import topics as wire
from assistant.rooms.dedup import Deduplicator
from assistant.rooms.discovery import Device, discovery_messages, encode_event, node_id
from assistant.rooms.home_assistant import RetainedRecord
from assistant.rooms.settings import MqttSettings, MqttSettingsError

TOPICS = wire.Topics("assistant")
DETECTION = wire.Detection(
    id="ab12-7",
    command="on",
    score=0.93,
    site="kitchen",
    source="board",
    age=0.25,
    seq=41,
    device_ms=123456,
)


def test_topics_are_versioned_and_name_the_site() -> None:
    assert TOPICS.detection("kitchen", "on") == "assistant/v1/site/kitchen/detection/on"
    assert TOPICS.status("kitchen") == "assistant/v1/site/kitchen/status"
    assert TOPICS.reply("kitchen") == "assistant/v1/site/kitchen/reply"
    assert TOPICS.hub_status == "assistant/v1/hub/status"
    assert TOPICS.all_detections == "assistant/v1/site/+/detection/+"
    assert TOPICS.site_of("assistant/v1/site/kitchen/detection/on") == "kitchen"
    assert wire.Topics("home/voice").status("den") == "home/voice/v1/site/den/status"


@pytest.mark.parametrize("site", ["living/room", "a+b", "#", "", " den"])
def test_a_site_that_cannot_be_a_topic_level_is_refused_clearly(site: str) -> None:
    with pytest.raises(ValueError, match=r"site .* cannot be used in MQTT topics"):
        TOPICS.status(site)


@settings(max_examples=300, derandomize=True)
@given(st.text(max_size=12))
def test_a_site_taken_from_a_topic_is_one_the_hub_can_answer_on(level: str) -> None:
    """Any client may publish on any topic; the hub acknowledges on the site's own."""
    try:
        site = TOPICS.site_of(f"assistant/v1/site/{level}/detection/on")
    except wire.PayloadError:
        return
    assert TOPICS.ack(site) == f"assistant/v1/site/{site}/ack"


def test_detection_survives_encoding() -> None:
    assert wire.decode_detection(wire.encode_detection(DETECTION)) == DETECTION


def test_a_newer_payload_version_says_what_to_update() -> None:
    body = json.loads(wire.encode_detection(DETECTION))
    body["v"] = 2
    with pytest.raises(wire.PayloadError, match=r"version 2.*update this assistant"):
        wire.decode_detection(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"on 0.9", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"v": 1, "id": "x", "command": "on", "site": "k", "source": "b", "age": 0}', "score"),
        (
            b'{"v": 1, "id": "x", "command": "on", "score": true, "site": "k", "source": "b",'
            b' "age": 0}',
            "score",
        ),
    ],
)
def test_malformed_detections_are_refused_with_the_reason(payload: bytes, message: str) -> None:
    with pytest.raises(wire.PayloadError, match=message):
        wire.decode_detection(payload)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("score", 1.5, r"'score' must be from 0 to 1, not 1.5"),
        ("score", float("nan"), r"'score' must be from 0 to 1, not nan"),
        ("age", -2.0, r"'age' must be a finite number of 0 or more, not -2.0"),
        ("age", float("inf"), r"'age' must be a finite number of 0 or more, not inf"),
        ("command", "go\n12:00 ERROR", r"'go\\n12:00 ERROR' is not a command name"),
        ("id", "x" * 65, r"'id' must have 1 to 64 characters"),
        ("source", "", r"'source' must have 1 to 64 characters"),
        ("seq", -1, r"'seq' must be from 0 to 2\*\*32 - 1, not -1"),
    ],
)
def test_detections_out_of_range_are_refused(field: str, value: object, message: str) -> None:
    """A hostile client on the broker: numbers outside what a board reports, names that are
    not commands, fields long enough to fill the hub's memory of ids."""
    body = json.loads(wire.encode_detection(DETECTION)) | {field: value}
    with pytest.raises(wire.PayloadError, match=message):
        wire.decode_detection(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("source", "heard"), [("board", True), ("microphone", True), ("control socket", False)]
)
def test_a_detection_of_a_satellite_of_before_is_heard_unless_it_was_sent(
    source: str, heard: bool
) -> None:
    """Satellites of before `heard` named `assistant send`'s commands `control socket`."""
    body = json.loads(wire.encode_detection(DETECTION)) | {"source": source}
    del body["heard"]
    assert wire.decode_detection(json.dumps(body).encode()).heard is heard


def test_a_detection_whose_heard_is_not_a_boolean_is_refused() -> None:
    body = json.loads(wire.encode_detection(DETECTION)) | {"heard": "yes"}
    with pytest.raises(wire.PayloadError, match="field 'heard' must be true or false, not 'yes'"):
        wire.decode_detection(json.dumps(body).encode())


def test_replies_and_acknowledgements_survive_encoding() -> None:
    reply = wire.Reply("Timer set for 5 minutes", age=2.5, id="3fa2-7")
    assert wire.decode_reply(wire.encode_reply(reply)) == reply
    assert wire.decode_ack(wire.encode_ack(["a-1", "a-2"])) == ["a-1", "a-2"]


def test_a_reply_of_a_hub_without_ages_or_ids_is_fresh_and_a_bad_one_is_named() -> None:
    """`age` and `id` are optional fields of version 1: a hub of before them sends neither."""
    assert wire.decode_reply(b'{"v": 1, "text": "Lights are on"}') == wire.Reply("Lights are on")
    with pytest.raises(wire.PayloadError, match="reply: field 'age' must be a finite number"):
        wire.decode_reply(b'{"v": 1, "text": "Lights are on", "age": -1}')
    with pytest.raises(wire.PayloadError, match="reply: field 'id' is missing or has the wrong"):
        wire.decode_reply(b'{"v": 1, "text": "Lights are on", "id": 7}')


def test_message_ids_differ_within_a_run_and_between_runs() -> None:
    first, second = wire.message_ids(), wire.message_ids()
    ids = [next(first) for _ in range(1000)] + [next(second) for _ in range(1000)]
    assert len(set(ids)) == len(ids)


def test_settings_defaults_come_from_the_schema_and_bad_values_are_named() -> None:
    settings = MqttSettings.from_section({"host": "broker.lan"})
    assert (settings.host, settings.port, settings.topic_prefix) == (
        "broker.lan",
        1883,
        "assistant",
    )
    with pytest.raises(
        MqttSettingsError, match="mqtt: port must be a number from 1 to 65535, not 70000"
    ):
        MqttSettings.from_section({"port": 70000})
    with pytest.raises(MqttSettingsError, match=r"mqtt\.topic_prefix 'a#' .*: it contains '#'"):
        MqttSettings.from_section({"topic_prefix": "a#"})
    with pytest.raises(MqttSettingsError, match=r"mqtt\.ca_file /nowhere/ca\.pem is not a file"):
        MqttSettings.from_section({"tls": True, "ca_file": "/nowhere/ca.pem"})
    with pytest.raises(MqttSettingsError, match=r"mqtt\.ca_file .* cannot be used as a CA certif"):
        MqttSettings.from_section({"tls": True, "ca_file": __file__})  # a file, not a certificate
    with pytest.raises(MqttSettingsError, match="unknown setting 'hots'"):
        MqttSettings.from_section({"hots": "broker.lan"})
    with pytest.raises(  # a reconnect_min set when the default reconnect_max was larger
        MqttSettingsError,
        match=r"mqtt\.reconnect_max \(2; the default is 2\) must be at least mqtt\.reconnect_min "
        r"\(5\): raise reconnect_max or lower reconnect_min",
    ):
        MqttSettings.from_section({"reconnect_min": 5})


def test_the_mqtt_section_is_validated_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("role: hub\nmqtt:\n  host: broker.lan\n  port: many\n")
    with pytest.raises(ConfigError) as raised:
        load_config(config, {})
    assert f"{config}:4: mqtt: port must be a whole number" in str(raised.value)
    config.write_text("role: single\n")
    assert MqttSettings.from_section(load_config(config, {}).sections["mqtt"]).port == 1883
    for prefix, why in (  # the value quoted whole, and the level at fault
        ("home/#", "its level 2 of 2, '#', contains '#'"),
        ("/home", "its level 1 of 2, '', is empty"),
        ("home/ upstairs/x", "its level 2 of 3, ' upstairs', starts or ends with a space"),
    ):
        config.write_text(f"role: hub\nmqtt:\n  topic_prefix: {prefix!r}\n")
        with pytest.raises(ConfigError) as raised:
            load_config(config, {})
        assert str(raised.value) == (
            f"{config}:3: mqtt.topic_prefix {prefix!r} cannot be used in MQTT topics: {why}"
        )


def test_discovery_announces_an_event_entity_per_command() -> None:
    device = Device("living room", ("on", "off"), "satellite", TOPICS.status("living room"))
    messages = dict(discovery_messages(TOPICS, "homeassistant", device))
    assert set(messages) == {
        "homeassistant/event/assistant_living_room_796dbc/on/config",
        "homeassistant/event/assistant_living_room_796dbc/off/config",
    }
    entity = json.loads(messages["homeassistant/event/assistant_living_room_796dbc/on/config"])
    assert entity["state_topic"] == "assistant/v1/site/living room/event/on"
    assert entity["event_types"] == ["detected"]
    assert entity["availability_topic"] == "assistant/v1/site/living room/status"
    assert entity["unique_id"] == "assistant_living_room_796dbc_on"
    assert entity["device"]["identifiers"] == ["assistant_living_room_796dbc"]
    assert entity["device"]["sw_version"] == entity["origin"]["sw_version"] == version(PACKAGE)
    fired = json.loads(encode_event(CommandEvent("on", 0.91, "board", "living room")))
    assert fired["event_type"] in entity["event_types"]


def test_sites_that_differ_only_in_characters_ids_cannot_hold_are_distinct_devices() -> None:
    """`living room` and `living_room` (or `Küche` and `K_che`) made one node id before: one
    device whose entities each machine overwrote. A name the id can hold keeps its id."""
    ids = {site: node_id(TOPICS, site) for site in ("living room", "living_room", "Küche", "K_che")}
    assert ids == {
        "living room": "assistant_living_room_796dbc",
        "living_room": "assistant_living_room",
        "Küche": "assistant_K_che_1cfad9",
        "K_che": "assistant_K_che",
    }
    topics = set()
    for site in ids:
        device = Device(site, ("on",), "satellite", TOPICS.status(site))
        topics |= dict(discovery_messages(TOPICS, "homeassistant", device)).keys()
    assert len(topics) == 4


def test_homes_with_their_own_topic_prefix_announce_distinct_devices() -> None:
    device = Device("kitchen", ("on",), "hub", TOPICS.hub_status)
    ours = json.loads(
        dict(discovery_messages(TOPICS, "homeassistant", device))[
            "homeassistant/event/assistant_kitchen/on/config"
        ]
    )
    theirs_topics = wire.Topics("home/two")
    theirs = dict(discovery_messages(theirs_topics, "homeassistant", device))
    assert list(theirs) == ["homeassistant/event/home_two_kitchen_71b240/on/config"]
    assert (
        json.loads(theirs["homeassistant/event/home_two_kitchen_71b240/on/config"])["unique_id"]
        != (ours["unique_id"])
    )


@pytest.mark.parametrize("content", ["{not json", '{"retained": "a/b"}', "[]", "\xff"])
def test_an_unreadable_record_of_announced_configs_is_reported_and_written_anew(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    path = tmp_path / "rooms" / "home-assistant-hub.json"
    path.parent.mkdir()
    path.write_bytes(content.encode("latin-1"))
    record = RetainedRecord(path)
    assert record.load() == set()
    assert f"could not read {path}" in caplog.text
    assert "announced before are not removed" in caplog.text
    record.save({"homeassistant/event/assistant_hall/on/config"})
    assert record.load() == {"homeassistant/event/assistant_hall/on/config"}


def heard(command: str, site: str, score: float, at: float) -> CommandEvent:
    return CommandEvent(command, score, "board", site, received=at)


def test_one_word_heard_in_two_rooms_yields_the_best_once_the_window_passed() -> None:
    dedup = Deduplicator(window=0.3, memory=60)
    everyone = frozenset({"kitchen", "office", "hall"})
    dedup.add(heard("on", "kitchen", 0.85, 10.0), everyone)
    dedup.add(heard("on", "office", 0.95, 10.1), everyone)
    assert dedup.take_due(10.29) == []
    assert dedup.next_due() == pytest.approx(10.3)
    assert dedup.take_due(10.3) == [heard("on", "office", 0.95, 10.1)]
    dedup.add(heard("on", "hall", 0.99, 10.2), everyone)  # late: its group already ran
    assert dedup.take_due(11.0) == []
    assert dedup.merged == 2


def test_words_apart_or_different_run_separately() -> None:
    dedup = Deduplicator(window=0.3, memory=60)
    rooms = frozenset({"kitchen", "office"})
    dedup.add(heard("on", "kitchen", 0.9, 10.0), rooms)
    dedup.add(heard("off", "office", 0.9, 10.0), rooms)
    dedup.add(heard("on", "office", 0.9, 10.5), rooms)
    assert [e.command for e in dedup.take_due(11.0)] == ["on", "off", "on"]
    assert dedup.merged == 0


def test_a_group_every_listening_room_reported_runs_at_once() -> None:
    dedup = Deduplicator(window=0.3, memory=60)
    rooms = frozenset({"kitchen", "office"})
    dedup.add(heard("up", "kitchen", 0.97, 10.0), rooms)
    assert dedup.take_due(10.01) == []
    dedup.add(heard("up", "office", 0.91, 10.01), rooms)
    assert dedup.take_due(10.02) == [heard("up", "kitchen", 0.97, 10.0)]


def test_a_zero_window_runs_every_detection() -> None:
    dedup = Deduplicator(window=0.0, memory=60)
    rooms = frozenset({"kitchen", "office"})
    dedup.add(heard("go", "kitchen", 0.9, 10.0), rooms)
    dedup.add(heard("go", "office", 0.8, 10.0), rooms)
    assert len(dedup.take_due(10.0)) == 2


def test_an_unacknowledged_detection_is_resent_after_5_10_20_40_then_every_80_s():
    from assistant.rooms.satellite import _Pending

    pending = _Pending(CommandEvent("on", 0.9))
    assert pending.resend_due(0.0)  # never sent yet
    waits = []
    for sends in range(1, 8):
        pending.sent_at, pending.sends = 100.0, sends
        waits.append(next(t for t in range(200) if pending.resend_due(100.0 + t)))
    assert waits == [5, 10, 20, 40, 80, 80, 80]


def test_phrase_requests_and_answers_survive_encoding_and_bad_fields_are_named() -> None:
    request = wire.PhraseRequest("ab-1", ["ten", "minutes", "[unk]"], 4.0, "How long?", 8.0, 0.5)
    assert wire.decode_phrase_request(wire.encode_phrase_request(request)) == request
    answer = wire.PhraseAnswer("ab-1", "ten minutes")
    assert wire.decode_phrase_answer(wire.encode_phrase_answer(answer)) == answer
    no_model = wire.PhraseAnswer("ab-1", problem="no Vosk model at /x")
    assert wire.decode_phrase_answer(wire.encode_phrase_answer(no_model)) == no_model
    good = json.loads(wire.encode_phrase_request(request))
    for field, value, message in [
        ("grammar", "ten", "field 'grammar' is missing or has the wrong type"),
        ("grammar", ["ten", ""], "field 'grammar' must be at most 1000 words of 1 to 64"),
        ("seconds", 0, "field 'seconds' must be more than 0"),
        ("seconds", 61, "field 'seconds' must be from 0 to 60"),
        ("window", None, "field 'window' is missing"),
        ("age", -1, "field 'age' must be a finite number of 0 or more"),
        ("prompt", 7, "field 'prompt' is missing or has the wrong type"),
        ("id", "", "field 'id' must have 1 to 64 characters"),
    ]:
        bad = json.dumps({**good, field: value}).encode()
        with pytest.raises(wire.PayloadError, match=f"phrase request: {message}"):
            wire.decode_phrase_request(bad)
    with pytest.raises(wire.PayloadError, match="phrase answer: field 'text' is missing or has"):
        wire.decode_phrase_answer(b'{"v": 1, "id": "ab-1", "text": 10}')


def test_accepted_survives_encoding_and_bad_fields_are_named() -> None:
    """The hub's word that it took a satellite's command (the satellite's acknowledgement)."""
    assert TOPICS.accepted("kitchen") == "assistant/v1/site/kitchen/accepted"
    accepted = wire.Accepted("ab12-7", "on", 0.3125)
    assert wire.decode_accepted(wire.encode_accepted(accepted)) == accepted
    good = json.loads(wire.encode_accepted(accepted))
    assert good == {"v": 1, "id": "ab12-7", "command": "on", "age": 0.3125}
    for field, value, message in [
        ("id", "", "field 'id' must have 1 to 64 characters"),
        ("command", "On!", "'On!' is not a command name"),
        ("age", None, "field 'age' is missing"),
        ("age", float("inf"), "field 'age' must be a finite number of 0 or more"),
    ]:
        bad = json.dumps({**good, field: value}).encode()
        with pytest.raises(wire.PayloadError, match=f"accepted: {message}"):
            wire.decode_accepted(bad)
