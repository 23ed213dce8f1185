// Generated from assistant/models/kws_int8.tflite (model b079c5f0) by `python -m model_training export`; do not edit.
// Regenerate: python -m model_training export
#ifndef KWS_MODEL_SETTINGS_H_
#define KWS_MODEL_SETTINGS_H_

#include <cstdint>

namespace kws {

constexpr int kSampleRate = 16000;
constexpr int kFeatureWindowMs = 30;
constexpr int kFeatureStrideMs = 20;
constexpr int kFeatureChannels = 40;
constexpr int kFeatureSlices = 49;
constexpr int kFeatureElementCount = kFeatureChannels * kFeatureSlices;

constexpr int kLabelCount = 8;
constexpr const char* kLabels[] = {"silence", "unknown", "on", "off", "up", "down", "go", "stop"};
constexpr int kSilenceIndex = 0;
constexpr int kUnknownIndex = 1;

// int8 input = clamp(((uint16 * kInputMultiplier + (1 << (kInputShift - 1)))
//                     >> kInputShift) + kInputZeroPoint, -128, 127)
constexpr float kFeatureScale = 0.0390625f;
constexpr float kInputScale = 0.1015625f;
constexpr int kInputZeroPoint = -128;
constexpr int32_t kInputMultiplier = 25206;
constexpr int kInputShift = 16;
constexpr float kOutputScale = 0.00390625f;
constexpr int kOutputZeroPoint = -128;

constexpr int kTensorArenaBytes = 18432;
constexpr const char* kModelId = "b079c5f0";

// Audio frontend (TFLite Micro microfrontend) parameters.
constexpr int kFrontendSampleRate = 16000;
constexpr int kFrontendWindowSize = 30;
constexpr int kFrontendWindowStep = 20;
constexpr int kFrontendNumChannels = 40;
constexpr float kFrontendUpperBandLimit = 7500.0f;
constexpr float kFrontendLowerBandLimit = 125.0f;
constexpr int kFrontendSmoothingBits = 10;
constexpr float kFrontendEvenSmoothing = 0.025f;
constexpr float kFrontendOddSmoothing = 0.06f;
constexpr float kFrontendMinSignalRemaining = 0.05f;
constexpr bool kFrontendEnablePcan = true;
constexpr float kFrontendPcanStrength = 0.95f;
constexpr float kFrontendPcanOffset = 80.0f;
constexpr int kFrontendGainBits = 21;
constexpr bool kFrontendEnableLog = true;
constexpr int kFrontendScaleShift = 6;
constexpr int kFrontendOutScale = 1;
constexpr const char* kFrontendOutType = "uint16";

}  // namespace kws

#endif  // KWS_MODEL_SETTINGS_H_
