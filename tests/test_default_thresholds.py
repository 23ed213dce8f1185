"""The board and the desktop start with the same detection thresholds."""

from pathlib import Path

from assistant.config import DEFAULT_CONFIG, load_config
from assistant.discovery import discover_skills
from assistant.yaml_lines import load_located
from model_training.streaming.thresholds import read_thresholds_header

REPO = Path(__file__).resolve().parent.parent
HEADER = REPO / "firmware" / "kws" / "src" / "model" / "kws_thresholds.h"


def test_config_thresholds_equal_the_firmware_header():
    header = {label: round(v * 1000) for label, v in read_thresholds_header(HEADER).items()}
    config = load_located(DEFAULT_CONFIG.read_text(), DEFAULT_CONFIG).data
    desktop = {k: round(v * 1000) for k, v in config["microphone"]["thresholds"].items()}
    commands = {"on", "off", "up", "down", "go", "stop"}
    assert set(desktop) == commands
    assert desktop == {label: header[label] for label in commands}


def test_default_config_dispatches_every_command_the_spotter_accepts_at_its_threshold():
    config = load_config(DEFAULT_CONFIG, discover_skills()[0])
    located = load_located(DEFAULT_CONFIG.read_text(), DEFAULT_CONFIG).data
    for command, threshold in located["microphone"]["thresholds"].items():
        assert config.commands[command].min_score <= threshold, command
