// WAV reading and writing; see wav.h for the contract.
#include "wav.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <random>

namespace wav {
namespace {

constexpr uint16_t kTagPcm = 0x0001;
constexpr uint16_t kTagFloat = 0x0003;
constexpr uint16_t kTagExtensible = 0xFFFE;
constexpr int kMaxChannels = 1024;
constexpr int64_t kRiffLimit = 0xFFFFFFFFLL;
constexpr uint32_t kDs64Body = 28;  // riff size, data size, sample count (64-bit each), table length
// The KSDATAFORMAT_SUBTYPE GUIDs share these trailing 14 bytes; the first two are the format tag.
constexpr uint8_t kGuidTail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                   0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t le64(const uint8_t* p) { return static_cast<uint64_t>(le32(p)) | (static_cast<uint64_t>(le32(p + 4)) << 32); }
void put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, v);
  put16(p + 2, v >> 16);
}
void put64(uint8_t* p, uint64_t v) {
  put32(p, static_cast<uint32_t>(v));
  put32(p + 4, static_cast<uint32_t>(v >> 32));
}

// Reads exactly n bytes at the current offset (retrying short reads); returns bytes read or -1.
int64_t readFully(int fd, uint8_t* buf, int64_t n) {
  int64_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, buf + got, static_cast<size_t>(n - got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    got += r;
  }
  return got;
}

bool writeFully(int fd, const uint8_t* buf, int64_t n) {
  int64_t put = 0;
  while (put < n) {
    ssize_t w = ::write(fd, buf + put, static_cast<size_t>(n - put));
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    put += w;
  }
  return true;
}

template <typename T>
inline void decode(const uint8_t* in, T* out, int64_t n, Format f) {
  switch (f) {
    case Format::Pcm16:
      for (int64_t i = 0; i < n; i++, in += 2) {
        out[i] = static_cast<T>(static_cast<int16_t>(le16(in))) * static_cast<T>(1.0 / 32768.0);
      }
      break;
    case Format::Pcm24:
      for (int64_t i = 0; i < n; i++, in += 3) {
        // Place the 24 bits at the top of an int32 so the sign comes for free, then scale.
        int32_t v = static_cast<int32_t>((static_cast<uint32_t>(in[0]) << 8) |
                                         (static_cast<uint32_t>(in[1]) << 16) |
                                         (static_cast<uint32_t>(in[2]) << 24)) >> 8;
        out[i] = static_cast<T>(v) * static_cast<T>(1.0 / 8388608.0);
      }
      break;
    case Format::Pcm32:
      for (int64_t i = 0; i < n; i++, in += 4) {
        out[i] = static_cast<T>(static_cast<double>(static_cast<int32_t>(le32(in))) *
                                (1.0 / 2147483648.0));
      }
      break;
    case Format::Float32:
      for (int64_t i = 0; i < n; i++, in += 4) {
        uint32_t bits = le32(in);
        float v;
        std::memcpy(&v, &bits, 4);
        out[i] = static_cast<T>(v);
      }
      break;
  }
}

// Scales, rounds to nearest and clamps; NaN becomes 0 so a DSP fault never writes garbage codes.
inline int64_t quantise(double x, double scale, int64_t lo, int64_t hi) {
  if (!(x == x)) return 0;
  double v = std::nearbyint(x * scale);
  if (v < static_cast<double>(lo)) return lo;
  if (v > static_cast<double>(hi)) return hi;
  return static_cast<int64_t>(v);
}

