#include "recognizer.h"

#include <string.h>

namespace kws {

Recognizer::Recognizer(const char* const* labels, int label_count, const RecognizerConfig& config)
    : labels_(labels),
      label_count_(label_count < kMaxLabels ? label_count : kMaxLabels),
      config_(config) {
  for (int i = 0; i < kMaxLabels; ++i) thresholds_[i] = config.threshold_permille;
}

bool Recognizer::set_threshold(const char* label, uint16_t permille) {
  if (permille > 1000) return false;
  for (int i = 0; i < label_count_; ++i) {
    if (reportable(i) && strcmp(labels_[i], label) == 0) {
      thresholds_[i] = permille;
      return true;
    }
  }
  return false;
}

void Recognizer::forget_older_than_window(uint32_t now_ms) {
  int kept = 0;
  for (int i = 0; i < history_size_; ++i) {
    if (now_ms - times_[i] >= config_.average_window_ms) continue;
    if (kept != i) {
      times_[kept] = times_[i];
      memcpy(scores_[kept], scores_[i], sizeof(scores_[i]));
    }
    ++kept;
  }
  history_size_ = kept;
}

bool Recognizer::process(const int8_t* scores, uint32_t time_ms, Detection* detection) {
  if (label_count_ == 0) return false;
  if (detected_before_ && time_ms - last_detection_ms_ >= config_.suppression_ms) {
    detected_before_ = false;  // over: times wrap at 32 bits, so it would seem recent again
  }
  if (history_size_ == kMaxHistory) {
    memmove(times_, times_ + 1, sizeof(times_[0]) * (kMaxHistory - 1));
    memmove(scores_, scores_ + 1, sizeof(scores_[0]) * (kMaxHistory - 1));
    --history_size_;
  }
  times_[history_size_] = time_ms;
  for (int i = 0; i < label_count_; ++i) {
    scores_[history_size_][i] = static_cast<uint8_t>(scores[i] + 128);
  }
  ++history_size_;
  forget_older_than_window(time_ms);
  if (static_cast<uint32_t>(history_size_) < config_.minimum_count) return false;

  int best = 0;
  uint32_t best_sum = 0;
  for (int label = 0; label < label_count_; ++label) {
    uint32_t sum = 0;
    for (int entry = 0; entry < history_size_; ++entry) sum += scores_[entry][label];
    if (label == 0 || sum > best_sum) {
      best = label;
      best_sum = sum;
    }
  }
  const uint32_t count = static_cast<uint32_t>(history_size_);
  const uint16_t permille =
      static_cast<uint16_t>((best_sum * 2000u + count * 255u) / (count * 510u));
  if (!reportable(best) || permille < thresholds_[best]) return false;
  if (detected_before_ && time_ms - last_detection_ms_ < config_.suppression_ms) return false;
  detected_before_ = true;
  last_detection_ms_ = time_ms;
  *detection = Detection{best, labels_[best], permille, time_ms};
  return true;
}

}  // namespace kws
