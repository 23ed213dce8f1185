// Drives the portable firmware code from the host tests (firmware/tests/test_*.py).
//
//   host_tool protocol     stdin: one encoder call or request per line, stdout: one result each
//   host_tool recognizer   stdin: a config line, then "time s0 s1 ..." lines; stdout: detections
//   host_tool link         stdin: board events; stdout: the lines the board sends
//   host_tool schedule     stdin: microphone blocks, frontend slices and loop passes;
//                          stdout: inferences (and their model input) and work
//   host_tool to_int8 M Z  stdout: to_int8(v, M, Z) for v = 0..65535 as raw bytes
//
// Built for this machine and for the Cortex-M4F (run on qemu, qemu_m4.cpp), so its formats fit
// both: uint32_t is unsigned long on the board, and its newlib's printf has no %zu.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "audio_schedule.h"
#include "board_config.h"
#include "feature_window.h"
#include "serial_link.h"
#include "protocol.h"
#include "recognizer.h"

namespace {

using kws::LineWriter;

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    const size_t end = text.find(separator, begin);
    parts.push_back(text.substr(begin, end - begin));
    if (end == std::string::npos) return parts;
    begin = end + 1;
  }
}

uint32_t number(const std::string& text) {
  return static_cast<uint32_t>(strtoul(text.c_str(), nullptr, 10));
}

std::string from_hex(const std::string& hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(strtoul(hex.substr(i, 2).c_str(), nullptr, 16)));
  }
  return bytes;
}

bool read_line(std::string* line) {
  line->clear();
  int c;
  while ((c = getchar()) != EOF && c != '\n') line->push_back(static_cast<char>(c));
  return c != EOF || !line->empty();
}

// Label names kept alive for the recognizer, which stores pointers.
struct Labels {
  std::vector<std::string> names;
  std::vector<const char*> pointers;
  explicit Labels(const std::string& csv) : names(split(csv, ',')) {
    for (const std::string& name : names) pointers.push_back(name.c_str());
  }
};

void print_request(const std::string& line) {
  kws::Request request;
  const kws::RequestError error = kws::parse_request(line.data(), line.size(), &request);
  if (error != kws::RequestError::kNone) {
    printf("error %s\n", kws::error_token(error));
  } else if (request.kind == kws::RequestKind::kPing) {
    printf("ping %s\n", request.id);
  } else if (request.kind == kws::RequestKind::kInfo) {
    printf("info\n");
  } else if (request.kind == kws::RequestKind::kHello) {
    printf("hello\n");
  } else {
    printf("set %s %u\n", request.label, request.permille);
  }
}

void encode(const std::vector<std::string>& f, LineWriter& line) {
  const std::string& type = f[0];
  const uint32_t seq = number(f[1]);
  if (type == "HELLO") {
    Labels labels(f[4]);
    kws::encode_hello(line, seq, f[2].c_str(), f[3].c_str(), labels.pointers.data(),
                      labels.pointers.size());
  } else if (type == "DET") {
    kws::encode_detection(line, seq, f[2].c_str(), static_cast<uint16_t>(number(f[3])),
                          number(f[4]));
  } else if (type == "HB") {
    kws::encode_heartbeat(line, seq, number(f[2]));
  } else if (type == "PONG") {
    kws::encode_pong(line, seq, f[2].c_str());
  } else if (type == "OK") {
    kws::encode_ok(line, seq, f[2].c_str());
  } else if (type == "ERR") {
    kws::encode_error(line, seq, f[2].c_str());
  } else if (type == "INFO") {
    std::vector<std::string> names;
    std::vector<const char*> labels;
    std::vector<uint16_t> thresholds;
    for (const std::string& pair : split(f[7], ',')) {
      const std::vector<std::string> parts = split(pair, ':');
      names.push_back(parts[0]);
      thresholds.push_back(static_cast<uint16_t>(number(parts[1])));
    }
    for (const std::string& name : names) labels.push_back(name.c_str());
    const kws::InfoFields fields{f[2].c_str(),  f[3].c_str(),  number(f[4]),
                                 number(f[5]),  number(f[6]),  labels.data(),
                                 thresholds.data(), labels.size()};
    kws::encode_info(line, seq, fields);
  }
}

int run_protocol() {
  std::string input;
  LineWriter line;
  while (read_line(&input)) {
    const std::vector<std::string> fields = split(input, ' ');
    if (fields[0] == "REQ") {
      print_request(from_hex(fields.size() > 1 ? fields[1] : ""));
      continue;
    }
    encode(fields, line);
    printf("%s\n", line.c_str());
  }
  return 0;
}

