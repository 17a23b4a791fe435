// Several WAV files read as one recording: a show recorded as one mono file per channel (the
// columns), and recordings a recorder split into consecutive files at its size limit (the parts of
// a column), or both. Columns are placed side by side (their channels in order), parts end to end
// with no gap: the joined stream is bit-identical to the recording before it was split.
//
// Everything is checked at open: every file of every column has the same sample rate and sample
// format, the parts of a column the same channel count, and every column the same length in
// frames. A mismatch is refused with one line that names the file. All files are opened at open()
// (one descriptor and one conversion buffer each), so read() does not allocate or open anything.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "wav.h"

namespace wav {

class Joined {
 public:
  /** columns[c] = the consecutive parts of column c; a column of one part is one ordinary file. */
  static std::unique_ptr<Joined> open(const std::vector<std::vector<std::string>>& columns, std::string* error,
                                      ErrorKind* kind = nullptr, int64_t chunkFrames = kDefaultChunkFrames);
  const Info& info() const noexcept { return info_; }
  int64_t remaining() const noexcept { return info_.frames - position_; }
  /** Like Reader::read: interleaved frames, fewer only at the end, -1 on an I/O error. No allocation. */
  int64_t read(float* out, int64_t frames) noexcept;
  int64_t read(double* out, int64_t frames) noexcept;
  bool seek(int64_t frame) noexcept;
  bool rewind() noexcept { return seek(0); }
  const char* lastError() const noexcept { return lastError_; }

 private:
  struct Column {
    std::vector<std::unique_ptr<Reader>> parts;
    std::vector<int64_t> starts;  // first frame of each part in the joined stream
    int channels = 0;
    size_t current = 0;
  };
  Joined() = default;
  template <typename T>
  int64_t readImpl(T* out, int64_t frames) noexcept;
  Info info_;
  int64_t position_ = 0;
  int64_t chunkFrames_ = 0;
  std::vector<Column> columns_;
  std::vector<double> scratch_;  // one column's chunk, interleaved
  const char* lastError_ = "";
};

}  // namespace wav
