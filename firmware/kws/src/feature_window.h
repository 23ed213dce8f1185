// From the audio frontend's uint16 output to the model's int8 input (assistant/features.py):
//   int8 = clamp(((value * multiplier + 2^(shift-1)) >> shift) + zero_point, -128, 127)
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

namespace kws {

constexpr int kFeatureShift = 16;

inline int8_t to_int8(uint16_t value, int32_t multiplier, int32_t zero_point) {
  const int64_t scaled =
      (static_cast<int64_t>(value) * multiplier + (int64_t{1} << (kFeatureShift - 1))) >>
      kFeatureShift;
  const int64_t shifted = scaled + zero_point;
  if (shifted < -128) return -128;
  if (shifted > 127) return 127;
  return static_cast<int8_t>(shifted);
}

// The last `Slices` feature slices of `Channels` values, oldest first: the model's input.
template <int Slices, int Channels>
class FeatureWindow {
 public:
  FeatureWindow(int32_t multiplier, int32_t zero_point)
      : multiplier_(multiplier), zero_point_(zero_point) {
    memset(values_, 0, sizeof(values_));
  }

  // Appends one frontend slice (`count` must be Channels; false otherwise), dropping the oldest.
  bool push(const uint16_t* slice, size_t count) {
    if (count != static_cast<size_t>(Channels)) return false;
    memmove(values_, values_ + Channels, sizeof(values_) - Channels);
    int8_t* newest = values_ + (Slices - 1) * Channels;
    for (int i = 0; i < Channels; ++i) newest[i] = to_int8(slice[i], multiplier_, zero_point_);
    if (filled_ < Slices) ++filled_;
    return true;
  }

  // True once Slices slices have been pushed.
  bool full() const { return filled_ == Slices; }
  const int8_t* data() const { return values_; }
  static constexpr size_t size() { return static_cast<size_t>(Slices) * Channels; }

 private:
  int32_t multiplier_;
  int32_t zero_point_;
  int8_t values_[Slices * Channels];
  int filled_ = 0;
};

}  // namespace kws
