"""The analysis of what the assistant's own voice could make the spotter report: real espeak-ng
and the committed int8 model."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from assistant.acoustics import QUIET_SECONDS, Room, frame_energy, in_a_quiet_room, rms
from assistant.config import DEFAULT_CONFIG, load_config
from assistant.discovery import discover_skills
from assistant.espeak import espeak_to_file
from assistant.model_files import DEFAULT_MODEL
from assistant.own_voice import ROOM_MARGIN, ROOMS, OwnVoice, loudest_averages
from assistant.pipeline import Inference
from assistant.speech import speech_settings

COMMITTED_MODEL = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())["model_id"]
"""The committed model's id, as a board running it greets with."""
DEFAULT_MICROPHONE = load_config(DEFAULT_CONFIG, discover_skills()[0]).sections["microphone"]
"""The default config.yaml's `microphone:` section: the committed model at the thresholds its
card gives, which the board reports at."""


def own_voice(
    microphone: dict | None = None, unavailable: str | None = None, rooms: tuple = ROOMS
) -> OwnVoice:
    """An analyser of replies as the default speech settings say them."""
    return OwnVoice(
        microphone or DEFAULT_MICROPHONE,
        partial(espeak_to_file, speech_settings(None)),
        logging.getLogger("test"),
        unavailable,
        rooms,
    )


@pytest.mark.parametrize(
    ("reply", "commands"),
    [
        ("Stop", {"stop"}),
        ("Stop the timer", {"stop"}),
        ("Go", {"go"}),
        ("Tea is done", set()),  # a timer's ring: "stop" said over it is the user's
        ("Timer is done", {"on"}),  # the same: stop is heard, on only echoes (below)
        ("Timer silenced", {"on"}),  # on 0.87 in a reverberant room, threshold 0.84
        ("No timer is running", set()),
    ],
)
def test_a_reply_is_found_to_hold_the_commands_it_could_be_heard_as(reply, commands) -> None:
    analyser = own_voice()
    assert analyser.commands_in(reply) == commands
    assert analyser.model_id == COMMITTED_MODEL


def test_echoes_that_make_a_reply_heard_as_a_command_are_caught_by_the_rooms() -> None:
    """In a quiet room a timer's ring, "Timer is done", holds no command (on 0.01), but in a
    reverberant room the echoes make the board report on (0.88 against its threshold 0.84 in
    bench/bench_own_voice.py's rooms): heard through the analysis rooms, on is found."""
    quiet_only = own_voice(rooms=())
    assert quiet_only.commands_in("Timer is done") == set()
    analyser = own_voice()
    assert analyser.commands_in("Timer is done") == {"on"}
    on = analyser.scores(analyser.synthesized("Timer is done"))["on"]
    assert on.clean < 0.05
    assert on.threshold == 0.84  # the default config's
    assert on.in_rooms >= on.threshold - ROOM_MARGIN


def test_a_room_is_heard_alike_each_time() -> None:
    """A room's echoes and noise come from its seed: the analysis of a text never changes."""
    rate = 16000
    speech = (8000 * np.sin(np.arange(rate) * 2 * np.pi * 440 / rate)).astype(np.int16)
    room = ROOMS[0]
    heard = room.heard(speech, rate)
    assert np.array_equal(heard, room.heard(speech, rate))
    other = replace(room, seed=room.seed + 7)
    assert not np.array_equal(heard, other.heard(speech, rate))
    assert heard.size == speech.size + room.impulse_response(rate).size - 1 + 2 * rate


def test_each_text_is_analysed_once(tmp_path: Path) -> None:
    said = []

    def synthesize(text: str, path: Path) -> Path:
        said.append(text)
        return espeak_to_file(speech_settings(None), text, path)

    analyser = OwnVoice({}, synthesize, logging.getLogger("test"))
    for _ in range(3):
        assert analyser.commands_in("Stop") == {"stop"}
        assert analyser.commands_in("Tea is done") == set()
    assert said == ["Stop", "Tea is done"]


@pytest.mark.parametrize(
    ("microphone", "unavailable", "why"),
    [
        ({"model": "/nonexistent/kws.tflite"}, None, "the model cannot be loaded: "),
        ({}, "the speech engine is not espeak-ng", "the speech engine is not espeak-ng"),
    ],
)
def test_what_cannot_be_analysed_is_said_once_and_counts_as_any_command(
    caplog: pytest.LogCaptureFixture, microphone, unavailable, why
) -> None:
    analyser = own_voice(microphone, unavailable)
    assert analyser.commands_in("Tea is done") is None
    assert analyser.commands_in("Timer silenced") is None
    assert caplog.text.count(why) == 1
    assert "every command heard is ignored" in caplog.text


def test_a_source_with_another_model_is_said_once_for_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    analyser = own_voice()
    analyser.commands_in("Go")
    assert analyser.analysed_for("board", COMMITTED_MODEL)
    assert not analyser.analysed_for("board", "0badc0de")
    assert not analyser.analysed_for("board", "0badc0de")
    assert not analyser.analysed_for("virtual board", "emulated")
    assert [record.getMessage() for record in caplog.records] == [
        f"the {source}'s model is {model}, not {COMMITTED_MODEL} (microphone.model), which "
        "replies are analysed with: while a reply is said, every command it hears is ignored"
        for source, model in [("board", "0badc0de"), ("virtual board", "emulated")]
    ]


