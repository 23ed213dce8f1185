"""`python listen_with_microphone.py MODEL DEVICE`: the microphone source on the real
sounddevice, printing the protocol lines it delivers and its log, until terminated."""

import logging
import sys
import threading

from assistant import protocol
from assistant.listener import ListenerSettings, MicrophoneSource


def main() -> None:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    model, device = sys.argv[1:3]
    settings = ListenerSettings.from_values(
        {"model": model, "device": device, "retry_seconds": 0.2, "max_retry_seconds": 0.2}
    )
    source = MicrophoneSource(settings)
    source.run(lambda message: print(protocol.encode(message), flush=True), threading.Event())


if __name__ == "__main__":
    main()
