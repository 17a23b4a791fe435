// Feedback: the howl detector over a whole signal (tests, benchmarks, `firmware process`) and the
// simulated acoustic loop with its detector (features/howl_detector.h, dsp/acoustic_loop.h). The
// engine's audio thread runs the same HowlDetector inside the feature tap instead.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "binding.h"
#include "binding_args.h"
#include "dsp/acoustic_loop.h"
#include "dsp/afc.h"
#include "dsp/freq_shift.h"
#include "features/band_spectrum.h"
#include "features/howl_detector.h"

namespace binding {
namespace {

// The samples argument i (binding_args.h's check, named "samples").
Napi::Float32Array needSamples(const Napi::CallbackInfo& info, size_t i) {
  return argF32(info.Env(), i < info.Length() ? info[i] : info.Env().Undefined(), "samples");
}

features::HowlThresholds thresholdsOf(const Napi::Value& v) {
  features::HowlThresholds th;
  if (!v.IsObject()) return th;
  const Napi::Object o = v.As<Napi::Object>();
  th.paprDb = num(o, "paprDb", th.paprDb);
  th.phprDb = num(o, "phprDb", th.phprDb);
  th.pnprDb = num(o, "pnprDb", th.pnprDb);
  th.ipmp = num(o, "ipmp", th.ipmp);
  th.minLevelDb = num(o, "minLevelDb", th.minLevelDb);
  th.youngFrames = static_cast<int>(num(o, "youngFrames", th.youngFrames));
  th.youngGrowthDbPerS = num(o, "youngGrowthDbPerS", th.youngGrowthDbPerS);
  th.youngPnprDb = num(o, "youngPnprDb", th.youngPnprDb);
  th.lineStartPaprDb = num(o, "lineStartPaprDb", th.lineStartPaprDb);
  th.lineStartPnprDb = num(o, "lineStartPnprDb", th.lineStartPnprDb);
  th.lineWindowMs = num(o, "lineWindowMs", th.lineWindowMs);
  th.lineMinGrowthDbPerS = num(o, "lineMinGrowthDbPerS", th.lineMinGrowthDbPerS);
  th.lineMinRiseDb = num(o, "lineMinRiseDb", th.lineMinRiseDb);
  th.lineMaxResidualDb = num(o, "lineMaxResidualDb", th.lineMaxResidualDb);
  th.lineMinBend = num(o, "lineMinBend", th.lineMinBend);
  th.lineMaxHzStd = num(o, "lineMaxHzStd", th.lineMaxHzStd);
  th.lineMinLevelDb = num(o, "lineMinLevelDb", th.lineMinLevelDb);
  th.lineStage = num(o, "lineStage", th.lineStage ? 1 : 0) != 0;
  th.lineFollowers = static_cast<int>(num(o, "lineFollowers", th.lineFollowers));
  return th;
}

// Runs the band spectrum's framing and the detector over x; appends one row per candidate per
// frame: [t, then the HowlCandidate's kFloats fields in order].
struct HowlStream {
  features::BandSpectrum spectrum{48000.0};
  features::HowlDetector detector;
  double samples = 0;
  explicit HowlStream(const features::HowlThresholds& th) : detector(48000.0, features::BandSpectrum::kFft, features::BandSpectrum::kHop, th) {}
  void push(const float* x, size_t n, std::vector<float>* rows) {
    // One hop at a time, so every analysed frame is seen.
    for (size_t i = 0; i < n; i += features::BandSpectrum::kHop) {
      const size_t m = std::min<size_t>(features::BandSpectrum::kHop, n - i);
      samples += static_cast<double>(m);
      detector.feed(x + i, static_cast<int>(m));
      if (spectrum.push(x + i, m) == 0) continue;
      const int c = detector.analyse(spectrum.spectrum());
      const float t = static_cast<float>(samples / 48000.0);
      for (int k = 0; k < c; k++) {
        const features::HowlCandidate& h = detector.candidates()[k];
        const float row[1 + features::HowlDetector::kFloats] = {t, h.hz, h.levelDb, h.growthDbPerS, h.paprDb, h.phprDb, h.pnprDb, h.ipmp, h.ageFrames, h.fitR2, h.maxStepDb, h.harmonicGrowthDbPerS,
                                                                   h.lineHowl, h.lineGrowthDbPerS, h.lineResidualDb, h.lineBend, h.lineHzStd};
        rows->insert(rows->end(), row, row + 1 + features::HowlDetector::kFloats);
      }
    }
  }
};

// { blockSize, partitions, mu, lpcOrder, lpcUpdateS, regularisation } (each optional); refused
// with a RangeError when dsp::Afc::check says no.
dsp::AfcOptions afcOptionsOf(const Napi::Value& v) {
  dsp::AfcOptions a;
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), "afc options must be an object");
  const Napi::Object o = v.As<Napi::Object>();
  a.blockSize = static_cast<int>(num(o, "blockSize", a.blockSize));
  a.partitions = static_cast<int>(num(o, "partitions", a.partitions));
  a.mu = num(o, "mu", a.mu);
  a.lpcOrder = static_cast<int>(num(o, "lpcOrder", a.lpcOrder));
  a.lpcUpdateS = num(o, "lpcUpdateS", a.lpcUpdateS);
  a.regularisation = num(o, "regularisation", a.regularisation);
  if (const char* bad = dsp::Afc::check(a)) throw Napi::RangeError::New(v.Env(), std::string("afc: ") + bad);
  return a;
}

