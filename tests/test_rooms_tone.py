"""The acknowledgement tone (`speech.acknowledge: tone`) in rooms, through a real mosquitto: when
the hub's dispatcher takes a command a satellite heard, it says so on the satellite's `accepted`
topic, and that satellite plays its tone on its (stand-in) sound card before the reply; nothing
for a command the hub ignores, for the room whose duplicate was dropped, or when it is late.
A satellite of before never sees the new topic."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from mosquitto import Mosquitto, Recorder
from test_daemon import is_acknowledgement
from test_rooms_daemon import shows, start_assistant
from waiting import wait_until
from wav import played_files

from assistant.clocks import elapsed
from assistant.daemon import Assistant
from assistant.plugin import CommandEvent
from assistant.rooms import topics as wire

TOPICS = wire.Topics("assistant")


def quiet(satellite: Assistant) -> None:
    """Once what the satellite plays has been played, and its board is heard again (the
    own-voice guard ignores it for a second after a reply)."""
    assert satellite.speaker.wait_idle(30)
    assert wait_until(lambda: not satellite.speaker.speaking_lately())


def test_the_satellite_whose_command_the_hub_took_plays_its_tone_before_the_reply(
    tmp_path: Path, broker: Mosquitto, audio_output: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As on a single machine: a tone for each command the kitchen's board heard and the
    hub's dispatcher took, before the reply; none for one the hub ignored (min_score,
    cooldown), nor for `assistant send` on the satellite."""
    caplog.set_level(logging.INFO)
    hub = start_assistant(tmp_path, "hub", "hall", broker.port, False)
    kitchen = start_assistant(tmp_path, "satellite", "kitchen", broker.port, False, speaker=True)
    recorder = hub.host.skills["recorder"]
    try:
        assert wait_until(lambda: kitchen.room.hub_online and "kitchen" in hub.room.online_sites)
        kitchen.virtual_board.detect("on", 0.9)  # taken, and answered
        assert wait_until(lambda: len(played_files(audio_output)) == 2, timeout=30)
        quiet(kitchen)
        kitchen.virtual_board.detect("up", 0.9)
        assert wait_until(lambda: "ignored 'up': score 0.90 is below its min_score" in caplog.text)
        kitchen.virtual_board.detect("off", 0.9)  # taken; the skill says nothing
        assert wait_until(lambda: recorder.calls[-1:] == [("dim", "off")])
        kitchen.virtual_board.detect("off", 0.9)
        assert wait_until(lambda: "ignored 'off': repeated within its 30 s cooldown" in caplog.text)
        kitchen.run_sent_command(CommandEvent("on", 1.0, "control socket", "kitchen", elapsed()))
        assert wait_until(lambda: len(played_files(audio_output)) == 4, timeout=30)
        quiet(kitchen)
        kitchen.virtual_board.detect("on", 0.9)
        assert wait_until(lambda: len(played_files(audio_output)) == 6, timeout=30)
        assert kitchen.speaker.wait_idle(30)
        assert shows(kitchen, commands_the_hub_took="3, too late for a tone 0")
    finally:
        kitchen.stop()
        hub.stop()
    # on: tone, reply; off: tone; `assistant send`'s on: reply; on: tone, reply
    tones = [is_acknowledgement(wav) for wav in played_files(audio_output)]
    assert tones == [True, False, True, False, True, False]
    assert len(recorder.calls) == 4
    assert hub.replies == []


def test_a_word_heard_in_two_rooms_is_acknowledged_only_where_it_ran(
    tmp_path: Path, broker: Mosquitto, audio_output: Path
) -> None:
    """The office hears "on" best, then the kitchen: each time only the room whose detection
    ran gets the hub's word, and only the kitchen has a sound card here to play it on."""
    window = 1.0
    hub = start_assistant(tmp_path, "hub", "hall", broker.port, False, window)
    kitchen = start_assistant(
        tmp_path, "satellite", "kitchen", broker.port, False, window, speaker=True
    )
    office = start_assistant(tmp_path, "satellite", "office", broker.port, False, window)
    recorder = hub.host.skills["recorder"]
    try:
        assert wait_until(lambda: hub.room.online_sites == {"kitchen", "office"})
        assert wait_until(lambda: kitchen.room.hub_online and office.room.hub_online)
        for word, (kitchen_score, office_score) in enumerate([(0.8, 0.95), (0.95, 0.8)], 1):
            office.virtual_board.detect("on", office_score)
            kitchen.virtual_board.detect("on", kitchen_score)
            hub.virtual_board.detect("on", 0.7)  # every room heard it: it runs at once
            assert wait_until(lambda word=word: len(recorder.calls) == word)
            time.sleep(window)  # the next "on" is another word, not a late copy of this one
        assert wait_until(lambda: len(played_files(audio_output)) == 2, timeout=30)
        assert kitchen.speaker.wait_idle(30)
    finally:
        office.stop()
        kitchen.stop()
        hub.stop()
    assert [is_acknowledgement(wav) for wav in played_files(audio_output)] == [True, False]
    assert (office.room.stats.accepted, kitchen.room.stats.accepted) == (1, 1)
    assert office.replies == ["did bright 7"]
    assert hub.replies == []


