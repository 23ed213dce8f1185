"""The desktop keyword pipeline: frontend -> int8 model -> recognizer -> board lines, and the
WAV recordings it hears (assistant/wav.py)."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from assistant import protocol
from assistant.features import FeatureContract, input_multiplier, to_int8
from assistant.model_files import DEFAULT_MODEL, load_contract, load_model
from assistant.model_runner import Int8Model, ModelError
from assistant.pipeline import (
    KeywordPipeline,
    RecognizerSettings,
    ScoreStream,
    detections_from_wav,
    messages_from_wav,
)
from assistant.wav import read_wav_int16

SAMPLE_RATE = 16000


def _speech(text: str, rate: int = SAMPLE_RATE) -> np.ndarray:
    from model_training.frontend import to_int16
    from model_training.synth import espeak_available, speak

    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return to_int16(speak(text, "en", 50, 150, rate) * 0.6)


def _silence(seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.int16)


def _write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE, channels: int = 1):
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def spoken_wav(tmp_path_factory) -> tuple[Path, int, int]:
    """A recording: 2 s silence, a word, 3 s silence. Returns (path, word start, word end) ms."""
    word = _speech("on")
    audio = np.concatenate([_silence(2), word, _silence(3)])
    path = _write_wav(tmp_path_factory.mktemp("wav") / "session.wav", audio)
    return path, 2000, 2000 + len(word) * 1000 // SAMPLE_RATE


def test_a_recorded_word_gives_the_lines_a_board_sends(tiny_model, spoken_wav):
    path, word_start, word_end = spoken_wav
    messages = messages_from_wav(path, tiny_model)
    hello = messages[0]
    assert isinstance(hello, protocol.Hello)
    assert hello.model == hashlib.sha256(tiny_model.read_bytes()).hexdigest()[:8]
    assert hello.labels == ("on", "off", "up", "down", "go", "stop")
    assert [m.seq for m in messages] == list(range(len(messages)))
    for message in messages:  # every line is valid on the wire
        assert protocol.parse_line(protocol.encode(message)) == message
    beats = [m.ms for m in messages if isinstance(m, protocol.Heartbeat)]
    assert beats == [1000, 2000, 3000, 4000, 5000]
    detections = [m for m in messages if isinstance(m, protocol.Detection)]
    assert [d.label for d in detections] == ["on"]
    assert word_start < detections[0].ms < word_end + 1000
    assert 0.8 <= detections[0].score <= 1.0
    assert detections_from_wav(path, tiny_model) == detections


def test_silence_gives_no_detection(tiny_model, tmp_path):
    path = _write_wav(tmp_path / "quiet.wav", _silence(4))
    assert detections_from_wav(path, tiny_model) == []


def test_results_do_not_depend_on_how_the_audio_is_cut(tiny_model):
    audio = np.concatenate(
        [_silence(1.5), _speech("on"), _silence(2.5), _speech("go"), _silence(2)]
    )
    results = []
    for chunk in (160, 1600, 3331, len(audio)):
        pipeline = KeywordPipeline(tiny_model)
        heard = []
        for start in range(0, len(audio), chunk):
            heard += pipeline.feed(audio[start : start + chunk])
        results.append(heard)
    assert len(results[0]) == 2
    assert all(result == results[0] for result in results)


def test_inferences_run_every_five_slices_once_the_window_is_full(tiny_model):
    model, contract = load_model(tiny_model)
    stream = ScoreStream(model, contract)
    inferences = stream.feed(_silence(2))
    # 49 slices (30 ms + 48 * 20 ms = 990 ms) fill the window; then one every 100 ms.
    assert [i.time_ms for i in inferences] == list(range(990, 2000, 100))


def test_scores_equal_the_tflm_interpreter_on_the_same_features(tiny_model):
    pytest.importorskip("tflite_micro", reason="tflite-micro is not installed")
    from model_training.quantize import run_tflm

    model, contract = load_model(tiny_model)
    rng = np.random.default_rng(1)
    levels = np.linspace(100, 220, 20)[:, None, None]  # around the model's decision
    features = (rng.uniform(0, 1, (20, contract.slices, contract.channels)) * levels).astype(int)
    inputs = contract.to_int8(features)
    ours = np.array([model(example) for example in inputs])
    np.testing.assert_array_equal(ours, run_tflm(tiny_model.read_bytes(), inputs))
    assert len({tuple(row) for row in ours}) > 1


def test_the_default_model_scores_equal_the_tflm_interpreter_on_speech():
    pytest.importorskip("tflite_micro", reason="tflite-micro is not installed")
    from model_training.quantize import run_tflm

    if not DEFAULT_MODEL.exists():
        pytest.skip(f"{DEFAULT_MODEL} is not there yet (python -m model_training export)")
    model, contract = load_model(DEFAULT_MODEL)
    stream = ScoreStream(model, contract, inference_every=10)
    rng = np.random.default_rng(2)
    words = [_speech(text) for text in ("on", "stop", "go up", "switch it off")]
    audio = np.concatenate([part for word in words for part in (word, _silence(0.6))])
    noise = rng.normal(0, 300, len(audio)).astype(np.int16)
    inputs = contract.to_int8(stream.frontend.process(np.clip(audio + noise, -32768, 32767)))
    windows = np.array([inputs[end - 49 : end] for end in range(49, len(inputs) + 1, 3)])
    ours = np.array([model(window) for window in windows])
    np.testing.assert_array_equal(ours, run_tflm(DEFAULT_MODEL.read_bytes(), windows))


def test_thresholds_decide_what_is_reported(tiny_model, spoken_wav):
    path, _, _ = spoken_wav
    strict = RecognizerSettings(thresholds={"on": 1.0})
    assert detections_from_wav(path, tiny_model, strict) == []


def test_a_wav_the_board_could_not_hear_is_refused_with_the_fix(tmp_path):
    stereo = _write_wav(tmp_path / "stereo.wav", np.zeros(3200, np.int16), 44100, channels=2)
    with pytest.raises(ValueError, match=r"2 channel\(s\).*44100 Hz.*sox"):
        read_wav_int16(stereo)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....not a wav")
    with pytest.raises(ValueError, match="not a readable PCM WAV"):
        read_wav_int16(broken)
    header = bytearray(_write_wav(tmp_path / "fine.wav", np.zeros(800, np.int16)).read_bytes())
    header[16:20] = struct.pack("<I", 2**31 - 1)  # the format chunk runs past the end
    broken.write_bytes(header)
    with pytest.raises(ValueError, match=r"broken\.wav: not a readable PCM WAV file \(a chunk"):
        read_wav_int16(broken)
    header[16:20], header[24:28] = struct.pack("<I", 16), struct.pack("<I", 0)  # at 0 Hz
    broken.write_bytes(header)
    with pytest.raises(ValueError, match=r"broken\.wav: 1 channel\(s\), 16-bit, 0 Hz.*sox"):
        read_wav_int16(broken, resample=True)


def test_a_wav_cut_in_the_middle_of_a_sample_gives_its_whole_samples(tmp_path):
    whole = _write_wav(tmp_path / "cut.wav", np.arange(800, dtype=np.int16)).read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[:-3])
    np.testing.assert_array_equal(read_wav_int16(tmp_path / "cut.wav"), np.arange(798))


def test_a_recording_at_48_khz_is_heard_as_the_same_at_16_khz(tiny_model, spoken_wav, tmp_path):
    """`emulate --wav` hears a file at another rate resampled; the same words at 16 kHz give
    the same lines. Reading training data (read_wav_int16 alone) still takes 16 kHz only."""
    audio = np.concatenate([_silence(2, 48000), _speech("on", 48000), _silence(3, 48000)])
    path = _write_wav(tmp_path / "session-48k.wav", audio, 48000)
    heard = messages_from_wav(path, tiny_model)
    same = messages_from_wav(spoken_wav[0], tiny_model)
    beats = [m.ms for m in heard if isinstance(m, protocol.Heartbeat)]
    assert beats == [m.ms for m in same if isinstance(m, protocol.Heartbeat)]
    detections = [m for m in heard if isinstance(m, protocol.Detection)]
    assert [d.label for d in detections] == ["on"]
    expected = next(m for m in same if isinstance(m, protocol.Detection))
    assert abs(detections[0].ms - expected.ms) <= 100  # one inference apart at most
    with pytest.raises(ValueError, match=r"48000 Hz; the board hears 16000 Hz.*sox"):
        read_wav_int16(path)


def test_a_model_without_its_card_is_refused_with_the_fix(tiny_model, tmp_path):
    lonely = tmp_path / "lonely.tflite"
    lonely.write_bytes(tiny_model.read_bytes())
    with pytest.raises(ModelError, match=r"model card.*model_training export"):
        KeywordPipeline(lonely)
    not_a_model = tmp_path / "junk.tflite"
    not_a_model.write_bytes(b"junk")
    card = json.loads(tiny_model.with_suffix(".json").read_text())
    card["sha256"] = hashlib.sha256(b"junk").hexdigest()
    not_a_model.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="not a usable TFLite model"):
        KeywordPipeline(not_a_model)


def test_loading_a_model_reads_its_file_once(tiny_model):
    """The sha256 checked against the card is that of the bytes the interpreter runs: read
    once, a model exported over it between two reads cannot be run under another's card."""
    opened: list[str] = []
    watched = str(tiny_model)

    def count_opens(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], str | Path) and str(args[0]) == watched:
            opened.append(event)

    sys.addaudithook(count_opens)  # stays for the session: it counts this one path only
    model, contract = load_model(tiny_model)
    watched = ""
    assert len(opened) == 1
    card = json.loads(tiny_model.with_suffix(".json").read_text())
    assert hashlib.sha256(model.content).hexdigest() == card["sha256"]
    assert contract.labels == tuple(card["labels"])


