// WAV file I/O for the engine's `file` backend, offline processing and tests.
//
// Block-wise streaming: a Reader/Writer holds one fixed conversion buffer allocated at open, so a
// 60 s, 16-channel file never has to be in memory at once. After open()/create() returns, read()
// and write() do not allocate and do not throw (they may block on the disk, so the backend calls
// them outside the audio thread's deadline or accepts that the file backend is unpaced).
//
// Supported: 16/24/32-bit integer PCM and 32-bit IEEE float, plain WAVE_FORMAT_PCM /
// WAVE_FORMAT_IEEE_FLOAT and WAVE_FORMAT_EXTENSIBLE, any channel count (1..1024), little-endian RIFF
// and RF64 (EBU Tech 3306: sizes past 4 GiB in a ds64 chunk). Anything else (8-bit, 64-bit float,
// A-law, RIFX, truncated or inconsistent chunks) is refused at open with one message that names the
// file and says what is wrong.
//
// The Writer always reserves a 36-byte JUNK chunk after the RIFF header; close() turns it into the
// ds64 chunk and the header into RF64 only when the file passes the 4 GiB RIFF limit (or a lower
// limit set for tests), so files under it stay plain RIFF that every tool reads.
//
// Sample scaling: integers map to [-1, 1) by dividing by 2^(bits-1); writing clamps to the
// format's range and rounds to nearest. So file -> read -> write is bit-exact for 16/24-bit PCM and
// float through float samples, and for 32-bit PCM through the double overloads (a float's 24-bit
// mantissa cannot carry 32-bit PCM exactly).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wav {

enum class Format { Pcm16, Pcm24, Pcm32, Float32 };

/** Bytes per sample in the file for a format (2, 3, 4, 4). */
int bytesPerSample(Format f) noexcept;
/** "pcm16", "pcm24", "pcm32", "float32": the names the TypeScript face uses. */
const char* formatName(Format f) noexcept;
/** Parses a name from formatName(); false if unknown. */
bool parseFormat(const std::string& name, Format* out) noexcept;

struct Info {
  int channels = 0;
  int sampleRate = 0;
  Format format = Format::Float32;
  /** Frames in the file (Reader), or frames written so far (Writer). */
  int64_t frames = 0;
};

/**
 * Whole-file peak and mean square per channel, accumulated block by block (the report's meters):
 * `firmware process` takes them from the file backend as it reads and writes, so nothing reads the
 * files a second time. Sized at reset(); add() does not allocate.
 */
class Levels {
 public:
  void reset(int channels);
  /** Adds `frames` interleaved frames (`channels` values each, as reset()). */
  void add(const float* interleaved, int64_t frames) noexcept;
  int channels() const noexcept { return static_cast<int>(peak_.size()); }
  int64_t frames() const noexcept { return frames_; }
  double peak(int ch) const noexcept { return peak_[static_cast<size_t>(ch)]; }
  /** Mean square over the frames added (0 when none). */
  double meanSquare(int ch) const noexcept {
    return frames_ > 0 ? sum_[static_cast<size_t>(ch)] / static_cast<double>(frames_) : 0.0;
  }

 private:
  std::vector<double> peak_, sum_;
  int64_t frames_ = 0;
};

/**
 * The samples as a Reader of a file in format `f` would return them after a Writer wrote `in`
 * (quantised, clamped, NaN as 0 for PCM; unchanged for float32): `n` values. No allocation.
 */
void asStored(const float* in, float* out, int64_t n, Format f) noexcept;

/** Why open/create/close failed: the file system, or the file's content. */
enum class ErrorKind { None, Io, BadFile };

/** Frames converted per internal chunk; read()/write() of more frames loop without allocating. */
constexpr int64_t kDefaultChunkFrames = 4096;

