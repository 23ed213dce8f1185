"""Fixtures shared by several test files."""

from pathlib import Path

import pytest
import tiny_kws_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A small int8 keyword model made with TensorFlow, with its model card beside it."""
    pytest.importorskip("tensorflow", reason="tensorflow is needed to make the test model")
    return tiny_kws_model.build(tmp_path_factory.mktemp("model"))
