"""Serial ports as `serial.tools.list_ports` describes them, for finding boards by USB id."""

from pathlib import Path

from serial.tools.list_ports_common import ListPortInfo

from assistant.ports import ARDUINO_VID, find_board


def port(device, vid=None, pid=None, description="n/a"):
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.description = vid, pid, description
    return info


def nano_while_linked(link: Path):
    """A board finder (as `find_board`) that sees the pty behind `link` as a Nano 33 BLE, by its
    USB id, while `link` leads to one: a pty has no USB id, the board this stands for has."""

    def find() -> str | None:
        plugged = [port(str(link), ARDUINO_VID, 0x805A, "Nano 33 BLE")] if link.exists() else []
        return find_board([port("/dev/ttyS0"), *plugged])

    return find