def test_a_damaged_model_is_not_a_usable_model(tmp_path):
    damaged = bytearray(DEFAULT_MODEL.read_bytes())
    damaged[28:32] = struct.pack("<I", 2**31 - 1)  # an offset flatbuffers cannot write again
    model = tmp_path / "damaged.tflite"
    model.write_bytes(damaged)
    with pytest.raises(ModelError, match=r"damaged\.tflite: not a usable TFLite model"):
        Int8Model(model, bytes(damaged))


def test_a_card_of_another_model_is_refused_naming_both_files(tiny_model, tmp_path):
    model = tmp_path / "mixed.tflite"
    model.write_bytes(tiny_model.read_bytes())
    model.with_suffix(".json").write_text(DEFAULT_MODEL.with_suffix(".json").read_text())
    with pytest.raises(ModelError) as refused:
        load_contract(model)
    message = str(refused.value)
    assert f"{tmp_path / 'mixed.json'} is not the card of {model}" in message
    assert "export the model again with `python -m model_training export`" in message
    assert load_contract(DEFAULT_MODEL).labels[:2] == ("silence", "unknown")


def _copy_with_card(model: Path, content: bytes, directory: Path, **card_changes) -> Path:
    """`content` as a model in `directory`, with `model`'s card matched to it and changed."""
    path = directory / "changed.tflite"
    path.write_bytes(content)
    card = json.loads(model.with_suffix(".json").read_text())
    card.update(sha256=hashlib.sha256(content).hexdigest(), **card_changes)
    path.with_suffix(".json").write_text(json.dumps(card))
    return path