Napi::Float32Array packed(Napi::Env env, const std::vector<float>& v) {
  auto a = Napi::Float32Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a[i] = v[i];
  return a;
}

// howl(x48k: Float32Array, thresholds?) -> { frames, rows: Float32Array (1 + HowlDetector::kFloats floats a row) }
Napi::Value HowlOf(const Napi::CallbackInfo& info) {
  auto x = needSamples(info, 0);
  HowlStream s(thresholdsOf(info.Length() > 1 ? info[1] : info.Env().Undefined()));
  std::vector<float> rows;
  s.push(x.Data(), x.ElementLength(), &rows);
  auto o = Napi::Object::New(info.Env());
  o.Set("frames", Napi::Number::New(info.Env(), static_cast<double>(s.spectrum.frames())));
  o.Set("rows", packed(info.Env(), rows));
  return o;
}

// new FeedbackLoop({ gainDb, room: { size, absorption, speaker, mic, order, maxSeconds }, thresholds, tap })
// .run(src) -> { mic, speaker, pre, rows }; the detector reads the loudspeaker feed (tap "speaker",
// the default) or the feed before the notches (tap "pre", returned as pre: what a probing notch
// must be judged on); .setGainDb(db); .setNotch(i, hz, gainDb, q, enabled); .setShiftHz(hz);
// .criticalHz, .taps, .impulseResponse; with afc: {...} (afcOptionsOf) the canceller is on and
// .afcTaps(len) is its estimate of the path.
class FeedbackLoopWrap : public Napi::ObjectWrap<FeedbackLoopWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FeedbackLoop",
                       {InstanceMethod<&FeedbackLoopWrap::Run>("run"), InstanceMethod<&FeedbackLoopWrap::SetGainDb>("setGainDb"),
                        InstanceMethod<&FeedbackLoopWrap::SetNotch>("setNotch"), InstanceMethod<&FeedbackLoopWrap::SetShiftHz>("setShiftHz"),
                        InstanceAccessor<&FeedbackLoopWrap::CriticalHz>("criticalHz"), InstanceAccessor<&FeedbackLoopWrap::Taps>("taps"),
                        InstanceAccessor<&FeedbackLoopWrap::Ir>("impulseResponse"), InstanceMethod<&FeedbackLoopWrap::AfcTaps>("afcTaps")});
  }
  explicit FeedbackLoopWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FeedbackLoopWrap>(info) {
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "FeedbackLoop options must be an object");
    const Napi::Object o = info[0].As<Napi::Object>();
    const dsp::RoomSpec room = o.Get("room").IsObject() ? roomSpec(o.Get("room").As<Napi::Object>()) : dsp::RoomSpec{};
    loop_ = std::make_unique<dsp::AcousticLoop>(48000.0, room, num(o, "gainDb", 0));
    if (o.Has("afc") && !o.Get("afc").IsUndefined()) loop_->setAfc(afcOptionsOf(o.Get("afc")));
    stream_ = std::make_unique<HowlStream>(thresholdsOf(o.Has("thresholds") ? o.Get("thresholds") : info.Env().Undefined()));
    if (o.Has("tap") && !o.Get("tap").IsUndefined()) {
      const std::string tap = o.Get("tap").ToString().Utf8Value();
      if (tap != "speaker" && tap != "pre") throw Napi::RangeError::New(info.Env(), "tap must be \"speaker\" or \"pre\"");
      preTap_ = tap == "pre";
    }
  }

 private:
  Napi::Value Run(const Napi::CallbackInfo& info) {
    auto src = needSamples(info, 0);
    const size_t n = src.ElementLength();
    auto mic = Napi::Float32Array::New(info.Env(), n);
    auto spk = Napi::Float32Array::New(info.Env(), n);
    auto pre = preTap_ ? Napi::Float32Array::New(info.Env(), n) : Napi::Float32Array();
    loop_->process(src.Data(), mic.Data(), spk.Data(), static_cast<int>(n), preTap_ ? pre.Data() : nullptr);
    std::vector<float> rows;
    stream_->push(preTap_ ? pre.Data() : spk.Data(), n, &rows);
    auto o = Napi::Object::New(info.Env());
    o.Set("mic", mic);
    o.Set("speaker", spk);
    if (preTap_) o.Set("pre", pre);
    o.Set("rows", packed(info.Env(), rows));
    return o;
  }
  Napi::Value SetGainDb(const Napi::CallbackInfo& info) {
    loop_->setGainDb(info[0].As<Napi::Number>().DoubleValue());
    return info.Env().Undefined();
  }
  Napi::Value SetNotch(const Napi::CallbackInfo& info) {
    dsp::BandParams p;
    p.type = dsp::BandType::Peak;
    p.freqHz = info[1].As<Napi::Number>().DoubleValue();
    p.gainDb = info[2].As<Napi::Number>().DoubleValue();
    p.q = info[3].As<Napi::Number>().DoubleValue();
    p.enabled = info[4].ToBoolean().Value();
    loop_->setNotch(info[0].As<Napi::Number>().Int32Value(), p);
    return info.Env().Undefined();
  }
  Napi::Value SetShiftHz(const Napi::CallbackInfo& info) {
    loop_->setShiftHz(info[0].As<Napi::Number>().DoubleValue());
    return info.Env().Undefined();
  }
  Napi::Value CriticalHz(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), loop_->criticalHz()); }
  Napi::Value Taps(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), loop_->taps()); }
  Napi::Value Ir(const Napi::CallbackInfo& info) { return packed(info.Env(), loop_->impulseResponse()); }
  Napi::Value AfcTaps(const Napi::CallbackInfo& info) {
    if (!loop_->afc()) throw Napi::Error::New(info.Env(), "the loop has no canceller");
    auto out = Napi::Float32Array::New(info.Env(), info[0].As<Napi::Number>().Uint32Value());
    loop_->afc()->taps(out.Data(), static_cast<int>(out.ElementLength()));
    return out;
  }

  std::unique_ptr<dsp::AcousticLoop> loop_;
  std::unique_ptr<HowlStream> stream_;
  bool preTap_ = false;
};

