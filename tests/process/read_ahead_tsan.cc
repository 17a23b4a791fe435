// The file backend's read-ahead under ThreadSanitizer (tests/process/read-ahead.test.ts): the
// calling thread takes the input block by block as the audio thread does, while the backend's
// reader thread reads, converts and meters pieces ahead. Every block is checked against a plain
// sequential read of the file, and the input meters against wav::Levels over that read. With a
// stop after N blocks, close() must end the reader thread mid-file.
//
// usage: read_ahead_tsan IN.wav OUT.wav BLOCK [STOP_AFTER_BLOCKS]; prints one JSON line.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "wav.h"

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  const std::string in = argv[1];
  const int block = std::atoi(argv[3]);
  const long stopAfter = argc > 4 ? std::atol(argv[4]) : -1;
  std::string err;
  auto plain = wav::Reader::open(in, &err);
  if (!plain) return std::fprintf(stderr, "%s\n", err.c_str()), 1;
  const int ch = plain->info().channels;
  engine::EngineConfig c;
  c.backend = "file";
  c.inputs = ch;
  c.outputs = 1;
  c.sampleRate = plain->info().sampleRate;
  c.inPath = in;
  c.outPath = argv[2];
  auto b = engine::makeFileBackend(c);
  if (!b->open(&err)) return std::fprintf(stderr, "open: %s\n", err.c_str()), 1;
  std::vector<std::vector<float>> planar(ch, std::vector<float>(block));
  std::vector<float*> ptr;
  for (auto& v : planar) ptr.push_back(v.data());
  std::vector<float> expect(static_cast<size_t>(block) * ch), out(block);
  float* outPtr = out.data();
  wav::Levels levels;
  levels.reset(ch);
  long blocks = 0, mismatches = 0;
  int64_t frames = 0;
  for (; stopAfter < 0 || blocks < stopAfter; blocks++) {
    const int n = b->read(ptr.data(), block);
    if (n < 0) return std::fprintf(stderr, "read failed\n"), 1;
    if (n == 0) break;
    const int64_t m = plain->read(expect.data(), n);
    if (m != n) mismatches++;
    levels.add(expect.data(), m);
    for (int i = 0; i < n; i++)
      for (int k = 0; k < ch; k++)
        if (planar[k][i] != expect[static_cast<size_t>(i) * ch + k]) mismatches++;
    for (int i = 0; i < n; i++) out[i] = planar[0][i];
    if (!b->write(&outPtr, n)) return std::fprintf(stderr, "write failed\n"), 1;
    frames += n;
  }
  if (!b->close(&err)) return std::fprintf(stderr, "close: %s\n", err.c_str()), 1;
  const wav::Levels* got = b->inputLevels();
  bool sameLevels = got->frames() == levels.frames();
  for (int k = 0; k < ch && sameLevels; k++) sameLevels = got->peak(k) == levels.peak(k) && got->meanSquare(k) == levels.meanSquare(k);
  std::printf("{\"blocks\":%ld,\"frames\":%lld,\"mismatches\":%ld,\"meteredFrames\":%lld,\"sameLevels\":%s}\n", blocks,
              static_cast<long long>(frames), mismatches, static_cast<long long>(got->frames()), sameLevels ? "true" : "false");
  return 0;
}
