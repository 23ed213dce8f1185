#include "protocol.h"

#include <string.h>

namespace kws {

void LineWriter::clear() {
  size_ = 0;
  overflowed_ = false;
  buffer_[0] = '\0';
}

LineWriter& LineWriter::character(char value) {
  if (size_ >= kMaxLineBytes) {
    overflowed_ = true;
    return *this;
  }
  buffer_[size_++] = value;
  buffer_[size_] = '\0';
  return *this;
}

LineWriter& LineWriter::text(const char* value) {
  while (*value != '\0') character(*value++);
  return *this;
}

LineWriter& LineWriter::number(uint32_t value) {
  char digits[10];
  size_t count = 0;
  do {
    digits[count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (count > 0) character(digits[--count]);
  return *this;
}

LineWriter& LineWriter::permille(uint16_t value) {
  if (value > kPermilleOne) value = kPermilleOne;
  character(static_cast<char>('0' + value / 1000));
  character('.');
  character(static_cast<char>('0' + value / 100 % 10));
  character(static_cast<char>('0' + value / 10 % 10));
  return character(static_cast<char>('0' + value % 10));
}

void LineWriter::rewind(size_t size) {
  if (size < size_) {
    size_ = size;
    buffer_[size_] = '\0';
  }
  overflowed_ = false;
}

namespace {

LineWriter& start(LineWriter& line, const char* type, uint32_t seq) {
  line.clear();
  return line.text(type).text(" seq=").number(seq);
}

bool is_ping_id_char(char c) {
  return is_label_char(c) || in_range(c, 'A', 'Z') || c == '-';
}

// True if `word` is 1..max_length characters that all pass `allowed`; copies it into `out`.
bool copy_word(const char* word, size_t length, size_t max_length, bool (*allowed)(char),
               char* out) {
  if (length == 0 || length > max_length) return false;
  for (size_t i = 0; i < length; ++i) {
    if (!allowed(word[i])) return false;
  }
  memcpy(out, word, length);
  out[length] = '\0';
  return true;
}

struct Word {
  const char* text;
  size_t length;
};

constexpr size_t kMaxWords = 5;  // more than any request has; extra words are only counted

// Splits on runs of spaces; returns the number of words (may exceed kMaxWords).
size_t split_words(const char* line, size_t length, Word* words) {
  size_t count = 0;
  size_t i = 0;
  while (i < length) {
    while (i < length && line[i] == ' ') ++i;
    if (i == length) break;
    const size_t begin = i;
    while (i < length && line[i] != ' ') ++i;
    if (count < kMaxWords) words[count] = Word{line + begin, i - begin};
    ++count;
  }
  return count;
}

bool word_is(const Word& word, const char* expected) {
  return word.length == strlen(expected) && memcmp(word.text, expected, word.length) == 0;
}

}  // namespace

void encode_hello(LineWriter& line, uint32_t seq, const char* firmware, const char* model,
                  const char* const* labels, size_t label_count) {
  start(line, "HELLO", seq).text(" proto=").number(kProtocolVersion);
  line.text(" fw=").text(firmware).text(" model=").text(model).text(" labels=");
  for (size_t i = 0; i < label_count; ++i) {
    if (i > 0) line.character(',');
    line.text(labels[i]);
  }
}

void encode_detection(LineWriter& line, uint32_t seq, const char* label, uint16_t permille,
                      uint32_t ms) {
  start(line, "DET", seq).text(" label=").text(label).text(" score=").permille(permille);
  line.text(" ms=").number(ms);
}

void encode_heartbeat(LineWriter& line, uint32_t seq, uint32_t ms) {
  start(line, "HB", seq).text(" ms=").number(ms);
}

void encode_pong(LineWriter& line, uint32_t seq, const char* id) {
  start(line, "PONG", seq).text(" id=").text(id);
}

void encode_ok(LineWriter& line, uint32_t seq, const char* command) {
  start(line, "OK", seq).text(" cmd=").text(command);
}

void encode_error(LineWriter& line, uint32_t seq, const char* message) {
  start(line, "ERR", seq).text(" msg=").text(message);
}

void encode_info(LineWriter& line, uint32_t seq, const InfoFields& fields) {
  start(line, "INFO", seq).text(" fw=").text(fields.firmware).text(" model=").text(fields.model);
  line.text(" arena=").number(fields.arena_bytes).text(" infer_us=").number(fields.inference_us);
  line.text(" dropped=").number(fields.dropped_samples);
  const size_t without_thresholds = line.size();
  line.text(" thresholds=");
  for (size_t i = 0; i < fields.label_count; ++i) {
    if (i > 0) line.character(',');
    line.text(fields.labels[i]).character(':').permille(fields.thresholds_permille[i]);
  }
  if (line.overflowed()) line.rewind(without_thresholds);
}

bool parse_permille(const char* text, size_t length, uint16_t* permille) {
  if (length == 0 || (text[0] != '0' && text[0] != '1')) return false;
  const bool one = text[0] == '1';
  if (length == 1) {
    *permille = one ? kPermilleOne : 0;
    return true;
  }
  if (text[1] != '.' || length < 3 || length > 5) return false;
  uint16_t value = 0;
  uint16_t weight = 100;
  for (size_t i = 2; i < length; ++i, weight /= 10) {
    if (!in_range(text[i], '0', '9')) return false;
    value = static_cast<uint16_t>(value + (text[i] - '0') * weight);
  }
  if (one && value != 0) return false;
  *permille = one ? kPermilleOne : value;
  return true;
}

const char* error_token(RequestError error) {
  switch (error) {
    case RequestError::kNone:
      return "none";
    case RequestError::kUnknownCommand:
      return "unknown_command";
    case RequestError::kBadValue:
      return "bad_value";
    case RequestError::kTooLong:
      return "too_long";
    case RequestError::kNotAscii:
      return "not_ascii";
  }
  return "unknown_command";
}

RequestError parse_request(const char* line, size_t length, Request* request) {
  // Length first: the link keeps only the start of a long line, so it cannot judge the rest.
  if (length > 0 && line[length - 1] == '\r') --length;
  if (length > kMaxLineBytes) return RequestError::kTooLong;
  for (size_t i = 0; i < length; ++i) {
    if (!in_range(line[i], 0x20, 0x7E)) return RequestError::kNotAscii;
  }
  Word words[kMaxWords];
  const size_t count = split_words(line, length, words);
  if (count == 0) return RequestError::kUnknownCommand;
  const bool info = word_is(words[0], "INFO");
  if (info || word_is(words[0], "HELLO")) {
    request->kind = info ? RequestKind::kInfo : RequestKind::kHello;
    return count == 1 ? RequestError::kNone : RequestError::kBadValue;
  }
  if (word_is(words[0], "PING")) {
    request->kind = RequestKind::kPing;
    const bool valid = count == 2 && copy_word(words[1].text, words[1].length, kMaxPingIdLength,
                                               is_ping_id_char, request->id);
    return valid ? RequestError::kNone : RequestError::kBadValue;
  }
  if (!word_is(words[0], "SET") || count < 2 || !word_is(words[1], "threshold")) {
    return RequestError::kUnknownCommand;
  }
  request->kind = RequestKind::kSetThreshold;
  const bool valid =
      count == 4 &&
      copy_word(words[2].text, words[2].length, kMaxLabelLength, is_label_char, request->label) &&
      parse_permille(words[3].text, words[3].length, &request->permille);
  return valid ? RequestError::kNone : RequestError::kBadValue;
}

}  // namespace kws
