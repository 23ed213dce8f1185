// The RGB LED colour that shows which command was heard.
#pragma once

#include <string.h>

namespace kws {

struct Rgb {
  bool red;
  bool green;
  bool blue;
};

constexpr unsigned long kIndicatorMs = 500;  // how long the LED stays lit after a detection

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

}  // namespace kws
