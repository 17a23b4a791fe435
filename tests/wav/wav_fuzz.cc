// The native WAV reader and writer under AddressSanitizer and UndefinedBehaviorSanitizer, built by
// tests/wav/native.test.ts: seeded round trips in every format through odd chunk sizes, then
// thousands of damaged files (bytes flipped, sizes rewritten, cut anywhere) that must each be read
// or refused, never crash or read out of bounds. Prints one JSON line.
//   wav_fuzz <dir> <seed> <mutations>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "wav.h"

namespace {

bool slurp(const std::string& path, std::vector<uint8_t>* out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  out->clear();
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->insert(out->end(), buf, buf + n);
  std::fclose(f);
  return true;
}

bool spill(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  std::fclose(f);
  return ok;
}

// Reads a whole file in uneven chunks; returns frames read, or -1 when refused at open.
int64_t drain(const std::string& path, std::mt19937& rng, std::vector<double>* all) {
  std::string err;
  auto r = wav::Reader::open(path, &err, nullptr, 1 + static_cast<int64_t>(rng() % 300));
  if (!r) {
    if (err.empty() || err.find('\n') != std::string::npos) std::abort();  // one line, always
    return -1;
  }
  const int ch = r->info().channels;
  all->clear();
  int64_t total = 0;
  for (;;) {
    const int64_t want = 1 + static_cast<int64_t>(rng() % 700);
    std::vector<double> buf(static_cast<size_t>(want * ch));
    const int64_t n = r->read(buf.data(), want);
    if (n < 0) std::abort();
    if (n == 0) break;
    all->insert(all->end(), buf.begin(), buf.begin() + n * ch);
    total += n;
  }
  if (total != r->info().frames) std::abort();
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: wav_fuzz <dir> <seed> <mutations>\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::mt19937 rng(static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10)));
  const int mutations = std::atoi(argv[3]);
  const wav::Format formats[] = {wav::Format::Pcm16, wav::Format::Pcm24, wav::Format::Pcm32, wav::Format::Float32};
  int roundTrips = 0, mismatches = 0, readable = 0, refused = 0;
  std::vector<std::vector<uint8_t>> seeds;
  for (wav::Format f : formats) {
    for (int ch : {1, 2, 5}) {
      wav::Info info;
      info.channels = ch;
      info.sampleRate = 48000;
      info.format = f;
      const int64_t frames = 1 + static_cast<int64_t>(rng() % 3000);
      std::vector<double> data(static_cast<size_t>(frames * ch));
      // Values on the format's grid (so the round trip must be exact), both extremes included.
      const double scale = f == wav::Format::Pcm16 ? 32768.0 : f == wav::Format::Pcm24 ? 8388608.0 : 2147483648.0;
      for (size_t i = 0; i < data.size(); i++) {
        if (f == wav::Format::Float32) {
          data[i] = static_cast<float>(std::uniform_real_distribution<double>(-1.5, 1.5)(rng));
        } else {
          const double code = std::floor(std::uniform_real_distribution<double>(-scale, scale)(rng));
          data[i] = (i == 0 ? -scale : code) / scale;
        }
      }
      const std::string path = dir + "/seed.wav";
      std::string err;
      auto w = wav::Writer::create(path, info, &err, nullptr, static_cast<int>(rng() % 3) - 1, 1 + static_cast<int64_t>(rng() % 500));
      if (!w) return std::fprintf(stderr, "create: %s\n", err.c_str()), 1;
      for (int64_t done = 0; done < frames;) {
        const int64_t n = std::min<int64_t>(frames - done, 1 + static_cast<int64_t>(rng() % 900));
        if (!w->write(data.data() + done * ch, n)) return std::fprintf(stderr, "write: %s\n", w->lastError()), 1;
        done += n;
      }
      if (!w->close(&err)) return std::fprintf(stderr, "close: %s\n", err.c_str()), 1;
      std::vector<double> back;
      if (drain(path, rng, &back) != frames) return std::fprintf(stderr, "short read\n"), 1;
      roundTrips++;
      if (back != data) mismatches++;
      std::vector<uint8_t> bytes;
      if (!slurp(path, &bytes)) return 1;
      seeds.push_back(bytes);
    }
  }
  const std::string victim = dir + "/damaged.wav";
  std::vector<double> scratch;
  for (int i = 0; i < mutations; i++) {
    std::vector<uint8_t> b = seeds[rng() % seeds.size()];
    switch (rng() % 4) {
      case 0: {  // flip bytes, mostly in the header
        const int flips = 1 + static_cast<int>(rng() % 6);
        for (int k = 0; k < flips; k++) b[rng() % std::min<size_t>(b.size(), 120)] = static_cast<uint8_t>(rng());
        break;
      }
      case 1:  // cut anywhere
        b.resize(rng() % b.size());
        break;
      case 2: {  // rewrite a 32-bit field at a 4-byte boundary of the header to something extreme
        const size_t at = (rng() % 20) * 4;
        const uint32_t vals[] = {0, 1, 0x7fffffffu, 0xffffffffu, 0x80000000u, static_cast<uint32_t>(rng())};
        const uint32_t v = vals[rng() % 6];
        if (at + 4 <= b.size()) std::memcpy(&b[at], &v, 4);
        break;
      }
      default: {  // a junk chunk of random declared size before everything
        const uint32_t size = rng() % 2 ? static_cast<uint32_t>(rng() % 64) : static_cast<uint32_t>(rng());
        uint8_t chunk[8] = {'j', 'u', 'n', 'k'};
        std::memcpy(chunk + 4, &size, 4);
        b.insert(b.begin() + 12, chunk, chunk + 8);
        break;
      }
    }
    if (!spill(victim, b)) return 1;
    if (drain(victim, rng, &scratch) >= 0) readable++;
    else refused++;
  }
  std::printf("{\"roundTrips\":%d,\"mismatches\":%d,\"readable\":%d,\"refused\":%d}\n", roundTrips, mismatches, readable, refused);
  return mismatches == 0 ? 0 : 1;
}
