"""Follow-up phrases in a satellite's room through a real mosquitto: the hub's skill asks, the
satellite plays its cue on its (stand-in) sound card and listens with the real Vosk model on
its (ALSA stand-in) microphone, and the hub's skill gets what it heard; a satellite that cannot
listen says why, one that does not answer (of before this) leaves the default after the window,
and an answer after the window is ignored."""

from __future__ import annotations

import json
import logging
import queue
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from alsa_microphone import DEVICE, plug_in
from held_model import HeldModel
from manual_clock import Clock
from mosquitto import Mosquitto, Recorder
from runtime_skills import INSTALLED
from test_phrase import microphone_speech
from test_phrase_cue import AskingSkill
from waiting import wait_until
from wav import played_files, same_speech

from assistant.config import load_config
from assistant.daemon import Assistant
from assistant.phrase import Heard
from assistant.plugin import CommandEvent
from assistant.rooms import topics as wire
from assistant.rooms.satellite import PHRASE_AFTER_COMMAND, Satellite
from assistant.rooms.settings import MqttSettings
from skills.timers import TimersSkill

SKILLS = {**INSTALLED, AskingSkill.name: AskingSkill, TimersSkill.name: TimersSkill}
TOPICS = wire.Topics("assistant")

CONFIG = """
role: {role}
site: {site}
source: emulator
cooldown: 0
skill_timeout: 20
emulator: {{heartbeat_ms: 200}}
mqtt: {{host: 127.0.0.1, port: {port}, reconnect_min: 0.05, dedup_window: 0, discovery: false}}
phrase: {{model: {model}, device: {device}, seconds: 3, cue: tone}}
commands:
  go: {go}
skills:
  asking: {{}}
  timers: {{listen_seconds: {listen_seconds}}}
"""


def start(
    tmp_path: Path,
    role: str,
    site: str,
    port: int,
    go: str = "timers.start",
    listen_seconds: float = 1,
    **phrase: str,
) -> Assistant:
    """An assistant of `role` in `site`; the hub speaks into `.replies`, a satellite with the
    real speaker (on the stand-in sound card). The timer listens `listen_seconds` for its
    length."""
    path = tmp_path / f"{site}.yaml"
    text = CONFIG.format(
        role=role,
        site=site,
        port=port,
        go=go,
        listen_seconds=listen_seconds,
        model=phrase.get("model", tmp_path / "no-model"),
        device=phrase.get("device", "none"),
    )
    path.write_text(textwrap.dedent(text))
    replies: list[str] = []
    speak = replies.append if role == "hub" else None
    assistant = Assistant(load_config(path, SKILLS), SKILLS, tmp_path / site, speak)
    assistant.replies = replies
    assistant.start()
    assistant.open_default_sources()
    assert assistant.sources[0].session.greeted.wait(5)
    return assistant


class OldSatellite:
    """A satellite of before remote phrases, in the kitchen, as the broker sees it: online, and
    deaf to phrase requests unless the test answers them (`requests` gets each, decoded)."""

    def __init__(self, broker: Mosquitto):
        self.requests: queue.Queue[wire.PhraseRequest] = queue.Queue()
        self.recorder = Recorder(broker, TOPICS.phrase_request("kitchen"))
        self.recorder.client.on_message = lambda _c, _u, message: self.requests.put(
            wire.decode_phrase_request(message.payload)
        )
        self.recorder.client.publish(TOPICS.status("kitchen"), wire.ONLINE, qos=1, retain=True)

    def answer(self, request_id: str, text: str) -> None:
        answer = wire.encode_phrase_answer(wire.PhraseAnswer(request_id, text))
        self.recorder.client.publish(TOPICS.phrase_answer("kitchen"), answer, qos=1)

    def close(self) -> None:
        self.recorder.client.publish(TOPICS.status("kitchen"), b"", qos=1, retain=True)
        self.recorder.close()


@pytest.fixture
def old_satellite(broker: Mosquitto) -> Iterator[OldSatellite]:
    satellite = OldSatellite(broker)
    yield satellite
    satellite.close()


