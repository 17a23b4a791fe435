# The crowd-state classifier: its summary features (numpy here, the same graph in ONNX), the
# leave-one-family-out evaluation and the data card. The model's input stays the native log-mel
# patch [N,50,40] (addons/src/features, checked against features.py by tests/inference/features.test.ts);
# everything below is computed inside the ONNX graph, so the native path does not change.
import numpy as np

import features as F

CLASSES = ["silence", "speech", "music", "applause", "feedback"]
FEEDBACK = 4
HALF = F.PATCH_FRAMES // 2


def summarise(X):
    """[N,T,M] log-mel -> [N,D] features that do not depend on the level (but one: the level itself)."""
    X = X.astype(np.float32)
    mean_t = X.mean(axis=1)                                   # [N,M] long-term spectrum
    level = mean_t.mean(axis=1, keepdims=True)                # [N,1] overall level
    shape = mean_t - level                                    # [N,M] spectral shape
    dev = X - X.mean(axis=1, keepdims=True)
    std = np.sqrt((dev * dev).mean(axis=1) + 1e-6)            # [N,M] variation in time per band
    delta = X[:, HALF:].mean(axis=1) - X[:, :HALF].mean(axis=1)  # [N,M] growth
    flux = np.abs(X[:, 1:] - X[:, :-1]).mean(axis=1)          # [N,M] spectral flux per band
    fmean = X.mean(axis=2)                                    # [N,T] frame level
    peak = X.max(axis=2) - fmean                              # [N,T] how narrowband each frame is
    fdev = fmean - fmean.mean(axis=1, keepdims=True)
    scalars = np.stack([
        peak.mean(axis=1),
        peak[:, HALF:].mean(axis=1) - peak[:, :HALF].mean(axis=1),
        np.sqrt((fdev * fdev).mean(axis=1) + 1e-6),           # frame-level variation (speech pauses)
        fmean.max(axis=1) - fmean.min(axis=1),
        shape.max(axis=1),                                    # a persistent narrow peak in the long-term spectrum
        (X.max(axis=1) - mean_t).mean(axis=1),                # peak-over-mean in time (onsets, claps)
    ], axis=1)
    # Persistence: a howl holds one narrow band for the whole patch, a note moves on. The spectrum
    # of each band's quietest moment, and how far its strongest band stands over its neighbours.
    mn = X.min(axis=1)                                        # [N,M]
    minshape = mn - level
    nb = mn[:, 1:-1] - 0.5 * (mn[:, :-2] + mn[:, 2:])
    persist = np.stack([nb.max(axis=1), delta.max(axis=1)], axis=1)
    return np.concatenate([level, shape, std, delta, flux, scalars, minshape, persist], axis=1).astype(np.float64)


