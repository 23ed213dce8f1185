"""Spoken replies: real pyttsx3 + espeak-ng audio, played on the stand-in sound card of
conftest's `audio_output`."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from waiting import wait_until
from wav import duration_and_rms, played_files, same_speech

from assistant.cue import ACKNOWLEDGE_NOTES, TONE_NOTES, UNSPOKEN_NOTES, tone_wav
from assistant.espeak import (
    VOICES_HOW,
    SpeechError,
    UnknownVoice,
    check_espeak_voice,
    check_voice,
    espeak_to_file,
)
from assistant.microphone import SAMPLE_RATE
from assistant.pipeline import KeywordPipeline
from assistant.plugin import SettingValueError
from assistant.reply_length import CUT_MARKER, fitting_reply
from assistant.speech import SPEECH_SETTINGS, Speaker, speech_settings
from assistant.speech_engine import pyttsx3_engine
from assistant.wav import read_wav_int16


def test_settings_missing_from_the_section_take_their_defaults() -> None:
    assert speech_settings(None) == {s.name: s.default for s in SPEECH_SETTINGS}
    assert speech_settings({"rate": 120}) == {
        **{s.name: s.default for s in SPEECH_SETTINGS},
        "rate": 120,
    }


def test_espeak_to_file_writes_real_speech(tmp_path: Path) -> None:
    settings = speech_settings({"voice": "en-us", "rate": 170})
    path = espeak_to_file(settings, "Timer set for five minutes", tmp_path / "reply.wav")
    duration, rms = duration_and_rms(path)
    assert 0.8 < duration < 4.0
    assert rms > 0.02
    slow = espeak_to_file(speech_settings({"rate": 90}), "Timer set", tmp_path / "s.wav")
    fast = espeak_to_file(speech_settings({"rate": 300}), "Timer set", tmp_path / "f.wav")
    assert duration_and_rms(slow)[0] > 1.5 * duration_and_rms(fast)[0]


def test_espeak_to_file_names_an_unknown_voice(tmp_path: Path) -> None:
    settings = speech_settings({"voice": "no-such-voice"})
    with pytest.raises(SpeechError, match="unknown voice 'no-such-voice'"):
        espeak_to_file(settings, "hello", tmp_path / "x.wav")


ENGINE_SELECTS = """
import sys
from pyttsx3.drivers import _espeak
from pyttsx3.drivers.espeak import EspeakDriver
_espeak.Initialize(_espeak.AUDIO_OUTPUT_RETRIEVAL, 1000)  # as pyttsx3's espeak driver does
for voice in sys.argv[1:]:
    try:
        EspeakDriver.setProperty("voice", voice)
    except ValueError:
        print("refused")
    else:
        print(_espeak.GetCurrentVoice().contents.identifier.decode())
"""
"""Prints the voice the engine selects for each name given (its File, +VARIANT when that was
taken too), or `refused`."""


def test_the_voice_check_takes_what_the_engine_selects_and_nothing_else() -> None:
    """What the check takes is what pyttsx3's espeak driver selects: a File, its last part, a
    VoiceName with spaces, each with a variant; not a language that names no voice file, a
    VoiceName as `espeak-ng --voices` shows it, a misspelt name, or a variant the engine would
    silently leave out."""
    names = ["en-us", "GMW/en-US", "English (America)", "en-us+f3", "en+3", "fr", "de+klatt"]
    names += ["en-uss", "fr-fr", "en-gb", "English_(America)", "en+F3", "en-us+nosuch", "x+f3"]
    engine = subprocess.run(
        [sys.executable, "-c", ENGINE_SELECTS, *names], capture_output=True, text=True, timeout=30
    )
    assert engine.returncode == 0, engine.stderr
    selected = dict(zip(names, engine.stdout.split(), strict=True))
    taken = {
        name: selected[name] != "refused" and ("+" not in name or "+" in selected[name])
        for name in names
    }
    assert taken == {name: name in names[:7] for name in names}  # the real engine's verdict
    for name in names:
        if taken[name]:
            check_espeak_voice(name)
        else:
            with pytest.raises(UnknownVoice):
                check_espeak_voice(name)


def test_an_unknown_voice_says_the_nearest_and_how_to_list_them() -> None:
    with pytest.raises(UnknownVoice) as caught:
        check_espeak_voice("en-uss")
    nearest = "speech.voice: unknown voice 'en-uss'; did you mean 'en-us' (or 'en-us-nyc')? "
    assert str(caught.value) == nearest + VOICES_HOW
    assert VOICES_HOW.startswith("`espeak-ng --voices` lists the voices: write a File")
    with pytest.raises(UnknownVoice, match="did you mean 'en-us'"):
        check_espeak_voice("English_(America)")  # as `espeak-ng --voices` shows it
    with pytest.raises(UnknownVoice, match=r"variant 'F3' of 'en\+F3'; did you mean 'f3'\?"):
        check_espeak_voice("en+F3")


def test_a_language_written_for_a_voice_gets_the_voices_that_speak_it() -> None:
    """`english` names no voice (espeak-ng lists English_(Great_Britain), English_(America),
    ...): the voices whose VoiceName starts with the word are offered, in any case, those
    espeak-ng prefers (its Pty) first, each a name the check takes. A VoiceName of one word
    (German) is a voice's name already."""
    for written, offered in [
        ("english", "did you mean 'en' (or 'en-us', "),
        ("English", "did you mean 'en' (or 'en-us', "),
        ("spanish", "did you mean 'es' (or 'es-419')? "),
        ("gaelic", "did you mean 'ga' (or 'gd')? "),
    ]:
        with pytest.raises(UnknownVoice) as caught:
            check_espeak_voice(written)
        problem = str(caught.value)
        assert problem.startswith(f"speech.voice: unknown voice {written!r}; {offered}")
        hint = problem.split("? ")[0]
        for name in re.findall(r"'([^']+)'", hint)[1:]:
            check_espeak_voice(name)
    check_espeak_voice("german")


