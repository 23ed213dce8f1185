// Always-on keyword spotter for the Arduino Nano 33 BLE Sense (see ../README.md).
//
// This file is only the board glue: PDM microphone, RGB LED, USB serial, the TFLite Micro
// frontend and interpreter. Everything it calls in src/ is portable C++ tested on the host
// (firmware/tests/).
#include <PDM.h>
#include <TensorFlowLite.h>

#include "src/audio_schedule.h"
#include "src/board_config.h"
#include "src/feature_window.h"
#include "src/indicator.h"
#include "src/model/kws_model_data.h"
#include "src/model/kws_model_settings.h"
#include "src/model/kws_thresholds.h"
#include "src/model_fits.h"
#include "src/model_ops.h"
#include "src/recognizer.h"
#include "src/sample_ring.h"
#include "src/serial_link.h"
#include "tensorflow/lite/experimental/microfrontend/lib/frontend.h"
#include "tensorflow/lite/experimental/microfrontend/lib/frontend_util.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

static_assert(kws::kFrontendOutScale == 1, "the C frontend's uint16 output is used as it is");

namespace {

kws::AudioRing g_audio;
kws::ModelWindow g_features(kws::kInputMultiplier, kws::kInputZeroPoint);
FrontendState g_frontend;
alignas(16) uint8_t g_arena[kws::kTensorArenaBytes];
tflite::MicroInterpreter* g_interpreter = nullptr;
kws::Recognizer* g_recognizer = nullptr;
kws::Link* g_link = nullptr;
kws::AudioClock g_clock(kws::kBoardFraming);
kws::Indicator g_indicator;

// The RGB LED of the Nano 33 BLE Sense is lit by a LOW pin.
void show(const kws::Rgb& color) {
  digitalWrite(LEDR, color.red ? LOW : HIGH);
  digitalWrite(LEDG, color.green ? LOW : HIGH);
  digitalWrite(LEDB, color.blue ? LOW : HIGH);
}

size_t send_packet(const uint8_t* data, size_t count);

// Setup failed: blink red for ever, and tell each host that opens the port, and each request,
// which stage failed (`ERR seq=0 msg=setup_model|setup_frontend|setup_mic`, docs/protocol.md).
// Answering requests covers a host that closed and reopened the port between two checks.
[[noreturn]] void halt(const char* error) {
  kws::LineWriter line;
  kws::encode_error(line, 0, error);
  line.character('\n');
  bool told = false;
  for (unsigned long pass = 0;; ++pass) {
    show({pass % 2 == 0, false, false});
    while (SerialUSB.available() > 0) {
      const int byte = SerialUSB.read();
      if (byte == '\n' || byte == '\r') told = false;  // a request: tell again
    }
    if (!SerialUSB.connected()) {
      told = false;
    } else if (!told) {
      told = send_packet(reinterpret_cast<const uint8_t*>(line.c_str()), line.size()) > 0;
    }
    delay(200);
  }
}

// Interrupt: move the microphone's new samples into the ring (dropped if the loop falls behind).
// The buffer is static: the interrupt stack is only 1 KB, shared with the interrupts that nest
// on this one, and the handler never re-enters itself. Reading fewer bytes than PDM has would
// make the library stop the microphone, hence one read of at most one PDM buffer (512 bytes).
void on_pdm_data() {
  static int16_t samples[256];
  int bytes = PDM.available();
  if (bytes > static_cast<int>(sizeof(samples))) bytes = sizeof(samples);
  PDM.read(samples, bytes);
  g_audio.write(samples, static_cast<size_t>(bytes) / sizeof(samples[0]));
}

bool start_frontend() {
  FrontendConfig config;
  FrontendFillConfigWithDefaults(&config);
  config.window.size_ms = kws::kFrontendWindowSize;
  config.window.step_size_ms = kws::kFrontendWindowStep;
  config.filterbank.num_channels = kws::kFrontendNumChannels;
  config.filterbank.upper_band_limit = kws::kFrontendUpperBandLimit;
  config.filterbank.lower_band_limit = kws::kFrontendLowerBandLimit;
  config.noise_reduction.smoothing_bits = kws::kFrontendSmoothingBits;
  config.noise_reduction.even_smoothing = kws::kFrontendEvenSmoothing;
  config.noise_reduction.odd_smoothing = kws::kFrontendOddSmoothing;
  config.noise_reduction.min_signal_remaining = kws::kFrontendMinSignalRemaining;
  config.pcan_gain_control.enable_pcan = kws::kFrontendEnablePcan;
  config.pcan_gain_control.strength = kws::kFrontendPcanStrength;
  config.pcan_gain_control.offset = kws::kFrontendPcanOffset;
  config.pcan_gain_control.gain_bits = kws::kFrontendGainBits;
  config.log_scale.enable_log = kws::kFrontendEnableLog;
  config.log_scale.scale_shift = kws::kFrontendScaleShift;
  return FrontendPopulateState(&config, &g_frontend, kws::kFrontendSampleRate) != 0;
}

bool start_interpreter() {
  const tflite::Model* model = tflite::GetModel(kws::g_kws_model_data);
  if (model->version() != TFLITE_SCHEMA_VERSION) return false;
  static tflite::MicroMutableOpResolver<kws::kModelOpCount> resolver;
  if (!kws::add_model_ops(resolver)) return false;
  static tflite::MicroInterpreter interpreter(model, resolver, g_arena, sizeof(g_arena));
  if (interpreter.AllocateTensors() != kTfLiteOk) return false;
  const TfLiteTensor* input = interpreter.input(0);
  const TfLiteTensor* output = interpreter.output(0);
  if (input->type != kTfLiteInt8 || input->bytes != g_features.size() ||
      output->type != kTfLiteInt8 || output->bytes != static_cast<size_t>(kws::kLabelCount)) {
    return false;
  }
  g_interpreter = &interpreter;
  return true;
}

// The frontend's step for process_audio: true when it made a slice (now in the window).
bool frontend_step(const int16_t* samples, size_t count, size_t* used) {
  const FrontendOutput out = FrontendProcessSamples(&g_frontend, samples, count, used);
  return out.size > 0 && g_features.push(out.values, out.size);
}

// Runs the model on the window; `time_ms` is the audio time of its last slice.
void infer(uint32_t time_ms) {
  memcpy(g_interpreter->input(0)->data.int8, g_features.data(), g_features.size());
  const unsigned long start_us = micros();
  if (g_interpreter->Invoke() != kTfLiteOk) return;
  g_link->set_inference_us(micros() - start_us);
  kws::Detection detection;
  if (g_recognizer->process(g_interpreter->output(0)->data.int8, time_ms, &detection)) {
    g_link->report(detection);
    show(kws::color_for(detection.label));
    g_indicator.light(millis());
  }
}

// USB takes one packet at a time: send_nb starts it if the endpoint is idle (sent = 0 while the
// previous one is in flight, or when no host has the port open).
size_t send_packet(const uint8_t* data, size_t count) {
  uint32_t sent = 0;
  SerialUSB.send_nb(const_cast<uint8_t*>(data), count, &sent);  // send_nb only reads
  return sent;
}

// Follows the host (DTR), answers its requests and hands queued lines to USB without waiting,
// at most one 64-byte packet each way per pass; the rest waits for the next pass (a host that
// sends without pause is held back by USB, not the board). Serial.print would block while a
// host stops reading. A host that closes and reopens the port within one pass leaves no edge
// to see: it asks for its HELLO with a request instead (docs/protocol.md).
void serve_host(unsigned long now_ms) {
  const bool host = SerialUSB.connected();
  if (host && !g_link->connected()) g_link->connect(now_ms);
  if (!host && g_link->connected()) g_link->disconnect();
  g_link->receive_from([] { return SerialUSB.available() > 0 ? SerialUSB.read() : -1; },
                       kws::kUsbPacketBytes, now_ms);
  g_link->tick(now_ms);
  if (host) g_link->output().send_front(kws::kUsbPacketBytes, send_packet);
}

}  // namespace

