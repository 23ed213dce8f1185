"""`python phrase_with_microphone.py VOSK_MODEL DEVICE`: one follow-up phrase heard on a
stream of its own (as when the board is the source) from the real sounddevice, printing the
phrase (or None) last, after its log."""

import logging
import sys

from assistant.phrase import PhraseListener


def main() -> None:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    model, device, *grammar = sys.argv[1:]
    listener = PhraseListener({"model": model, "device": device, "seconds": 4.0})
    print(listener.listen(grammar), flush=True)


if __name__ == "__main__":
    main()