def export(path, params, mu, sd, save_model):
    from onnx import helper as h, TensorProto as T, numpy_helper as nh
    P = F.PATCH_FRAMES
    init = [nh.from_array(np.array(v, dtype=np.int64), name) for name, v in
            [("s0", [0]), ("s1", [1]), ("s2", [2]), ("sh", [HALF]), ("se", [P]), ("sl", [P - 1]), ("ax1", [1]),
             ("m1", [F.NMEL - 1]), ("m2", [F.NMEL - 2]), ("mM", [F.NMEL])]]
    init += [nh.from_array(np.array(1e-6, dtype=np.float32), "eps"), nh.from_array(np.array(0.5, dtype=np.float32), "half"),
             nh.from_array(mu.astype(np.float32), "mu"), nh.from_array(sd.astype(np.float32), "sd")]
    n = h.make_node
    nodes = [
        n("ReduceMean", ["logmel"], ["mean_t"], axes=[1], keepdims=0),
        n("ReduceMean", ["mean_t"], ["level"], axes=[1], keepdims=1),
        n("Sub", ["mean_t", "level"], ["shape"]),
        n("ReduceMean", ["logmel"], ["mean_k"], axes=[1], keepdims=1),
        n("Sub", ["logmel", "mean_k"], ["dev"]),
        n("Mul", ["dev", "dev"], ["dev2"]),
        n("ReduceMean", ["dev2"], ["var"], axes=[1], keepdims=0),
        n("Add", ["var", "eps"], ["var_e"]),
        n("Sqrt", ["var_e"], ["std"]),
        n("Slice", ["logmel", "s0", "sh", "ax1"], ["first"]),
        n("Slice", ["logmel", "sh", "se", "ax1"], ["last"]),
        n("ReduceMean", ["first"], ["mfirst"], axes=[1], keepdims=0),
        n("ReduceMean", ["last"], ["mlast"], axes=[1], keepdims=0),
        n("Sub", ["mlast", "mfirst"], ["delta"]),
        n("Slice", ["logmel", "s1", "se", "ax1"], ["xnext"]),
        n("Slice", ["logmel", "s0", "sl", "ax1"], ["xprev"]),
        n("Sub", ["xnext", "xprev"], ["dx"]),
        n("Abs", ["dx"], ["adx"]),
        n("ReduceMean", ["adx"], ["flux"], axes=[1], keepdims=0),
        n("ReduceMean", ["logmel"], ["fmean"], axes=[2], keepdims=0),  # [N,T]
        n("ReduceMax", ["logmel"], ["fmax"], axes=[2], keepdims=0),
        n("Sub", ["fmax", "fmean"], ["peak"]),
        n("ReduceMean", ["peak"], ["c0"], axes=[1], keepdims=1),
        n("Slice", ["peak", "s0", "sh", "ax1"], ["pfirst"]),
        n("Slice", ["peak", "sh", "se", "ax1"], ["plast"]),
        n("ReduceMean", ["pfirst"], ["pmf"], axes=[1], keepdims=1),
        n("ReduceMean", ["plast"], ["pml"], axes=[1], keepdims=1),
        n("Sub", ["pml", "pmf"], ["c1"]),
        n("ReduceMean", ["fmean"], ["fmm"], axes=[1], keepdims=1),
        n("Sub", ["fmean", "fmm"], ["fdev"]),
        n("Mul", ["fdev", "fdev"], ["fdev2"]),
        n("ReduceMean", ["fdev2"], ["fvar"], axes=[1], keepdims=1),
        n("Add", ["fvar", "eps"], ["fvar_e"]),
        n("Sqrt", ["fvar_e"], ["c2"]),
        n("ReduceMax", ["fmean"], ["fmx"], axes=[1], keepdims=1),
        n("ReduceMin", ["fmean"], ["fmn"], axes=[1], keepdims=1),
        n("Sub", ["fmx", "fmn"], ["c3"]),
        n("ReduceMax", ["shape"], ["c4"], axes=[1], keepdims=1),
        n("ReduceMax", ["logmel"], ["tmax"], axes=[1], keepdims=0),
        n("Sub", ["tmax", "mean_t"], ["tpk"]),
        n("ReduceMean", ["tpk"], ["c5"], axes=[1], keepdims=1),
        n("ReduceMin", ["logmel"], ["mn"], axes=[1], keepdims=0),
        n("Sub", ["mn", "level"], ["minshape"]),
        n("Slice", ["mn", "s1", "m1", "ax1"], ["mn_mid"]),
        n("Slice", ["mn", "s0", "m2", "ax1"], ["mn_lo"]),
        n("Slice", ["mn", "s2", "mM", "ax1"], ["mn_hi"]),
        n("Add", ["mn_lo", "mn_hi"], ["mn_sum"]),
        n("Mul", ["mn_sum", "half"], ["mn_avg"]),
        n("Sub", ["mn_mid", "mn_avg"], ["nb"]),
        n("ReduceMax", ["nb"], ["c6"], axes=[1], keepdims=1),
        n("ReduceMax", ["delta"], ["c7"], axes=[1], keepdims=1),
        n("Concat", ["level", "shape", "std", "delta", "flux", "c0", "c1", "c2", "c3", "c4", "c5", "minshape", "c6", "c7"], ["feat"], axis=1),
        n("Sub", ["feat", "mu"], ["fc"]),
        n("Div", ["fc", "sd"], ["z0"]),
    ]
    x = "z0"
    for i, (W, b) in enumerate(params):
        init += [nh.from_array(W.astype(np.float32), f"W{i}"), nh.from_array(b.astype(np.float32), f"b{i}")]
        out = f"h{i}" if i < len(params) - 1 else "logits"
        nodes.append(n("Gemm", [x, f"W{i}", f"b{i}"], [out]))
        if i < len(params) - 1:
            nodes.append(n("Relu", [out], [out + "r"]))
            out += "r"
        x = out
    nodes.append(n("Softmax", ["logits"], ["probs"], axis=1))
    g = h.make_graph(nodes, "crowd_state",
                     [h.make_tensor_value_info("logmel", T.FLOAT, ["N", F.PATCH_FRAMES, F.NMEL])],
                     [h.make_tensor_value_info("probs", T.FLOAT, ["N", len(CLASSES)])], init)
    save_model(g, path, "crowd_state")


def load_params(path):
    """The MLP weights and the feature normalisation back from an exported model (for fine-tuning)."""
    import onnx
    from onnx import numpy_helper as nh
    m = onnx.load(path)
    w = {t.name: nh.to_array(t).astype(np.float64) for t in m.graph.initializer}
    params, i = [], 0
    while f"W{i}" in w:
        params.append((w[f"W{i}"], w[f"b{i}"]))
        i += 1
    return params, w["mu"], w["sd"]


def scores(y, pred, k=len(CLASSES)):
    """Per-class precision/recall/F1, macro-F1 and the confusion matrix. With one patch per clip,
    the crowd-state score with feedback as an alarm (any feedback entry raises it) is this same
    5-way macro-F1; alarm precision/recall are reported beside it. Classes neither in the truth nor
    predicted (a recording without feedback) do not count in the macro average."""
    cm = np.zeros((k, k), dtype=int)
    for a, b in zip(y, pred):
        cm[a, b] += 1
    f1 = []
    for c in range(k):
        tp = cm[c, c]
        p = tp / max(1, cm[:, c].sum())
        r = tp / max(1, cm[c].sum())
        f1.append(0.0 if tp == 0 else 2 * p * r / (p + r))
    fb_tp = cm[FEEDBACK, FEEDBACK]
    present = [c for c in range(k) if cm[c].sum() + cm[:, c].sum() > 0]
    return {"macroF1": round(float(np.mean([f1[c] for c in present])), 4), "f1": {c: round(float(v), 4) for c, v in zip(CLASSES, f1)},
            "accuracy": round(float(np.trace(cm) / max(1, cm.sum())), 4),
            "alarmRecall": round(float(fb_tp / max(1, cm[FEEDBACK].sum())), 4),
            "alarmPrecision": round(float(fb_tp / max(1, cm[:, FEEDBACK].sum())), 4),
            "confusion": cm.tolist(), "clips": int(cm.sum())}