template <typename T>
inline void encode(const T* in, uint8_t* out, int64_t n, Format f) {
  switch (f) {
    case Format::Pcm16:
      for (int64_t i = 0; i < n; i++, out += 2) {
        put16(out, static_cast<uint32_t>(quantise(in[i], 32768.0, -32768, 32767)));
      }
      break;
    case Format::Pcm24:
      for (int64_t i = 0; i < n; i++, out += 3) {
        uint32_t v = static_cast<uint32_t>(quantise(in[i], 8388608.0, -8388608, 8388607));
        out[0] = static_cast<uint8_t>(v);
        out[1] = static_cast<uint8_t>(v >> 8);
        out[2] = static_cast<uint8_t>(v >> 16);
      }
      break;
    case Format::Pcm32:
      for (int64_t i = 0; i < n; i++, out += 4) {
        put32(out, static_cast<uint32_t>(quantise(in[i], 2147483648.0, INT32_MIN, INT32_MAX)));
      }
      break;
    case Format::Float32:
      for (int64_t i = 0; i < n; i++, out += 4) {
        float v = static_cast<float>(in[i]);
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        put32(out, bits);
      }
      break;
  }
}

}  // namespace

int bytesPerSample(Format f) noexcept {
  switch (f) {
    case Format::Pcm16: return 2;
    case Format::Pcm24: return 3;
    case Format::Pcm32: return 4;
    case Format::Float32: return 4;
  }
  return 4;
}

const char* formatName(Format f) noexcept {
  switch (f) {
    case Format::Pcm16: return "pcm16";
    case Format::Pcm24: return "pcm24";
    case Format::Pcm32: return "pcm32";
    case Format::Float32: return "float32";
  }
  return "float32";
}