void setup() {
  pinMode(LEDR, OUTPUT);
  pinMode(LEDG, OUTPUT);
  pinMode(LEDB, OUTPUT);
  show({false, false, false});
  SerialUSB.begin(kws::kSerialBaud);  // USB CDC: returns at once, with or without a host

  if (!start_interpreter()) halt("setup_model");
  if (!start_frontend()) halt("setup_frontend");

  kws::RecognizerConfig config;
  config.ignored_mask = kws::kIgnoredLabels;
  static kws::Recognizer recognizer(kws::kLabels, kws::kLabelCount, config);
  for (int i = 0; i < kws::kLabelCount; ++i) {
    if (!(config.ignored_mask & (1u << i))) {
      recognizer.set_threshold(kws::kLabels[i], kws::kDefaultThresholdPermille[i]);
    }
  }
  static kws::Link link({kws::kFirmwareVersion, kws::kModelId,
                         static_cast<uint32_t>(g_interpreter->arena_used_bytes())},
                        recognizer);
  g_recognizer = &recognizer;
  g_link = &link;

  PDM.onReceive(on_pdm_data);
  if (!PDM.begin(1, kws::kSampleRate)) halt("setup_mic");  // mono, 16 kHz
  PDM.setGain(kws::kMicrophoneGain);
}

void loop() {
  const size_t chunks =
      kws::process_audio(g_audio, g_clock, kws::kMaxChunksPerPass, frontend_step, infer);
  const unsigned long now_ms = millis();  // after the audio work, which may take a while
  if (chunks > 0) g_link->heard_audio(now_ms);
  if (g_indicator.expired(now_ms)) show({false, false, false});
  g_link->set_dropped_samples(g_audio.dropped());
  serve_host(now_ms);
}
