// The JavaScript face of wav.h: module.wav = { info, read, write, levels, Reader, Writer }.
// Arguments arrive already validated by firmware/wav/wav.ts; this layer re-checks types only.
// Errors thrown here carry `code`: "FW_ERR_BAD_WAV" (the content) or "FW_ERR_IO" (the file system).
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "binding.h"
#include "wav.h"
#include "wav_join.h"

namespace {

[[noreturn]] void Throw(Napi::Env env, wav::ErrorKind kind, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, kind == wav::ErrorKind::BadFile ? "FW_ERR_BAD_WAV" : "FW_ERR_IO"));
  throw e;
}

Napi::Object InfoObject(Napi::Env env, const wav::Info& info) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("channels", info.channels);
  o.Set("sampleRate", info.sampleRate);
  o.Set("format", wav::formatName(info.format));
  o.Set("frames", static_cast<double>(info.frames));
  return o;
}

std::string PathArg(const Napi::CallbackInfo& cb, size_t i) {
  if (cb.Length() <= i || !cb[i].IsString()) throw Napi::TypeError::New(cb.Env(), "path must be a string");
  return cb[i].As<Napi::String>().Utf8Value();
}

wav::Info InfoArg(Napi::Env env, Napi::Value v, int* extensible, int64_t* rf64Above = nullptr) {
  if (!v.IsObject()) throw Napi::TypeError::New(env, "info must be an object");
  Napi::Object o = v.As<Napi::Object>();
  wav::Info info;
  info.channels = o.Get("channels").ToNumber().Int32Value();
  info.sampleRate = o.Get("sampleRate").ToNumber().Int32Value();
  std::string fmt = o.Get("format").ToString().Utf8Value();
  if (!wav::parseFormat(fmt, &info.format)) throw Napi::TypeError::New(env, "unknown WAV format " + fmt);
  Napi::Value ext = o.Get("extensible");
  *extensible = ext.IsBoolean() ? (ext.As<Napi::Boolean>().Value() ? 1 : 0) : -1;
  if (rf64Above) {
    Napi::Value lim = o.Get("rf64Above");
    *rf64Above = lim.IsNumber() ? lim.As<Napi::Number>().Int64Value() : 0;
  }
  return info;
}

// A source is a path, or columns of consecutive parts (string[][]): see wav_join.h.
std::unique_ptr<wav::Joined> OpenSource(const Napi::CallbackInfo& cb, std::string* name, int64_t chunk = wav::kDefaultChunkFrames) {
  Napi::Env env = cb.Env();
  std::vector<std::vector<std::string>> columns;
  if (cb.Length() > 0 && cb[0].IsArray()) {
    Napi::Array cols = cb[0].As<Napi::Array>();
    for (uint32_t i = 0; i < cols.Length(); i++) {
      Napi::Value c = cols.Get(i);
      if (!c.IsArray()) throw Napi::TypeError::New(env, "columns must be arrays of paths");
      Napi::Array parts = c.As<Napi::Array>();
      std::vector<std::string> col;
      for (uint32_t k = 0; k < parts.Length(); k++) {
        Napi::Value v = parts.Get(k);
        if (!v.IsString()) throw Napi::TypeError::New(env, "paths must be strings");
        col.push_back(v.As<Napi::String>().Utf8Value());
      }
      columns.push_back(std::move(col));
    }
    *name = columns.empty() || columns[0].empty() ? std::string("input") : columns[0][0];
  } else {
    *name = PathArg(cb, 0);
    columns.push_back({*name});
  }
  std::string err;
  wav::ErrorKind kind;
  auto j = wav::Joined::open(columns, &err, &kind, chunk);
  if (!j) Throw(env, kind, err);
  return j;
}

// wav.info(path) -> {channels, sampleRate, format, frames}
Napi::Value InfoFn(const Napi::CallbackInfo& cb) {
  std::string name;
  auto r = OpenSource(cb, &name, 16);
  return InfoObject(cb.Env(), r->info());
}

