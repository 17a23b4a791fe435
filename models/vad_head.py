#!/usr/bin/python3
"""The VAD head (issue 13, item 4): a small MLP over Silero's frame probabilities and a log-mel
spectrogram of the last 192 ms, trained leave-one-family-out so that no group's voice is special.

  /usr/bin/python3 models/vad_head.py DIR [--ship]
  /usr/bin/python3 models/vad_head.py DIR --fixture   # the test's clip set from group C

DIR holds what models/vad-families.ts prepares: per family group the evaluation set
vad_G.f32 (seed 12000, 240 s) and the training set vadtrain_G.f32 (seed 12100, 600 s), their
labels (.json) and Silero's probabilities through the firmware (.probs.f32). For each group G it
trains a head on the other two groups' training sets only and writes DIR/vad_head_not_G.onnx
(models/vad-families.ts scores it on G's evaluation set through the firmware, with the smoothing
chosen on the other groups). --ship also writes models/vad_head.onnx: the head trained on A+B (the
one scored on C), the choice the shipped smoothing is made with.

The model computes its own spectrogram from the audio windows the engine already sends to Silero
(so the live and offline paths feed it the same 512-sample windows, nothing else):
  inputs  audio  [N, 3072]  the last 6 VAD windows (16 kHz), oldest first, zeros before the start
          silero [N, 6]     Silero's probabilities of the same 6 windows, oldest first
  output  speech [N, 1]     speech probability of the newest window
Features: 11 frames of 512 samples (hop 256, periodic Hann) -> 40 HTK-mel bands (models/features.py's
filterbank) -> ln(power + 1e-8); the level (mean over frames and bands) is taken out; per band the
mean and the spread over the frames and the mean absolute frame-to-frame change (127 numbers), the
level and Silero's 6 probabilities; standardised; 127 -> 16 -> 1 with ReLU, sigmoid. (Chosen over
the whole 11 x 40 spectrogram, which fitted the training groups' voices and lost 0.07 on B, and over
12 or 20 windows of context, no better: leave-one-family-out raw F1 in docs/inference.md.)
Augmentation (training only): level +-15 dB, spectral tilt +-5 dB, a random low-pass, so that neither
a level nor a band limit marks a family's voice.
"""
import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features as F  # noqa: E402
import families as FA  # noqa: E402
import train as T  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GROUPS = ["A", "B", "C"]
WIN = 512
CTX = 6  # windows of audio and of Silero probabilities
NFR = 2 * CTX - 1  # frames of 512, hop 256
NMEL = F.NMEL
NFEAT = 3 * NMEL + 1 + CTX
HIDDEN = [16]
SEED = 14000
EPOCHS = 6
_HANN = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WIN) / WIN)
_FB = F.mel_filterbank()  # [40, 257] for a 512-point FFT at 16 kHz


