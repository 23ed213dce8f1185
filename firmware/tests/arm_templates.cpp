// The header-only parts, and the sketch's compile-time checks, built as the sketch builds them:
// its buffer types and labels, at the core's language level, for the code size table.
#include "audio_schedule.h"
#include "board_config.h"
#include "indicator.h"
#include "model/kws_model_settings.h"
#include "model_fits.h"
#include "model_ops.h"
#include "serial_link.h"

namespace {
kws::AudioRing audio;
kws::ModelWindow features(kws::kInputMultiplier, kws::kInputZeroPoint);
}  // namespace

size_t audio_write(const int16_t* samples, size_t count) { return audio.write(samples, count); }
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
kws::RecognizerConfig recognizer_config() {
  kws::RecognizerConfig config;
  config.ignored_mask = kws::kIgnoredLabels;
  return config;
}
kws::Recognizer recognizer(kws::kLabels, kws::kLabelCount, recognizer_config());
kws::Link serial_link({kws::kFirmwareVersion, kws::kModelId, 0}, recognizer);
kws::Indicator indicator;
}  // namespace

// The sketch's read of one byte from USB (negative when there is none).
int usb_read();
size_t link_receive(uint32_t now_ms) {
  return serial_link.receive_from(usb_read, kws::kUsbPacketBytes, now_ms);
}
void link_tick(uint32_t now_ms) { serial_link.tick(now_ms); }
bool indicator_expired(uint32_t now_ms) { return indicator.expired(now_ms); }
bool indicator_red(const char* label) { return kws::color_for(label).red; }