def test_a_board_that_has_not_greeted_yet_is_said_to_be_of_an_unknown_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A board's detections may come before its HELLO (its opening flushed the greeting): its
    model is not known yet, which the log says in words, not as "None"."""
    analyser = own_voice()
    analyser.commands_in("Go")
    assert not analyser.analysed_for("board", None)
    assert [record.getMessage() for record in caplog.records] == [
        f"the board has not said which model it runs yet (no HELLO), so the replies analysed "
        f"with {COMMITTED_MODEL} (microphone.model) may not hold for it: while a reply is said, "
        "every command it hears is ignored"
    ]


def test_one_loud_inference_is_not_an_average_that_could_be_reported() -> None:
    """The recognizer reports an average over its window, never one inference: a lone peak
    (1.0 among 0) averages 0.1 over ten inferences a second, a word held for 0.4 s 0.4, at
    whichever of the five slices the board's inferences fall on."""
    quiet, loud = np.array([-128, -128], np.int8), np.array([-128, 127], np.int8)

    def averages(loud_slices: range) -> np.ndarray:
        inferences = [
            Inference(20 * index, loud if index in loud_slices else quiet) for index in range(200)
        ]
        return loudest_averages(inferences, every=5, window_ms=1000, minimum_count=3)

    assert averages(range(100, 101)).tolist() == pytest.approx([0.0, 0.1])
    assert averages(range(100, 120)).tolist() == pytest.approx([0.0, 0.4])


@pytest.mark.parametrize("noise_db", [10.0, 30.0])
def test_the_rooms_noise_is_as_far_below_the_reply_as_asked(noise_db) -> None:
    """The quiet before the reply holds the room's noise alone, `noise_db` below the reply."""
    rate = 16000
    speech = (8000 * np.sin(np.arange(rate) * 2 * np.pi * 440 / rate)).astype(np.int16)
    heard = in_a_quiet_room(speech, rate, noise_db, seed=3)
    assert heard.size == 3 * rate
    quiet = heard[: round(QUIET_SECONDS * rate)]
    assert 20 * np.log10(rms(speech) / rms(quiet)) == pytest.approx(noise_db, abs=0.2)


def test_the_measures_of_energy_leave_out_a_part_frame_and_make_nothing_of_no_audio() -> None:
    audio = np.array([1, -1, 2, 2, 3, 0, 9], np.float32)
    energy = frame_energy(audio, 2)
    assert energy.dtype == np.float32 and energy.tolist() == [1.0, 4.0, 4.5]
    assert rms(np.array([], np.int16)) == 0.0


def test_a_quiet_room_saturates_a_loud_sound_instead_of_wrapping_it() -> None:
    rate = 16000
    sound = np.concatenate([np.full(800, 32767.0), np.full(800, -32768.0)])
    heard = in_a_quiet_room(sound, rate, noise_db=20.0, seed=3)
    loud, low = heard[rate : rate + 800], heard[rate + 800 : rate + 1600]
    assert loud.min() > 0 and loud.max() == 32767
    assert low.max() < 0 and low.min() == -32768


SPEAKER = Room(
    rt60=0.5, direct_db=10.0, low_hz=200.0, high_hz=2000.0, snr_db=90.0, delay_ms=100.0, seed=4
)


def test_a_room_s_echoes_follow_the_delay_and_the_direct_sound_and_fall_by_60_db_in_rt60() -> None:
    rate = 16000
    response = SPEAKER.impulse_response(rate)
    assert not response[:1600].any() and response[1600] == 1.0  # 100 ms, then the direct sound
    echoes = response[1601:]
    assert echoes.size == 0.5 * rate - 1
    assert np.sum(np.square(echoes)) == pytest.approx(0.1)  # 10 dB below the direct sound
    assert abs(echoes.mean()) < rms(echoes) / 10  # noise, around silence
    tenth = echoes.size // 10
    first, sixth = (np.sum(np.square(echoes[i * tenth : (i + 1) * tenth])) for i in (0, 5))
    assert 10 * np.log10(first / sixth) == pytest.approx(30.0, abs=1.0)  # half of rt60


def test_a_room_s_speaker_rolls_off_by_its_orders_outside_its_band() -> None:
    """Second order below low_hz (12 dB an octave under it), fourth above high_hz (24 dB an
    octave over it), 3 dB down at both edges."""
    rate = 16000
    tones = (100, 200, 1000, 2000, 4000)
    t = np.arange(rate) / rate
    sound = sum(3000 * np.sin(2 * np.pi * hz * t) for hz in tones).astype(np.int16)
    dry = replace(SPEAKER, direct_db=60.0)  # echoes too faint to colour the tones
    heard = dry.heard(sound, rate)[rate + 4000 : rate + 12000]  # away from the edges
    spectrum = np.abs(np.fft.rfft(heard * np.hanning(heard.size)))
    levels = 20 * np.log10(spectrum[[hz * heard.size // rate for hz in tones]])
    assert (levels - levels[2]).tolist() == pytest.approx([-12.3, -3.0, 0.0, -3.0, -24.1], abs=0.3)


def test_a_silent_sound_is_heard_as_silence_in_a_room() -> None:
    assert not SPEAKER.heard(np.zeros(1600, np.int16), 16000).any()


def test_a_room_reads_as_its_figures() -> None:
    assert str(ROOMS[0]) == (
        "RT60 0.80 s, direct sound -10 dB over the echoes, speaker 200-6000 Hz, SNR 20 dB, "
        "delay 0 ms"
    )
