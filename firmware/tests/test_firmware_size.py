"""The portable code cross-compiles for the Cortex-M4F and stays small.

The size table: python bench/bench_firmware.py
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "kws" / "src"

# Flash for the portable code (protocol, recognizer, link, ring, feature window), without Mbed OS,
# TFLite Micro and the model.
CODE_BUDGET_BYTES = 8 * 1024


def size_table(output: str) -> dict[str, tuple[int, int, int]]:
    """arm-none-eabi-size -t output: object name -> (text, data, bss)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:3] == ["text", "data", "bss"])
    rows = {}
    for line in lines[start + 1 :]:
        text, data, bss, _, _, name = line.split(maxsplit=5)
        rows[name.rsplit("/", 1)[-1]] = (int(text), int(data), int(bss))
    return rows


def test_portable_code_cross_compiles_within_the_code_budget(firmware_make):
    rows = size_table(firmware_make("size"))
    assert {"protocol.o", "recognizer.o", "serial_link.o", "templates.o"} <= rows.keys()
    text, _, _ = rows["(TOTALS)"]
    assert 0 < text < CODE_BUDGET_BYTES


def test_the_size_table_follows_the_model_header(firmware_make, tmp_path):
    """The ARM build instantiates the sketch's own buffer types: a model with fewer feature slices
    shrinks the model window in the table by exactly the slices it drops."""
    src = tmp_path / "src"
    shutil.copytree(SRC, src)
    settings = src / "model" / "kws_model_settings.h"
    text = settings.read_text()
    slices = int(re.search(r"kFeatureSlices = (\d+);", text).group(1))
    channels = int(re.search(r"kFeatureChannels = (\d+);", text).group(1))
    settings.write_text(text.replace(f"kFeatureSlices = {slices};", "kFeatureSlices = 24;"))
    committed = size_table(firmware_make("size"))["templates.o"]
    smaller = size_table(firmware_make("size", f"SRC={src}", build=tmp_path / "build"))
    assert committed[2] - smaller["templates.o"][2] == (slices - 24) * channels