class Reader {
 public:
  /**
   * Opens and validates `path`. On failure returns null and sets *error to one line that starts
   * with `path` (e.g. "in.wav: data chunk says 960000 bytes but the file ends after 12000"), and
   * *kind (if given). Allocates (the conversion buffer); nothing after this does.
   */
  static std::unique_ptr<Reader> open(const std::string& path, std::string* error,
                                      ErrorKind* kind = nullptr,
                                      int64_t chunkFrames = kDefaultChunkFrames);
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  const Info& info() const noexcept { return info_; }
  /** Frames not yet read. */
  int64_t remaining() const noexcept { return info_.frames - position_; }
  /**
   * Reads up to `frames` interleaved frames into `out` (frames * channels values). Returns the
   * number of frames read: less than asked only at the end of the data; 0 at the end; -1 on an
   * I/O error (then lastError() says what). No allocation.
   */
  int64_t read(float* out, int64_t frames) noexcept;
  /** The same, in double precision (exact for 32-bit PCM). */
  int64_t read(double* out, int64_t frames) noexcept;
  /** Goes back to the first frame (for looping playback). */
  bool rewind() noexcept;
  /** Goes to frame `frame` (0..frames); false if out of range or the seek failed. */
  bool seek(int64_t frame) noexcept;
  const char* lastError() const noexcept { return lastError_; }

 private:
  Reader() = default;
  template <typename T>
  int64_t readImpl(T* out, int64_t frames) noexcept;
  int fd_ = -1;
  Info info_;
  int64_t dataOffset_ = 0;
  int64_t position_ = 0;  // frames
  int64_t chunkFrames_ = 0;
  std::unique_ptr<uint8_t[]> buffer_;
  const char* lastError_ = "";
};

class Writer {
 public:
  /**
   * Creates a temporary file beside `path` and writes a header for `info` (info.frames is
   * ignored). The file appears at `path` only when close() succeeds; if the Writer is destroyed
   * or abort()ed first, the temporary file is removed, so no partial output is ever left behind.
   * `extensible`: 1 forces WAVE_FORMAT_EXTENSIBLE, 0 forbids it, -1 (default) uses it only for
   * more than 2 channels (where the plain header cannot describe the layout; mono and stereo stay
   * plain because many tools still read only the plain header).
   */
  static std::unique_ptr<Writer> create(const std::string& path, const Info& info,
                                        std::string* error, ErrorKind* kind = nullptr,
                                        int extensible = -1,
                                        int64_t chunkFrames = kDefaultChunkFrames,
                                        int64_t rf64Above = 0);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  const Info& info() const noexcept { return info_; }
  /** Appends interleaved frames; false on an I/O error. No allocation. */
  bool write(const float* in, int64_t frames) noexcept;
  bool write(const double* in, int64_t frames) noexcept;
  /**
   * Patches the header sizes (RF64 with a ds64 chunk when the RIFF size passes `rf64Above` bytes,
   * 0xFFFFFFFF by default), flushes, and renames the temp file onto `path`.
   */
  bool close(std::string* error);
  /** After a successful close(): whether the file was written as RF64. */
  bool wroteRf64() const noexcept { return rf64_; }
  /** Drops the output: removes the temp file. Safe to call more than once. */
  void abort() noexcept;
  const char* lastError() const noexcept { return lastError_; }

 private:
  Writer() = default;
  template <typename T>
  bool writeImpl(const T* in, int64_t frames) noexcept;
  int fd_ = -1;
  Info info_;
  std::string path_;
  std::string tempPath_;
  int64_t headerBytes_ = 0;
  int64_t riffSizeOffset_ = 0;
  int64_t dataSizeOffset_ = 0;
  int64_t factOffset_ = -1;
  int64_t junkOffset_ = 0;
  int64_t rf64Above_ = 0;
  bool rf64_ = false;
  int64_t chunkFrames_ = 0;
  std::unique_ptr<uint8_t[]> buffer_;
  const char* lastError_ = "";
};

}  // namespace wav