// "labels a,b,c mask threshold window suppression minimum"
kws::RecognizerConfig parse_config(const std::vector<std::string>& f) {
  kws::RecognizerConfig config;
  config.ignored_mask = number(f[2]);
  config.threshold_permille = static_cast<uint16_t>(number(f[3]));
  config.average_window_ms = number(f[4]);
  config.suppression_ms = number(f[5]);
  config.minimum_count = number(f[6]);
  return config;
}

int run_recognizer() {
  std::string input;
  if (!read_line(&input)) return 1;
  const std::vector<std::string> header = split(input, ' ');
  if (header[0] == "defaults") {
    const kws::RecognizerConfig config;
    printf("%u %" PRIu32 " %" PRIu32 " %" PRIu32 " %d\n", config.threshold_permille,
           config.average_window_ms, config.suppression_ms, config.minimum_count,
           kws::kMaxHistory);
    return 0;
  }
  Labels labels(header[1]);
  kws::Recognizer recognizer(labels.pointers.data(), static_cast<int>(labels.pointers.size()),
                             parse_config(header));
  std::vector<int8_t> scores(labels.pointers.size());
  while (read_line(&input)) {
    const std::vector<std::string> f = split(input, ' ');
    if (f[0] == "threshold") {
      const bool ok = recognizer.set_threshold(f[1].c_str(), static_cast<uint16_t>(number(f[2])));
      if (!ok) printf("rejected %s\n", f[1].c_str());
      continue;
    }
    for (size_t i = 0; i < scores.size(); ++i) {
      scores[i] = static_cast<int8_t>(atoi(f[i + 1].c_str()));
    }
    kws::Detection detection;
    if (recognizer.process(scores.data(), number(f[0]), &detection)) {
      printf("%s %u %" PRIu32 "\n", detection.label, detection.permille, detection.time_ms);
    }
  }
  return 0;
}

size_t print_packet(const uint8_t* data, size_t count) {
  return fwrite(data, 1, count, stdout);
}

// As the sketch drains it: one USB packet per loop pass, until the queue is empty.
void drain(kws::TxQueue<kws::kTxQueueBytes>& output) {
  while (output.send_front(kws::kUsbPacketBytes, print_packet) > 0) {
  }
}

// First line as for the recognizer; then events: connect MS, disconnect, tick MS, rx HEX (at the
// time of the last connect or tick), det INDEX PERMILLE MS, infer US, dropped SAMPLES, audio MS
// (audio arrived), stall (stop draining), packet (print one USB packet), drain (print and resume),
// lost, host HEX (bytes the host sent, waiting in USB), serve (one loop pass reads them as the
// sketch does; prints "read N").
int run_link() {
  std::string input;
  if (!read_line(&input)) return 1;
  const std::vector<std::string> header = split(input, ' ');
  Labels labels(header[1]);
  kws::Recognizer recognizer(labels.pointers.data(), static_cast<int>(labels.pointers.size()),
                             parse_config(header));
  kws::Link link(kws::BoardIdentity{"1.0.0", "3f9a1c2b", 21344}, recognizer);
  bool stalled = false;
  uint32_t now_ms = 0;
  std::string usb_in;
  size_t usb_read = 0;
  const auto read_usb = [&usb_in, &usb_read] {
    return usb_read < usb_in.size() ? static_cast<unsigned char>(usb_in[usb_read++]) : -1;
  };
  while (read_line(&input)) {
    const std::vector<std::string> f = split(input, ' ');
    const std::string& event = f[0];
    if (event == "connect") {
      now_ms = number(f[1]);
      link.connect(now_ms);
    } else if (event == "disconnect") {
      link.disconnect();
    } else if (event == "tick") {
      now_ms = number(f[1]);
      link.tick(now_ms);
    } else if (event == "rx") {
      for (char byte : from_hex(f[1])) link.receive(byte, now_ms);
    } else if (event == "det") {
      const int index = static_cast<int>(number(f[1]));
      link.report(kws::Detection{index, labels.pointers[index],
                                 static_cast<uint16_t>(number(f[2])), number(f[3])});
    } else if (event == "infer") {
      link.set_inference_us(number(f[1]));
    } else if (event == "dropped") {
      link.set_dropped_samples(number(f[1]));
    } else if (event == "audio") {
      link.heard_audio(number(f[1]));
    } else if (event == "stall") {
      stalled = true;
    } else if (event == "packet") {
      link.output().send_front(kws::kUsbPacketBytes, print_packet);
    } else if (event == "drain") {
      stalled = false;
    } else if (event == "lost") {
      printf("lost %" PRIu32 "\n", link.lost_lines());
    } else if (event == "host") {
      usb_in += from_hex(f[1]);
    } else if (event == "serve") {
      const size_t taken = link.receive_from(read_usb, kws::kUsbPacketBytes, now_ms);
      printf("read %lu\n", static_cast<unsigned long>(taken));
    }
    if (!stalled) drain(link.output());
  }
  return 0;
}