// new FreqShift() (48 kHz): .setShiftHz(hz); .process(x) -> a new Float32Array (the stream
// continues across calls); .bypassed. Tests and benchmarks; the engine runs dsp::FreqShift itself.
class FreqShiftWrap : public Napi::ObjectWrap<FreqShiftWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FreqShift",
                       {InstanceMethod<&FreqShiftWrap::Process>("process"), InstanceMethod<&FreqShiftWrap::SetShiftHz>("setShiftHz"),
                        InstanceAccessor<&FreqShiftWrap::Bypassed>("bypassed")});
  }
  explicit FreqShiftWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FreqShiftWrap>(info) {}

 private:
  Napi::Value Process(const Napi::CallbackInfo& info) {
    auto x = needSamples(info, 0);
    auto y = Napi::Float32Array::New(info.Env(), x.ElementLength());
    std::copy(x.Data(), x.Data() + x.ElementLength(), y.Data());
    shift_.process(y.Data(), static_cast<int>(y.ElementLength()));
    return y;
  }
  Napi::Value SetShiftHz(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "shift must be a number (Hz)");
    shift_.setShiftHz(info[0].As<Napi::Number>().DoubleValue());
    return info.Env().Undefined();
  }
  Napi::Value Bypassed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), shift_.bypassed()); }

  dsp::FreqShift shift_{48000.0};
};

