"""From Speech Commands recordings to the int8 keyword-spotting model the board runs.

Run `python -m model_training --help` for the steps (download, index, synth, analyze, features,
train, quantize, export, evaluate) and `python -m model_training recipe` for the whole path.
"""