// The TFLite Micro frontend's framing (microfrontend/lib/window.c): it takes samples until its
// window is full, makes a slice, and keeps the last window - step samples. A slice's window ends
// with the last sample it took; `last` keeps that sample. Given the frontend's output (`slices`,
// the desktop frontend's, equal to the C frontend's), each slice it makes is the next of them,
// pushed into the model's input as the sketch's frontend_step does.
struct WindowingFrontend {
  size_t window;
  size_t step;
  std::vector<std::vector<uint16_t>>* slices;
  kws::ModelWindow* features;
  size_t filled = 0;
  size_t made = 0;
  int16_t last = 0;
  bool operator()(const int16_t* samples, size_t count, size_t* used) {
    *used = count < window - filled ? count : window - filled;
    filled += *used;
    if (filled < window) return false;
    filled -= step;
    last = samples[*used - 1];
    if (made >= slices->size()) return true;
    const std::vector<uint16_t>& out = (*slices)[made++];
    return out.size() > 0 && features->push(out.data(), out.size());
  }
};

std::string to_hex(const int8_t* values, size_t count) {
  std::string hex;
  char byte[3];
  for (size_t i = 0; i < count; ++i) {
    snprintf(byte, sizeof(byte), "%02x", static_cast<uint8_t>(values[i]));
    hex += byte;
  }
  return hex;
}

// The sketch's audio path with the board's framing: "pdm N" (the microphone interrupt brings N
// samples, each the low 16 bits of its index in the captured audio), "pass" (one loop pass:
// prints "infer MS LAST" per inference, LAST the last sample of its window as uint16, then
// "pass CHUNKS"), "slice V1 ... V40" (the frontend's next uint16 output: once given, each
// inference also prints "window HEX", the model's int8 input made with the header's constants).
int run_schedule() {
  static kws::AudioRing ring;
  kws::AudioClock clock(kws::kBoardFraming);
  std::vector<std::vector<uint16_t>> slices;
  static kws::ModelWindow features(kws::kInputMultiplier, kws::kInputZeroPoint);
  WindowingFrontend frontend{kws::kBoardFraming.window_samples, kws::kBoardFraming.step_samples,
                             &slices, &features};
  std::vector<int16_t> block;
  uint32_t captured = 0;
  std::string input;
  while (read_line(&input)) {
    const std::vector<std::string> f = split(input, ' ');
    if (f[0] == "pdm") {
      block.resize(number(f[1]));
      for (int16_t& sample : block) sample = static_cast<int16_t>(captured++);
      ring.write(block.data(), block.size());
    } else if (f[0] == "slice") {
      slices.emplace_back();
      for (size_t i = 1; i < f.size(); ++i) slices.back().push_back(number(f[i]));
    } else if (f[0] == "pass") {
      const size_t chunks = kws::process_audio(
          ring, clock, kws::kMaxChunksPerPass, frontend, [&frontend, &slices](uint32_t ms) {
            printf("infer %" PRIu32 " %u\n", ms, static_cast<uint16_t>(frontend.last));
            if (!slices.empty()) {
              printf("window %s\n", to_hex(features.data(), features.size()).c_str());
            }
          });
      printf("pass %lu\n", static_cast<unsigned long>(chunks));
    } else if (f[0] == "dropped") {
      printf("dropped %" PRIu32 "\n", ring.dropped());
    }
  }
  return 0;
}

int run_to_int8(int32_t multiplier, int32_t zero_point) {
  static int8_t values[65536];
  for (uint32_t v = 0; v < 65536; ++v) {
    values[v] = kws::to_int8(static_cast<uint16_t>(v), multiplier, zero_point);
  }
  fwrite(values, 1, sizeof(values), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "protocol") return run_protocol();
  if (mode == "recognizer") return run_recognizer();
  if (mode == "link") return run_link();
  if (mode == "schedule") return run_schedule();
  if (mode == "to_int8" && argc == 4) {
    return run_to_int8(static_cast<int32_t>(strtol(argv[2], nullptr, 10)),
                       static_cast<int32_t>(strtol(argv[3], nullptr, 10)));
  }
  fprintf(stderr,
          "usage: host_tool protocol|recognizer|link|schedule|to_int8 MULTIPLIER ZERO_POINT\n");
  return 2;
}
