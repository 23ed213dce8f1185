// Builds against the generated model files (firmware/kws/src/model/) and reports what the sketch
// will use, for firmware/tests/test_firmware_model.py.
//
//   model_check settings   key=value lines: sizes, labels, quantization, model id
//   model_check data       the model bytes the sketch embeds
//   model_check to_int8    to_int8 with the header's multiplier and zero point, for v = 0..65535
//   model_check ops        the operators model_ops.h registers, one per line
#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

#include "board_config.h"
#include "feature_window.h"
#include "model/kws_model_data.h"
#include "model/kws_model_settings.h"
#include "model/kws_thresholds.h"
#include "model_fits.h"
#include "model_ops.h"
#include "protocol.h"
#include "recognizer.h"

static_assert(kws::kFeatureElementCount == kws::kFeatureSlices * kws::kFeatureChannels, "shape");

namespace {

// Records the operators add_model_ops registers, in place of TFLM's MicroMutableOpResolver.
class RecordingResolver {
 public:
  std::vector<std::string> names;
#define KWS_RECORD(op) \
  int Add##op() {      \
    names.push_back(#op); \
    return 0;          \
  }
  KWS_RECORD(Conv2D)
  KWS_RECORD(DepthwiseConv2D)
  KWS_RECORD(FullyConnected)
  KWS_RECORD(Mean)
  KWS_RECORD(Softmax)
  KWS_RECORD(Reshape)
  KWS_RECORD(AveragePool2D)
  KWS_RECORD(MaxPool2D)
  KWS_RECORD(Add)
  KWS_RECORD(Mul)
  KWS_RECORD(Pad)
  KWS_RECORD(Relu)
  KWS_RECORD(Quantize)
  KWS_RECORD(Dequantize)
#undef KWS_RECORD
};

void print_settings() {
  printf("model_bytes=%u\n", kws::g_kws_model_data_len);
  printf("tensor_arena_bytes=%d\n", kws::kTensorArenaBytes);
  printf("model_id=%s\n", kws::kModelId);
  printf("labels=");
  for (int i = 0; i < kws::kLabelCount; ++i) printf("%s%s", i ? "," : "", kws::kLabels[i]);
  printf("\nsilence_index=%d\nunknown_index=%d\n", kws::kSilenceIndex, kws::kUnknownIndex);
  printf("input_multiplier=%d\ninput_zero_point=%d\n", static_cast<int>(kws::kInputMultiplier),
         kws::kInputZeroPoint);
  printf("sample_rate=%d\nwindow_ms=%d\nstride_ms=%d\n", kws::kSampleRate, kws::kFeatureWindowMs,
         kws::kFeatureStrideMs);
  printf("channels=%d\nslices=%d\nop_count=%d\n", kws::kFeatureChannels, kws::kFeatureSlices,
         kws::kModelOpCount);
  // The frontend configuration the sketch builds, under assistant.features.FRONTEND_PARAMS names.
  printf("frontend.sample_rate=%d\n", kws::kFrontendSampleRate);
  printf("frontend.window_size=%d\n", kws::kFrontendWindowSize);
  printf("frontend.window_step=%d\n", kws::kFrontendWindowStep);
  printf("frontend.num_channels=%d\n", kws::kFrontendNumChannels);
  printf("frontend.upper_band_limit=%.9g\n", kws::kFrontendUpperBandLimit);
  printf("frontend.lower_band_limit=%.9g\n", kws::kFrontendLowerBandLimit);
  printf("frontend.smoothing_bits=%d\n", kws::kFrontendSmoothingBits);
  printf("frontend.even_smoothing=%.9g\n", kws::kFrontendEvenSmoothing);
  printf("frontend.odd_smoothing=%.9g\n", kws::kFrontendOddSmoothing);
  printf("frontend.min_signal_remaining=%.9g\n", kws::kFrontendMinSignalRemaining);
  printf("frontend.enable_pcan=%d\n", kws::kFrontendEnablePcan ? 1 : 0);
  printf("frontend.pcan_strength=%.9g\n", kws::kFrontendPcanStrength);
  printf("frontend.pcan_offset=%.9g\n", kws::kFrontendPcanOffset);
  printf("frontend.gain_bits=%d\n", kws::kFrontendGainBits);
  printf("frontend.enable_log=%d\n", kws::kFrontendEnableLog ? 1 : 0);
  printf("frontend.scale_shift=%d\n", kws::kFrontendScaleShift);
  printf("frontend.out_scale=%d\n", kws::kFrontendOutScale);
  printf("frontend.out_type=%s\n", kws::kFrontendOutType);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "settings") {
    print_settings();
  } else if (mode == "data") {
    fwrite(kws::g_kws_model_data, 1, kws::g_kws_model_data_len, stdout);
  } else if (mode == "to_int8") {
    for (uint32_t v = 0; v < 65536; ++v) {
      const int8_t value =
          kws::to_int8(static_cast<uint16_t>(v), kws::kInputMultiplier, kws::kInputZeroPoint);
      fwrite(&value, 1, 1, stdout);
    }
  } else if (mode == "ops") {
    RecordingResolver resolver;
    if (!kws::add_model_ops(resolver)) return 1;
    for (const std::string& name : resolver.names) printf("%s\n", name.c_str());
  } else {
    fprintf(stderr, "usage: model_check settings|data|to_int8|ops\n");
    return 2;
  }
  return 0;
}