// wav.read(path, double?) -> {info, data: Float32Array | Float64Array (interleaved)}
Napi::Value ReadFn(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  const bool dbl = cb.Length() > 1 && cb[1].ToBoolean().Value();
  std::string name;
  auto r = OpenSource(cb, &name);
  const wav::Info& info = r->info();
  const size_t n = static_cast<size_t>(info.frames) * static_cast<size_t>(info.channels);
  Napi::Object out = Napi::Object::New(env);
  int64_t got;
  if (dbl) {
    Napi::Float64Array a = Napi::Float64Array::New(env, n);
    got = r->read(a.Data(), info.frames);
    out.Set("data", a);
  } else {
    Napi::Float32Array a = Napi::Float32Array::New(env, n);
    got = r->read(a.Data(), info.frames);
    out.Set("data", a);
  }
  if (got != info.frames) Throw(env, wav::ErrorKind::Io, name + ": " + r->lastError());
  out.Set("info", InfoObject(env, info));
  return out;
}

// wav.write(path, {channels, sampleRate, format, extensible?}, data: Float32Array | Float64Array)
Napi::Value WriteFn(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  std::string path = PathArg(cb, 0);
  int extensible = -1;
  wav::Info info = InfoArg(env, cb.Length() > 1 ? cb[1] : env.Undefined(), &extensible);
  if (cb.Length() < 3 || !cb[2].IsTypedArray()) throw Napi::TypeError::New(env, "data must be a Float32Array or Float64Array");
  Napi::TypedArray ta = cb[2].As<Napi::TypedArray>();
  if (info.channels < 1 || ta.ElementLength() % static_cast<size_t>(info.channels) != 0) {
    throw Napi::TypeError::New(env, "data length is not a whole number of frames");
  }
  const int64_t frames = static_cast<int64_t>(ta.ElementLength() / static_cast<size_t>(info.channels));
  std::string err;
  wav::ErrorKind kind;
  auto w = wav::Writer::create(path, info, &err, &kind, extensible);
  if (!w) Throw(env, kind, err);
  bool ok;
  if (ta.TypedArrayType() == napi_float64_array) {
    ok = w->write(ta.As<Napi::Float64Array>().Data(), frames);
  } else if (ta.TypedArrayType() == napi_float32_array) {
    ok = w->write(ta.As<Napi::Float32Array>().Data(), frames);
  } else {
    throw Napi::TypeError::New(env, "data must be a Float32Array or Float64Array");
  }
  if (!ok) Throw(env, wav::ErrorKind::Io, path + ": " + w->lastError());
  if (!w->close(&err)) Throw(env, wav::ErrorKind::Io, err);
  return env.Undefined();
}

