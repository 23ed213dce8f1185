"""Cross-compiles the firmware's portable code for the Cortex-M4F and prints its size table,
with the model and arena sizes from the generated header: python bench/bench_firmware.py"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
SETTINGS = FIRMWARE / "kws" / "src" / "model" / "kws_model_settings.h"
MODEL_DATA = FIRMWARE / "kws" / "src" / "model" / "kws_model_data.cc"


def header_number(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    if not match:
        sys.exit(
            f"{SETTINGS}: no {pattern!r}; re-export the model (python -m model_training export)"
        )
    return int(match.group(1))


def main() -> None:
    with tempfile.TemporaryDirectory() as build:
        done = subprocess.run(
            ["make", "--no-print-directory", "-s", "-C", str(FIRMWARE), f"BUILD={build}", "size"],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        sys.exit(f"cross-compile failed:\n{done.stdout}{done.stderr}")
    print("portable code, arm-none-eabi-g++ -mcpu=cortex-m4 -mfloat-abi=hard -Os")
    print(f"{'object':<16}{'flash (text+data)':>20}{'RAM (data+bss)':>16}")
    for line in done.stdout.splitlines()[1:]:
        text, data, bss, _, _, name = line.split(maxsplit=5)
        name = Path(name).name if name != "(TOTALS)" else "total"
        print(f"{name:<16}{int(text) + int(data):>20}{int(data) + int(bss):>16}")
    settings = SETTINGS.read_text()
    model = header_number(r"g_kws_model_data_len = (\d+)", MODEL_DATA.read_text())
    arena = header_number(r"kTensorArenaBytes = (\d+)", settings)
    print(f"{'model data':<16}{model:>20}{0:>16}")
    print(f"{'tensor arena':<16}{0:>20}{arena:>16}")


if __name__ == "__main__":
    main()
