#!/usr/bin/python3
"""Trains and exports the appliance's own models, reproducibly (fixed seeds), on data it generates.

  /usr/bin/python3 models/train.py                 # generate, train, export, write manifests (~1-2 min)
  /usr/bin/python3 models/train.py --heldout DIR   # only write the held-out sets (for models/confusion.ts)
  /usr/bin/python3 models/train.py --vad-set DIR   # only write the VAD evaluation audio + labels
  /usr/bin/python3 models/train.py --vad-families DIR   # per family group: VAD evaluation (240 s) and
                                                   # VAD head training (1200 s) audio + labels

Models:
  crowd_state    log-mel patch [N,50,40] -> probs [N,5] (silence, speech, music, applause, feedback)
  eq_recommender band spectrum [N,2,32] (mean dB, spread dB) -> gains [N,8] dB, confidence [N,1]

Data (all generated here): speech from espeak-ng, music-like harmonic material with drums, applause
and cheering from shaped noise bursts, feedback as a growing narrowband tone over programme,
silence as low-level room noise and hum; mixtures of a primary and a quieter secondary source at
several levels. Held-out sets use other seeds, other sentences and other voices.
Only numpy and python3-onnx are needed (no torch): the networks are small MLPs trained with Adam.
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import time
import wave

import numpy as np

sys.dont_write_bytecode = True

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crowd as C  # noqa: E402
import families as FA  # noqa: E402
import features as F  # noqa: E402
import labels as L  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = ["silence", "speech", "music", "applause", "feedback"]
CLIP = (F.PATCH_FRAMES - 1) * F.HOP + F.FRAME  # samples per classifier patch
SR = F.SR

WORDS = ("the a one two stage sound check mic level band crowd show tonight please thank you "
         "hello everybody welcome music loud quiet left right front back song next time we are "
         "going to play for all of here again now let me hear say yeah come on great night city "
         "people hands up singer guitar drums bass keys light red blue green is this working").split()
TRAIN_VOICES = ["en-us", "en", "en-us+f3", "en+m3", "en-gb-scotland", "en-us+f2", "en+m7", "en-029"]
HELDOUT_VOICES = ["en-gb-x-rp+f4", "en-us+m5", "en-gb-x-gbclan"]


def db(x):
    return 10.0 ** (x / 20.0)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def set_level(x, level_db):
    return x * (db(level_db) / rms(x))


def resample(x, sr_in, sr_out):
    n_out = int(round(len(x) * sr_out / sr_in))
    X = np.fft.rfft(x)
    keep = n_out // 2 + 1
    Y = np.zeros(keep, dtype=complex)
    m = min(keep, len(X))
    Y[:m] = X[:m]
    return np.fft.irfft(Y, n=n_out) * (n_out / len(x))


def espeak(text, voice, speed, pitch):
    out = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                         check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(out)) as w:
        sr = w.getframerate()
        raw = w.readframes(w.getnframes())
    x = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    return resample(x, sr, SR)


def sentences(rng, n):
    return [" ".join(rng.choice(WORDS, size=rng.integers(5, 12))) for _ in range(n)]


def speech_bank(rng, n, voices):
    bank = []
    for text in sentences(rng, n):
        x = espeak(text, str(rng.choice(voices)), int(rng.integers(120, 200)), int(rng.integers(25, 75)))
        bank.append(x / (np.max(np.abs(x)) + 1e-9))
    return bank


def pink(rng, n):
    X = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(X))
    f[0] = 1
    return np.fft.irfft(X / np.sqrt(f), n=n)


def bandpass_noise(rng, n, lo, hi):
    X = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    X[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(X, n=n)


def tilt(rng, x, max_db_per_oct=3.0):
    """Random spectral tilt around 1 kHz: a different microphone or room each time."""
    X = np.fft.rfft(x)
    f = np.maximum(np.fft.rfftfreq(len(x), 1 / SR), 20.0)
    slope = rng.uniform(-max_db_per_oct, max_db_per_oct)
    return np.fft.irfft(X * db(slope * np.log2(f / 1000.0)), n=len(x))


# ---- sources, each returning `n` samples at 16 kHz with arbitrary level ----

def gen_silence(rng, n):
    x = pink(rng, n) if rng.random() < 0.6 else rng.standard_normal(n)
    x = set_level(x, rng.uniform(-80, -55))
    if rng.random() < 0.4:
        t = np.arange(n) / SR
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        hum = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 5))
        x = x + set_level(hum, rng.uniform(-75, -58))
    return x


def gen_speech(rng, n, bank):
    for _ in range(20):
        u = bank[int(rng.integers(len(bank)))]
        if len(u) <= n:
            u = np.concatenate([u, np.zeros(n - len(u) + 1)])
        off = int(rng.integers(0, len(u) - n))
        x = u[off:off + n]
        if rms(x) > 0.25 * rms(u):
            return x.copy()
    return x.copy()


def note(rng, n, f0, start, dur, nharm):
    t = np.arange(n) / SR
    env = np.zeros(n)
    a = int(0.01 * SR + rng.integers(0, int(0.03 * SR)))
    s0, s1 = int(start), int(min(n, start + dur))
    if s1 <= s0:
        return env
    seg = np.arange(s1 - s0)
    env[s0:s1] = np.minimum(1.0, seg / max(a, 1)) * np.exp(-seg / (SR * rng.uniform(0.15, 1.5)))
    vib = 1 + 0.004 * np.sin(2 * np.pi * rng.uniform(4, 6) * t) * (rng.random() < 0.5)
    phase = 2 * np.pi * f0 * np.cumsum(vib) / SR
    decay = rng.uniform(0.6, 1.6)
    sig = sum(np.sin(k * phase + rng.uniform(0, 6.3)) / k ** decay for k in range(1, nharm + 1) if k * f0 < 7500)
    return env * sig


def gen_music(rng, n):
    x = np.zeros(n)
    bpm = rng.uniform(80, 160)
    beat = 60.0 / bpm * SR
    root = 55.0 * 2 ** (rng.integers(0, 24) / 12)
    scale = [0, 2, 4, 5, 7, 9, 11, 12, 14, 16]
    pos = -rng.uniform(0, beat)
    while pos < n:
        chord = rng.choice(scale, size=int(rng.integers(1, 4)), replace=False)
        octave = 2 ** int(rng.integers(0, 3))
        for st in chord:
            x += note(rng, n, root * octave * 2 ** (st / 12), max(pos, 0), beat * rng.choice([0.5, 1, 2]), int(rng.integers(3, 10)))
        pos += beat * rng.choice([0.5, 1.0])
    if rng.random() < 0.6:  # drums
        t = np.arange(n)
        kick_t = -rng.uniform(0, beat)
        while kick_t < n:
            k0 = int(max(kick_t, 0))
            seg = t[k0:] - k0
            f = 50 + 100 * np.exp(-seg / (0.03 * SR))
            x[k0:] += 0.8 * np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-seg / (0.12 * SR))
            h0 = int(kick_t + beat / 2)
            if 0 <= h0 < n:
                hh = bandpass_noise(rng, n - h0, 5000, 7900)
                x[h0:] += 0.3 * hh * np.exp(-np.arange(n - h0) / (0.02 * SR)) / (rms(hh) + 1e-9)
            kick_t += beat
    return x


def gen_applause(rng, n):
    x = np.zeros(n)
    rate = rng.uniform(30, 300)  # claps per second
    groups = 4
    for g in range(groups):
        imp = np.zeros(n)
        count = rng.poisson(rate / groups * n / SR)
        for p in rng.integers(0, n, size=count):
            L = int(rng.uniform(0.003, 0.015) * SR)
            L = min(L, n - p)
            imp[p:p + L] += rng.standard_normal(L) * np.exp(-np.arange(L) / (L / 4)) * rng.uniform(0.3, 1)
        lo = rng.uniform(300, 1500)
        X = np.fft.rfft(imp)
        f = np.fft.rfftfreq(n, 1 / SR)
        shape = np.exp(-0.5 * (np.log2(np.maximum(f, 1) / (lo * 2)) / 0.9) ** 2)
        x += np.fft.irfft(X * shape, n=n)
    if rng.random() < 0.5:  # cheering: a crowd of formant-shaped, slowly modulated voices
        t = np.arange(n) / SR
        cheer = np.zeros(n)
        for _ in range(int(rng.integers(3, 9))):
            f0 = rng.uniform(180, 450) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t + rng.uniform(0, 6)))
            ph = 2 * np.pi * np.cumsum(f0) / SR
            v = sum(np.sin(k * ph) * np.exp(-0.5 * ((k * 300 - rng.uniform(500, 900)) / 400) ** 2) for k in range(1, 12))
            cheer += v * (1 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 4) * t + rng.uniform(0, 6)))
        cheer += 0.5 * bandpass_noise(rng, n, 300, 4000) * rms(cheer) / 0.2
        x = x / (rms(x) + 1e-9) + rng.uniform(0.3, 1.0) * cheer / (rms(cheer) + 1e-9)
    return x


def gen_feedback(rng, n, bank, level):
    """A growing narrowband tone (a ringing loop) over some programme."""
    bg_kind = rng.integers(0, 4)
    bg = [lambda: gen_music(rng, n), lambda: gen_speech(rng, n, bank), lambda: pink(rng, n),
          lambda: gen_silence(rng, n)][bg_kind]()
    bg = set_level(bg, level - rng.uniform(0, 10)) if bg_kind < 3 else bg
    t = np.arange(n) / SR
    f = np.exp(rng.uniform(np.log(250), np.log(6500)))
    growth = rng.uniform(20, 80)  # dB per second
    end_db = level + rng.uniform(-6, 12)
    amp = db(end_db - growth * (t[-1] - t)) * np.sqrt(2)
    tone = amp * np.sin(2 * np.pi * f * t * (1 + 0.0005 * np.sin(2 * np.pi * 5 * t)) + rng.uniform(0, 6.3))
    return bg + tone


def make_clip(rng, label, bank):
    n = CLIP
    level = rng.uniform(-42, -10)
    if label == 0:
        return gen_silence(rng, n)
    if label == 4:
        return np.clip(gen_feedback(rng, n, bank, level), -1, 1)
    x = [None, lambda: gen_speech(rng, n, bank), lambda: gen_music(rng, n), lambda: gen_applause(rng, n)][label]()
    x = set_level(tilt(rng, x), level)
    if rng.random() < 0.5:  # a quieter secondary source from another (non-feedback) class
        other = int(rng.choice([c for c in (1, 2, 3) if c != label]))
        y = [None, lambda: gen_speech(rng, n, bank), lambda: gen_music(rng, n), lambda: gen_applause(rng, n)][other]()
        x = x + set_level(y, level - rng.uniform(10, 25))
    x = x + gen_silence(rng, n)
    return np.clip(x, -1, 1)


def make_set(seed, per_class, voices, n_sentences):
    rng = np.random.default_rng(seed)
    bank = speech_bank(rng, n_sentences, voices)
    X = np.zeros((per_class * len(CLASSES), F.PATCH_FRAMES, F.NMEL), dtype=np.float32)
    y = np.zeros(per_class * len(CLASSES), dtype=np.int64)
    i = 0
    for c in range(len(CLASSES)):
        for _ in range(per_class):
            X[i] = F.log_mel(make_clip(rng, c, bank))[:F.PATCH_FRAMES]
            y[i] = c
            i += 1
    return X, y


# ---- the classifier's summary features; the ONNX graph computes exactly these ----

def summarise(X):
    X = X.astype(np.float64)
    half = F.PATCH_FRAMES // 2
    mean = X.mean(axis=1)
    std = np.sqrt(((X - X.mean(axis=1, keepdims=True)) ** 2).mean(axis=1) + 1e-6)
    delta = X[:, half:].mean(axis=1) - X[:, :half].mean(axis=1)
    peak = X.max(axis=2) - X.mean(axis=2)  # [N, T]: how narrowband each frame is
    pk = np.stack([peak.mean(axis=1), peak[:, half:].mean(axis=1) - peak[:, :half].mean(axis=1)], axis=1)
    return np.concatenate([mean, std, delta, pk], axis=1)


# ---- a small MLP with Adam, in numpy ----

def init_mlp(rng, sizes):
    return [(rng.standard_normal((a, b)) * np.sqrt(2.0 / a), np.zeros(b)) for a, b in zip(sizes[:-1], sizes[1:])]


def forward(params, x):
    acts = [x]
    for i, (W, b) in enumerate(params):
        x = x @ W + b
        if i < len(params) - 1:
            x = np.maximum(x, 0)
        acts.append(x)
    return acts


def backward(params, acts, grad_out, l2):
    grads = []
    g = grad_out
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        a = acts[i]
        grads.append((a.T @ g + l2 * W, g.sum(axis=0)))
        if i > 0:
            g = (g @ W.T) * (acts[i] > 0)
    return grads[::-1]


def adam_train(rng, params, Xtr, loss_grad, epochs, batch=128, lr=2e-3, l2=1e-4):
    m = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    v = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    step = 0
    for ep in range(epochs):
        order = rng.permutation(len(Xtr))
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            acts = forward(params, Xtr[idx])
            g = loss_grad(acts[-1], idx) / len(idx)
            grads = backward(params, acts, g, l2)
            step += 1
            rate = lr * (0.5 * (1 + np.cos(np.pi * ep / epochs)))
            new = []
            for j, ((W, b), (gW, gb)) in enumerate(zip(params, grads)):
                mW, mb = m[j]
                vW, vb = v[j]
                mW = 0.9 * mW + 0.1 * gW
                mb = 0.9 * mb + 0.1 * gb
                vW = 0.999 * vW + 0.001 * gW ** 2
                vb = 0.999 * vb + 0.001 * gb ** 2
                m[j], v[j] = (mW, mb), (vW, vb)
                c1, c2 = 1 - 0.9 ** step, 1 - 0.999 ** step
                new.append((W - rate * (mW / c1) / (np.sqrt(vW / c2) + 1e-8), b - rate * (mb / c1) / (np.sqrt(vb / c2) + 1e-8)))
            params[:] = new
    return params


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confusion(y, pred, k):
    cm = np.zeros((k, k), dtype=int)
    for a, b in zip(y, pred):
        cm[a, b] += 1
    return cm


def print_confusion(title, cm, labels):
    print(title)
    w = max(len(s) for s in labels) + 2
    print(" " * w + "".join(f"{s[:8]:>9}" for s in labels) + "   (rows: truth, cols: predicted)")
    for i, s in enumerate(labels):
        print(f"{s:<{w}}" + "".join(f"{v:>9d}" for v in cm[i]))


# ---- EQ recommender data: band spectra of programme through a random system response ----

def eq_target_curve():
    """Target long-term PSD per band (dB, relative): pink (-3 dB/oct) with a gentle extra roll-off
    of 1.5 dB/oct above 4 kHz, a common live-sound house curve."""
    c = F.spec_band_centres()
    oct_ = np.log2(c / 1000.0)
    return -3.0 * oct_ - 1.5 * np.maximum(0, np.log2(c / 4000.0))


def eq_band_groups():
    """Which of the 32 spectrum bands fall in each recommender octave band."""
    c = F.spec_band_centres()
    return [np.where((c >= f / np.sqrt(2)) & (c < f * np.sqrt(2)))[0] for f in F.EQ_CENTRES]


EQ_FRAMES_EFFECTIVE = 20.0  # independent frames in the averaging window (about 3 s)


def eq_truth(S):
    """Recommended gains (dB) for a true long-term spectrum S [N,32]: bring each octave toward the
    target, level-aligned over 250 Hz-4 kHz so loudness does not change, limited to +/-9 dB."""
    D = S - eq_target_curve()[None, :]
    groups = eq_band_groups()
    Dk = np.stack([D[:, g].mean(axis=1) for g in groups], axis=1)
    align = Dk[:, 2:7].mean(axis=1, keepdims=True)
    return np.clip(-(Dk - align), -9, 9)


def make_eq_set(seed, n):
    rng = np.random.default_rng(seed)
    c = F.spec_band_centres()
    lo2 = np.log2(c)
    S = np.tile(eq_target_curve(), (n, 1))
    for i in range(n):
        S[i] += rng.uniform(-3, 3) * np.log2(c / 1000.0) / 3  # tilt
        for _ in range(int(rng.integers(1, 5))):  # resonances and dips of the room/PA
            S[i] += rng.uniform(-10, 10) * np.exp(-0.5 * ((lo2 - rng.uniform(5, 14)) / rng.uniform(0.2, 1.2)) ** 2)
        if rng.random() < 0.4:  # low-end roll-off of small boxes
            S[i] -= 12 * np.maximum(0, np.log2(rng.uniform(60, 200) / c))
    S += rng.uniform(-60, -15, size=(n, 1))  # programme level
    spread = rng.uniform(1, 14, size=(n, 1)) * rng.uniform(0.7, 1.3, size=(n, F.SPEC_BANDS))
    measured = S + rng.standard_normal(S.shape) * spread / np.sqrt(EQ_FRAMES_EFFECTIVE)
    X = np.stack([measured, spread], axis=1).astype(np.float32)  # [N,2,32]
    gains = eq_truth(S)
    err = spread.mean(axis=1) / np.sqrt(EQ_FRAMES_EFFECTIVE)
    conf = np.clip(1 - err / 3.0, 0, 1)[:, None]
    return X, gains.astype(np.float32), conf.astype(np.float32)


def eq_inputs(X):
    X = X.astype(np.float64)
    m = X[:, 0, :] - X[:, 0, :].mean(axis=1, keepdims=True)
    return np.concatenate([m, X[:, 1, :]], axis=1)


# ---- ONNX export ----

def export_classifier(path, params, mu, sd):
    import onnx
    from onnx import helper as h, TensorProto as T, numpy_helper as nh
    half = F.PATCH_FRAMES // 2
    init = [nh.from_array(np.array(v, dtype=np.int64), name) for name, v in
            [("s0", [0]), ("sh", [half]), ("se", [F.PATCH_FRAMES]), ("ax1", [1])]]
    init += [nh.from_array(np.array(1e-6, dtype=np.float32), "eps"),
             nh.from_array(mu.astype(np.float32), "mu"), nh.from_array(sd.astype(np.float32), "sd")]
    nodes = [
        h.make_node("ReduceMean", ["logmel"], ["mean"], axes=[1], keepdims=0),
        h.make_node("ReduceMean", ["logmel"], ["mean_k"], axes=[1], keepdims=1),
        h.make_node("Sub", ["logmel", "mean_k"], ["dev"]),
        h.make_node("Mul", ["dev", "dev"], ["dev2"]),
        h.make_node("ReduceMean", ["dev2"], ["var"], axes=[1], keepdims=0),
        h.make_node("Add", ["var", "eps"], ["var_e"]),
        h.make_node("Sqrt", ["var_e"], ["std"]),
        h.make_node("Slice", ["logmel", "s0", "sh", "ax1"], ["first"]),
        h.make_node("Slice", ["logmel", "sh", "se", "ax1"], ["last"]),
        h.make_node("ReduceMean", ["first"], ["mfirst"], axes=[1], keepdims=0),
        h.make_node("ReduceMean", ["last"], ["mlast"], axes=[1], keepdims=0),
        h.make_node("Sub", ["mlast", "mfirst"], ["delta"]),
        h.make_node("ReduceMax", ["logmel"], ["fmax"], axes=[2], keepdims=0),
        h.make_node("ReduceMean", ["logmel"], ["fmean"], axes=[2], keepdims=0),
        h.make_node("Sub", ["fmax", "fmean"], ["peak"]),  # [N,T]
        h.make_node("ReduceMean", ["peak"], ["pk_mean"], axes=[1], keepdims=1),
        h.make_node("Slice", ["peak", "s0", "sh", "ax1"], ["pfirst"]),
        h.make_node("Slice", ["peak", "sh", "se", "ax1"], ["plast"]),
        h.make_node("ReduceMean", ["pfirst"], ["pmf"], axes=[1], keepdims=1),
        h.make_node("ReduceMean", ["plast"], ["pml"], axes=[1], keepdims=1),
        h.make_node("Sub", ["pml", "pmf"], ["pk_delta"]),
        h.make_node("Concat", ["mean", "std", "delta", "pk_mean", "pk_delta"], ["feat"], axis=1),
        h.make_node("Sub", ["feat", "mu"], ["fc"]),
        h.make_node("Div", ["fc", "sd"], ["z0"]),
    ]
    x = "z0"
    for i, (W, b) in enumerate(params):
        init += [nh.from_array(W.astype(np.float32), f"W{i}"), nh.from_array(b.astype(np.float32), f"b{i}")]
        out = f"h{i}" if i < len(params) - 1 else "logits"
        nodes.append(h.make_node("Gemm", [x, f"W{i}", f"b{i}"], [out]))
        if i < len(params) - 1:
            nodes.append(h.make_node("Relu", [out], [out + "r"]))
            out += "r"
        x = out
    nodes.append(h.make_node("Softmax", ["logits"], ["probs"], axis=1))
    g = h.make_graph(nodes, "crowd_state",
                     [h.make_tensor_value_info("logmel", T.FLOAT, ["N", F.PATCH_FRAMES, F.NMEL])],
                     [h.make_tensor_value_info("probs", T.FLOAT, ["N", len(CLASSES)])], init)
    save_model(g, path, "crowd_state")


def export_eq(path, params, mu, sd):
    from onnx import helper as h, TensorProto as T, numpy_helper as nh
    init = [nh.from_array(np.array(v, dtype=np.int64), name) for name, v in
            [("r0", [0]), ("r1", [1]), ("r2", [2]), ("ax1", [1]), ("g0", [0]), ("g8", [8]), ("g9", [9])]]
    init += [nh.from_array(mu.astype(np.float32), "mu"), nh.from_array(sd.astype(np.float32), "sd"),
             nh.from_array(np.array(-9, dtype=np.float32), "lo"), nh.from_array(np.array(9, dtype=np.float32), "hi")]
    nodes = [
        h.make_node("Slice", ["spectrum", "r0", "r1", "ax1"], ["m3"]),
        h.make_node("Slice", ["spectrum", "r1", "r2", "ax1"], ["s3"]),
        h.make_node("Squeeze", ["m3", "ax1"], ["m"]),
        h.make_node("Squeeze", ["s3", "ax1"], ["s"]),
        h.make_node("ReduceMean", ["m"], ["mm"], axes=[1], keepdims=1),
        h.make_node("Sub", ["m", "mm"], ["mc"]),
        h.make_node("Concat", ["mc", "s"], ["feat"], axis=1),
        h.make_node("Sub", ["feat", "mu"], ["fc"]),
        h.make_node("Div", ["fc", "sd"], ["z0"]),
    ]
    x = "z0"
    for i, (W, b) in enumerate(params):
        init += [nh.from_array(W.astype(np.float32), f"W{i}"), nh.from_array(b.astype(np.float32), f"b{i}")]
        out = f"h{i}" if i < len(params) - 1 else "raw"
        nodes.append(h.make_node("Gemm", [x, f"W{i}", f"b{i}"], [out]))
        if i < len(params) - 1:
            nodes.append(h.make_node("Relu", [out], [out + "r"]))
            out += "r"
        x = out
    nodes += [
        h.make_node("Slice", ["raw", "g0", "g8", "ax1"], ["graw"]),
        h.make_node("Clip", ["graw", "lo", "hi"], ["gains"]),
        h.make_node("Slice", ["raw", "g8", "g9", "ax1"], ["craw"]),
        h.make_node("Sigmoid", ["craw"], ["confidence"]),
    ]
    g = h.make_graph(nodes, "eq_recommender",
                     [h.make_tensor_value_info("spectrum", T.FLOAT, ["N", 2, F.SPEC_BANDS])],
                     [h.make_tensor_value_info("gains", T.FLOAT, ["N", len(F.EQ_CENTRES)]),
                      h.make_tensor_value_info("confidence", T.FLOAT, ["N", 1])], init)
    save_model(g, path, "eq_recommender")


def save_model(graph, path, name):
    import onnx
    from onnx import helper as h
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)], producer_name="stage-firmware/models/train.py")
    model.ir_version = 7
    model.doc_string = name
    onnx.checker.check_model(model)
    # Deterministic bytes: same seeds, same file, same hash.
    with open(path, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# Seeds: training and held-out sets never share a seed, sentences or voices.
SEED_TRAIN, SEED_HELDOUT, SEED_INIT = 1001, 2002, 3003
SEED_EQ_TRAIN, SEED_EQ_HELDOUT = 4004, 5005
SEED_VAD = 6006
PER_CLASS_TRAIN, PER_CLASS_HELDOUT = 1200, 300


def classifier_heldout():
    return make_set(SEED_HELDOUT, PER_CLASS_HELDOUT, HELDOUT_VOICES, 30)


def write_vad_set(out_dir, seconds=180):
    """Alternating segments of espeak-ng speech (held-out voices), music, applause, silence and
    noise, written as 16 kHz mono float32 raw + a JSON of the true speech intervals."""
    rng = np.random.default_rng(SEED_VAD)
    bank = speech_bank(rng, 40, HELDOUT_VOICES)
    parts, speech, t = [], [], 0
    while t < seconds * SR:
        kind = rng.choice(["speech", "speech", "music", "applause", "silence", "noise"])
        level = rng.uniform(-35, -8)
        if kind == "speech":
            u = bank[int(rng.integers(len(bank)))]
            # Trim espeak's own leading/trailing silence so the labels are honest.
            active = np.where(np.abs(u) > 0.02)[0]
            u = u[active[0]:active[-1] + 1]
            x = set_level(u, level)
            if rng.random() < 0.6:  # over a quieter bed of music or applause, as on a stage
                bed = gen_music(rng, len(x)) if rng.random() < 0.5 else gen_applause(rng, len(x))
                x = x + set_level(bed, level - rng.uniform(6, 20))
            speech.append([t / SR, (t + len(x)) / SR])
        else:
            n = int(rng.uniform(1.0, 4.0) * SR)
            x = {"music": lambda: set_level(gen_music(rng, n), level),
                 "applause": lambda: set_level(gen_applause(rng, n), level),
                 "silence": lambda: gen_silence(rng, n),
                 "noise": lambda: set_level(pink(rng, n), level - 10)}[str(kind)]()
        x = x + gen_silence(rng, len(x))
        parts.append(x)
        t += len(x)
    audio = np.clip(np.concatenate(parts), -1, 1).astype(np.float32)
    os.makedirs(out_dir, exist_ok=True)
    audio.tofile(os.path.join(out_dir, "vad_eval.f32"))
    write_json(os.path.join(out_dir, "vad_eval.json"), {"sampleRate": SR, "speech": speech, "seed": SEED_VAD})


def write_heldout(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    X, y = classifier_heldout()
    X.tofile(os.path.join(out_dir, "crowd_state_x.f32"))
    y.astype(np.int32).tofile(os.path.join(out_dir, "crowd_state_y.i32"))
    Xe, ge, ce = make_eq_set(SEED_EQ_HELDOUT, 2000)
    Xe.tofile(os.path.join(out_dir, "eq_x.f32"))
    ge.tofile(os.path.join(out_dir, "eq_gains.f32"))
    ce.tofile(os.path.join(out_dir, "eq_conf.f32"))
    write_json(os.path.join(out_dir, "heldout.json"), {"crowd_state": int(len(y)), "eq": 2000, "classes": CLASSES})


def golden_logmel():
    """A deterministic test signal the native extractor must reproduce (tests/inference)."""
    n = 4000
    t = np.arange(n) / SR
    x = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.25 * np.sin(2 * np.pi * 3000 * t) + 0.1 * np.sin(2 * np.pi * 97 * t)
    return {"signal": "0.5 sin(2pi 440 t) + 0.25 sin(2pi 3000 t) + 0.1 sin(2pi 97 t), t = n/16000, n < 4000",
            "frames": np.round(F.log_mel(x), 5).tolist()}


# ---- crowd state from independent families (issue 13): leave-one-family-out, then ship ----

PER_CLASS_FAMILY = 240
SEED_FAMILY = 11000
HIDDEN = [64, 32]
EPOCHS = 60


def family_sets():
    return {g: FA.make_group_set(g, PER_CLASS_FAMILY, SEED_FAMILY) for g in FA.GROUPS}


def augment(rng, X, y):
    """Level and channel augmentation on the log-mel patches: a gain (a constant in log power)
    and a gentle random tilt across the mel bands (another microphone or PA)."""
    gain = rng.uniform(-2.0, 2.0, size=(len(X), 1, 1)) * (y[:, None, None] != 0)
    tilt = rng.uniform(-0.8, 0.8, size=(len(X), 1, 1)) * np.linspace(-1, 1, F.NMEL)[None, None, :]
    return np.maximum(X + gain + tilt, np.log(F.LOG_FLOOR)).astype(np.float32)


def fit_crowd(rng, X, y, params=None, mu=None, sd=None, epochs=EPOCHS, lr=2e-3):
    Xa = np.concatenate([X, augment(rng, X, y)])
    ya = np.concatenate([y, y])
    Fx = C.summarise(Xa)
    if mu is None:
        mu, sd = Fx.mean(axis=0), Fx.std(axis=0) + 1e-6
    Z = (Fx - mu) / sd
    if params is None:
        params = init_mlp(rng, [Z.shape[1], *HIDDEN, len(CLASSES)])
    onehot = np.eye(len(CLASSES))[ya]
    counts = np.bincount(ya, minlength=len(CLASSES)).astype(float)
    weight = (counts.sum() / (len(CLASSES) * np.maximum(counts, 1)))[ya][:, None]
    adam_train(rng, params, Z, lambda out, idx: (softmax(out) - onehot[idx]) * weight[idx], epochs=epochs, lr=lr, l2=1e-3)
    return params, mu, sd


def predict_crowd(params, mu, sd, X):
    return softmax(forward(params, (C.summarise(X) - mu) / sd)[-1])


def crowd_lofo(sets, verbose=True):
    """Train on two groups, test on the third; per family (= per left-out group) scores."""
    out = {}
    for g in FA.GROUPS:
        rng = np.random.default_rng(SEED_INIT)
        Xtr = np.concatenate([sets[o][0] for o in FA.GROUPS if o != g])
        ytr = np.concatenate([sets[o][1] for o in FA.GROUPS if o != g])
        params, mu, sd = fit_crowd(rng, Xtr, ytr)
        pred = predict_crowd(params, mu, sd, sets[g][0]).argmax(axis=1)
        sc = C.scores(sets[g][1], pred)
        out[g] = {"trainedOn": [o for o in FA.GROUPS if o != g], "model": (params, mu, sd), **sc}
        if verbose:
            print(f"left out {g}: macro-F1 {sc['macroF1']:.3f}, alarm recall {sc['alarmRecall']:.3f} precision {sc['alarmPrecision']:.3f}, "
                  + ", ".join(f"{c} {v:.2f}" for c, v in sc["f1"].items()))
            print_confusion(f"  confusion, family group {g} left out", np.array(sc["confusion"]), CLASSES)
    return out


def write_fixture(path_prefix, X, y, per_class=16):
    """A small fixed held-out set for tests: log-mel patches quantised to int16 (1/1000)."""
    idx = np.concatenate([np.where(y == c)[0][:per_class] for c in range(len(CLASSES))])
    q = np.round(X[idx] * 1000).astype("<i2")
    q.tofile(path_prefix + ".i16")
    return (q.astype(np.float32) / 1000), y[idx]


def crowd_manifest(version, file, lofo, extra):
    worst = min(lofo, key=lambda g: lofo[g]["macroF1"])
    w = lofo[worst]
    return {
        "name": "crowd-state", "version": version, "file": file,
        "sha256": sha256(os.path.join(HERE, file)),
        "inputs": [{"name": "logmel", "type": "float32", "shape": [-1, F.PATCH_FRAMES, F.NMEL]}],
        "outputs": [{"name": "probs", "type": "float32", "shape": [-1, len(CLASSES)]}],
        "classes": CLASSES, "sampleRate": SR, "latencyBudgetMs": 20, "minConfidence": 0.6,
        "features": {"kind": "log-mel", "frameSamples": F.FRAME, "hopSamples": F.HOP, "fft": F.NFFT,
                     "mels": F.NMEL, "fminHz": F.FMIN, "fmaxHz": F.FMAX, "patchFrames": F.PATCH_FRAMES,
                     "summary": "in the graph: level, level-free spectral shape, per-band std, growth and flux, frame peakiness and level spread (models/crowd.py)"},
        "heldout": {"set": f"leave-one-family-out, worst family group {worst} (trained on {'+'.join(w['trainedOn'])}), {w['clips']} clips",
                    "accuracy": w["accuracy"], "macroF1": w["macroF1"], "confusion": w["confusion"]},
        **extra,
    }


def data_card(lofo, fixture):
    return {
        "families": {g: FA.SOURCES[g] for g in FA.GROUPS},
        "counts": {"perClassPerFamily": PER_CLASS_FAMILY, "classes": CLASSES, "families": len(FA.GROUPS),
                   "clips": PER_CLASS_FAMILY * len(CLASSES) * len(FA.GROUPS), "clipSeconds": round(FA.CLIP / SR, 3)},
        "placement": "image-source RIRs (16 shoebox rooms per family group, RT60 0.2-1.4 s; 20% close-miked), microphone band limits "
                     "(HP 40-200 Hz, LP 3.5-7.9 kHz, tilt, presence peak/dip), music and applause half the time through PA band limits "
                     "(HP 40-150 Hz, LP 5-7.9 kHz), levels -45..-6 dBFS (silence -88..-55), "
                     "half mixed with a second source 8-25 dB down, the family's noise floor at -90..-62 dBFS",
        "feedback": "mic -> gain -> PA (band-limited, clipping) -> room RIR -> mic, simulated in 4 ms blocks; loop gain 0.5-4 dB over 1 "
                    "at the in-phase peak; clips where the howl is 6 dB under to 15 dB over the programme",
        "evaluation": "leave-one-family-out: train on two family groups, test on the third (no sample set, voice, noise model or room shared)",
        "perFamily": {g: {k: v for k, v in lofo[g].items() if k != "model"} for g in FA.GROUPS},
        "worstFamily": min(lofo, key=lambda g: lofo[g]["macroF1"]),
        "fixture": fixture,
        "licences": "see families: every source is from a Debian package; licences as stated in /usr/share/doc/<package>/copyright",
    }


def train_crowd(t0):
    sets = family_sets()
    print(f"family sets ready in {time.time() - t0:.0f} s")
    lofo = crowd_lofo(sets)
    worst = min(lofo, key=lambda g: lofo[g]["macroF1"])
    # The fold model without the worst family, and a small fixed set of that family: a held-out
    # evaluation a user (and tests/models/datacard.test.ts) can run through the firmware.
    fx = os.path.join(HERE, "fixtures")
    os.makedirs(fx, exist_ok=True)
    fix_x, fix_y = write_fixture(os.path.join(fx, "crowd_family_heldout"), sets[worst][0], sets[worst][1])
    fold = lofo[worst]["model"]
    fix_scores = C.scores(fix_y, predict_crowd(*fold, fix_x).argmax(axis=1))
    C.export(os.path.join(fx, "crowd_state_heldout.onnx"), fold[0], fold[1], fold[2], save_model)
    fixture = {"family": worst, "model": "fixtures/crowd_state_heldout.onnx", "patches": "fixtures/crowd_family_heldout.i16",
               "labels": [int(v) for v in fix_y], "scale": 0.001, "macroF1": fix_scores["macroF1"], "accuracy": fix_scores["accuracy"]}
    write_json(os.path.join(fx, "crowd_state_heldout.manifest.json"),
               crowd_manifest(f"lofo-without-{worst}", "fixtures/crowd_state_heldout.onnx", lofo, {"fixture": fixture}) | {"file": "crowd_state_heldout.onnx"})
    # The shipped model: all families.
    rng = np.random.default_rng(SEED_INIT)
    X = np.concatenate([sets[g][0] for g in FA.GROUPS])
    y = np.concatenate([sets[g][1] for g in FA.GROUPS])
    params, mu, sd = fit_crowd(rng, X, y)
    train_acc = float((predict_crowd(params, mu, sd, X).argmax(axis=1) == y).mean())
    print(f"shipped model: trained on all families, train accuracy {train_acc:.3f}; fixture ({worst}) macro-F1 {fix_scores['macroF1']:.3f}")
    C.export(os.path.join(HERE, "crowd_state.onnx"), params, mu, sd, save_model)
    write_json(os.path.join(HERE, "crowd_state.manifest.json"), crowd_manifest("2.0.0", "crowd_state.onnx", lofo, {
        "trainAccuracy": round(train_acc, 4), "dataCard": data_card(lofo, fixture),
        "seeds": {"families": SEED_FAMILY, "init": SEED_INIT}, "trainedBy": "models/train.py",
        "trainingSeconds": round(time.time() - t0)}))
    return lofo


def fine_tune(wav, track, out_dir):
    """The engineer's loop: fine-tunes the shipped crowd-state model on a recording with its
    corrected label track, replaying the family data so it does not forget, and reports the
    macro-F1 per family (and on the recording) before and after. Writes a new model + manifest
    (same name, version +ftN) into out_dir, to be activated with `model activate` (sha256 and
    shapes are checked there) and undone with `model rollback crowd-state`."""
    with open(track, encoding="utf-8", errors="replace") as fh:
        labels = L.parse_label_track(fh.read(), track)
    x = L.read_wav_mono16k(wav)
    Xr, yr, _ = L.labelled_patches(x, labels)
    if len(yr) == 0:
        raise L.LabelError(f"{track}: no class label covers a whole patch of {wav}; nothing was imported")
    base_manifest = json.load(open(os.path.join(HERE, "crowd_state.manifest.json")))
    params, mu, sd = C.load_params(os.path.join(HERE, base_manifest["file"]))
    sets = family_sets()

    def evaluate(p):
        fam = {g: C.scores(sets[g][1], predict_crowd(p, mu, sd, sets[g][0]).argmax(axis=1))["macroF1"] for g in FA.GROUPS}
        rec = C.scores(yr, predict_crowd(p, mu, sd, Xr).argmax(axis=1))
        return {"families": fam, "recording": {"accuracy": rec["accuracy"], "macroF1": rec["macroF1"]}}

    before = evaluate(params)
    rng = np.random.default_rng(SEED_INIT)
    # The labelled patches weigh as much as a tenth of the replayed family data.
    reps = max(1, int(0.1 * sum(len(sets[g][1]) for g in FA.GROUPS) / len(yr)))
    Xft = np.concatenate([*(sets[g][0] for g in FA.GROUPS), *([Xr] * reps)])
    yft = np.concatenate([*(sets[g][1] for g in FA.GROUPS), *([yr] * reps)])
    tuned = [(W.copy(), b.copy()) for W, b in params]
    tuned, _, _ = fit_crowd(rng, Xft, yft, params=tuned, mu=mu, sd=sd, epochs=10, lr=5e-4)
    after = evaluate(tuned)
    print(f"fine-tune on {wav}: {len(yr)} labelled patches ({', '.join(f'{CLASSES[c]} {int((yr == c).sum())}' for c in range(len(CLASSES)) if (yr == c).any())})")
    print(f"{'':<12}{'before':>8}{'after':>8}   (macro-F1; families are training data of the shipped model)")
    for g in FA.GROUPS:
        print(f"family {g:<5}{before['families'][g]:>8.3f}{after['families'][g]:>8.3f}")
    print(f"{'recording':<12}{before['recording']['macroF1']:>8.3f}{after['recording']['macroF1']:>8.3f}   (accuracy {before['recording']['accuracy']:.3f} -> {after['recording']['accuracy']:.3f})")
    os.makedirs(out_dir, exist_ok=True)
    k = 1
    while os.path.exists(os.path.join(out_dir, f"crowd_state_ft{k}.onnx")):
        k += 1
    file = f"crowd_state_ft{k}.onnx"
    C.export(os.path.join(out_dir, file), tuned, mu, sd, save_model)
    manifest = dict(base_manifest)
    manifest.update({"version": f"{base_manifest['version']}-ft{k}", "file": file,
                     "fineTune": {"base": f"crowd-state-{base_manifest['version']}", "recording": os.path.basename(wav),
                                  "labels": os.path.basename(track), "patches": int(len(yr)), "before": before, "after": after}})
    with open(os.path.join(out_dir, file), "rb") as fh:
        manifest["sha256"] = hashlib.sha256(fh.read()).hexdigest()
    mpath = os.path.join(out_dir, f"crowd_state_ft{k}.manifest.json")
    write_json(mpath, manifest)
    print(f"wrote {mpath}: activate with `model activate crowd-state-{manifest['version']}`, undo with `model rollback crowd-state`")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--heldout":
        write_heldout(sys.argv[2])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--vad-set":
        write_vad_set(sys.argv[2])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--vad-families":
        # One VAD set per family group (models/vad-families.ts picks the smoothing on the others).
        os.makedirs(sys.argv[2], exist_ok=True)
        for g in FA.GROUPS:
            audio, speech, segs = FA.vad_set(g)
            audio.tofile(os.path.join(sys.argv[2], f"vad_{g}.f32"))
            write_json(os.path.join(sys.argv[2], f"vad_{g}.json"), {"sampleRate": SR, "speech": speech, "family": g, "segments": segs})
            # The VAD head's training audio (models/vad_head.py): other seed, same group's sources.
            audio, speech, _ = FA.vad_set(g, seconds=1200, seed=12100)
            audio.tofile(os.path.join(sys.argv[2], f"vadtrain_{g}.f32"))
            write_json(os.path.join(sys.argv[2], f"vadtrain_{g}.json"), {"sampleRate": SR, "speech": speech, "family": g})
        return
    if len(sys.argv) >= 4 and sys.argv[1] == "--labels":
        out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else HERE
        try:
            fine_tune(sys.argv[2], sys.argv[3], out)
        except L.LabelError as e:
            print(f"train.py: {e} [{e.code}]", file=sys.stderr)
            sys.exit(2)
        return
    if len(sys.argv) == 2 and sys.argv[1] == "--eval":
        crowd_lofo(family_sets())
        return
    t0 = time.time()
    rng = np.random.default_rng(SEED_INIT)

    if "--eq" not in sys.argv:
        # The EQ recommender is retrained only with --eq: it used to share its weights' RNG with
        # the old crowd-state training, so a retrain gives other (equally good) bytes than the
        # committed eq_recommender.onnx.
        train_crowd(t0)
        print(f"done in {time.time() - t0:.0f} s")
        return

    # -- EQ recommender --
    Xe, ge, ce = make_eq_set(SEED_EQ_TRAIN, 20000)
    Xh, gh, chh = make_eq_set(SEED_EQ_HELDOUT, 2000)
    Fe, Fh = eq_inputs(Xe), eq_inputs(Xh)
    emu, esd = Fe.mean(axis=0), Fe.std(axis=0) + 1e-6
    Ze, Zh = (Fe - emu) / esd, (Fh - emu) / esd
    eparams = init_mlp(rng, [Ze.shape[1], 64, 64, len(F.EQ_CENTRES) + 1])

    def eq_grad(out, idx):
        g = np.zeros_like(out)
        g[:, :-1] = (out[:, :-1] - ge[idx]) / 9.0  # squared error on gains, scaled
        p = 1 / (1 + np.exp(-out[:, -1]))
        g[:, -1] = p - ce[idx, 0]  # cross-entropy on the confidence
        return g

    adam_train(rng, eparams, Ze, eq_grad, epochs=40, batch=256)
    out = forward(eparams, Zh)[-1]
    gp = np.clip(out[:, :-1], -9, 9)
    cp = 1 / (1 + np.exp(-out[:, -1]))
    mae = float(np.abs(gp - gh).mean())
    within = float((np.abs(gp - gh) <= 1.5).mean())
    conf_mae = float(np.abs(cp - chh[:, 0]).mean())
    naive = float(np.abs(eq_truth(Xh[:, 0, :].astype(np.float64)) - gh).mean())
    print(f"eq_recommender held-out gain MAE {mae:.2f} dB ({within * 100:.1f}% within 1.5 dB), "
          f"naive (no smoothing) MAE {naive:.2f} dB, confidence MAE {conf_mae:.3f}")
    export_eq(os.path.join(HERE, "eq_recommender.onnx"), eparams, emu, esd)

    # -- manifests --
    common = {"trainedBy": "models/train.py", "trainingSeconds": round(time.time() - t0)}
    write_json(os.path.join(HERE, "eq_recommender.manifest.json"), {
        "name": "eq-recommender", "version": "1.0.0", "file": "eq_recommender.onnx",
        "sha256": sha256(os.path.join(HERE, "eq_recommender.onnx")),
        "inputs": [{"name": "spectrum", "type": "float32", "shape": [-1, 2, F.SPEC_BANDS]}],
        "outputs": [{"name": "gains", "type": "float32", "shape": [-1, len(F.EQ_CENTRES)]},
                    {"name": "confidence", "type": "float32", "shape": [-1, 1]}],
        "classes": [], "bandsHz": F.EQ_CENTRES, "sampleRate": F.SPEC_SR, "latencyBudgetMs": 20, "minConfidence": 0.7,
        "features": {"kind": "band-spectrum", "fft": F.SPEC_NFFT, "bands": F.SPEC_BANDS,
                     "fminHz": F.SPEC_FMIN, "fmaxHz": F.SPEC_FMAX, "rows": ["mean dB", "spread dB"]},
        "targetCurve": "pink (-3 dB/oct PSD) with an extra -1.5 dB/oct above 4 kHz; level-aligned 250 Hz-4 kHz; +/-9 dB",
        "heldout": {"set": f"seed {SEED_EQ_HELDOUT}, 2000 spectra", "gainMaeDb": round(mae, 3),
                    "within1p5Db": round(within, 4), "naiveMaeDb": round(naive, 3), "confidenceMae": round(conf_mae, 4)},
        "seeds": {"train": SEED_EQ_TRAIN, "heldout": SEED_EQ_HELDOUT, "init": SEED_INIT}, **common})
    os.makedirs(os.path.join(HERE, "fixtures"), exist_ok=True)
    write_json(os.path.join(HERE, "fixtures", "logmel_golden.json"), golden_logmel())
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
