"""Streaming evaluation: the whole desktop pipeline over long recordings, the way users meet it.

`python -m model_training.streaming build` mixes test-speaker commands, other words and running
speech into background noise and writes the ground truth beside the WAV; `evaluate` runs the
pipeline over it and reports false rejects, false accepts per hour and latency, with a plot of
the trade-off across thresholds; `thresholds` writes chosen thresholds to the config and the
firmware header.
"""
