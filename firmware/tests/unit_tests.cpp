// Unit tests of the portable parts that the Python parity tests do not reach directly.
// Prints one line per failed check and exits non-zero if any failed.
#include <stdio.h>
#include <string.h>

#include <string>

#include "audio_schedule.h"
#include "board_config.h"
#include "feature_window.h"
#include "indicator.h"
#include "protocol.h"
#include "recognizer.h"
#include "sample_ring.h"
#include "serial_link.h"
#include "tx_queue.h"

namespace {

int failures = 0;
int checks = 0;

void check(bool condition, const char* what, int line) {
  ++checks;
  if (!condition) {
    ++failures;
    printf("FAIL line %d: %s\n", line, what);
  }
}
#define CHECK(condition) check((condition), #condition, __LINE__)

void sample_ring_keeps_order_across_the_wrap_and_counts_drops() {
  kws::SampleRing<8, 2> ring;
  int16_t in[6] = {1, 2, 3, 4, 5, 6};
  int16_t out[8] = {};
  CHECK(ring.write(in, 6) == 6);
  CHECK(ring.read(out, 4) == 4 && out[0] == 1 && out[3] == 4);
  CHECK(ring.write(in, 6) == 6);  // wraps around the end of the buffer
  CHECK(ring.available() == 8);
  CHECK(ring.write(in, 3) == 0 && ring.dropped() == 3);  // full: new samples are dropped
  CHECK(ring.read(out, 8) == 8);
  const int16_t expected[8] = {5, 6, 1, 2, 3, 4, 5, 6};
  CHECK(memcmp(out, expected, sizeof(expected)) == 0);
  CHECK(ring.read(out, 8) == 0);
}

// Each sample is its index in the captured audio: the samples dropped before a read's first
// sample plus its position among the stored ones.
void sample_ring_locates_each_gap_and_stops_reading_there() {
  kws::SampleRing<8, 2> ring;
  int16_t in[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  int16_t out[8] = {};
  CHECK(ring.write(in, 10) == 8 && ring.dropped() == 2);  // a gap after 7: 8 and 9 lost
  CHECK(ring.read(out, 3) == 3 && out[2] == 2 && ring.dropped_before_next() == 0);
  for (int16_t& sample : in) sample = static_cast<int16_t>(sample + 10);
  CHECK(ring.write(in, 5) == 3);  // 10..12 stored (across the buffer's end); 13, 14 lost
  CHECK(ring.read(out, 1) == 1 && out[0] == 3);
  CHECK(ring.write(in + 5, 1) == 0);  // room for one, but two gaps unread: 15 is lost too
  CHECK(ring.dropped() == 5 && ring.dropped_before_next() == 0);
  CHECK(ring.read(out, 8) == 4 && out[0] == 4 && out[3] == 7);  // up to the first gap
  CHECK(ring.dropped_before_next() == 2);
  CHECK(ring.write(in + 6, 1) == 1);  // 16, after the second gap
  CHECK(ring.read(out, 8) == 3 && out[0] == 8 + 2 && out[2] == 12);
  CHECK(ring.dropped_before_next() == 5);
  CHECK(ring.read(out, 8) == 1 && out[0] == 11 + 5);
  CHECK(ring.read(out, 8) == 0 && ring.dropped_before_next() == 5);
}

std::string drain(kws::TxQueue<16>& queue) {
  std::string sent;
  const uint8_t* data;
  size_t count;
  while ((count = queue.front(&data)) > 0) {
    sent.append(reinterpret_cast<const char*>(data), count);
    queue.consume(count);
  }
  return sent;
}

void tx_queue_takes_whole_lines_only() {
  kws::TxQueue<16> queue;
  CHECK(queue.push_line("HB seq=1", 8));        // 9 bytes with '\n'
  CHECK(!queue.push_line("HB seq=22", 9));      // 10 more would not fit: nothing queued
  CHECK(queue.size() == 9);
  CHECK(queue.push_line("PONG12", 6));          // exactly fills the queue
  CHECK(drain(queue) == "HB seq=1\nPONG12\n");
  CHECK(queue.push_line("abcdefghijklmno", 15));  // wraps: front() gives two pieces
  CHECK(drain(queue) == "abcdefghijklmno\n");
  CHECK(queue.push_line("x", 1));
  queue.clear();
  CHECK(queue.size() == 0 && drain(queue).empty());
}

// A new session (HELLO) drops the queued lines but lets USB finish the one it has begun.
void tx_queue_drops_unstarted_lines_and_finishes_the_begun_one() {
  kws::TxQueue<16> queue;
  auto take = [](size_t count) {
    return [count](const uint8_t*, size_t offered) { return offered < count ? offered : count; };
  };
  CHECK(queue.push_line("abcdefghij", 10));
  CHECK(queue.send_front(64, take(11)) == 11);  // all sent: the next line starts at byte 11
  CHECK(queue.push_line("0123456789", 10));     // wraps around the buffer's end
  CHECK(queue.push_line("XY", 2));
  CHECK(queue.send_front(64, take(3)) == 3);    // "012" went out
  queue.drop_unstarted();
  CHECK(drain(queue) == "3456789\n");           // across the wrap; "XY" dropped
  CHECK(queue.push_line("next", 4));
  queue.drop_unstarted();                        // between lines: nothing begun, all dropped
  CHECK(queue.size() == 0);
}

// The sketch's drain: at most one 64-byte USB packet per loop pass, and USB may take less.
void tx_queue_drains_one_packet_per_pass_across_the_wrap() {
  kws::TxQueue<kws::kTxQueueBytes> queue;
  std::string queued;
  std::string sent;
  size_t largest_offer = 0;
  int pass = 0;
  auto usb = [&](const uint8_t* data, size_t count) {
    if (count > largest_offer) largest_offer = count;
    if (++pass % 3 == 0) return size_t{0};       // the previous packet is still in flight
    if (pass % 3 == 1 && count > 10) count = 10;  // the endpoint took less
    sent.append(reinterpret_cast<const char*>(data), count);
    return count;
  };
  char line[80];
  for (int i = 0; i < 60; ++i) {  // ~4 KB through a 1 KB queue: wraps several times
    const int length = snprintf(line, sizeof(line), "DET seq=%d label=up score=0.912 ms=%d", i,
                                1000 + 100 * i);
    CHECK(queue.push_line(line, static_cast<size_t>(length)));
    queued.append(line).push_back('\n');
    for (int passes = 0; passes < 2; ++passes) queue.send_front(kws::kUsbPacketBytes, usb);
  }
  for (int passes = 0; queue.size() > 0 && passes < 1000; ++passes) {
    queue.send_front(kws::kUsbPacketBytes, usb);
  }
  CHECK(queue.size() == 0);
  CHECK(sent == queued);
  CHECK(largest_offer == kws::kUsbPacketBytes);
  CHECK(queue.send_front(kws::kUsbPacketBytes, usb) == 0);
}

void feature_window_shifts_slices_oldest_first() {
  kws::FeatureWindow<3, 2> window(1 << 16, -128);  // multiplier 1.0: int8 = value - 128
  const uint16_t slices[4][2] = {{0, 1}, {2, 3}, {4, 5}, {6, 300}};
  CHECK(!window.push(slices[0], 3));  // a slice of the wrong size is refused
  for (int i = 0; i < 3; ++i) {
    CHECK(!window.full());
    CHECK(window.push(slices[i], 2));
  }
  CHECK(window.full());
  CHECK(window.push(slices[3], 2));
  const int8_t expected[6] = {-126, -125, -124, -123, -122, 127};
  CHECK(memcmp(window.data(), expected, sizeof(expected)) == 0);
  CHECK(window.size() == 6);
}

void line_writer_never_exceeds_the_limit() {
  kws::LineWriter line;
  for (int i = 0; i < 200; ++i) line.character('x');
  CHECK(line.overflowed() && line.size() == kws::kMaxLineBytes);
  CHECK(strlen(line.c_str()) == kws::kMaxLineBytes);
  line.rewind(10);
  CHECK(!line.overflowed() && line.size() == 10);
  line.clear();
  line.number(0).character(' ').number(4294967295u).character(' ').permille(1000);
  CHECK(strcmp(line.c_str(), "0 4294967295 1.000") == 0);
}

void info_omits_thresholds_that_do_not_fit() {
  const char* labels[6] = {"on", "off", "up", "down", "go", "stop"};
  const uint16_t thresholds[6] = {800, 800, 850, 800, 800, 1000};
  kws::LineWriter line;
  kws::encode_info(line, 4294967295u,
                   {"1.0.0", "3f9a1c2b", 21344, 8120, 0, labels, thresholds, 6});
  CHECK(strcmp(line.c_str(),
               "INFO seq=4294967295 fw=1.0.0 model=3f9a1c2b arena=21344 infer_us=8120 dropped=0 "
               "thresholds=on:0.800,off:0.800,up:0.850,down:0.800,go:0.800,stop:1.000") == 0);
  const char* long_labels[6] = {"sixteen_chars_01", "sixteen_chars_02", "sixteen_chars_03",
                                "sixteen_chars_04", "sixteen_chars_05", "sixteen_chars_06"};
  kws::encode_info(line, 4294967295u,
                   {"1.0.0", "3f9a1c2b", 21344, 8120, 4294967295u, long_labels, thresholds, 6});
  CHECK(strcmp(line.c_str(),
               "INFO seq=4294967295 fw=1.0.0 model=3f9a1c2b arena=21344 infer_us=8120 "
               "dropped=4294967295") == 0);
  kws::encode_info(line, 3, {"1.0.0", "3f9a1c2b", 21344, 8120, 512, labels, thresholds, 3});
  CHECK(strcmp(line.c_str(),
               "INFO seq=3 fw=1.0.0 model=3f9a1c2b arena=21344 infer_us=8120 dropped=512 "
               "thresholds=on:0.800,off:0.800,up:0.850") == 0);
}

void hello_length_is_the_encoded_length() {
  const char* labels[4] = {"silence", "unknown", "on", "stop"};
  kws::LineWriter line;
  kws::encode_hello(line, 0, "1.0.0", "3f9a1c2b", labels + 2, 2);
  static_assert(kws::hello_length("1.0.0", "3f9a1c2b", nullptr, 0, 0) == 51, "no labels");
  CHECK(kws::hello_length("1.0.0", "3f9a1c2b", labels, 4, 0b0011) == line.size());
  CHECK(kws::hello_length("1.0.0", "3f9a1c2b", labels, 4, 0b0101) == line.size() + 5);
}

void parse_permille_accepts_one_to_three_decimals() {
  uint16_t value = 0;
  CHECK(kws::parse_permille("0.85", 4, &value) && value == 850);
  CHECK(kws::parse_permille("0.005", 5, &value) && value == 5);
  CHECK(kws::parse_permille("1", 1, &value) && value == 1000);
  CHECK(kws::parse_permille("1.00", 4, &value) && value == 1000);
  CHECK(kws::parse_permille("0", 1, &value) && value == 0);
  const char* bad[] = {"", "0.", "1.5", "0.1234", "2", "-0.1", ".5", "0,5", "00"};
  for (const char* text : bad) CHECK(!kws::parse_permille(text, strlen(text), &value));
}

void recognizer_thresholds_only_for_reportable_labels() {
  const char* labels[3] = {"silence", "unknown", "up"};
  kws::RecognizerConfig config;
  config.ignored_mask = 0b011;
  kws::Recognizer recognizer(labels, 3, config);
  CHECK(recognizer.set_threshold("up", 900) && recognizer.threshold(2) == 900);
  CHECK(!recognizer.set_threshold("silence", 900));
  CHECK(!recognizer.set_threshold("down", 900));
  CHECK(!recognizer.set_threshold("up", 1001));
  CHECK(recognizer.threshold(2) == 900);
}

void recognizer_never_reports_ignored_labels() {
  const char* labels[2] = {"silence", "up"};
  kws::RecognizerConfig config;
  config.ignored_mask = 0b01;
  config.minimum_count = 1;
  kws::Recognizer recognizer(labels, 2, config);
  kws::Detection detection{};
  const int8_t silence[2] = {127, -128};
  const int8_t up[2] = {-128, 127};
  CHECK(!recognizer.process(silence, 1500, &detection));
  CHECK(!recognizer.process(up, 2000, &detection));  // a tie: the first label, silence, wins
  CHECK(recognizer.process(up, 2600, &detection));   // the silence scores left the window
  CHECK(detection.label_index == 1 && detection.permille == 1000 && detection.time_ms == 2600);
}

void each_command_has_its_own_colour() {
  const char* commands[6] = {"on", "off", "up", "down", "go", "stop"};
  int seen = 0;
  for (const char* command : commands) {
    const kws::Rgb color = kws::color_for(command);
    const int code = color.red * 4 + color.green * 2 + color.blue;
    CHECK(code != 0 && code != 7);  // lit, and not the white of other labels
    CHECK((seen & (1 << code)) == 0);
    seen |= 1 << code;
  }
  const kws::Rgb other = kws::color_for("left");
  CHECK(other.red && other.green && other.blue);
}

void indicator_stays_lit_for_half_a_second() {
  kws::Indicator led;
  CHECK(!led.expired(0));  // never lit
  led.light(1000);
  CHECK(!led.expired(999));   // lit after the loop pass's clock reading: not yet elapsed
  CHECK(!led.expired(1499));
  CHECK(led.expired(1500));
  CHECK(!led.expired(1501));  // only once
  led.light(4294967000u);     // millis() wraps 296 ms later
  CHECK(!led.expired(4294967295u));
  CHECK(!led.expired(203));
  CHECK(led.expired(204));
}

void audio_clock_keeps_the_desktop_schedule_and_counts_dropped_audio() {
  kws::AudioClock clock({16000, 480, 320, 3, 2});  // 3 slices in the window, infer every 2
  CHECK(!clock.add_slice());
  CHECK(!clock.add_slice());
  CHECK(clock.add_slice() && clock.time_ms() == 70);  // (2 * 320 + 480) samples = 70 ms
  CHECK(!clock.add_slice());
  clock.set_dropped(1600);  // the ring lost 100 ms
  CHECK(clock.add_slice() && clock.time_ms() == 110 + 100);
  clock.set_dropped(1600);  // a running count: nothing new
  CHECK(!clock.add_slice() && clock.time_ms() == 130 + 100);
  clock.set_dropped(0xFFFFFFF0u);
  clock.set_dropped(0x10u);  // the ring's count wrapped: 0x20 more samples
  CHECK(clock.dropped() == 0x100000010u);
  const uint32_t before = clock.time_ms();
  for (int i = 0; i < 32; ++i) clock.set_dropped(i % 2 == 0 ? 0x80000010u : 0x10u);  // 2^36
  CHECK(clock.time_ms() == before);  // 2^36 samples at 16 kHz: exactly 2^32 ms, wrapped
}

}  // namespace

int main() {
  sample_ring_keeps_order_across_the_wrap_and_counts_drops();
  sample_ring_locates_each_gap_and_stops_reading_there();
  tx_queue_takes_whole_lines_only();
  tx_queue_drops_unstarted_lines_and_finishes_the_begun_one();
  tx_queue_drains_one_packet_per_pass_across_the_wrap();
  feature_window_shifts_slices_oldest_first();
  line_writer_never_exceeds_the_limit();
  info_omits_thresholds_that_do_not_fit();
  hello_length_is_the_encoded_length();
  parse_permille_accepts_one_to_three_decimals();
  recognizer_thresholds_only_for_reportable_labels();
  recognizer_never_reports_ignored_labels();
  each_command_has_its_own_colour();
  indicator_stays_lit_for_half_a_second();
  audio_clock_keeps_the_desktop_schedule_and_counts_dropped_audio();
  printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
