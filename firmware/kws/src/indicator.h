// The RGB LED colour that shows which command was heard.
#pragma once

#include <stdint.h>
#include <string.h>

namespace kws {

struct Rgb {
  bool red;
  bool green;
  bool blue;
};

constexpr uint32_t kIndicatorMs = 500;  // how long the LED stays lit after a detection

inline Rgb color_for(const char* label) {
  struct Entry {
    const char* label;
    Rgb color;
  };
  static const Entry kColors[] = {
      {"on", {false, true, false}},  {"off", {true, false, false}}, {"up", {false, false, true}},
      {"down", {true, true, false}}, {"go", {false, true, true}},   {"stop", {true, false, true}},
  };
  for (const Entry& entry : kColors) {
    if (strcmp(entry.label, label) == 0) return entry.color;
  }
  return {true, true, true};  // any other command: white
}

// When the LED goes dark again. Times are millis() values; the difference is taken as signed 32
// bits, so a detection stamped later than the caller's `now` (not yet elapsed) and millis()
// wrapping around after 49.7 days both work.
class Indicator {
 public:
  void light(uint32_t now_ms) {
    lit_ = true;
    lit_ms_ = now_ms;
  }

  // True once, when the LED has been lit for kIndicatorMs: switch it off.
  bool expired(uint32_t now_ms) {
    if (!lit_ || static_cast<int32_t>(now_ms - lit_ms_) < static_cast<int32_t>(kIndicatorMs)) {
      return false;
    }
    lit_ = false;
    return true;
  }

 private:
  bool lit_ = false;
  uint32_t lit_ms_ = 0;
};

}  // namespace kws