// wav.levels(path) -> {peak: Float64Array, meanSquare: Float64Array}, per channel over the whole
// file: the report's meters without bringing the samples into JavaScript.
Napi::Value LevelsFn(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  std::string path;
  auto r = OpenSource(cb, &path);
  const int ch = r->info().channels;
  // Optional frame range [from, to): the part `firmware process --from/--to` processes.
  const int64_t from = cb.Length() > 1 && cb[1].IsNumber() ? cb[1].As<Napi::Number>().Int64Value() : 0;
  const int64_t toArg = cb.Length() > 2 && cb[2].IsNumber() ? cb[2].As<Napi::Number>().Int64Value() : -1;
  const int64_t to = toArg >= 0 && toArg < r->info().frames ? toArg : r->info().frames;
  if (from > 0 && !r->seek(from)) Throw(env, wav::ErrorKind::Io, path + ": " + r->lastError());
  int64_t left = to - from;
  constexpr int64_t kFrames = 4096;
  std::vector<float> buf(static_cast<size_t>(kFrames * ch));
  wav::Levels levels;
  levels.reset(ch);
  for (;;) {
    const int64_t n = left <= 0 ? 0 : r->read(buf.data(), left < kFrames ? left : kFrames);
    if (n > 0) left -= n;
    if (n < 0) Throw(env, wav::ErrorKind::Io, path + ": " + r->lastError());
    if (n == 0) break;
    levels.add(buf.data(), n);
  }
  Napi::Float64Array p = Napi::Float64Array::New(env, static_cast<size_t>(ch));
  Napi::Float64Array ms = Napi::Float64Array::New(env, static_cast<size_t>(ch));
  for (int k = 0; k < ch; k++) {
    p[static_cast<size_t>(k)] = levels.peak(k);
    ms[static_cast<size_t>(k)] = levels.meanSquare(k);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("peak", p);
  out.Set("meanSquare", ms);
  return out;
}

// Streaming reader: new wav.Reader(path); .info; .read(Float32Array) -> frames; .rewind(); .close()
class ReaderWrap : public Napi::ObjectWrap<ReaderWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "WavReader",
                       {InstanceAccessor<&ReaderWrap::GetInfo>("info"),
                        InstanceMethod<&ReaderWrap::Read>("read"),
                        InstanceMethod<&ReaderWrap::Rewind>("rewind"),
                        InstanceMethod<&ReaderWrap::Seek>("seek"),
                        InstanceMethod<&ReaderWrap::Close>("close")});
  }
  explicit ReaderWrap(const Napi::CallbackInfo& cb) : Napi::ObjectWrap<ReaderWrap>(cb) {
    reader_ = OpenSource(cb, &path_);
  }

 private:
  wav::Joined& Live(Napi::Env env) {
    if (!reader_) throw Napi::Error::New(env, "the WAV reader is closed");
    return *reader_;
  }
  Napi::Value GetInfo(const Napi::CallbackInfo& cb) { return InfoObject(cb.Env(), Live(cb.Env()).info()); }
  Napi::Value Read(const Napi::CallbackInfo& cb) {
    Napi::Env env = cb.Env();
    wav::Joined& r = Live(env);
    if (cb.Length() < 1 || !cb[0].IsTypedArray()) throw Napi::TypeError::New(env, "read needs a Float32Array or Float64Array");
    Napi::TypedArray ta = cb[0].As<Napi::TypedArray>();
    const int64_t frames = static_cast<int64_t>(ta.ElementLength()) / r.info().channels;
    int64_t got;
    if (ta.TypedArrayType() == napi_float32_array) got = r.read(ta.As<Napi::Float32Array>().Data(), frames);
    else if (ta.TypedArrayType() == napi_float64_array) got = r.read(ta.As<Napi::Float64Array>().Data(), frames);
    else throw Napi::TypeError::New(env, "read needs a Float32Array or Float64Array");
    if (got < 0) Throw(env, wav::ErrorKind::Io, path_ + ": " + r.lastError());
    return Napi::Number::New(env, static_cast<double>(got));
  }
  Napi::Value Rewind(const Napi::CallbackInfo& cb) {
    if (!Live(cb.Env()).rewind()) Throw(cb.Env(), wav::ErrorKind::Io, path_ + ": " + reader_->lastError());
    return cb.Env().Undefined();
  }
  Napi::Value Seek(const Napi::CallbackInfo& cb) {
    wav::Joined& r = Live(cb.Env());
    if (cb.Length() < 1 || !cb[0].IsNumber()) throw Napi::TypeError::New(cb.Env(), "seek needs a frame number");
    if (!r.seek(cb[0].As<Napi::Number>().Int64Value())) Throw(cb.Env(), wav::ErrorKind::Io, path_ + ": " + r.lastError());
    return cb.Env().Undefined();
  }
  Napi::Value Close(const Napi::CallbackInfo& cb) {
    reader_.reset();
    return cb.Env().Undefined();
  }
  std::string path_;
  std::unique_ptr<wav::Joined> reader_;
};

