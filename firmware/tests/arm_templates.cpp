// Instantiates the header-only parts at the sizes the sketch uses, for the code size table.
#include "audio_schedule.h"
#include "board_config.h"
#include "feature_window.h"
#include "serial_link.h"
#include "sample_ring.h"

namespace {
kws::SampleRing<kws::kAudioRingSamples> audio;
kws::FeatureWindow<49, 40> features(25600, -128);
}  // namespace

size_t audio_write(const int16_t* samples, size_t count) { return audio.write(samples, count); }
size_t audio_read(int16_t* samples, size_t count) { return audio.read(samples, count); }
bool features_push(const uint16_t* slice, size_t count) { return features.push(slice, count); }
const int8_t* features_data() { return features.full() ? features.data() : nullptr; }

// The sketch's TFLite Micro frontend and interpreter steps.
bool frontend_step(const int16_t* samples, size_t count, size_t* used);
void infer(uint32_t time_ms);

namespace {
kws::AudioClock clock(kws::kBoardFraming);
}  // namespace

size_t audio_pass() {
  return kws::process_audio(audio, clock, kws::kMaxChunksPerPass, frontend_step, infer);
}

namespace {
const char* const labels[8] = {"silence", "unknown", "on", "off", "up", "down", "go", "stop"};
kws::RecognizerConfig config;
kws::Recognizer recognizer(labels, 8, config);
kws::Link serial_link({"1.0.0", "00000000", 0}, recognizer);
}  // namespace

void link_receive(char byte, uint32_t now_ms) { serial_link.receive(byte, now_ms); }
void link_tick(uint32_t now_ms) { serial_link.tick(now_ms); }
