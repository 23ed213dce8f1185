// Turns the model's int8 scores, one inference at a time, into command detections.
//
// Integer arithmetic only, repeated exactly by assistant/recognizer.py:
//  - each score s becomes u = s + 128 (0..255); the last inferences whose age
//    (now - t, modulo 2^32) is below the averaging window are kept, at most kMaxHistory;
//  - with at least `minimum_count` of them, the label with the largest sum of u wins (the first
//    on a tie); its score in thousandths is round-half-up(sum * 1000 / (count * 255));
//  - it is reported if it is not ignored (silence, unknown), reaches its threshold and no
//    detection happened within the suppression time before (a detection is forgotten at the
//    first inference that age or older, so 49.7 days later, when times wrap, it is not recent).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace kws {

constexpr int kMaxLabels = 16;
constexpr int kMaxHistory = 64;

struct RecognizerConfig {
  uint16_t threshold_permille = 800;
  uint32_t average_window_ms = 1000;
  uint32_t suppression_ms = 1500;
  uint32_t minimum_count = 3;
  uint32_t ignored_mask = 0;  // bit i set: label i is never reported
};

struct Detection {
  int label_index;
  const char* label;
  uint16_t permille;
  uint32_t time_ms;
};

class Recognizer {
 public:
  // `labels` must outlive the recognizer; at most kMaxLabels of them are used.
  Recognizer(const char* const* labels, int label_count, const RecognizerConfig& config);

  // Feeds one inference's scores (label_count values) made at `time_ms`; true and `detection`
  // filled when a command is recognized.
  bool process(const int8_t* scores, uint32_t time_ms, Detection* detection);

  // False if `label` is not a reportable label or the score is above 1.000.
  bool set_threshold(const char* label, uint16_t permille);

  int label_count() const { return label_count_; }
  const char* label(int index) const { return labels_[index]; }
  bool reportable(int index) const { return (config_.ignored_mask >> index & 1u) == 0; }
  uint16_t threshold(int index) const { return thresholds_[index]; }

 private:
  void forget_older_than_window(uint32_t now_ms);

  const char* const* labels_;
  int label_count_;
  RecognizerConfig config_;
  uint16_t thresholds_[kMaxLabels];
  uint8_t scores_[kMaxHistory][kMaxLabels];
  uint32_t times_[kMaxHistory];
  int history_size_ = 0;
  bool detected_before_ = false;
  uint32_t last_detection_ms_ = 0;
};

}  // namespace kws