// new Afc({ blockSize, partitions, mu, lpcOrder, ... }) (48 kHz): .run(mic, u) -> the error (mic
// minus the estimate), the stream continuing across calls; .taps(len) -> the estimated path.
// Tests and benchmarks, open loop: u is given, not made from the error.
class AfcWrap : public Napi::ObjectWrap<AfcWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Afc", {InstanceMethod<&AfcWrap::Run>("run"), InstanceMethod<&AfcWrap::Taps>("taps")});
  }
  explicit AfcWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AfcWrap>(info) {
    afc_ = std::make_unique<dsp::Afc>(48000.0, afcOptionsOf(info.Length() > 0 ? info[0] : info.Env().Undefined()));
  }

 private:
  Napi::Value Run(const Napi::CallbackInfo& info) {
    auto y = needSamples(info, 0);
    auto u = needSamples(info, 1);
    if (u.ElementLength() != y.ElementLength()) throw Napi::RangeError::New(info.Env(), "mic and loudspeaker must be the same length");
    const int n = static_cast<int>(y.ElementLength());
    auto e = Napi::Float32Array::New(info.Env(), y.ElementLength());
    std::copy(y.Data(), y.Data() + n, e.Data());
    for (int i = 0; i < n;) {
      const int m = std::min(n - i, afc_->untilBlockEnd());
      afc_->cancel(e.Data() + i, m);
      afc_->feed(u.Data() + i, m);
      i += m;
    }
    return e;
  }
  Napi::Value Taps(const Napi::CallbackInfo& info) {
    auto out = Napi::Float32Array::New(info.Env(), info[0].As<Napi::Number>().Uint32Value());
    afc_->taps(out.Data(), static_cast<int>(out.ElementLength()));
    return out;
  }
  std::unique_ptr<dsp::Afc> afc_;
};

}  // namespace

void InitFeedback(Napi::Env env, Napi::Object features) {
  features.Set("howl", Napi::Function::New(env, HowlOf, "howl"));
  features.Set("howlFloats", Napi::Number::New(env, features::HowlDetector::kFloats));
  // The PNPR the engine gives a shifted output's detector; SHIFTED_HOWL_THRESHOLDS must say the same (tests/feedback/shift-aware.test.ts).
  features.Set("shiftedPnprDb", Napi::Number::New(env, features::kShiftedPnprDb));
  features.Set("FeedbackLoop", FeedbackLoopWrap::Define(env));
  features.Set("FreqShift", FreqShiftWrap::Define(env));
  features.Set("Afc", AfcWrap::Define(env));
}

}  // namespace binding
