// Outgoing bytes waiting for the USB port. Lines enter whole or not at all, so a slow or absent
// host costs lost lines (which the host sees as a sequence gap), never a stalled board.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace kws {

template <size_t Capacity>
class TxQueue {
 public:
  // Queues `line` and a '\n'; false (nothing queued) if they do not fit.
  bool push_line(const char* line, size_t length) {
    if (length + 1 > Capacity - size_) return false;
    for (size_t i = 0; i < length; ++i) put(static_cast<uint8_t>(line[i]));
    put('\n');
    return true;
  }

  // The oldest queued bytes that lie contiguously in memory; returns their count.
  size_t front(const uint8_t** data) const {
    *data = buffer_ + start_;
    const size_t to_end = Capacity - start_;
    return size_ < to_end ? size_ : to_end;
  }

  // Removes `count` bytes (as sent) from the front.
  void consume(size_t count) {
    if (count > size_) count = size_;
    if (count == 0) return;
    mid_line_ = buffer_[(start_ + count - 1) % Capacity] != '\n';
    start_ = (start_ + count) % Capacity;
    size_ -= count;
  }

  // One step of draining: offers `send(data, count)` at most `max_bytes` from the front (one USB
  // packet) and removes the bytes it returns as taken. Returns that count.
  template <class Send>
  size_t send_front(size_t max_bytes, Send&& send) {
    const uint8_t* data;
    size_t count = front(&data);
    if (count > max_bytes) count = max_bytes;
    if (count == 0) return 0;
    const size_t sent = send(data, count);
    consume(sent);
    return sent;
  }

  // Drops every queued line USB has not started to take. The rest of a line it has started stays
  // (a packet may end inside a line), so that the next line does not follow a cut one.
  void drop_unstarted() {
    size_t kept = 0;
    if (mid_line_) {
      while (kept < size_ && buffer_[(start_ + kept) % Capacity] != '\n') ++kept;
      ++kept;  // and its '\n' (every queued line has one)
    }
    size_ = kept;
  }

  // Drops everything, sent or not (the host has gone).
  void clear() {
    start_ = size_ = 0;
    mid_line_ = false;
  }
  size_t size() const { return size_; }

 private:
  void put(uint8_t byte) {
    buffer_[(start_ + size_) % Capacity] = byte;
    ++size_;
  }

  uint8_t buffer_[Capacity];
  size_t start_ = 0;
  size_t size_ = 0;
  bool mid_line_ = false;  // USB has taken the start of the line at the front
};

}  // namespace kws