def go_in_the_kitchen(hub: Assistant) -> str:
    """Run "go" on the hub as heard in the kitchen; its reply."""
    assert wait_until(lambda: "kitchen" in hub.room.online_sites)
    event = CommandEvent("go", 1.0, "kitchen/board", "kitchen", time.monotonic())
    [future] = hub.dispatcher.run(event)
    return future.result(20)


def going_in_the_kitchen(hub: Assistant) -> tuple[list[str], threading.Thread]:
    """`go_in_the_kitchen` on a thread of its own; the list gets the reply."""
    replies: list[str] = []
    thread = threading.Thread(target=lambda: replies.append(go_in_the_kitchen(hub)), daemon=True)
    thread.start()
    return replies, thread


def test_the_satellite_plays_its_cue_and_its_microphone_gives_the_hubs_skill_the_phrase(
    tmp_path: Path,
    broker: Mosquitto,
    alsa_home: Path,
    audio_output: Path,
    korean_model_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A "go" heard by the kitchen's board: the hub's skill asks for a phrase (Korean: the one
    Vosk model here), the kitchen plays the tone and hears real espeak-ng speech on its
    microphone, and the skill's reply, what it heard, is spoken in the kitchen."""
    caplog.set_level(logging.INFO)
    plug_in(alsa_home, np.frombuffer(microphone_speech("감사합니다", tmp_path), np.int16))
    hub = start(tmp_path, "hub", "hall", broker.port, go="asking.ask")
    kitchen = start(
        tmp_path, "satellite", "kitchen", broker.port, model=str(korean_model_path), device=DEVICE
    )
    try:
        assert wait_until(lambda: kitchen.room.hub_online)
        # the model loads as the satellite starts, and a phrase asked for meanwhile is refused
        # (the test below): on a loaded machine that takes a while
        assert wait_until(lambda: "loaded in" in caplog.text, timeout=60)
        kitchen.virtual_board.detect("go")
        assert wait_until(lambda: "reply: 감사합니다" in caplog.text, timeout=30)
    finally:
        kitchen.stop()
        hub.stop()
    assert played_files(audio_output), "the kitchen played no cue"
    assert "follow-up phrase: listening after the tone cue" in caplog.text
    assert "follow-up phrase from site 'kitchen': understood" in caplog.text
    assert (
        not [  # the words only at DEBUG: the reply is the skill's, and logged as every reply
            record
            for record in caplog.records
            if "감사합니다" in record.getMessage() and not record.getMessage().startswith("reply: ")
        ]
    )
    assert hub.replies == []  # spoken in the kitchen, not in the hall
    assert "no follow-up phrase" not in caplog.text


def test_a_satellite_still_loading_its_model_answers_at_once_and_plays_no_cue(
    tmp_path: Path,
    broker: Mosquitto,
    audio_output: Path,
    korean_model_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The kitchen's model still loading (held up, as on a loaded machine) when the hub's
    skill asks: the kitchen says so at once, and the skill replies with its default within
    the window, instead of the kitchen cueing and listening after the hub has given up."""
    caplog.set_level(logging.INFO)
    held = HeldModel(korean_model_path, tmp_path)
    hub = start(tmp_path, "hub", "hall", broker.port, go="asking.ask")
    kitchen = start(tmp_path, "satellite", "kitchen", broker.port, model=str(held.path))
    try:
        assert wait_until(lambda: kitchen.room.hub_online)
        kitchen.virtual_board.detect("go")
        assert wait_until(lambda: "reply: nothing" in caplog.text, timeout=2 + wire.PHRASE_MARGIN)
        assert "loaded in" not in caplog.text
    finally:
        held.release()
        kitchen.stop()
        hub.stop()
    said = "no follow-up phrase from site 'kitchen': its satellite could not listen: "
    assert f"{said}the Vosk model {held.path} is still loading (for " in caplog.text
    [played] = played_files(audio_output)  # the reply, and no cue before it
    assert same_speech(played, "nothing", tmp_path)
    assert "follow-up phrase: listening" not in caplog.text


def test_the_hubs_timer_takes_the_length_the_satellite_heard(
    tmp_path: Path, broker: Mosquitto, old_satellite: OldSatellite
) -> None:
    """The request carries the timer's grammar, window and question; "ten minutes" answered
    makes a ten-minute timer."""
    hub = start(tmp_path, "hub", "hall", broker.port)
    try:
        replies, thread = going_in_the_kitchen(hub)
        request = old_satellite.requests.get(timeout=10)
        assert "minutes" in request.grammar and request.prompt == "How long?"
        assert request.seconds == 1 and request.window == 1 + wire.PHRASE_MARGIN
        old_satellite.answer(request.id, "ten minutes")
        thread.join(20)
        assert replies == ["Timer set for ten minutes"]
    finally:
        hub.stop()


def test_a_satellite_without_a_vosk_model_says_so_and_the_timer_takes_its_default(
    tmp_path: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    hub = start(tmp_path, "hub", "hall", broker.port, listen_seconds=60)
    kitchen = start(tmp_path, "satellite", "kitchen", broker.port)
    try:
        assert wait_until(lambda: kitchen.room.hub_online)
        kitchen.virtual_board.detect("go")
        # an answer, no wait: the window (64 s) outlasts this wait, and the skill_timeout (20 s)
        # would abandon the timer in it
        assert wait_until(lambda: "reply: Timer set for five minutes" in caplog.text)
    finally:
        kitchen.stop()
        hub.stop()
    said = "no follow-up phrase from site 'kitchen': its satellite could not listen: "
    assert said + f"no Vosk model at {tmp_path / 'no-model'}" in caplog.text


def test_a_satellite_that_does_not_answer_leaves_the_default_after_the_window(
    tmp_path: Path, broker: Mosquitto, old_satellite: OldSatellite, caplog: pytest.LogCaptureFixture
) -> None:
    hub = start(tmp_path, "hub", "hall", broker.port)
    try:
        assert go_in_the_kitchen(hub) == "Timer set for five minutes"
        assert old_satellite.requests.qsize() == 1
    finally:
        hub.stop()
    window = 1 + wire.PHRASE_MARGIN
    assert (
        f"no follow-up phrase from site 'kitchen': its satellite did not answer within {window:g} s"
        in caplog.text
    )


def test_an_answer_after_the_window_is_ignored_and_the_next_request_takes_its_own(
    tmp_path: Path, broker: Mosquitto, old_satellite: OldSatellite, caplog: pytest.LogCaptureFixture
) -> None:
    hub = start(tmp_path, "hub", "hall", broker.port)
    try:
        assert go_in_the_kitchen(hub) == "Timer set for five minutes"
        late = old_satellite.requests.get(timeout=1)
        old_satellite.answer(late.id, "ten minutes")
        ignored = (
            "ignored an answer of site 'kitchen' to a follow-up phrase request the hub no "
            f"longer waits for ({late.id}): a phrase understood"
        )
        assert wait_until(lambda: ignored in caplog.text)
        replies, thread = going_in_the_kitchen(hub)
        request = old_satellite.requests.get(timeout=10)
        old_satellite.answer(late.id, "ten minutes")  # again, while this one waits
        old_satellite.answer(request.id, "two minutes")
        thread.join(20)
        assert replies == ["Timer 2 set for two minutes"]
    finally:
        hub.stop()


def test_a_request_older_than_its_window_is_not_acted_on(
    tmp_path: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    kitchen = start(tmp_path, "satellite", "kitchen", broker.port)
    answers = Recorder(broker, TOPICS.site("kitchen") + "/#")
    try:  # its status online comes after its subscriptions
        assert answers.wait_for(1) == [(TOPICS.status("kitchen"), "online")]
        for request_id, age in [("old-1", 5.0), ("young-2", 0.0)]:
            request = wire.PhraseRequest(request_id, ["ten"], 1.0, "", 5.0, age)
            answers.client.publish(
                TOPICS.phrase_request("kitchen"), wire.encode_phrase_request(request), qos=1
            )
        answer = TOPICS.phrase_answer("kitchen")
        assert wait_until(lambda: any(topic == answer for topic, _ in answers.messages))
        time.sleep(0.5)  # room for an answer to the old one, were it given
        [payload] = [payload for topic, payload in answers.messages if topic == answer]
        assert json.loads(payload)["id"] == "young-2"  # answered (refused: no command here)
    finally:
        answers.close()
        kitchen.stop()
    assert "did not listen for the hub's follow-up phrase old-1: its window of 5 s had passed" in (
        caplog.text
    )
    assert kitchen.room.stats.late_phrases == 1


def test_a_request_no_command_of_the_room_asked_for_does_not_open_its_microphone(
    tmp_path: Path,
    broker: Mosquitto,
    alsa_home: Path,
    korean_model_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Any client of the broker may publish a request, with an empty grammar (any words): with
    no command heard in the kitchen, its microphone (playing speech the model understands)
    stays shut, and the answer says why instead of carrying what was said there."""
    plug_in(alsa_home, np.frombuffer(microphone_speech("감사합니다", tmp_path), np.int16))
    kitchen = start(
        tmp_path, "satellite", "kitchen", broker.port, model=str(korean_model_path), device=DEVICE
    )
    nosy = Recorder(broker, TOPICS.site("kitchen") + "/#")
    try:  # its status online comes after its subscriptions
        assert nosy.wait_for(1, timeout=15) == [(TOPICS.status("kitchen"), "online")]
        request = wire.PhraseRequest("nosy-1", [], 3.0, "", 3.0 + wire.PHRASE_MARGIN, 0.0)
        nosy.client.publish(
            TOPICS.phrase_request("kitchen"), wire.encode_phrase_request(request), qos=1
        )
        answer_topic = TOPICS.phrase_answer("kitchen")
        assert wait_until(lambda: any(topic == answer_topic for topic, _ in nosy.messages), 15)
        [payload] = [payload for topic, payload in nosy.messages if topic == answer_topic]
    finally:
        nosy.close()
        kitchen.stop()
    answer = wire.decode_phrase_answer(payload.encode())
    assert answer.text is None
    assert answer.problem == "no command was heard in site 'kitchen' in the last 30 s"
    assert "did not listen for the follow-up phrase nosy-1: no command was heard" in caplog.text
    assert (kitchen.room.stats.refused_phrases, kitchen.room.stats.phrases) == (1, 0)


def test_a_satellite_listens_for_the_hub_only_soon_after_a_command_of_its_room(
    broker: Mosquitto,
) -> None:
    """Within satellite.PHRASE_AFTER_COMMAND of sending the hub a detection, a request is
    listened for; later, it is refused. `hear` stands for the microphone and Vosk."""
    clock = Clock()
    asked: list[list[str]] = []

    def hear(grammar: list[str], seconds: float, stopped, prompt: str) -> Heard:
        asked.append(grammar)
        return Heard("ten")

    settings = MqttSettings.from_section({"host": "127.0.0.1", "port": broker.port})
    kitchen = Satellite(settings, "kitchen", print, clock=clock, hear=hear)
    hub = Recorder(broker, TOPICS.phrase_answer("kitchen"))
    hub.client.publish(TOPICS.hub_status, wire.ONLINE, qos=1, retain=True)
    kitchen.start()
    try:
        assert wait_until(lambda: kitchen.hub_online)
        kitchen.forward(CommandEvent("go", 0.9, "board", "kitchen", clock()))
        for number, later in enumerate([PHRASE_AFTER_COMMAND, 1.0]):
            clock.now += later
            request = wire.PhraseRequest(f"hub-{number}", ["ten"], 1.0, "", 60.0, 0.0)
            hub.client.publish(
                TOPICS.phrase_request("kitchen"), wire.encode_phrase_request(request), qos=1
            )
            hub.wait_for(number + 1)
    finally:
        hub.client.publish(TOPICS.hub_status, b"", qos=1, retain=True)
        hub.close()
        kitchen.stop()
    answers = [wire.decode_phrase_answer(payload.encode()) for _, payload in hub.messages]
    assert [(a.id, a.text) for a in answers] == [("hub-0", "ten"), ("hub-1", None)]
    assert answers[1].problem == "no command was heard in site 'kitchen' in the last 30 s"
    assert asked == [["ten"]]
