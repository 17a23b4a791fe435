// Several WAV files as one recording; see wav_join.h.
#include "wav_join.h"

namespace wav {

std::unique_ptr<Joined> Joined::open(const std::vector<std::vector<std::string>>& columns, std::string* error,
                                     ErrorKind* kind, int64_t chunkFrames) {
  auto fail = [&](ErrorKind k, const std::string& msg) -> std::unique_ptr<Joined> {
    if (error) *error = msg;
    if (kind) *kind = k;
    return nullptr;
  };
  if (kind) *kind = ErrorKind::None;
  if (columns.empty()) return fail(ErrorKind::BadFile, "no input files");
  std::unique_ptr<Joined> j(new Joined());
  j->chunkFrames_ = chunkFrames > 0 ? chunkFrames : kDefaultChunkFrames;
  std::string first;  // the file the others are compared with
  int64_t columnFrames = -1;
  std::string lengthFrom;
  for (const auto& parts : columns) {
    if (parts.empty()) return fail(ErrorKind::BadFile, "a channel with no files");
    Column col;
    int64_t frames = 0;
    for (const auto& path : parts) {
      auto r = Reader::open(path, error, kind, j->chunkFrames_);
      if (!r) return nullptr;
      const Info& in = r->info();
      if (first.empty()) {
        first = path;
        j->info_.sampleRate = in.sampleRate;
        j->info_.format = in.format;
      } else if (in.sampleRate != j->info_.sampleRate) {
        return fail(ErrorKind::BadFile, path + ": " + std::to_string(in.sampleRate) + " Hz but " + first + " is " +
                                            std::to_string(j->info_.sampleRate) + " Hz; all files of a show must have one rate");
      } else if (in.format != j->info_.format) {
        return fail(ErrorKind::BadFile, path + ": " + formatName(in.format) + " samples but " + first + " has " +
                                            formatName(j->info_.format) + "; all files of a show must have one sample format");
      }
      if (col.parts.empty()) col.channels = in.channels;
      else if (in.channels != col.channels) {
        return fail(ErrorKind::BadFile, path + ": " + std::to_string(in.channels) + " channel(s) but the part before it, " +
                                            parts.front() + ", has " + std::to_string(col.channels) + "; the parts of a split recording must agree");
      }
      col.starts.push_back(frames);
      frames += in.frames;
      col.parts.push_back(std::move(r));
    }
    if (columnFrames < 0) {
      columnFrames = frames;
      lengthFrom = parts.front();
    } else if (frames != columnFrames) {
      return fail(ErrorKind::BadFile, parts.front() + ": " + std::to_string(frames) + " frames but " + lengthFrom + " has " +
                                          std::to_string(columnFrames) + "; the channels of a show must have the same length");
    }
    j->info_.channels += col.channels;
    j->columns_.push_back(std::move(col));
  }
  if (j->info_.channels > 1024) return fail(ErrorKind::BadFile, std::to_string(j->info_.channels) + " channels in all is more than the 1024 supported");
  j->info_.frames = columnFrames;
  int widest = 0;
  for (const auto& c : j->columns_) widest = c.channels > widest ? c.channels : widest;
  j->scratch_.assign(static_cast<size_t>(j->chunkFrames_ * widest), 0.0);
  if (error) error->clear();
  return j;
}

template <typename T>
int64_t Joined::readImpl(T* out, int64_t frames) noexcept {
  const int total = info_.channels;
  int64_t done = 0;
  while (done < frames && position_ < info_.frames) {
    int64_t n = frames - done;
    if (n > chunkFrames_) n = chunkFrames_;
    if (n > info_.frames - position_) n = info_.frames - position_;
    int offset = 0;
    for (auto& col : columns_) {
      // A chunk may straddle the end of one part and the start of the next: fill it piecewise.
      int64_t got = 0;
      while (got < n) {
        Reader& r = *col.parts[col.current];
        if (r.remaining() == 0) {
          if (col.current + 1 >= col.parts.size()) {
            lastError_ = "a part ended early";
            return -1;
          }
          col.current++;
          if (!col.parts[col.current]->seek(0)) {
            lastError_ = col.parts[col.current]->lastError();
            return -1;
          }
          continue;
        }
        const int64_t k = r.read(scratch_.data() + got * col.channels, n - got);
        if (k <= 0) {
          lastError_ = k < 0 ? r.lastError() : "a part ended early";
          return -1;
        }
        got += k;
      }
      for (int64_t i = 0; i < n; i++) {
        const double* s = scratch_.data() + i * col.channels;
        T* d = out + (done + i) * total + offset;
        for (int c = 0; c < col.channels; c++) d[c] = static_cast<T>(s[c]);
      }
      offset += col.channels;
    }
    done += n;
    position_ += n;
  }
  return done;
}

int64_t Joined::read(float* out, int64_t frames) noexcept { return readImpl(out, frames); }
int64_t Joined::read(double* out, int64_t frames) noexcept { return readImpl(out, frames); }

bool Joined::seek(int64_t frame) noexcept {
  if (frame < 0 || frame > info_.frames) {
    lastError_ = "seek past the end of the data";
    return false;
  }
  for (auto& col : columns_) {
    size_t p = col.parts.size() - 1;
    while (p > 0 && col.starts[p] > frame) p--;
    col.current = p;
    if (!col.parts[p]->seek(frame - col.starts[p])) {
      lastError_ = col.parts[p]->lastError();
      return false;
    }
  }
  position_ = frame;
  return true;
}

}  // namespace wav