bool parseFormat(const std::string& name, Format* out) noexcept {
  static const Format all[] = {Format::Pcm16, Format::Pcm24, Format::Pcm32, Format::Float32};
  for (Format f : all) {
    if (name == formatName(f)) {
      *out = f;
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Reader

std::unique_ptr<Reader> Reader::open(const std::string& path, std::string* error, ErrorKind* kind,
                                     int64_t chunkFrames) {
  auto fail = [&](ErrorKind k, const std::string& msg) -> std::unique_ptr<Reader> {
    if (error) *error = path + ": " + msg;
    if (kind) *kind = k;
    return nullptr;
  };
  if (kind) *kind = ErrorKind::None;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) return fail(ErrorKind::Io, "no such file");
    return fail(ErrorKind::Io, std::string("cannot open: ") + std::strerror(e));
  }
  std::unique_ptr<Reader> r(new Reader());
  r->fd_ = fd;  // closed by ~Reader on every failure path below
  struct stat st;
  if (::fstat(fd, &st) != 0) return fail(ErrorKind::Io, std::string("cannot stat: ") + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return fail(ErrorKind::Io, "is a directory, not a WAV file");
  const int64_t fileSize = st.st_size;

  uint8_t hdr[12];
  int64_t got = readFully(fd, hdr, 12);
  if (got < 0) return fail(ErrorKind::Io, std::string("cannot read: ") + std::strerror(errno));
  if (got == 0) return fail(ErrorKind::BadFile, "is empty, not a WAV file");
  if (got < 12 || std::memcmp(hdr + 8, "WAVE", 4) != 0 ||
      (std::memcmp(hdr, "RIFF", 4) != 0 && std::memcmp(hdr, "RF64", 4) != 0 &&
       std::memcmp(hdr, "RIFX", 4) != 0)) {
    return fail(ErrorKind::BadFile, "not a WAV file (no RIFF/WAVE header)");
  }
  // RF64 (EBU Tech 3306): the 32-bit sizes say 0xFFFFFFFF and a ds64 chunk, first after WAVE,
  // carries the real 64-bit ones.
  const bool rf64 = std::memcmp(hdr, "RF64", 4) == 0;
  if (std::memcmp(hdr, "RIFX", 4) == 0) return fail(ErrorKind::BadFile, "big-endian (RIFX) WAV files are not supported; convert to a standard little-endian WAV");

  bool haveFmt = false, haveData = false;
  uint16_t tag = 0, channels = 0, blockAlign = 0, bits = 0;
  uint32_t rate = 0;
  int64_t dataOffset = 0, dataBytes = 0;
  int64_t pos = 12;
  int64_t ds64Data = -1;
  if (rf64) {
    uint8_t ch[8 + 24];
    if (readFully(fd, ch, sizeof ch) != static_cast<int64_t>(sizeof ch) || std::memcmp(ch, "ds64", 4) != 0) {
      return fail(ErrorKind::BadFile, "RF64 file without a ds64 chunk after the header (EBU Tech 3306)");
    }
    const int64_t size = le32(ch + 4);
    if (size < 24) return fail(ErrorKind::BadFile, "ds64 chunk is " + std::to_string(size) + " bytes, at least 24 expected");
    ds64Data = static_cast<int64_t>(le64(ch + 16));
    if (ds64Data < 0) return fail(ErrorKind::BadFile, "ds64 chunk gives a data size past 2^63 bytes");
    pos = 12 + 8 + size + (size & 1);
  }
  while (pos + 8 <= fileSize && !(haveFmt && haveData)) {
    uint8_t ch[8];
    if (::lseek(fd, pos, SEEK_SET) < 0 || readFully(fd, ch, 8) != 8) {
      return fail(ErrorKind::Io, std::string("cannot read: ") + std::strerror(errno));
    }
    const int64_t size = le32(ch + 4);
    const int64_t body = pos + 8;
    if (std::memcmp(ch, "fmt ", 4) == 0) {
      if (haveFmt) return fail(ErrorKind::BadFile, "has two fmt chunks");
      if (size < 16) return fail(ErrorKind::BadFile, "fmt chunk is " + std::to_string(size) + " bytes, at least 16 expected");
      if (body + size > fileSize) return fail(ErrorKind::BadFile, "fmt chunk says " + std::to_string(size) + " bytes but the file ends after " + std::to_string(fileSize - body));
      uint8_t f[40] = {0};
      const int64_t n = size < 40 ? size : 40;
      if (readFully(fd, f, n) != n) return fail(ErrorKind::Io, "cannot read the fmt chunk");
      tag = le16(f);
      channels = le16(f + 2);
      rate = le32(f + 4);
      blockAlign = le16(f + 12);
      bits = le16(f + 14);
      if (tag == kTagExtensible) {
        if (size < 40) return fail(ErrorKind::BadFile, "WAVE_FORMAT_EXTENSIBLE fmt chunk is " + std::to_string(size) + " bytes, 40 expected");
        const uint16_t cbSize = le16(f + 16);
        if (cbSize < 22) return fail(ErrorKind::BadFile, "WAVE_FORMAT_EXTENSIBLE extension is " + std::to_string(cbSize) + " bytes, 22 expected");
        const uint16_t validBits = le16(f + 18);
        if (validBits > bits) return fail(ErrorKind::BadFile, "says " + std::to_string(validBits) + " valid bits in a " + std::to_string(bits) + "-bit sample");
        if (std::memcmp(f + 26, kGuidTail, 14) != 0) return fail(ErrorKind::BadFile, "WAVE_FORMAT_EXTENSIBLE with an unknown sub-format GUID; convert to PCM or float");
        // Fewer valid bits than the container (e.g. 20 in 24) still decode as the container:
        // the samples sit in the top bits, so the scale is right.
        tag = le16(f + 24);
      }
      haveFmt = true;
    } else if (std::memcmp(ch, "data", 4) == 0) {
      if (haveData) return fail(ErrorKind::BadFile, "has two data chunks");
      dataOffset = body;
      dataBytes = size;
      if (rf64 && size == 0xFFFFFFFFLL) dataBytes = ds64Data;
      // Streaming writers leave this when they never patched the header.
      else if (size == 0xFFFFFFFFLL) return fail(ErrorKind::BadFile, "data chunk size was never filled in (the recording was not closed properly)");
      if (body + dataBytes > fileSize) {
        return fail(ErrorKind::BadFile, "data chunk says " + std::to_string(dataBytes) + " bytes but the file ends after " + std::to_string(fileSize - body));
      }
      haveData = true;
      pos = body + dataBytes + (dataBytes & 1);
      continue;
    }
    pos = body + size + (size & 1);  // chunks are padded to even sizes
  }
  if (!haveFmt) return fail(ErrorKind::BadFile, haveData ? "has no fmt chunk (format unknown)" : "has no fmt chunk; not a valid WAV file");
  if (!haveData) return fail(ErrorKind::BadFile, "has no data chunk (truncated before the audio)");

  Format format;
  if (tag == kTagPcm) {
    if (bits == 16) format = Format::Pcm16;
    else if (bits == 24) format = Format::Pcm24;
    else if (bits == 32) format = Format::Pcm32;
    else return fail(ErrorKind::BadFile, std::to_string(bits) + "-bit PCM is not supported; use 16, 24 or 32-bit PCM or 32-bit float");
  } else if (tag == kTagFloat) {
    if (bits == 32) format = Format::Float32;
    else return fail(ErrorKind::BadFile, std::to_string(bits) + "-bit float is not supported; use 32-bit float or 16/24/32-bit PCM");
  } else {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%04x", tag);
    return fail(ErrorKind::BadFile, std::string("format tag ") + hex + " (compressed or unknown) is not supported; use PCM or 32-bit float");
  }
  if (channels == 0) return fail(ErrorKind::BadFile, "says 0 channels");
  if (channels > kMaxChannels) return fail(ErrorKind::BadFile, std::to_string(channels) + " channels is more than the " + std::to_string(kMaxChannels) + " supported");
  if (rate < 1000 || rate > 768000) return fail(ErrorKind::BadFile, "sample rate " + std::to_string(rate) + " Hz is not plausible");
  const int bps = bytesPerSample(format);
  if (blockAlign != channels * bps) {
    return fail(ErrorKind::BadFile, "block align " + std::to_string(blockAlign) + " does not match " + std::to_string(channels) + " channels of " + std::to_string(bps) + " bytes");
  }
  if (dataBytes % blockAlign != 0) {
    return fail(ErrorKind::BadFile, "data chunk of " + std::to_string(dataBytes) + " bytes is not a whole number of " + std::to_string(blockAlign) + "-byte frames (truncated?)");
  }

  r->info_.channels = channels;
  r->info_.sampleRate = static_cast<int>(rate);
  r->info_.format = format;
  r->info_.frames = dataBytes / blockAlign;
  r->dataOffset_ = dataOffset;
  r->chunkFrames_ = chunkFrames > 0 ? chunkFrames : kDefaultChunkFrames;
  r->buffer_.reset(new (std::nothrow) uint8_t[static_cast<size_t>(r->chunkFrames_ * blockAlign)]);
  if (!r->buffer_) return fail(ErrorKind::Io, "out of memory for the read buffer");
  if (::lseek(fd, dataOffset, SEEK_SET) < 0) return fail(ErrorKind::Io, std::string("cannot seek: ") + std::strerror(errno));
  if (error) error->clear();
  return r;
}

Reader::~Reader() {
  if (fd_ >= 0) ::close(fd_);
}

template <typename T>
int64_t Reader::readImpl(T* out, int64_t frames) noexcept {
  const int ch = info_.channels;
  const int64_t frameBytes = static_cast<int64_t>(ch) * bytesPerSample(info_.format);
  int64_t done = 0;
  while (done < frames && position_ < info_.frames) {
    int64_t n = frames - done;
    if (n > chunkFrames_) n = chunkFrames_;
    if (n > info_.frames - position_) n = info_.frames - position_;
    const int64_t want = n * frameBytes;
    int64_t got = readFully(fd_, buffer_.get(), want);
    if (got != want) {
      lastError_ = got < 0 ? "read error" : "the file got shorter while reading";
      return -1;
    }
    decode(buffer_.get(), out + done * ch, n * ch, info_.format);
    done += n;
    position_ += n;
  }
  return done;
}

int64_t Reader::read(float* out, int64_t frames) noexcept { return readImpl(out, frames); }
int64_t Reader::read(double* out, int64_t frames) noexcept { return readImpl(out, frames); }

bool Reader::rewind() noexcept { return seek(0); }

bool Reader::seek(int64_t frame) noexcept {
  if (frame < 0 || frame > info_.frames) {
    lastError_ = "seek past the end of the data";
    return false;
  }
  const int64_t frameBytes = static_cast<int64_t>(info_.channels) * bytesPerSample(info_.format);
  if (::lseek(fd_, dataOffset_ + frame * frameBytes, SEEK_SET) < 0) {
    lastError_ = "seek failed";
    return false;
  }
  position_ = frame;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Writer

std::unique_ptr<Writer> Writer::create(const std::string& path, const Info& info, std::string* error,
                                       ErrorKind* kind, int extensible, int64_t chunkFrames,
                                       int64_t rf64Above) {
  auto fail = [&](ErrorKind k, const std::string& msg) -> std::unique_ptr<Writer> {
    if (error) *error = path + ": " + msg;
    if (kind) *kind = k;
    return nullptr;
  };
  if (kind) *kind = ErrorKind::None;
  if (info.channels < 1 || info.channels > kMaxChannels) return fail(ErrorKind::BadFile, "cannot write " + std::to_string(info.channels) + " channels (1 to " + std::to_string(kMaxChannels) + ")");
  if (info.sampleRate < 1000 || info.sampleRate > 768000) return fail(ErrorKind::BadFile, "cannot write a sample rate of " + std::to_string(info.sampleRate) + " Hz");

  std::unique_ptr<Writer> w(new Writer());
  w->info_ = info;
  w->info_.frames = 0;
  w->path_ = path;
  // The temp file lives beside the target so the final rename stays on one file system (atomic).
  std::random_device rd;
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".%d-%08x.partial", static_cast<int>(::getpid()), rd());
  w->tempPath_ = path + suffix;
  int fd = ::open(w->tempPath_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return fail(ErrorKind::Io, "is a directory");
    return fail(ErrorKind::Io, std::string("cannot create: ") + std::strerror(e));
  }
  w->fd_ = fd;

  const int bps = bytesPerSample(info.format);
  const bool isFloat = info.format == Format::Float32;
  const bool ext = extensible < 0 ? info.channels > 2 : extensible != 0;
  const uint32_t blockAlign = static_cast<uint32_t>(info.channels * bps);
  uint8_t h[120] = {0};
  int64_t p = 0;
  std::memcpy(h, "RIFF", 4);
  w->riffSizeOffset_ = 4;
  std::memcpy(h + 8, "WAVE", 4);
  // Room for a ds64 chunk (EBU Tech 3306), a JUNK chunk that every reader skips until close()
  // finds the file past the RIFF limit and turns it into RF64 in place.
  std::memcpy(h + 12, "JUNK", 4);
  put32(h + 16, kDs64Body);
  w->junkOffset_ = 12;
  w->rf64Above_ = rf64Above > 0 && rf64Above < kRiffLimit ? rf64Above : kRiffLimit;
  p = 12 + 8 + kDs64Body;
  std::memcpy(h + p, "fmt ", 4);
  put32(h + p + 4, ext ? 40 : (isFloat ? 18 : 16));
  uint8_t* f = h + p + 8;
  put16(f, ext ? kTagExtensible : (isFloat ? kTagFloat : kTagPcm));
  put16(f + 2, static_cast<uint32_t>(info.channels));
  put32(f + 4, static_cast<uint32_t>(info.sampleRate));
  put32(f + 8, static_cast<uint32_t>(info.sampleRate) * blockAlign);
  put16(f + 12, blockAlign);
  put16(f + 14, static_cast<uint32_t>(bps * 8));
  if (ext) {
    put16(f + 16, 22);
    put16(f + 18, static_cast<uint32_t>(bps * 8));
    // Speaker positions: the standard front pair for stereo, mono front centre, none for arrays.
    put32(f + 20, info.channels == 1 ? 0x4 : info.channels == 2 ? 0x3 : 0);
    put16(f + 24, isFloat ? kTagFloat : kTagPcm);
    std::memcpy(f + 26, kGuidTail, 14);
    p += 8 + 40;
  } else if (isFloat) {
    put16(f + 16, 0);  // cbSize: non-PCM fmt chunks carry it
    p += 8 + 18;
  } else {
    p += 8 + 16;
  }
  if (isFloat || ext) {
    // A fact chunk (sample frames) is required for non-PCM formats.
    std::memcpy(h + p, "fact", 4);
    put32(h + p + 4, 4);
    w->factOffset_ = p + 8;
    p += 12;
  }
  std::memcpy(h + p, "data", 4);
  w->dataSizeOffset_ = p + 4;
  p += 8;
  w->headerBytes_ = p;
  if (!writeFully(fd, h, p)) {
    int e = errno;
    w->abort();
    return fail(ErrorKind::Io, std::string("cannot write: ") + std::strerror(e));
  }
  w->chunkFrames_ = chunkFrames > 0 ? chunkFrames : kDefaultChunkFrames;
  w->buffer_.reset(new (std::nothrow) uint8_t[static_cast<size_t>(w->chunkFrames_ * blockAlign)]);
  if (!w->buffer_) {
    w->abort();
    return fail(ErrorKind::Io, "out of memory for the write buffer");
  }
  if (error) error->clear();
  return w;
}

Writer::~Writer() { abort(); }

template <typename T>
bool Writer::writeImpl(const T* in, int64_t frames) noexcept {
  if (fd_ < 0) {
    lastError_ = "the writer is closed";
    return false;
  }
  const int ch = info_.channels;
  const int64_t frameBytes = static_cast<int64_t>(ch) * bytesPerSample(info_.format);
  int64_t done = 0;
  while (done < frames) {
    int64_t n = frames - done;
    if (n > chunkFrames_) n = chunkFrames_;
    encode(in + done * ch, buffer_.get(), n * ch, info_.format);
    if (!writeFully(fd_, buffer_.get(), n * frameBytes)) {
      lastError_ = errno == ENOSPC ? "the disk is full" : "write error";
      return false;
    }
    done += n;
    info_.frames += n;
  }
  return true;
}

bool Writer::write(const float* in, int64_t frames) noexcept { return writeImpl(in, frames); }
bool Writer::write(const double* in, int64_t frames) noexcept { return writeImpl(in, frames); }

bool Writer::close(std::string* error) {
  auto fail = [&](const std::string& msg) {
    if (error) *error = path_ + ": " + msg;
    abort();
    return false;
  };
  if (fd_ < 0) return fail("the writer was already closed or aborted");
  const int64_t dataBytes = info_.frames * info_.channels * bytesPerSample(info_.format);
  uint8_t b[4];
  bool ok = true;
  if (dataBytes & 1) {
    const uint8_t pad = 0;
    ok = writeFully(fd_, &pad, 1);
  }
  const int64_t riffSize = headerBytes_ - 8 + dataBytes + (dataBytes & 1);
  const bool rf64 = riffSize > rf64Above_;
  rf64_ = rf64;
  if (rf64) {
    // The 32-bit fields say "see ds64"; the JUNK reserve becomes the ds64 chunk.
    uint8_t ds[8 + kDs64Body] = {0};
    std::memcpy(ds, "ds64", 4);
    put32(ds + 4, kDs64Body);
    put64(ds + 8, static_cast<uint64_t>(riffSize));
    put64(ds + 16, static_cast<uint64_t>(dataBytes));
    put64(ds + 24, static_cast<uint64_t>(info_.frames));
    put32(ds + 32, 0);  // no table entries
    ok = ok && ::pwrite(fd_, ds, sizeof ds, junkOffset_) == static_cast<ssize_t>(sizeof ds);
    ok = ok && ::pwrite(fd_, "RF64", 4, 0) == 4;
  }
  put32(b, rf64 ? 0xFFFFFFFFu : static_cast<uint32_t>(riffSize));
  ok = ok && ::pwrite(fd_, b, 4, riffSizeOffset_) == 4;
  put32(b, rf64 ? 0xFFFFFFFFu : static_cast<uint32_t>(dataBytes));
  ok = ok && ::pwrite(fd_, b, 4, dataSizeOffset_) == 4;
  if (factOffset_ >= 0) {
    put32(b, rf64 ? 0xFFFFFFFFu : static_cast<uint32_t>(info_.frames));
    ok = ok && ::pwrite(fd_, b, 4, factOffset_) == 4;
  }
  if (!ok) return fail(std::string("cannot finish the file: ") + std::strerror(errno));
  if (::fsync(fd_) != 0 && errno != EINVAL) return fail(std::string("cannot flush: ") + std::strerror(errno));
  if (::close(fd_) != 0) {
    fd_ = -1;
    return fail(std::string("cannot close: ") + std::strerror(errno));
  }
  fd_ = -1;
  if (::rename(tempPath_.c_str(), path_.c_str()) != 0) {
    return fail(std::string("cannot move the finished file into place: ") + std::strerror(errno));
  }
  tempPath_.clear();
  if (error) error->clear();
  return true;
}

void Writer::abort() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!tempPath_.empty()) {
    ::unlink(tempPath_.c_str());
    tempPath_.clear();
  }
}

