// A lock-free single-producer/single-consumer ring of audio samples: the microphone interrupt
// writes, the main loop reads. When it is full, new samples are dropped and counted.
#pragma once

#include <atomic>
#include <stddef.h>
#include <stdint.h>

namespace kws {

template <size_t Capacity>
class SampleRing {
  static_assert(Capacity > 0 && (Capacity & (Capacity - 1)) == 0, "capacity: a power of two");

 public:
  // Producer side (interrupt). Returns how many samples were stored.
  size_t write(const int16_t* samples, size_t count) {
    const uint32_t head = head_.load(std::memory_order_relaxed);
    const uint32_t tail = tail_.load(std::memory_order_acquire);
    const size_t room = Capacity - static_cast<size_t>(head - tail);
    const size_t stored = count < room ? count : room;
    for (size_t i = 0; i < stored; ++i) buffer_[(head + i) & (Capacity - 1)] = samples[i];
    head_.store(head + static_cast<uint32_t>(stored), std::memory_order_release);
    if (stored < count) {
      dropped_.store(dropped_.load(std::memory_order_relaxed) +
                         static_cast<uint32_t>(count - stored),
                     std::memory_order_relaxed);
    }
    return stored;
  }

  // Consumer side (main loop). Returns how many samples were read, at most `count`.
  size_t read(int16_t* samples, size_t count) {
    const uint32_t tail = tail_.load(std::memory_order_relaxed);
    const uint32_t head = head_.load(std::memory_order_acquire);
    const size_t ready = static_cast<size_t>(head - tail);
    const size_t taken = count < ready ? count : ready;
    for (size_t i = 0; i < taken; ++i) samples[i] = buffer_[(tail + i) & (Capacity - 1)];
    tail_.store(tail + static_cast<uint32_t>(taken), std::memory_order_release);
    return taken;
  }

  size_t available() const {
    return static_cast<size_t>(head_.load(std::memory_order_acquire) -
                               tail_.load(std::memory_order_relaxed));
  }

  // Samples lost because the main loop did not keep up.
  uint32_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  int16_t buffer_[Capacity];
  std::atomic<uint32_t> head_{0};
  std::atomic<uint32_t> tail_{0};
  std::atomic<uint32_t> dropped_{0};
};

}  // namespace kws
