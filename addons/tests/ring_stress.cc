// Two-thread seeded stress test of ring::SpscRing, meant to run under ThreadSanitizer.
//
// The producer pushes a numbered sequence in random bursts (dropping when full, as the audio
// thread does); the consumer pops with random pauses and verifies every record: sequence numbers
// strictly increasing, a checksum that ties each payload word to its number, and at the end
// received + dropped == sent. The ring's canaries must be intact. Indices start just below 2^32
// in one run so the free-running wrap is crossed under load.
//
// usage: ring_stress SEED RECORDS CAPACITY START_INDEX   (prints one JSON line; exit 0 = pass)
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "ring.h"

namespace {

struct Record {
  uint64_t seq;
  uint32_t words[5];
  uint32_t check;
};

uint32_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return static_cast<uint32_t>(x);
}

// xorshift64*: a seeded generator per thread for burst lengths and pauses.
struct Rng {
  uint64_t s;
  uint32_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return static_cast<uint32_t>((s * 0x2545F4914F6CDD1Dull) >> 32);
  }
};

Record makeRecord(uint64_t seq) {
  Record r;
  r.seq = seq;
  uint32_t check = 0;
  for (int i = 0; i < 5; i++) {
    r.words[i] = mix(seq * 7 + i);
    check ^= r.words[i];
  }
  r.check = check ^ mix(seq);
  return r;
}

bool valid(const Record& r) {
  uint32_t check = 0;
  for (int i = 0; i < 5; i++) {
    if (r.words[i] != mix(r.seq * 7 + i)) return false;
    check ^= r.words[i];
  }
  return r.check == (check ^ mix(r.seq));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: ring_stress SEED RECORDS CAPACITY START_INDEX\n");
    return 2;
  }
  const uint64_t seed = std::strtoull(argv[1], nullptr, 10);
  const uint64_t total = std::strtoull(argv[2], nullptr, 10);
  const uint32_t capacity = static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 10));
  const uint32_t start = static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10));

  ring::SpscRing<Record> ring(capacity, start);
  std::atomic<bool> producerDone{false};
  uint64_t pushed = 0, lost = 0;

  std::atomic<bool> consumerReady{false};
  std::thread producer([&] {
    Rng rng{seed * 2 + 1};
    while (!consumerReady.load(std::memory_order_acquire)) std::this_thread::yield();
    uint64_t seq = 0;
    while (seq < total) {
      // Phases of 4096 records: lossless ones (the test producer retries until there is room,
      // so many records cross the ring and it runs full), and lossy ones (drop when full, as the
      // audio thread does).
      const bool lossless = (seq / 4096) % 2 == 0;
      const uint32_t burst = 1 + rng.next() % (capacity * 2);
      for (uint32_t i = 0; i < burst && seq < total; i++, seq++) {
        const Record r = makeRecord(seq);
        if (lossless) {
          while (!ring.push(r)) std::this_thread::yield();
          pushed++;
        } else if (ring.push(r)) {
          pushed++;
        } else {
          lost++;
        }
      }
      const uint32_t pause = rng.next() % 256;
      for (volatile uint32_t k = 0; k < pause; k++) {
      }
    }
    producerDone.store(true, std::memory_order_release);
  });

  uint64_t received = 0, bad = 0, outOfOrder = 0;
  int64_t last = -1;
  std::thread consumer([&] {
    Rng rng{seed * 2 + 2};
    Record r;
    consumerReady.store(true, std::memory_order_release);
    for (;;) {
      const bool done = producerDone.load(std::memory_order_acquire);
      bool got = false;
      const uint32_t burst = 1 + rng.next() % capacity;
      for (uint32_t i = 0; i < burst && ring.pop(&r); i++) {
        got = true;
        received++;
        if (!valid(r)) bad++;
        if (static_cast<int64_t>(r.seq) <= last) outOfOrder++;
        last = static_cast<int64_t>(r.seq);
      }
      if (!got && done) {
        // The producer finished before our last empty look: one final drain, then stop.
        while (ring.pop(&r)) {
          received++;
          if (!valid(r)) bad++;
          if (static_cast<int64_t>(r.seq) <= last) outOfOrder++;
          last = static_cast<int64_t>(r.seq);
        }
        break;
      }
      const uint32_t pause = rng.next() % 64;
      for (volatile uint32_t k = 0; k < pause * 16; k++) {
      }
    }
  });

  producer.join();
  consumer.join();
  const uint64_t dropped = ring.dropped();
  const bool guards = ring.guardsIntact();
  // Every record either arrived (in order, intact) or was dropped by a full ring in a lossy phase;
  // the ring's drop counter also counts the lossless phases' failed attempts, so it is >= lost.
  const bool ok = bad == 0 && outOfOrder == 0 && received == pushed && received + lost == total && dropped >= lost &&
                  received > 0 && guards;
  std::printf("{\"ok\":%s,\"sent\":%llu,\"received\":%llu,\"dropped\":%llu,\"bad\":%llu,\"outOfOrder\":%llu,\"guards\":%s}\n",
              ok ? "true" : "false", static_cast<unsigned long long>(total), static_cast<unsigned long long>(received),
              static_cast<unsigned long long>(dropped), static_cast<unsigned long long>(bad),
              static_cast<unsigned long long>(outOfOrder), guards ? "true" : "false");
  return ok ? 0 : 1;
}
