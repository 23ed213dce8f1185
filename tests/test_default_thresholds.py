"""The board and the desktop start with the same detection thresholds: those of the committed
model's card, which the default configuration does not override."""

import json
from pathlib import Path

from assistant.config import DEFAULT_CONFIG, load_config
from assistant.discovery import discover_skills
from assistant.features import FeatureContract
from assistant.microphone_settings import ListenerSettings
from assistant.model_files import DEFAULT_MODEL, load_contract, model_card_path
from assistant.pipeline import KeywordPipeline
from assistant.recognizer import command_labels
from model_training.streaming.thresholds import read_thresholds_header

REPO = Path(__file__).resolve().parent.parent
HEADER = REPO / "firmware" / "kws" / "src" / "model" / "kws_thresholds.h"


def test_the_committed_card_gives_each_command_the_firmware_headers_threshold():
    header = read_thresholds_header(HEADER)
    contract = load_contract(DEFAULT_MODEL)
    assert list(contract.thresholds) == list(command_labels(contract.labels))
    assert contract.thresholds == {label: header[label] for label in contract.thresholds}


def test_reading_the_card_alone_gives_its_thresholds_as_loading_the_model_does():
    card = FeatureContract.from_card(json.loads(model_card_path(DEFAULT_MODEL).read_text()))
    assert card.thresholds == load_contract(DEFAULT_MODEL).thresholds != {}


def test_the_default_configuration_listens_at_the_cards_thresholds():
    config = load_config(DEFAULT_CONFIG, discover_skills()[0])
    settings = ListenerSettings.from_values(config.sections["microphone"])
    assert settings.thresholds == {}  # no override
    pipeline = KeywordPipeline(settings.model_path, settings.recognizer_settings())
    assert pipeline.recognizer.thresholds == load_contract(DEFAULT_MODEL).thresholds
    assert config.notes == ()


def test_default_config_dispatches_every_command_the_spotter_accepts_at_its_threshold():
    config = load_config(DEFAULT_CONFIG, discover_skills()[0])
    for command, threshold in load_contract(DEFAULT_MODEL).thresholds.items():
        assert config.commands[command].min_score <= threshold, command
