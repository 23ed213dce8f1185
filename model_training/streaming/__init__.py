"""Streaming evaluation: the whole desktop pipeline over long recordings, the way users meet it.

`python -m model_training.streaming build` mixes commands and other words of one split's speakers
and running speech into background noise and writes the ground truth beside the WAV; `evaluate`
runs the pipeline over streams and reports false rejects, false accepts per hour and latency, with
a plot of the trade-off across thresholds; `thresholds` chooses per-command thresholds from an
evaluation of validation-speaker streams (tuning) and writes them to the evaluated model's card
(and the firmware header, a config), so that test-speaker streams (held out) can report on them.
"""

STREAM_SPLITS = ("validation", "test")
"""The splits a stream's words come from (never train: the model has heard those speakers)."""
TUNING_SPLIT = "validation"
"""Thresholds are chosen on streams of this split only."""
REPORTING_SPLIT = "test"
"""Results are reported on streams of this split, the default (and the split of streams built
before it was recorded)."""
