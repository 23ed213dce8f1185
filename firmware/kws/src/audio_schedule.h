// When the board runs an inference, and the time it gives it: the desktop's schedule
// (assistant/pipeline.py, ScoreStream). An inference on the slice that fills the model's window,
// then every kInferenceEverySlices slices; its time is audio time, the end of that slice's window
// in milliseconds since the microphone started (wrapping at 32 bits), so the recognizer sees
// inferences exactly 100 ms apart, as on the desktop. Audio the ring dropped counts too, where
// it was lost: a slice's time is when its last sample was captured.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "board_config.h"
#include "feature_window.h"
#include "model/kws_model_settings.h"
#include "sample_ring.h"

namespace kws {

// The sketch's audio buffers: the ring the microphone interrupt fills and the model's input.
using AudioRing = SampleRing<kAudioRingSamples, kAudioRingGaps>;
using ModelWindow = FeatureWindow<kFeatureSlices, kFeatureChannels>;

struct AudioFraming {
  uint32_t sample_rate;
  uint32_t window_samples;  // one feature slice's window
  uint32_t step_samples;    // from one slice to the next
  uint32_t window_slices;   // slices in the model's input
  uint32_t every_slices;    // slices from one inference to the next
};

constexpr AudioFraming kBoardFraming{
    static_cast<uint32_t>(kSampleRate),
    static_cast<uint32_t>(kSampleRate / 1000 * kFeatureWindowMs),
    static_cast<uint32_t>(kSampleRate / 1000 * kFeatureStrideMs),
    static_cast<uint32_t>(kFeatureSlices),
    static_cast<uint32_t>(kInferenceEverySlices),
};

class AudioClock {
 public:
  explicit AudioClock(const AudioFraming& framing)
      : framing_(framing), until_inference_(framing.window_slices) {}

  // The frontend made a slice: true if an inference is due on it.
  bool add_slice() {
    ++slices_;
    if (--until_inference_ > 0) return false;
    until_inference_ = framing_.every_slices;
    return true;
  }

  // The ring's running count of samples dropped before the audio the next slice ends in. They
  // were audio too, so they move the clock on.
  void set_dropped(uint32_t total) {
    dropped_ += total - dropped_seen_;  // the count wraps at 32 bits
    dropped_seen_ = total;
  }

  // Audio time at the end of the newest slice's window (ms since start, wraps at 32 bits).
  uint32_t time_ms() const {
    const uint64_t samples =
        (slices_ - 1) * framing_.step_samples + framing_.window_samples + dropped_;
    return static_cast<uint32_t>(samples * 1000 / framing_.sample_rate);
  }

  uint64_t dropped() const { return dropped_; }

 private:
  AudioFraming framing_;
  uint32_t until_inference_;
  uint64_t slices_ = 0;
  uint64_t dropped_ = 0;
  uint32_t dropped_seen_ = 0;
};

// One loop pass of audio work: at most `max_chunks` chunks of kAudioChunkSamples from the ring
// through `frontend`, and `infer(time_ms)` on each slice the clock schedules. Bounded so that a
// board slower than real time still serves the host between passes; the ring then drops audio,
// and the clock counts it. `frontend(samples, count, &used)` takes some of the samples and
// returns true when it made a slice, whose window ends with the last sample taken. A chunk stops
// at a gap, so the audio the ring dropped before it is the audio dropped before that slice's end.
// Returns the number of chunks read.
template <class Ring, class Frontend, class Infer>
size_t process_audio(Ring& ring, AudioClock& clock, size_t max_chunks, Frontend&& frontend,
                     Infer&& infer) {
  int16_t chunk[kAudioChunkSamples];
  size_t chunks = 0;
  for (; chunks < max_chunks; ++chunks) {
    clock.set_dropped(ring.dropped_before_next());
    size_t count = ring.read(chunk, kAudioChunkSamples);
    if (count == 0) break;
    const int16_t* samples = chunk;
    while (count > 0) {
      size_t used = 0;
      if (frontend(samples, count, &used) && clock.add_slice()) infer(clock.time_ms());
      if (used == 0) break;
      samples += used;
      count -= used;
    }
  }
  return chunks;
}

}  // namespace kws
