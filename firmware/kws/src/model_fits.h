// Compile-time checks that the generated model files fit this firmware, shared by the sketch
// and firmware/tests/model_check.cpp (which the tests build after every export).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "board_config.h"
#include "feature_window.h"
#include "model/kws_model_settings.h"
#include "model/kws_thresholds.h"
#include "protocol.h"
#include "recognizer.h"

namespace kws {

// Labels the recognizer never reports.
constexpr uint32_t kIgnoredLabels = (1u << kSilenceIndex) | (1u << kUnknownIndex);

constexpr bool same_text(const char* a, const char* b) {
  return *a == *b && (*a == '\0' || same_text(a + 1, b + 1));
}
// Whether the first `count` labels of `a` and `b` are the same.
constexpr bool same_labels(const char* const* a, const char* const* b, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (!same_text(a[i], b[i])) return false;
  }
  return true;
}

// Whether the first `count` labels are all labels the protocol carries.
constexpr bool all_labels(const char* const* labels, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (!is_label(labels[i])) return false;
  }
  return true;
}

static_assert(kLabelCount <= kMaxLabels, "too many labels for the recognizer");
static_assert(all_labels(kLabels, static_cast<size_t>(kLabelCount)),
              "a label is not 1-16 characters of a-z, 0-9 and _, which the protocol carries "
              "(docs/protocol.md) and the assistant accepts: rename it in LABELS of "
              "model_training/settings.py, train and export again");
static_assert(sizeof(kDefaultThresholdPermille) / sizeof(kDefaultThresholdPermille[0]) ==
                  static_cast<size_t>(kLabelCount),
              "kws_thresholds.h needs one threshold per label: use the one `python -m "
              "model_training export` wrote with kws_model_settings.h");
static_assert(sizeof(kThresholdLabels) / sizeof(kThresholdLabels[0]) ==
                      static_cast<size_t>(kLabelCount) &&
                  same_labels(kThresholdLabels, kLabels, static_cast<size_t>(kLabelCount)),
              "kws_thresholds.h is for other labels than kws_model_settings.h: use the one "
              "`python -m model_training export` wrote with kws_model_settings.h");
static_assert(kOutputZeroPoint == -128, "the recognizer reads scores as int8 + 128");
static_assert(kInputShift == kFeatureShift, "to_int8 and the export use one shift");
static_assert(hello_length(kFirmwareVersion, kModelId, kLabels, kLabelCount, kIgnoredLabels) <=
                  kMaxLineBytes,
              "HELLO with these labels exceeds the protocol's 160-byte line: shorten them");

}  // namespace kws