def window_mels(x):
    """[windows, NFR, NMEL] log-mel of each window's context (as the ONNX graph computes it)."""
    n = len(x) // WIN
    xp = np.concatenate([np.zeros((CTX - 1) * WIN), np.asarray(x[: n * WIN], dtype=np.float64)])
    m = (len(xp) - WIN) // (WIN // 2) + 1
    idx = np.arange(WIN)[None, :] + (WIN // 2) * np.arange(m)[:, None]
    spec = np.fft.rfft(xp[idx] * _HANN[None, :], axis=1)
    mel = np.log((spec.real ** 2 + spec.imag ** 2) / WIN @ _FB.T + 1e-8)  # [m, 40]
    fi = 2 * np.arange(n)[:, None] + np.arange(NFR)[None, :]
    return mel[fi].astype(np.float32)


def silero_context(p):
    pp = np.concatenate([np.zeros(CTX - 1, dtype=np.float32), p])
    return pp[np.arange(len(p))[:, None] + np.arange(CTX)[None, :]]


def assemble(mels, sil):
    """The feature vector the ONNX graph builds: per band mean, spread and change, level, Silero."""
    level = mels.mean(axis=(1, 2))[:, None]
    c = mels - level[:, :, None]
    change = np.abs(np.diff(mels, axis=1)).mean(axis=1)
    return np.concatenate([c.mean(axis=1), c.std(axis=1), change, level, sil], axis=1).astype(np.float32)


def load(d, name):
    x = np.fromfile(os.path.join(d, f"{name}.f32"), dtype=np.float32)
    p = np.fromfile(os.path.join(d, f"{name}.probs.f32"), dtype=np.float32)
    meta = json.load(open(os.path.join(d, f"{name}.json")))
    mels = window_mels(x)[: len(p)]
    t = (np.arange(len(p)) + 0.5) * WIN / F.SR
    y = np.zeros(len(p), dtype=np.float32)
    for s, e in meta["speech"]:
        y[(t >= s) & (t < e)] = 1
    return mels, silero_context(p), y


def augment(rng, mels):
    n = len(mels)
    out = mels + rng.uniform(-3.45, 3.45, (n, 1, 1)).astype(np.float32)  # level +-15 dB (ln power)
    band = (np.arange(NMEL) - (NMEL - 1) / 2) / ((NMEL - 1) / 2)
    out = out + (rng.uniform(-1.15, 1.15, (n, 1, 1)) * band[None, None, :]).astype(np.float32)  # tilt +-5 dB
    lp = rng.random(n) < 0.3
    cut = rng.integers(26, NMEL, n)
    roll = np.maximum(0, np.arange(NMEL)[None, :] - cut[:, None]) * 0.8  # ~3.5 dB per band above the cut
    out[lp] -= roll[lp][:, None, :].astype(np.float32)
    return out


def fit(train_sets):
    rng = np.random.default_rng(SEED)
    mels = np.concatenate([s[0] for s in train_sets])
    sil = np.concatenate([s[1] for s in train_sets])
    y = np.concatenate([s[2] for s in train_sets])
    # An augmented copy next to the original.
    Xs = [assemble(mels, sil), assemble(augment(rng, mels), sil)]
    X = np.concatenate(Xs)
    Y = np.concatenate([y] * len(Xs))
    mu = X.mean(axis=0)
    sd = X.std(axis=0) + 1e-3
    Z = (X - mu) / sd
    params = T.init_mlp(rng, [NFEAT] + HIDDEN + [1])

    def bce_grad(out, idx):
        return (1 / (1 + np.exp(-out[:, 0])) - Y[idx])[:, None]

    T.adam_train(rng, params, Z, bce_grad, EPOCHS, batch=256, lr=2e-3, l2=1e-3)
    return params, mu, sd


def predict(model, mels, sil):
    params, mu, sd = model
    z = T.forward(params, (assemble(mels, sil) - mu) / sd)[-1][:, 0]
    return 1 / (1 + np.exp(-z))


def f1(pred, y):
    tp = float(np.sum(pred & (y > 0)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y > 0)))
    p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return 2 * p * r / max(1e-9, p + r)


