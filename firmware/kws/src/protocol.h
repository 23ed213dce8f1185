// The serial line protocol of docs/protocol.md: encoding the board's lines and parsing the
// host's requests. No Arduino dependency, no heap, no printf.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace kws {

constexpr int kProtocolVersion = 1;  // one digit (hello_length counts one)
constexpr size_t kMaxLineBytes = 160;
constexpr size_t kMaxLabelLength = 16;
constexpr size_t kMaxPingIdLength = 16;
constexpr uint16_t kPermilleOne = 1000;

// A line being built. It never grows past kMaxLineBytes: an append that does not fit marks the
// line as overflowed instead, and `rewind` drops everything after a saved size.
class LineWriter {
 public:
  LineWriter() { clear(); }
  void clear();
  LineWriter& text(const char* value);
  LineWriter& character(char value);
  LineWriter& number(uint32_t value);
  // A score in thousandths, written with exactly three decimals: 912 -> "0.912".
  LineWriter& permille(uint16_t value);
  bool overflowed() const { return overflowed_; }
  size_t size() const { return size_; }
  void rewind(size_t size);
  const char* c_str() const { return buffer_; }

 private:
  char buffer_[kMaxLineBytes + 1];
  size_t size_;
  bool overflowed_;
};

constexpr bool in_range(char c, char low, char high) { return c >= low && c <= high; }

constexpr bool is_label_char(char c) {
  return in_range(c, 'a', 'z') || in_range(c, '0', '9') || c == '_';
}

// Whether `text` is a label the protocol carries: 1 to kMaxLabelLength characters [a-z0-9_].
constexpr bool is_label(const char* text) {
  size_t length = 0;
  for (; text[length] != '\0'; ++length) {
    if (length == kMaxLabelLength || !is_label_char(text[length])) return false;
  }
  return length > 0;
}

// The length of encode_hello's line for the labels not in `ignored_mask` (bit i: labels[i]), for
// a compile-time check that it fits in kMaxLineBytes.
constexpr size_t text_length(const char* text) {
  return *text == '\0' ? 0 : 1 + text_length(text + 1);
}
constexpr size_t hello_length(const char* firmware, const char* model, const char* const* labels,
                              size_t label_count, uint32_t ignored_mask) {
  size_t length = text_length("HELLO seq=0 proto=1 fw= model= labels=") + text_length(firmware) +
                  text_length(model);
  size_t listed = 0;
  for (size_t i = 0; i < label_count; ++i) {
    if ((ignored_mask >> i & 1u) == 0) length += (listed++ > 0 ? 1 : 0) + text_length(labels[i]);
  }
  return length;
}

// The encoders write one whole line (without its line ending) into `line`, replacing it.
void encode_hello(LineWriter& line, uint32_t seq, const char* firmware, const char* model,
                  const char* const* labels, size_t label_count);
void encode_detection(LineWriter& line, uint32_t seq, const char* label, uint16_t permille,
                      uint32_t ms);
void encode_heartbeat(LineWriter& line, uint32_t seq, uint32_t ms);
void encode_pong(LineWriter& line, uint32_t seq, const char* id);
void encode_ok(LineWriter& line, uint32_t seq, const char* command);
void encode_error(LineWriter& line, uint32_t seq, const char* message);

struct InfoFields {
  const char* firmware;
  const char* model;
  uint32_t arena_bytes;
  uint32_t inference_us;
  uint32_t dropped_samples;   // audio the board lost since reset (wraps)
  const char* const* labels;  // the labels whose thresholds are listed
  const uint16_t* thresholds_permille;
  size_t label_count;
};
// `thresholds` is written only when the whole field fits in the line; a line never exceeds
// kMaxLineBytes.
void encode_info(LineWriter& line, uint32_t seq, const InfoFields& fields);

enum class RequestKind : uint8_t { kPing, kInfo, kSetThreshold, kHello };
enum class RequestError : uint8_t { kNone, kUnknownCommand, kBadValue, kTooLong, kNotAscii };

struct Request {
  RequestKind kind;
  char id[kMaxPingIdLength + 1];   // PING
  char label[kMaxLabelLength + 1];  // SET threshold
  uint16_t permille;                // SET threshold
};

// Parses one request line (without '\n'; one trailing '\r' is ignored). A line over
// kMaxLineBytes is kTooLong whatever its bytes.
RequestError parse_request(const char* line, size_t length, Request* request);
// The protocol's token for an error: "unknown_command", "bad_value", ...
const char* error_token(RequestError error);
// A score "0", "0.8", "0.85", "0.850", "1", "1.000" to thousandths; false if malformed.
bool parse_permille(const char* text, size_t length, uint16_t* permille);

}  // namespace kws
