"""Picking the board among serial ports by its USB vendor and product id."""

from usb_ports import port

from assistant.ports import candidates, find_board

PORTS = [
    port("/dev/ttyS0"),
    port("/dev/ttyUSB0", 0x10C4, 0xEA60, "CP2102 USB to UART"),
    port("/dev/ttyACM1", 0x2341, 0x0043, "Arduino Uno"),
    port("/dev/ttyACM0", 0x2341, 0x805A, "Nano 33 BLE"),
]


def test_the_nano_33_ble_is_picked_first_and_every_port_says_why():
    judged = candidates(PORTS)
    assert [(c.device, c.picked) for c in judged] == [
        ("/dev/ttyACM0", True),
        ("/dev/ttyACM1", True),
        ("/dev/ttyS0", False),
        ("/dev/ttyUSB0", False),
    ]
    assert judged[0].reason == "Arduino Nano 33 BLE (2341:805a)"
    assert judged[1].reason == "an Arduino, not a Nano 33 BLE (2341:0043); tried"
    assert judged[3].reason == "not an Arduino (10c4:ea60)"
    assert find_board(PORTS) == "/dev/ttyACM0"


def test_no_board_plugged_in():
    assert find_board(PORTS[:2]) is None
    assert find_board([]) is None