def export(path, model):
    from onnx import TensorProto as TP, helper as h, numpy_helper as nh
    params, mu, sd = model
    fidx = (WIN // 2) * np.arange(NFR)[:, None] + np.arange(WIN)[None, :]
    k = np.arange(WIN)[:, None] * np.arange(WIN // 2 + 1)[None, :]
    cosb = np.cos(2 * np.pi * k / WIN) * _HANN[:, None]
    sinb = -np.sin(2 * np.pi * k / WIN) * _HANN[:, None]
    init = [
        nh.from_array(fidx.astype(np.int64), "fidx"),
        nh.from_array(cosb.astype(np.float32), "cosb"),
        nh.from_array(sinb.astype(np.float32), "sinb"),
        nh.from_array((_FB.T / WIN).astype(np.float32), "fb"),
        nh.from_array(np.array(1e-8, dtype=np.float32), "floor"),
        nh.from_array(np.array([-1, 1], dtype=np.int64), "flat"),
        nh.from_array(np.array([0], dtype=np.int64), "s0"),
        nh.from_array(np.array([1], dtype=np.int64), "s1"),
        nh.from_array(np.array([NFR - 1], dtype=np.int64), "sLast"),
        nh.from_array(np.array([NFR], dtype=np.int64), "sEnd"),
        nh.from_array(np.array([1], dtype=np.int64), "ax1"),
        nh.from_array(mu.astype(np.float32), "mu"),
        nh.from_array(sd.astype(np.float32), "sd"),
    ]
    nodes = [
        h.make_node("Gather", ["audio", "fidx"], ["frames"], axis=1),  # [N, 11, 512]
        h.make_node("MatMul", ["frames", "cosb"], ["re"]),
        h.make_node("MatMul", ["frames", "sinb"], ["im"]),
        h.make_node("Mul", ["re", "re"], ["re2"]),
        h.make_node("Mul", ["im", "im"], ["im2"]),
        h.make_node("Add", ["re2", "im2"], ["pow"]),
        h.make_node("MatMul", ["pow", "fb"], ["mel"]),  # [N, 11, 40]
        h.make_node("Add", ["mel", "floor"], ["melf"]),
        h.make_node("Log", ["melf"], ["lmel"]),
        h.make_node("ReduceMean", ["lmel"], ["level3"], axes=[1, 2], keepdims=1),  # [N, 1, 1]
        h.make_node("Sub", ["lmel", "level3"], ["c"]),
        h.make_node("ReduceMean", ["c"], ["cm3"], axes=[1], keepdims=1),
        h.make_node("Sub", ["c", "cm3"], ["cd"]),
        h.make_node("Mul", ["cd", "cd"], ["cd2"]),
        h.make_node("ReduceMean", ["cd2"], ["var"], axes=[1], keepdims=0),
        h.make_node("Sqrt", ["var"], ["spread"]),
        h.make_node("ReduceMean", ["c"], ["cmean"], axes=[1], keepdims=0),
        h.make_node("Slice", ["lmel", "s1", "sEnd", "ax1"], ["later"]),
        h.make_node("Slice", ["lmel", "s0", "sLast", "ax1"], ["earlier"]),
        h.make_node("Sub", ["later", "earlier"], ["dl"]),
        h.make_node("Abs", ["dl"], ["adl"]),
        h.make_node("ReduceMean", ["adl"], ["change"], axes=[1], keepdims=0),
        h.make_node("Reshape", ["level3", "flat"], ["level"]),
        h.make_node("Concat", ["cmean", "spread", "change", "level", "silero"], ["feat"], axis=1),
        h.make_node("Sub", ["feat", "mu"], ["fc"]),
        h.make_node("Div", ["fc", "sd"], ["z0"]),
    ]
    x = "z0"
    for i, (W, b) in enumerate(params):
        init += [nh.from_array(W.astype(np.float32), f"W{i}"), nh.from_array(b.astype(np.float32), f"b{i}")]
        out = f"h{i}" if i < len(params) - 1 else "logit"
        nodes.append(h.make_node("Gemm", [x, f"W{i}", f"b{i}"], [out]))
        if i < len(params) - 1:
            nodes.append(h.make_node("Relu", [out], [out + "r"]))
            out += "r"
        x = out
    nodes.append(h.make_node("Sigmoid", ["logit"], ["speech"]))
    g = h.make_graph(nodes, "vad_head",
                     [h.make_tensor_value_info("audio", TP.FLOAT, ["N", CTX * WIN]),
                      h.make_tensor_value_info("silero", TP.FLOAT, ["N", CTX])],
                     [h.make_tensor_value_info("speech", TP.FLOAT, ["N", 1])], init)
    T.save_model(g, path, "vad_head")


def write_fixture(d, group="C", seconds=40.0):
    """models/fixtures/vad_family_C.i16 + .json: the first 40 s of group C's evaluation set (a family
    the shipped head and its smoothing were not chosen on) for tests/inference/vad-head.test.ts."""
    x = np.fromfile(os.path.join(d, f"vad_{group}.f32"), dtype=np.float32)[: int(seconds * F.SR)]
    meta = json.load(open(os.path.join(d, f"vad_{group}.json")))
    scale = float(np.max(np.abs(x))) / 32767.0
    np.round(x / scale).astype("<i2").tofile(os.path.join(HERE, "fixtures", f"vad_family_{group}.i16"))
    speech = [[a, min(b, seconds)] for a, b in meta["speech"] if a < seconds]
    segs = [sg for sg in meta["segments"] if sg[0] < seconds]
    T.write_json(os.path.join(HERE, "fixtures", f"vad_family_{group}.json"),
                 {"family": group, "source": f"models/train.py --vad-families, vad_{group} (seed 12000), first {seconds:g} s",
                  "sampleRate": F.SR, "scale": scale, "speech": speech, "segments": segs})


def main():
    d = sys.argv[1]
    if "--fixture" in sys.argv:
        write_fixture(d)
        return
    ship = "--ship" in sys.argv
    data = {g: {"eval": load(d, f"vad_{g}"), "train": load(d, f"vadtrain_{g}")} for g in GROUPS}
    card = {}
    for held in GROUPS:
        on = [g for g in GROUPS if g != held]
        model = fit([data[g]["train"] for g in on])
        mels, sil, y = data[held]["eval"]
        p = predict(model, mels, sil)
        card[held] = {"trainedOn": on, "headRawF1": round(f1(p >= 0.5, y), 3), "sileroRawF1": round(f1(sil[:, -1] >= 0.5, y), 3)}
        print(f"vad head left out {held} (trained on {'+'.join(on)}): raw frame F1 at 0.5 {card[held]['headRawF1']:.3f} "
              f"(Silero alone {card[held]['sileroRawF1']:.3f})", flush=True)
        export(os.path.join(d, f"vad_head_not_{held}.onnx"), model)
        if ship and held == "C":
            export(os.path.join(HERE, "vad_head.onnx"), model)
    T.write_json(os.path.join(d, "vad_head.card.json"), card)
    if ship:
        write_manifest(card, {g: len(data[g]["train"][2]) for g in GROUPS}, {g: len(data[g]["eval"][2]) for g in GROUPS})


def write_manifest(card, train_windows, eval_windows):
    """models/vad_head.manifest.json: the shipped head (trained on A+B) and its data card. The
    firmware figures (smoothed, fused, latency: models/vad-families.ts --write) go under "heldout"."""
    path = os.path.join(HERE, "vad_head.manifest.json")
    old = json.load(open(path)) if os.path.exists(path) else {}
    m = {
        "name": "vad-head", "version": "1.0.0", "file": "vad_head.onnx",
        "sha256": T.sha256(os.path.join(HERE, "vad_head.onnx")),
        "source": "ours: models/vad_head.py (numpy MLP over Silero's probabilities and the windows' log-mel summary, exported to ONNX)",
        "inputs": [{"name": "audio", "type": "float32", "shape": [-1, CTX * WIN]},
                   {"name": "silero", "type": "float32", "shape": [-1, CTX]}],
        "outputs": [{"name": "speech", "type": "float32", "shape": [-1, 1]}],
        "classes": ["speech"], "sampleRate": F.SR, "windowSamples": WIN, "contextWindows": CTX,
        "latencyBudgetMs": 10, "minConfidence": 0.5,
        "features": {"kind": "log-mel summary", "frameSamples": WIN, "hopSamples": WIN // 2, "frames": NFR, "mels": NMEL,
                     "summary": "in the graph: level, per band mean (level-free), spread and frame-to-frame change; Silero's last 6 probabilities"},
        "dataCard": {
            "families": {g: {k: v for k, v in FA.SOURCES[g].items() if k != "feedback"} for g in GROUPS},
            "sets": "models/train.py --vad-families: per family group a training set (seed 12100, 600 s) and an evaluation set "
                    "(seed 12000, 240 s) of its own synthesiser in its rooms, often over its music/applause bed, alternating with "
                    "its music, applause, room noise and silence; truth = the utterances",
            "trainWindows": train_windows, "evalWindows": eval_windows,
            "augmentation": "level +-15 dB, spectral tilt +-5 dB, a low-pass on 30% (one augmented copy beside the original)",
            "trainedOn": ["A", "B"],
            "evaluation": "leave-one-family-out: a head trained on two groups' training sets, scored on the third's evaluation set",
            "perFamily": card,
            "worstFamily": min(card, key=lambda g: card[g]["headRawF1"]),
            "seed": SEED,
        },
        "heldout": old.get("heldout", {}),
    }
    T.write_json(path, m)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