void Levels::reset(int channels) {
  peak_.assign(static_cast<size_t>(channels), 0.0);
  sum_.assign(static_cast<size_t>(channels), 0.0);
  frames_ = 0;
}

void Levels::add(const float* interleaved, int64_t frames) noexcept {
  // Eight channels at a time in locals, so the compiler keeps them in registers (and vectors)
  // instead of loading and storing the vectors' elements per sample. Each channel's sum still
  // adds its squares in frame order, so the result is the same to the bit as one at a time.
  const size_t ch = peak_.size();
  for (size_t k0 = 0; k0 < ch; k0 += 8) {
    const size_t w = ch - k0 < 8 ? ch - k0 : 8;
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t k = 0; k < w; k++) {
      p[k] = peak_[k0 + k];
      s[k] = sum_[k0 + k];
    }
    const float* f = interleaved + k0;
    if (w == 8) {
      for (int64_t i = 0; i < frames; i++, f += ch) {
        for (size_t k = 0; k < 8; k++) {
          const double v = f[k];
          const double a = v < 0 ? -v : v;
          p[k] = a > p[k] ? a : p[k];
          s[k] += v * v;
        }
      }
    } else {
      for (int64_t i = 0; i < frames; i++, f += ch) {
        for (size_t k = 0; k < w; k++) {
          const double v = f[k];
          const double a = v < 0 ? -v : v;
          p[k] = a > p[k] ? a : p[k];
          s[k] += v * v;
        }
      }
    }
    for (size_t k = 0; k < w; k++) {
      peak_[k0 + k] = p[k];
      sum_[k0 + k] = s[k];
    }
  }
  frames_ += frames;
}

void asStored(const float* in, float* out, int64_t n, Format f) noexcept {
  if (f == Format::Float32) {
    if (out != in) std::memcpy(out, in, sizeof(float) * static_cast<size_t>(n));
    return;
  }
  uint8_t bytes[4 * 256];
  for (int64_t done = 0; done < n; done += 256) {
    const int64_t k = n - done < 256 ? n - done : 256;
    encode(in + done, bytes, k, f);
    decode(bytes, out + done, k, f);
  }
}

}  // namespace wav