def test_a_card_whose_input_quantization_is_not_the_model_s_is_refused(tiny_model, tmp_path):
    """to_int8 (and the firmware's header) take the card's quantization, the model reads its
    input with its own: one zero point apart, every feature would be one LSB off."""
    card = json.loads(tiny_model.with_suffix(".json").read_text())
    shifted = card["input_zero_point"] + 1
    path = _copy_with_card(tiny_model, tiny_model.read_bytes(), tmp_path, input_zero_point=shifted)
    with pytest.raises(ModelError) as refused:
        load_model(path)
    message = str(refused.value)
    assert f"input scale {card['input_scale']} and zero point {shifted}" in message
    assert f"zero point {card['input_zero_point']}: its features" in message
    assert "export the model again with `python -m model_training export`" in message
    assert load_model(tiny_model)[1].input_zero_point == card["input_zero_point"]


def test_a_model_whose_output_is_not_a_softmax_s_is_refused(tiny_model, tmp_path):
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(tiny_model.read_bytes(), 0)
    graph = model.subgraphs[0]
    softmax = graph.operators.pop()  # the model now gives the logits of its dense layer
    assert model.operatorCodes[softmax.opcodeIndex].builtinCode == schema.BuiltinOperator.SOFTMAX
    graph.outputs = np.array(graph.operators[-1].outputs)
    logits = graph.tensors[graph.outputs[0]].quantization.zeroPoint[0]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = _copy_with_card(tiny_model, bytes(builder.Output()), tmp_path)
    with pytest.raises(ModelError, match=rf"output's zero point is {logits}, but the recognizer"):
        load_model(path)
    assert logits != -128


