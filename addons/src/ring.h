// Lock-free single-producer single-consumer ring of fixed-size records, the PipeWire way.
//
// Two free-running uint32 indices (they wrap at 2^32, never at the capacity), so "fill level" is
// simply write - read as a signed number: it can never be ambiguous between empty and full, and
// a producer that overran would show as a fill above the capacity instead of hiding it.
// Each side loads its own index relaxed (only it writes it), the peer's index with acquire (so
// the peer's record copy is visible), and publishes its own index with release after the copy.
// The indices are the only shared atomics; the records are plain memory handed over by them.
//
// A full ring never makes the writer wait: push() drops the record and counts the drop, because
// the audio thread must never block on a slow reader (and JS must never block on the audio thread).
//
// The storage is allocated once, in the constructor (which may allocate and may throw), with
// guard words ("canaries") on both sides so a stress test can prove nothing writes out of bounds,
// and mlock()ed where the OS permits so the audio thread never takes a page fault on it.
// Every other member is noexcept, allocation-free and lock-free.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <type_traits>

namespace ring {

// Separate cache lines for the two indices so producer and consumer do not false-share.
constexpr std::size_t kCacheLine = 64;
constexpr uint64_t kCanary = 0xC0FFEE00DEADBEEFull;
constexpr std::size_t kGuardWords = kCacheLine / sizeof(uint64_t);

// The stress test builds once with RING_TEST_BROKEN_ORDERING to prove ThreadSanitizer would
// catch a ring whose indices do not order the record copies. Never define it elsewhere.
#ifdef RING_TEST_BROKEN_ORDERING
constexpr std::memory_order kAcquire = std::memory_order_relaxed;
constexpr std::memory_order kRelease = std::memory_order_relaxed;
#else
constexpr std::memory_order kAcquire = std::memory_order_acquire;
constexpr std::memory_order kRelease = std::memory_order_release;
#endif

template <typename T>
class SpscRing {
  static_assert(std::is_trivially_copyable<T>::value, "ring records must be plain data");

 public:
  // capacity: records; must be a power of two (masking replaces the modulo). startIndex lets a
  // test start both indices just below 2^32 to prove the wrap-around is harmless.
  explicit SpscRing(uint32_t capacity, uint32_t startIndex = 0)
      : write_(startIndex), read_(startIndex), capacity_(capacity), mask_(capacity - 1) {
    if (capacity < 2 || (capacity & (capacity - 1)) != 0) throw std::invalid_argument("ring capacity must be a power of two >= 2");
    bytes_ = sizeof(uint64_t) * kGuardWords * 2 + sizeof(T) * static_cast<std::size_t>(capacity);
    raw_ = static_cast<unsigned char*>(std::aligned_alloc(kCacheLine, roundUp(bytes_)));
    if (raw_ == nullptr) throw std::bad_alloc();
    std::memset(raw_, 0, bytes_);
    for (std::size_t i = 0; i < kGuardWords; i++) {
      std::memcpy(frontGuard() + i * sizeof(uint64_t), &kCanary, sizeof(uint64_t));
      std::memcpy(backGuard() + i * sizeof(uint64_t), &kCanary, sizeof(uint64_t));
    }
    records_ = reinterpret_cast<T*>(raw_ + sizeof(uint64_t) * kGuardWords);
    // Best effort: without CAP_IPC_LOCK or a high RLIMIT_MEMLOCK this fails, and that is fine.
    locked_ = ::mlock(raw_, bytes_) == 0;
  }

  ~SpscRing() {
    if (locked_) ::munlock(raw_, bytes_);
    std::free(raw_);
  }

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  // ---- producer side ----

  // Copies one record in; false (and the drop counted) when the ring is full.
  bool push(const T& record) noexcept {
    uint32_t index;
    int32_t filled = getWriteIndex(&index);
    if (filled < 0 || static_cast<uint32_t>(filled) >= capacity_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    records_[index & mask_] = record;
    commitWrite(index + 1);
    return true;
  }

  // Two-step zero-copy write: fill = records queued; write at slot(index) then commitWrite(index + n).
  int32_t getWriteIndex(uint32_t* index) const noexcept {
    *index = write_.load(std::memory_order_relaxed);
    return static_cast<int32_t>(*index - read_.load(kAcquire));
  }
  void commitWrite(uint32_t index) noexcept { write_.store(index, kRelease); }

  // ---- consumer side ----

  // Copies the oldest record out; false when empty.
  bool pop(T* record) noexcept {
    uint32_t index;
    if (getReadIndex(&index) <= 0) return false;
    *record = records_[index & mask_];
    commitRead(index + 1);
    return true;
  }

  int32_t getReadIndex(uint32_t* index) const noexcept {
    *index = read_.load(std::memory_order_relaxed);
    return static_cast<int32_t>(write_.load(kAcquire) - *index);
  }
  void commitRead(uint32_t index) noexcept { read_.store(index, kRelease); }

  // ---- either side ----

  T& slot(uint32_t index) noexcept { return records_[index & mask_]; }
  const T& slot(uint32_t index) const noexcept { return records_[index & mask_]; }
  uint32_t capacity() const noexcept { return capacity_; }
  uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  bool memoryLocked() const noexcept { return locked_; }
  // For tests: true while nothing has written past either end of the record storage.
  bool guardsIntact() const noexcept {
    for (std::size_t i = 0; i < kGuardWords; i++) {
      uint64_t front, back;
      std::memcpy(&front, frontGuard() + i * sizeof(uint64_t), sizeof(uint64_t));
      std::memcpy(&back, backGuard() + i * sizeof(uint64_t), sizeof(uint64_t));
      if (front != kCanary || back != kCanary) return false;
    }
    return true;
  }

 private:
  static std::size_t roundUp(std::size_t n) { return (n + kCacheLine - 1) / kCacheLine * kCacheLine; }
  // Byte pointers: the back guard need not be 8-byte aligned for odd-sized records.
  unsigned char* frontGuard() const noexcept { return raw_; }
  unsigned char* backGuard() const noexcept {
    return raw_ + sizeof(uint64_t) * kGuardWords + sizeof(T) * static_cast<std::size_t>(capacity_);
  }

  alignas(kCacheLine) std::atomic<uint32_t> write_;
  alignas(kCacheLine) std::atomic<uint32_t> read_;
  alignas(kCacheLine) std::atomic<uint64_t> dropped_{0};
  uint32_t capacity_;
  uint32_t mask_;
  std::size_t bytes_ = 0;
  unsigned char* raw_ = nullptr;
  T* records_ = nullptr;
  bool locked_ = false;
};

}  // namespace ring