// Streaming writer: new wav.Writer(path, info); .write(Float32Array); .close(); .abort()
class WriterWrap : public Napi::ObjectWrap<WriterWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "WavWriter",
                       {InstanceAccessor<&WriterWrap::GetFrames>("frames"),
                        InstanceMethod<&WriterWrap::Write>("write"),
                        InstanceMethod<&WriterWrap::Close>("close"),
                        InstanceMethod<&WriterWrap::Abort>("abort")});
  }
  explicit WriterWrap(const Napi::CallbackInfo& cb) : Napi::ObjectWrap<WriterWrap>(cb) {
    Napi::Env env = cb.Env();
    path_ = PathArg(cb, 0);
    int extensible = -1;
    int64_t rf64Above = 0;
    wav::Info info = InfoArg(env, cb.Length() > 1 ? cb[1] : env.Undefined(), &extensible, &rf64Above);
    std::string err;
    wav::ErrorKind kind;
    writer_ = wav::Writer::create(path_, info, &err, &kind, extensible, wav::kDefaultChunkFrames, rf64Above);
    if (!writer_) Throw(env, kind, err);
  }

 private:
  wav::Writer& Live(Napi::Env env) {
    if (!writer_) throw Napi::Error::New(env, "the WAV writer is closed");
    return *writer_;
  }
  Napi::Value GetFrames(const Napi::CallbackInfo& cb) {
    return Napi::Number::New(cb.Env(), writer_ ? static_cast<double>(writer_->info().frames) : 0);
  }
  Napi::Value Write(const Napi::CallbackInfo& cb) {
    Napi::Env env = cb.Env();
    wav::Writer& w = Live(env);
    if (cb.Length() < 1 || !cb[0].IsTypedArray()) throw Napi::TypeError::New(env, "write needs a Float32Array or Float64Array");
    Napi::TypedArray ta = cb[0].As<Napi::TypedArray>();
    const int ch = w.info().channels;
    if (ta.ElementLength() % static_cast<size_t>(ch) != 0) throw Napi::TypeError::New(env, "data length is not a whole number of frames");
    const int64_t frames = static_cast<int64_t>(ta.ElementLength()) / ch;
    bool ok;
    if (ta.TypedArrayType() == napi_float32_array) ok = w.write(ta.As<Napi::Float32Array>().Data(), frames);
    else if (ta.TypedArrayType() == napi_float64_array) ok = w.write(ta.As<Napi::Float64Array>().Data(), frames);
    else throw Napi::TypeError::New(env, "write needs a Float32Array or Float64Array");
    if (!ok) {
      std::string msg = path_ + ": " + w.lastError();
      writer_.reset();  // removes the temp file
      Throw(env, wav::ErrorKind::Io, msg);
    }
    return env.Undefined();
  }
  Napi::Value Close(const Napi::CallbackInfo& cb) {
    Napi::Env env = cb.Env();
    std::string err;
    bool ok = Live(env).close(&err);
    writer_.reset();
    if (!ok) Throw(env, wav::ErrorKind::Io, err);
    return env.Undefined();
  }
  Napi::Value Abort(const Napi::CallbackInfo& cb) {
    writer_.reset();
    return cb.Env().Undefined();
  }
  std::string path_;
  std::unique_ptr<wav::Writer> writer_;
};

}  // namespace

namespace binding {
void InitWav(Napi::Env env, Napi::Object exports) {
  Napi::Object w = Napi::Object::New(env);
  w.Set("info", Napi::Function::New<InfoFn>(env, "info"));
  w.Set("read", Napi::Function::New<ReadFn>(env, "read"));
  w.Set("write", Napi::Function::New<WriteFn>(env, "write"));
  w.Set("levels", Napi::Function::New<LevelsFn>(env, "levels"));
  w.Set("Reader", ReaderWrap::Define(env));
  w.Set("Writer", WriterWrap::Define(env));
  exports.Set("wav", w);
}
}  // namespace binding