def test_the_hub_plays_the_tone_for_its_own_board_only(
    tmp_path: Path, broker: Mosquitto, audio_output: Path
) -> None:
    """The hub's own setting counts for its own board's commands: a tone for one it heard, none
    for its `assistant send`, and none on the hub for a satellite's command, which that
    satellite is told of (to play by its own setting), as it is not of its `assistant send`."""
    hub = start_assistant(tmp_path, "hub", "hall", broker.port, False, speaker=True)
    kitchen = start_assistant(tmp_path, "satellite", "kitchen", broker.port, False)
    recorder = hub.host.skills["recorder"]
    try:
        assert wait_until(lambda: kitchen.room.hub_online and "kitchen" in hub.room.online_sites)
        hub.virtual_board.detect("on", 0.9)  # taken, and answered here
        assert wait_until(lambda: len(played_files(audio_output)) == 2, timeout=30)
        quiet(hub)
        kitchen.virtual_board.detect("off", 0.9)  # taken; the skill says nothing
        assert wait_until(lambda: kitchen.room.stats.accepted == 1)
        kitchen.run_sent_command(CommandEvent("up", 1.0, "control socket", "kitchen", elapsed()))
        hub.run_sent_command(CommandEvent("on", 1.0, "control socket", "hall", elapsed()))
        assert wait_until(lambda: len(recorder.calls) == 4)
        assert wait_until(lambda: len(played_files(audio_output)) == 3, timeout=30)
        assert hub.speaker.wait_idle(30)
        time.sleep(0.5)  # room for an `accepted` the kitchen should not get
    finally:
        kitchen.stop()
        hub.stop()
    # on: tone, reply; `assistant send`'s on: reply
    assert [is_acknowledgement(wav) for wav in played_files(audio_output)] == [True, False, False]
    assert kitchen.room.stats.accepted == 1


def test_a_tone_that_comes_too_late_is_not_played_and_is_counted(
    tmp_path: Path, broker: Mosquitto, audio_output: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kitchen = start_assistant(tmp_path, "satellite", "kitchen", broker.port, False, speaker=True)
    hub = Recorder(broker, TOPICS.site("kitchen") + "/#")  # what the hub would send
    try:  # its status online comes after its subscriptions
        assert hub.wait_for(1) == [(TOPICS.status("kitchen"), "online")]
        for accepted in [
            wire.Accepted("old-1", "on", wire.TONE_LIFETIME + 0.5),
            wire.Accepted("young-2", "off", 0.3),
        ]:
            hub.client.publish(TOPICS.accepted("kitchen"), wire.encode_accepted(accepted), qos=1)
        assert wait_until(lambda: played_files(audio_output), timeout=30)
        assert kitchen.speaker.wait_idle(30)
        assert shows(kitchen, commands_the_hub_took="2, too late for a tone 1")
    finally:
        hub.close()
        kitchen.stop()
    assert [is_acknowledgement(wav) for wav in played_files(audio_output)] == [True]
    assert (
        "played no acknowledgement for 'on' (old-1): the hub took it 2.5 s after it was heard, "
        "and the tone is played within 2 s or not at all"
    ) in caplog.text


def test_a_satellite_of_before_gets_what_it_always_got(tmp_path: Path, broker: Mosquitto) -> None:
    """A satellite of before subscribes to its `reply`, `ack` and `phrase/request` only: the
    hub's word comes on a topic of its own, which it never sees, and the rest is as it was.
    The word's age counts from the moment the command was heard, the detection's age included,
    and it comes before the reply."""
    hub = start_assistant(tmp_path, "hub", "hall", broker.port, False)
    old = Recorder(broker, TOPICS.reply("kitchen"))
    old.client.subscribe(TOPICS.ack("kitchen"), qos=1)
    old.client.subscribe(TOPICS.phrase_request("kitchen"), qos=1)
    room = Recorder(broker, TOPICS.site("kitchen") + "/#")
    try:
        old.client.publish(TOPICS.status("kitchen"), wire.ONLINE, qos=1, retain=True)
        assert wait_until(lambda: "kitchen" in hub.room.online_sites)
        detection = wire.Detection("3fa2c1d0-17", "on", 0.9, "kitchen", "board", age=1.5)
        body = json.loads(wire.encode_detection(detection))
        del body["heard"]  # which it did not send: a command of its board counts as heard
        payload = json.dumps(body).encode()
        old.client.publish(TOPICS.detection("kitchen", "on"), payload, qos=1)
        assert wait_until(lambda: len(old.messages) == 2)
        time.sleep(0.5)  # room for another message, were one sent to what it subscribes to
        reply = json.loads(dict(old.messages)[TOPICS.reply("kitchen")])["text"]
        assert (sorted(topic for topic, _ in old.messages), reply) == (
            [TOPICS.ack("kitchen"), TOPICS.reply("kitchen")],
            "did bright 7",
        )
        said = [topic.rsplit("/", 1)[1] for topic, _ in room.messages]
        assert said.index("accepted") < said.index("reply")
        [accepted] = [p for topic, p in room.messages if topic == TOPICS.accepted("kitchen")]
        accepted = wire.decode_accepted(accepted.encode())
        assert (accepted.id, accepted.command) == ("3fa2c1d0-17", "on")
        assert 1.5 <= accepted.age < wire.TONE_LIFETIME
    finally:
        old.client.publish(TOPICS.status("kitchen"), b"", qos=1, retain=True).wait_for_publish(5)
        old.close()
        room.close()
        hub.stop()
