# The engineer's loop, training side (issue 13): an Audacity label track (start TAB end TAB label,
# as `firmware process` writes it beside its report and as Audacity exports it after the engineer's
# corrections) over a recording becomes labelled classifier patches. Same rules as
# firmware/process/labels.ts: a bad line is refused with FW_ERR_LABELS naming the file and line.
import re
import struct

import numpy as np

import features as F

CLASSES = ["silence", "speech", "music", "applause", "feedback"]
NUM = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


class LabelError(Exception):
    code = "FW_ERR_LABELS"


def refuse(where, msg):
    raise LabelError(f"{where}: {msg}; nothing was imported")


def parse_label_track(text, file="label track"):
    out = []
    for i, raw in enumerate(re.split(r"\r?\n", text)):
        where = f"{file} line {i + 1}"
        if raw.strip() == "" or raw.startswith("\\"):
            continue
        f = raw.split("\t")
        if len(f) < 3:
            refuse(where, f"expected start<TAB>end<TAB>label, got {raw[:60]!r}")
        if not NUM.match(f[0]) or not NUM.match(f[1]):
            refuse(where, f"start and end must be numbers of seconds, got {f[0]!r} and {f[1]!r}")
        start, end = float(f[0]), float(f[1])
        if start < 0:
            refuse(where, f"start {start:g} is before the recording")
        if end < start:
            refuse(where, f"end {end:g} is before start {start:g}")
        label = "\t".join(f[2:]).strip()
        if label not in CLASSES and not label.startswith("alarm "):
            refuse(where, f"unknown label {label!r} (one of {', '.join(CLASSES)}, or \"alarm ...\")")
        out.append((start, end, label))
    return out


def read_wav_mono16k(path):
    """PCM 16/24/32-bit or float32 WAV (also WAVE_FORMAT_EXTENSIBLE), any channels -> mono 16 kHz."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        raise LabelError(f"{path}: not a WAV file; nothing was imported")
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size] if cid != b"data" or size != 0xFFFFFFFF else data[pos + 8:]
        if cid == b"fmt ":
            tag, ch, sr, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == 0xFFFE:
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, ch, sr, bits)
        elif cid == b"data":
            pcm = body
        pos += 8 + size + (size & 1)
    if fmt is None or pcm is None:
        raise LabelError(f"{path}: WAV without fmt or data chunk; nothing was imported")
    tag, ch, sr, bits = fmt
    n = len(pcm) // (bits // 8) // ch * ch
    if tag == 3 and bits == 32:
        x = np.frombuffer(pcm[:n * 4], dtype="<f4").astype(np.float64)
    elif tag == 1 and bits == 16:
        x = np.frombuffer(pcm[:n * 2], dtype="<i2") / 32768.0
    elif tag == 1 and bits == 32:
        x = np.frombuffer(pcm[:n * 4], dtype="<i4") / 2147483648.0
    elif tag == 1 and bits == 24:
        b = np.frombuffer(pcm[:n * 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v) / 8388608.0
    else:
        raise LabelError(f"{path}: WAV format {tag}/{bits}-bit is not supported; nothing was imported")
    x = x.reshape(-1, ch).mean(axis=1)
    if sr != F.SR:
        from families import resample
        x = resample(x, sr, F.SR)
    return x


def labelled_patches(x, labels, hop_frames=25):
    """Patches every 0.25 s; each takes the class of the shortest class region holding its centre
    (an engineer's correction is usually a short region over a longer one). Alarm lines are not
    classes: the feedback regions carry that truth."""
    mel = F.log_mel(x)
    regions = [(s, e, CLASSES.index(lbl)) for s, e, lbl in labels if lbl in CLASSES]
    X, y, t = [], [], []
    for s in range(0, len(mel) - F.PATCH_FRAMES + 1, hop_frames):
        c = (s * F.HOP + F.PATCH_FRAMES * F.HOP / 2) / F.SR
        inside = [(e - a, k) for a, e, k in regions if a <= c <= e]
        if not inside:
            continue
        X.append(mel[s:s + F.PATCH_FRAMES])
        y.append(min(inside)[1])
        t.append(c)
    return np.array(X, dtype=np.float32).reshape(-1, F.PATCH_FRAMES, F.NMEL), np.array(y, dtype=np.int64), t
