// The board's side of the serial protocol: HELLO when a host opens the port or asks for one, DET
// for each detection, HB every second, and one reply to each request. Lines go into a TxQueue
// that the board glue drains without blocking.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"
#include "recognizer.h"
#include "tx_queue.h"

namespace kws {

constexpr uint32_t kHeartbeatMs = 1000;
// Heartbeats stop when no audio has arrived for this long (a microphone that stopped), so the
// host reports the board silent instead of believing it listens.
constexpr uint32_t kAudioStallMs = 500;
constexpr size_t kTxQueueBytes = 1024;

struct BoardIdentity {
  const char* firmware;  // version, e.g. "1.0.0"
  const char* model;     // model id: first 8 hex digits of the model's sha256
  uint32_t arena_bytes;  // tensor arena in use
};

class Link {
 public:
  Link(const BoardIdentity& identity, Recognizer& recognizer);

  // A host opened the port, or asked for a HELLO: the lines not yet begun are dropped (the rest
  // of one USB has begun is still sent) and HELLO (seq 0) starts a new count.
  void connect(uint32_t now_ms);
  // The host closed the port: nothing is queued until the next connect.
  void disconnect();
  bool connected() const { return connected_; }

  // One byte from the host at `now_ms`; a complete request line is answered at once (a HELLO
  // request as a connect: the host may have closed and reopened the port unseen).
  void receive(char byte, uint32_t now_ms);
  // Receives at most `max_bytes` bytes from `read()` (a byte 0..255, or negative when the host
  // has sent nothing more); returns how many. One loop pass takes a bounded share, so that a
  // host sending without pause cannot hold the board away from its audio and heartbeats: the
  // rest waits in USB, whose flow control holds the host back.
  template <class Read>
  size_t receive_from(Read&& read, size_t max_bytes, uint32_t now_ms) {
    size_t count = 0;
    for (; count < max_bytes; ++count) {
      const int byte = read();
      if (byte < 0) break;
      receive(static_cast<char>(byte), now_ms);
    }
    return count;
  }
  void report(const Detection& detection);
  // Sends a heartbeat when one is due and audio has arrived within kAudioStallMs.
  void tick(uint32_t now_ms);
  // Audio arrived at `now_ms`. The board listens from reset (0 ms), so a microphone that never
  // delivers stops heartbeats as one that stopped does.
  void heard_audio(uint32_t now_ms) { last_audio_ms_ = now_ms; }
  void set_inference_us(uint32_t us) { inference_us_ = us; }
  void set_dropped_samples(uint32_t samples) { dropped_samples_ = samples; }

  TxQueue<kTxQueueBytes>& output() { return output_; }
  // Lines not sent: no room in the output queue, or longer than kMaxLineBytes.
  uint32_t lost_lines() const { return lost_lines_; }

 private:
  void send();
  void answer(const char* line, size_t length, uint32_t now_ms);
  void answer_info();

  BoardIdentity identity_;
  Recognizer& recognizer_;
  const char* commands_[kMaxLabels];
  uint16_t thresholds_[kMaxLabels];
  size_t command_count_ = 0;

  TxQueue<kTxQueueBytes> output_;
  LineWriter line_;
  bool connected_ = false;
  uint32_t next_seq_ = 0;
  uint32_t last_heartbeat_ms_ = 0;
  uint32_t last_audio_ms_ = 0;
  uint32_t inference_us_ = 0;
  uint32_t dropped_samples_ = 0;
  uint32_t lost_lines_ = 0;

  char request_[kMaxLineBytes + 1];  // a line and one byte to spot overflow
  size_t request_size_ = 0;
  bool after_cr_ = false;  // the last byte received ended a request with '\r'
};

}  // namespace kws
