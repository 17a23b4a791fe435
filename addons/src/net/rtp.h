// RTP (RFC 3550) for AES67 audio: the fixed header, and the L16/L24 payloads (RFC 3190/3551:
// big-endian signed PCM, interleaved). Pure functions over caller buffers: no allocation, no
// state, usable on any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace net {

constexpr int kMaxChannels = 8;
// 4 ms at 48 kHz, the longest AES67 packet time.
constexpr int kMaxPacketFrames = 192;
constexpr int kRtpHeader = 12;
// The largest datagram read; anything longer is "too large" (it was truncated by the kernel).
constexpr int kMaxDatagram = 2048;

enum class RtpError { kNone, kBadVersion, kWrongPayloadType, kTooShort, kTooLarge, kWrongSsrc };

struct RtpPacket {
  uint16_t seq = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  const uint8_t* payload = nullptr;
  int payloadBytes = 0;
  int frames = 0;
};

// Parses one datagram of `bytes` (truncated: the kernel cut it) as an L16/L24 packet of
// `channels` x `bits` with payload type `pt`, at most `maxFrames` frames. SSRC is not checked
// here (the receiver's lock is stateful).
inline RtpError parseRtp(const uint8_t* d, int bytes, bool truncated, int pt, int channels, int bits, int maxFrames, RtpPacket* out) noexcept {
  if (truncated || bytes > kMaxDatagram) return RtpError::kTooLarge;
  if (bytes < 1) return RtpError::kTooShort;
  if ((d[0] >> 6) != 2) return RtpError::kBadVersion;
  if (bytes < kRtpHeader) return RtpError::kTooShort;
  if ((d[1] & 0x7f) != pt) return RtpError::kWrongPayloadType;
  const int cc = d[0] & 0x0f;
  int offset = kRtpHeader + 4 * cc;
  if (d[0] & 0x10) {  // header extension
    if (bytes < offset + 4) return RtpError::kTooShort;
    offset += 4 + 4 * ((d[offset + 2] << 8) | d[offset + 3]);
  }
  int end = bytes;
  if (d[0] & 0x20) {  // padding: the last octet counts the padding octets
    end -= d[bytes - 1];
  }
  if (end < offset) return RtpError::kTooShort;
  const int frameBytes = channels * (bits / 8);
  const int payload = end - offset;
  if (payload < frameBytes || payload % frameBytes != 0) return RtpError::kTooShort;
  if (payload / frameBytes > maxFrames) return RtpError::kTooLarge;
  out->seq = static_cast<uint16_t>((d[2] << 8) | d[3]);
  out->timestamp = (static_cast<uint32_t>(d[4]) << 24) | (static_cast<uint32_t>(d[5]) << 16) | (static_cast<uint32_t>(d[6]) << 8) | d[7];
  out->ssrc = (static_cast<uint32_t>(d[8]) << 24) | (static_cast<uint32_t>(d[9]) << 16) | (static_cast<uint32_t>(d[10]) << 8) | d[11];
  out->payload = d + offset;
  out->payloadBytes = payload;
  out->frames = payload / frameBytes;
  return RtpError::kNone;
}

// Writes the 12-byte header (V=2, no padding, extension or CSRC, marker clear).
inline void writeRtpHeader(uint8_t* d, int pt, uint16_t seq, uint32_t ts, uint32_t ssrc) noexcept {
  d[0] = 0x80;
  d[1] = static_cast<uint8_t>(pt & 0x7f);
  d[2] = static_cast<uint8_t>(seq >> 8);
  d[3] = static_cast<uint8_t>(seq);
  d[4] = static_cast<uint8_t>(ts >> 24);
  d[5] = static_cast<uint8_t>(ts >> 16);
  d[6] = static_cast<uint8_t>(ts >> 8);
  d[7] = static_cast<uint8_t>(ts);
  d[8] = static_cast<uint8_t>(ssrc >> 24);
  d[9] = static_cast<uint8_t>(ssrc >> 16);
  d[10] = static_cast<uint8_t>(ssrc >> 8);
  d[11] = static_cast<uint8_t>(ssrc);
}

// Big-endian PCM -> float in [-1, 1): sample / 2^(bits-1), exact for both widths, so a float
// that came from L24 goes back to the same L24 word (the bypassed path is bit-exact).
inline float decodeSample(const uint8_t* p, int bits) noexcept {
  if (bits == 24) {
    int32_t v = (static_cast<int32_t>(p[0]) << 24) | (static_cast<int32_t>(p[1]) << 16) | (static_cast<int32_t>(p[2]) << 8);
    return static_cast<float>(v >> 8) * (1.0f / 8388608.0f);
  }
  const int16_t v = static_cast<int16_t>((p[0] << 8) | p[1]);
  return static_cast<float>(v) * (1.0f / 32768.0f);
}

// float -> big-endian PCM, rounded and clipped to the word.
inline void encodeSample(float x, uint8_t* p, int bits) noexcept {
  const float scale = bits == 24 ? 8388608.0f : 32768.0f;
  float s = x * scale;
  const float hi = scale - 1.0f, lo = -scale;
  if (!(s >= lo)) s = lo;  // also NaN
  if (s > hi) s = hi;
  const int32_t v = static_cast<int32_t>(s >= 0 ? s + 0.5f : s - 0.5f);
  const int32_t c = v > static_cast<int32_t>(hi) ? static_cast<int32_t>(hi) : v;
  if (bits == 24) {
    p[0] = static_cast<uint8_t>(c >> 16);
    p[1] = static_cast<uint8_t>(c >> 8);
    p[2] = static_cast<uint8_t>(c);
  } else {
    p[0] = static_cast<uint8_t>(c >> 8);
    p[1] = static_cast<uint8_t>(c);
  }
}

}  // namespace net
