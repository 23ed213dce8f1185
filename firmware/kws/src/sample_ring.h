// A lock-free single-producer/single-consumer ring of audio samples: the microphone interrupt
// writes, the main loop reads. When it is full, new samples are dropped and counted, and the ring
// records where in the stream the gap lies, so that the reader knows how much audio was lost
// before each sample it reads.
#pragma once

#include <atomic>
#include <stddef.h>
#include <stdint.h>

namespace kws {

// Capacity samples; at most MaxGaps gaps are recorded at once. With that many still unread, the
// ring takes no more samples until the reader passes the oldest: it loses audio a little sooner
// rather than lose track of where.
template <size_t Capacity, size_t MaxGaps>
class SampleRing {
  static_assert(Capacity > 0 && (Capacity & (Capacity - 1)) == 0, "capacity: a power of two");
  static_assert(MaxGaps > 0 && (MaxGaps & (MaxGaps - 1)) == 0, "gaps: a power of two");

 public:
  // Producer side (interrupt). Returns how many samples were stored.
  size_t write(const int16_t* samples, size_t count) {
    const uint32_t head = head_.load(std::memory_order_relaxed);
    const uint32_t tail = tail_.load(std::memory_order_acquire);
    const uint32_t gaps = gaps_head_.load(std::memory_order_relaxed);
    const uint32_t gaps_read = gaps_tail_.load(std::memory_order_acquire);
    const size_t room =
        gaps - gaps_read == MaxGaps ? 0 : Capacity - static_cast<size_t>(head - tail);
    const size_t stored = count < room ? count : room;
    for (size_t i = 0; i < stored; ++i) buffer_[(head + i) & (Capacity - 1)] = samples[i];
    if (stored < count) {
      const uint32_t at = head + static_cast<uint32_t>(stored);
      const uint32_t dropped = dropped_.load(std::memory_order_relaxed);
      if (gaps == gaps_read || gaps_[(gaps - 1) & (MaxGaps - 1)].at != at) {  // a new gap
        gaps_[gaps & (MaxGaps - 1)] = {at, dropped};
        gaps_head_.store(gaps + 1, std::memory_order_release);
      }
      dropped_.store(dropped + static_cast<uint32_t>(count - stored), std::memory_order_release);
    }
    head_.store(head + static_cast<uint32_t>(stored), std::memory_order_release);
    return stored;
  }

  // Consumer side (main loop). Returns how many samples were read, at most `count`; stops at a
  // gap, so the samples of one read are contiguous audio.
  size_t read(int16_t* samples, size_t count) {
    const uint32_t tail = tail_.load(std::memory_order_relaxed);
    const uint32_t head = head_.load(std::memory_order_acquire);
    const Gap* gap = next_gap();
    const bool to_gap = gap != nullptr && gap->at - tail <= head - tail;  // stored up to the gap
    const size_t ready = static_cast<size_t>((to_gap ? gap->at : head) - tail);
    const size_t taken = count < ready ? count : ready;
    for (size_t i = 0; i < taken; ++i) samples[i] = buffer_[(tail + i) & (Capacity - 1)];
    tail_.store(tail + static_cast<uint32_t>(taken), std::memory_order_release);
    if (to_gap && taken == ready) {  // past the gap
      gaps_tail_.store(gaps_tail_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }
    return taken;
  }

  // Samples dropped before the next sample read() returns: a running count that wraps at 32 bits.
  uint32_t dropped_before_next() const {
    const uint32_t total = dropped_.load(std::memory_order_acquire);  // first: see its gaps
    const Gap* gap = next_gap();
    return gap != nullptr ? gap->dropped_before : total;
  }

  size_t available() const {
    return static_cast<size_t>(head_.load(std::memory_order_acquire) -
                               tail_.load(std::memory_order_relaxed));
  }

  // Samples lost because the main loop did not keep up (wraps at 32 bits).
  uint32_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  // Samples dropped between the stored samples at `at - 1` and `at` (stream positions), after
  // `dropped_before` dropped earlier.
  struct Gap {
    uint32_t at;
    uint32_t dropped_before;
  };

  // The oldest gap the reader has not passed, or nullptr.
  const Gap* next_gap() const {
    const uint32_t gap = gaps_tail_.load(std::memory_order_relaxed);
    return gap == gaps_head_.load(std::memory_order_acquire) ? nullptr
                                                             : &gaps_[gap & (MaxGaps - 1)];
  }

  int16_t buffer_[Capacity];
  Gap gaps_[MaxGaps];
  std::atomic<uint32_t> head_{0};
  std::atomic<uint32_t> tail_{0};
  std::atomic<uint32_t> gaps_head_{0};  // gaps recorded, written by the producer
  std::atomic<uint32_t> gaps_tail_{0};  // gaps the reader passed
  std::atomic<uint32_t> dropped_{0};
};

}  // namespace kws
