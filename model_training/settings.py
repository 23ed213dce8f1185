"""Names, paths and numbers every step of the recipe shares."""

from __future__ import annotations

import os
from pathlib import Path

LABELS: tuple[str, ...] = ("silence", "unknown", "on", "off", "up", "down", "go", "stop")
COMMANDS: tuple[str, ...] = LABELS[2:]
SILENCE_LABEL = "silence"
UNKNOWN_LABEL = "unknown"
SILENCE_FOLDER = "_silence_"
UNKNOWN_FOLDER = "_unknown_"
NOISE_FOLDER = "_background_noise_"

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # one second
SLICES = 49
# The float features the model sees are the frontend's uint16 output times this (micro_speech).
FEATURE_SCALE = 10.0 / 256.0

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"
MODELS_DIR = REPO_ROOT / "assistant" / "models"
FIRMWARE_MODEL_DIR = REPO_ROOT / "firmware" / "kws" / "src" / "model"
MODEL_BASENAME = "kws_int8"


def data_dir() -> Path:
    """Where downloads, synthetic clips, cached features and runs go (ignored by git)."""
    return Path(os.environ.get("KWS_DATA_DIR", REPO_ROOT / "data"))
