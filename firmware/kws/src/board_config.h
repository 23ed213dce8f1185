// Board settings that do not depend on the model.
#pragma once

#include <stddef.h>

namespace kws {

constexpr char kFirmwareVersion[] = "1.0.0";
constexpr size_t kAudioRingSamples = 8192;  // 512 ms of 16 kHz audio between two loop passes
// Gaps in the ring's audio (lost while it was full) it keeps track of at once, 8 bytes each;
// with that many unread it takes no audio until the loop reads past the oldest (sample_ring.h).
constexpr size_t kAudioRingGaps = 16;
constexpr size_t kAudioChunkSamples = 320;  // samples handed to the frontend at a time
// Audio work per loop pass: 5 chunks of 20 ms, at most one inference. A board that falls behind
// still serves the host between passes, and the ring drops (and counts) what does not fit.
constexpr size_t kMaxChunksPerPass = 5;
constexpr int kMicrophoneGain = 20;         // nRF52840 PDM gain: 0..80 in 0.5 dB steps, 40 = 0 dB
constexpr unsigned long kSerialBaud = 115200;
// USB full speed: the CDC bulk endpoint takes one 64-byte packet per transfer, and send_nb fails
// on more, so the sketch hands it at most this much per loop pass; it reads at most as much of
// the host's requests per pass.
constexpr size_t kUsbPacketBytes = 64;
// One inference every 5 feature slices (100 ms) once the window is full, exactly as the
// desktop pipeline (assistant/pipeline.py) schedules it.
constexpr unsigned long kInferenceEverySlices = 5;

}  // namespace kws