def test_with_speech_off_the_voice_is_not_checked(espeak_runs: Callable[[], list[str]]) -> None:
    """No engine starts with speech off, so its voice matters not: espeak-ng is not run for it,
    and a voice it lacks is no problem until speech is on."""
    assert check_voice(speech_settings({"enabled": False, "voice": "en-uss"})) is None
    assert espeak_runs() == []
    with pytest.raises(SettingValueError, match="unknown voice 'en-uss'"):
        check_voice(speech_settings({"voice": "en-uss"}))
    assert "--voices" in espeak_runs()


def test_the_voices_are_listed_once_not_at_each_check(
    espeak_runs: Callable[[], list[str]],
) -> None:
    """A listing is a process (about 10 ms): a reload, a start and each own-voice synthesis
    check the voice; a voice missing from the list is looked for again, in case it was
    installed since."""
    for _ in range(100):
        check_espeak_voice("en-us+f3")
        check_espeak_voice("English (America)")
    assert espeak_runs() == ["--voices", "--voices=variant"]
    with pytest.raises(UnknownVoice):
        check_espeak_voice("en-uss")
    assert espeak_runs().count("--voices") == 2


def test_say_returns_at_once_and_the_worker_plays_each_reply(
    audio_output: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    hang = audio_output.parent / "hang"
    hang.touch()  # the output holds the first reply until the test lets it go
    speaker = Speaker({"rate": 200})
    speaker.say("Lights on")
    speaker.say("Timer set for five minutes")
    assert not speaker.wait_idle(0)  # both returned with their replies still to be spoken
    hang.unlink()
    assert speaker.wait_idle(20)
    speaker.close()
    played = played_files(audio_output)
    assert len(played) == 2
    durations = [duration_and_rms(p) for p in played]
    assert all(rms > 0.02 for _, rms in durations), durations
    assert durations[1][0] > durations[0][0]  # the longer sentence gives the longer audio
    assert "reply: Lights on" in caplog.text


def test_the_spoken_reply_takes_its_rate_and_volume_from_the_settings(audio_output: Path) -> None:
    replies = {}
    for name, settings in {
        "default": {},
        "slow": {"rate": 90},
        "fast": {"rate": 300},
        "quiet": {"volume": 0.25},
    }.items():
        speaker = Speaker(settings)
        speaker.say("Timer set for five minutes")
        assert speaker.wait_idle(20)
        speaker.close()
        [played] = played_files(audio_output)
        replies[name] = duration_and_rms(played.rename(audio_output.parent / f"{name}.wav"))
    assert replies["slow"][0] > 1.5 * replies["fast"][0]
    assert replies["quiet"][1] < 0.5 * replies["default"][1]


def test_the_engine_has_taken_its_rate_and_volume_before_the_first_reply() -> None:
    """pyttsx3 hands rate and volume to espeak-ng as commands espeak-ng's thread carries out
    later, and cancels that thread's work when an utterance starts meanwhile; espeak-ng's cancel
    goes back to the settings it took last (pyttsx3's 200 words a minute at full volume)."""
    from pyttsx3.drivers import _espeak

    def taken(parameter: int) -> int:  # pyttsx3's getProperty omits `current`: ask espeak-ng
        return _espeak.dll.espeak_GetParameter(parameter, 1)

    assert pyttsx3_engine(speech_settings({"rate": 90, "volume": 0.25}))
    _espeak.Cancel()  # what pyttsx3 does at an utterance's start while espeak-ng is busy
    assert (taken(_espeak.RATE), taken(_espeak.VOLUME)) == (90, 25)


def test_a_long_reply_is_cut_to_what_the_timeout_holds_and_the_cut_is_logged(
    audio_output: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A reply of minutes (from a skill, or from the broker on a satellite) is cut: to what
    `timeout` holds at `rate` for plain words, and shorter for digits (each number is words)."""
    caplog.set_level(logging.INFO)
    speaker = Speaker({"rate": 170, "timeout": 10})
    speaker.say("The kitchen timer went off. " * 40)  # a minute of speech
    speaker.say("1234567 " * 100)  # "one million two hundred ..." a hundred times
    speaker.say("Tea is done")
    assert speaker.wait_idle(60)
    speaker.close()
    played = played_files(audio_output)
    assert len(played) == 3
    durations = [duration_and_rms(wav)[0] for wav in played]
    assert all(0.5 < duration < 10 for duration in durations), durations
    cut = re.findall(
        r"at speech.rate \(170 words a minute; raise speech.timeout for longer replies\); "
        r"(\d+) characters not said: (.*)",
        caplog.text,
    )
    assert [(int(count) > 500, said[:16]) for count, said in cut] == [
        (True, "went off. The ki"),
        (True, "1234567 1234567 "),
    ]
    assert cut[0][1].endswith("...")  # the log shows the start of a long rest
    assert "reply: Tea is done" in caplog.text


def test_a_cut_reply_ends_at_a_word_with_the_marker_within_the_timeout() -> None:
    settings = speech_settings({"rate": 170, "timeout": 2})  # 28 plain characters
    said, rest = fitting_reply("Tea is due at five, eggs at ten, pasta at noon", settings)
    assert (said, rest) == ("Tea is due at" + CUT_MARKER, "five, eggs at ten, pasta at noon")
    said, rest = fitting_reply("Tea is due at five, eggs at ten", speech_settings({}))
    assert (said, rest) == ("Tea is due at five, eggs at ten", "")  # it fits: as it is
    said, _ = fitting_reply("Tea is due, eggs, rice and pasta", settings)
    assert said == "Tea is due" + CUT_MARKER  # no comma before the pause
    said, rest = fitting_reply("x" * 40, settings)  # no word ends: cut inside it
    assert (said, rest) == ("x" * 16 + CUT_MARKER, "x" * 24)
    tight = speech_settings({"rate": 50, "timeout": 2})  # 8: no room for the marker
    assert fitting_reply("Tea is due at five", tight) == ("Tea is", "due at five")


def test_a_reply_costing_just_what_the_timeout_holds_is_said_whole_a_digit_as_ten() -> None:
    settings = speech_settings({"rate": 170, "timeout": 2})  # 28 plain characters
    assert fitting_reply("Tea is due at 5 pm.", settings) == ("Tea is due at 5 pm.", "")  # 18 + 10
    assert fitting_reply("Pasta is due at 5 pm", settings) == (  # 19 + 10: one too many
        "Pasta is due at" + CUT_MARKER,
        "5 pm",
    )


def test_a_word_ending_halfway_through_what_fits_is_where_the_reply_is_cut() -> None:
    settings = speech_settings({"rate": 170, "timeout": 2})  # 16 before the marker: 8 is half
    said, rest = fitting_reply("Reminder Shakespeare's sonnets are due", settings)
    assert (said, rest) == ("Reminder" + CUT_MARKER, "Shakespeare's sonnets are due")
    said, rest = fitting_reply("Remind me at ten thirty sharp", settings)  # a word ends at 16
    assert (said, rest) == ("Remind me at ten" + CUT_MARKER, "thirty sharp")
    said, rest = fitting_reply("Remind Shakespeare's sonnets today", settings)  # none from 8 to 16
    assert (said, rest) == ("Remind Shakespea" + CUT_MARKER, "re's sonnets today")


def test_the_listener_hears_where_a_reply_was_cut(
    audio_output: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cut reply does not just stop: the last word said is whole, and the marker follows,
    all within the timeout."""
    caplog.set_level(logging.INFO)
    speaker = Speaker({"rate": 170, "timeout": 2})
    speaker.say("Tea is due at five, eggs at ten, pasta at noon")
    assert speaker.wait_idle(20)
    speaker.close()
    [played] = played_files(audio_output)
    assert "reply: Tea is due at... and more" in caplog.text
    assert "32 characters not said: five, eggs at ten, pasta at noon" in caplog.text
    assert same_speech(played, "Tea is due at... and more", tmp_path)
    assert not same_speech(played, "Tea is due at", tmp_path)
    assert duration_and_rms(played)[0] < 2


def held_saying(audio_output: Path, first: str) -> tuple[Speaker, Path]:
    """A speaker saying `first`, held there by the stand-in sound card (the other replies come
    meanwhile) until the returned `hang` file is removed."""
    hang = audio_output.parent / "hang"
    hang.touch()
    speaker = Speaker({})
    speaker.say(first)
    assert wait_until(lambda: played_files(audio_output))
    return speaker, hang


class SaidAgainMeanwhile(logging.Handler):
    """On the log line of a reply, another thread says the same reply, and the first goes on
    once it has: two skills saying one reply at the same moment."""

    def __init__(self, speaker: Speaker, text: str):
        super().__init__()
        self.speaker, self.text, self.done = speaker, text, False

    def handle(self, record: logging.LogRecord) -> bool:  # no handler lock: the other logs too
        if record.getMessage() == f"reply: {self.text}" and not self.done:
            self.done = True
            other = threading.Thread(target=self.speaker.say, args=(self.text,))
            other.start()
            other.join(10)
        return True


def test_one_reply_said_by_two_threads_at_once_is_queued_once(
    audio_output: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    speaker, hang = held_saying(audio_output, "Timer set for five minutes")
    meanwhile = SaidAgainMeanwhile(speaker, "Lights are off")
    speaker.log.addHandler(meanwhile)
    try:
        speaker.say("Lights are off")
    finally:
        speaker.log.removeHandler(meanwhile)
        hang.unlink()
    assert meanwhile.done
    assert speaker.wait_idle(30)
    speaker.close()
    assert len(played_files(audio_output)) == 2
    assert "reply: Lights are off (said once: the same reply is already to be said)" in caplog.text


def test_a_hung_audio_output_times_out_and_replies_are_still_logged(
    audio_output: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    hang = audio_output.parent / "hang"
    hang.touch()
    speaker = Speaker({"timeout": 0.5})
    speaker.say("first")  # pyttsx3 hands its audio to the player and returns
    speaker.say("second")  # this one waits for the hung player
    assert wait_until(lambda: speaker.stuck, timeout=10)
    assert not speaker.speaking_lately()  # a hung output says nothing: commands are heard
    speaker.say("third")
    assert speaker.stuck  # it returned without waiting for the hung output
    assert "a reply has taken more than 0.5 s" in caplog.text
    assert "reply: third" in caplog.text
    hang.unlink()  # the output recovers
    assert speaker.wait_idle(10)
    assert not speaker.stuck
    speaker.say("fourth")
    assert speaker.wait_idle(10)
    speaker.close()
    assert len(played_files(audio_output)) == 3  # first, second and fourth; third was dropped


def test_no_audio_output_and_speech_off_log_the_reply(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("PATH", str(tmp_path))  # no aplay anywhere
    speaker = Speaker({})
    assert speaker.unavailable is not None and "aplay" in speaker.unavailable
    speaker.say("Lights off")
    assert "reply: Lights off" in caplog.text
    assert "install alsa-utils" in caplog.text
    quiet = Speaker({"enabled": False})
    assert quiet.unavailable == "speech is off in the configuration"
    quiet.say("Timer done")
    assert "reply: Timer done" in caplog.text


def test_no_sound_card_is_found_once_and_replies_go_to_the_log_without_alsa_errors(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("ALSA_CONFIG_PATH", os.devnull)  # the real aplay finds no output at all
    speaker = Speaker({})
    for reply in ("Lights on", "Timer set"):
        speaker.say(reply)
    assert speaker.wait_idle(10)
    speaker.close()
    assert speaker.unavailable is not None and speaker.unavailable.startswith("no sound card")
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"spoken replies go to the log only: {speaker.unavailable}"]
    assert "reply: Lights on" in caplog.text and "reply: Timer set" in caplog.text
    errors = capfd.readouterr().err
    assert "ALSA" not in errors and "aplay" not in errors


def test_replies_only_logged_are_logged_whole_without_a_cut_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing is spoken, so nothing is cut: a headless service would otherwise log a warning
    with every long reply (each failing light command) and lose the reply's end."""
    caplog.set_level(logging.INFO)
    speaker = Speaker({"enabled": False, "rate": 170, "timeout": 1})
    reply = "Lights: cannot reach the MQTT broker at localhost:1883 (Connection refused)"
    speaker.say(reply)
    assert [r.getMessage() for r in caplog.records] == [f"reply: {reply}"]


def test_an_engine_that_cannot_start_is_reported_and_each_reply_heard_as_a_falling_tone(
    audio_output: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The player still works: a user who only listens hears that each command was heard
    (the tone in place of its reply, the acknowledgement), and the listening cue's tone."""
    caplog.set_level(logging.INFO)
    speaker = Speaker({"engine": "espeak", "voice": "no-such-voice", "acknowledge": "tone"})
    speaker.say("Timer set for five minutes")
    speaker.acknowledge()
    speaker.say("Lights on")
    assert speaker.play_cue("How long?", lambda: False) is None
    assert speaker.wait_idle(10)
    speaker.close()
    assert (
        speaker.unavailable is not None and "unknown voice 'no-such-voice'" in speaker.unavailable
    )
    assert "each played as a falling tone: the speech engine did not start" in caplog.text
    assert "reply: Timer set for five minutes" in caplog.text
    played = [wav.read_bytes() for wav in played_files(audio_output)]
    unspoken, acknowledged, cue = (
        tone_wav(1.0, notes) for notes in (UNSPOKEN_NOTES, ACKNOWLEDGE_NOTES, TONE_NOTES)
    )
    assert played == [unspoken, acknowledged, unspoken, cue]


def test_a_reply_the_engine_fails_on_is_followed_by_the_falling_tone(
    audio_output: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A lone surrogate (a skill's bad string, or one from the broker's JSON) makes espeak-ng
    fail on the reply: the tone says a reply was due, and the next reply is said."""
    speaker = Speaker({})
    speaker.say("Lights \udc80 on")
    speaker.say("Tea is done")
    assert speaker.wait_idle(20)
    speaker.close()
    assert "could not speak 'Lights \\udc80 on': 'utf-8' codec can't encode" in caplog.text
    failed, said = played_files(audio_output)
    assert failed.read_bytes() == tone_wav(1.0, UNSPOKEN_NOTES)
    assert same_speech(said, "Tea is done", tmp_path)


def test_a_reply_already_to_be_said_is_not_queued_again(
    audio_output: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ "up up up" with the lights unreachable: the sentence is said once, and the next reply
    still in its turn."""
    caplog.set_level(logging.INFO)
    speaker, hang = held_saying(audio_output, "I cannot reach the lights")
    speaker.say("I cannot reach the lights")
    speaker.say("Tea is done")
    speaker.say("I cannot reach the lights")
    speaker.say("Tea is done")
    hang.unlink()
    assert speaker.wait_idle(30)
    speaker.say("I cannot reach the lights")  # said before, no longer waiting: said again
    assert speaker.wait_idle(30)
    speaker.close()
    durations = [duration_and_rms(p)[0] for p in played_files(audio_output)]
    assert len(durations) == 3
    assert durations[2] == pytest.approx(durations[0], abs=0.05)  # the same sentence, twice
    assert durations[1] < durations[0] - 0.3  # "Tea is done", once, in its turn
    assert caplog.text.count("the same reply is already to be said") == 3


@pytest.mark.parametrize("gain", [0.05, 0.2, 1.0])
@pytest.mark.parametrize("times", [1, 3])
def test_the_acknowledgement_is_no_command_to_the_spotter(tmp_path: Path, gain, times) -> None:
    """Why the acknowledgement does not count as the assistant's own voice: the default model at
    the default thresholds reports nothing for it, loud or soft, once or in quick succession,
    over light noise (a 523 Hz note played three times loud is heard as "off", 0.77)."""
    path = tmp_path / "acknowledgement.wav"
    path.write_bytes(tone_wav(1.0, ACKNOWLEDGE_NOTES))
    tone = read_wav_int16(path, SAMPLE_RATE, resample=True).astype(np.float32) * gain
    gap = np.zeros(SAMPLE_RATE // 4, np.float32)
    heard = np.concatenate([np.zeros(SAMPLE_RATE), *[np.concatenate([tone, gap])] * times])
    heard = np.concatenate([heard, np.zeros(2 * SAMPLE_RATE)])
    heard += np.random.default_rng(times).normal(0, 60, heard.size)
    samples = np.clip(heard, -32768, 32767).astype(np.int16)
    spotter = KeywordPipeline()  # at the thresholds of the model's card, as the default config
    reported = [
        (result.label, result.score)
        for start in range(0, samples.size, SAMPLE_RATE // 10)
        for result in spotter.feed(samples[start : start + SAMPLE_RATE // 10])
    ]
    assert reported == []