def test_running_the_pipeline_does_not_load_tensorflow(tiny_model):
    code = (
        "import sys, numpy as np; from assistant.pipeline import KeywordPipeline; "
        f"p = KeywordPipeline({str(tiny_model)!r}); p.feed(np.zeros(32000, np.int16)); "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_convolutions_in_numpy_equal_the_tflm_interpreter(tmp_path):
    pytest.importorskip("tensorflow", reason="tensorflow is needed to make the test model")
    pytest.importorskip("tflite_micro", reason="tflite-micro is not installed")
    import tiny_kws_model

    from model_training.quantize import run_tflm

    path = tiny_kws_model.build_conv(tmp_path)
    model = Int8Model(path, path.read_bytes())
    assert model.numpy_layers == 4  # three CONV_2D and a DEPTHWISE_CONV_2D
    rng = np.random.default_rng(4)
    inputs = np.concatenate(
        [
            rng.integers(-128, 128, (40, 49 * 40)),
            np.clip(rng.normal(-100, 25, (40, 49 * 40)), -128, 127),  # quiet features
            np.clip(rng.normal(0, 60, (40, 49 * 40)), -128, 127),
        ]
    ).astype(np.int8)
    ours = model.run_batch(inputs)
    np.testing.assert_array_equal(ours, run_tflm(path.read_bytes(), inputs))
    np.testing.assert_array_equal(ours[:3], np.array([model(x) for x in inputs[:3]]))
    assert len({tuple(row) for row in ours}) > 10


def test_int8_features_from_the_lookup_equal_the_board_s_arithmetic():
    _, contract = load_model()
    every = np.arange(0x10000, dtype=np.uint16).reshape(256, 256)
    expected = to_int8(every.astype(np.int64), contract.input_multiplier, contract.input_zero_point)
    looked_up = contract.to_int8(every)
    assert looked_up.dtype == np.int8
    np.testing.assert_array_equal(looked_up, expected)
    assert len(np.unique(expected)) == 256
    with pytest.raises(ValueError, match="uint16"):
        contract.to_int8(np.array([-1, 5]))


def test_int8_features_are_the_scaled_values_rounded_half_up_and_clamped():
    """The arithmetic of assistant/features.py that the firmware repeats with its header."""
    assert input_multiplier(10 / 256, 0.1) == 25600  # 0.390625 in 16-bit fixed point
    half = input_multiplier(1, 2)
    values = np.array([0, 1, 2, 3, 301, 65535])  # halves: 0.5, 1.5 and 150.5 round up
    np.testing.assert_array_equal(to_int8(values, half, -128), [-128, -127, -127, -126, 23, 127])
    with pytest.raises(ValueError, match="uint16"):
        to_int8(np.array([65536]), half, 0)


def test_a_card_that_names_no_window_gives_the_one_second_window_of_49_slices():
    """A card that leaves out its window's fields is read with the frontend's: 49 slices of 40
    channels, 30 ms windows 20 ms apart, at 16 kHz."""
    card = {"labels": ["up"], "feature_scale": 10 / 256, "input_scale": 0.1, "input_zero_point": 0}
    contract = FeatureContract.from_card(card)
    window = (contract.slices, contract.channels, contract.window_ms, contract.stride_ms)
    assert (window, contract.sample_rate, contract.input_multiplier) == (
        (49, 40, 30, 20),
        16000,
        25600,
    )
