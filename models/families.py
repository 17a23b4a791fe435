# Crowd-state training data from independent generator families (issue 13, item 1).
#
# Three family groups, A, B and C. Within a group every class has one family; across groups no
# family shares a source (sample set, voice, noise model or room set):
#
#   class     | A                            | B                              | C
#   speech    | espeak-ng (formant synth)    | flite (slt/rms/awb/kal16)      | festival kallpc16k (diphone)
#   music     | FluidR3_GM.sf2 (sampled)     | TimGM6mb.sf2 (sampled)         | MuseScore_General_Lite.sf3
#   applause  | FluidR3 hand claps (note 39) | TimGM6mb hand claps            | MuseScore claps + noise-burst model
#   silence   | pink/white electronic floor  | mains hum + hiss               | HVAC rumble + fan tone
#   feedback  | simulated acoustic loop (mic -> gain -> PA -> room RIR -> mic) over the group's own
#             | programme (speech, music, applause or room noise), in the group's own rooms
#
# Every clip is placed in a room by an image-source RIR (numpy, below), band limited by a
# microphone and (for the loop) a PA, set to -45..-6 dBFS (silence -85..-55), and half of them mixed
# with a quieter second source of the group. Leave-one-group-out trains on two groups and tests on
# the third: nothing in the test group (samples, voices, noise models, rooms) was seen in training.
#
# Rendered sources (fluidsynth, speech synthesisers) are cached in $MODELS_CACHE
# (default /tmp/stage-models-cache); everything is seeded, so a rerun gives the same data.
import hashlib
import io
import os
import struct
import subprocess
import wave

import numpy as np

import features as F

SR = F.SR
CLIP = (F.PATCH_FRAMES - 1) * F.HOP + F.FRAME
GROUPS = ["A", "B", "C"]
CLASSES = ["silence", "speech", "music", "applause", "feedback"]
CACHE = os.environ.get("MODELS_CACHE", "/tmp/stage-models-cache")

SOUNDFONTS = {"A": "/usr/share/sounds/sf2/FluidR3_GM.sf2", "B": "/usr/share/sounds/sf2/TimGM6mb.sf2",
              "C": "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"}

# The data card's sources, with their licences (from /usr/share/doc/<package>/copyright).
SOURCES = {
    "A": {"speech": "espeak-ng (Debian espeak-ng, GPL-3+), voices en-us, en, en-gb-scotland, en-029 and +f2/+f3/+m3/+m7 variants",
          "music": "FluidR3_GM.sf2 (Debian fluid-soundfont-gm, MIT) rendered by fluidsynth",
          "applause": "FluidR3_GM.sf2 hand claps (GM percussion note 39), crowds of clappers rendered by fluidsynth",
          "silence": "pink and white electronic noise floor (numpy model)",
          "feedback": "simulated acoustic loop over group A programme in group A rooms"},
    "B": {"speech": "flite (Debian flite, BSD-like/GPL-2 parts), voices slt, rms, awb, kal16",
          "music": "TimGM6mb.sf2 (Debian timgm6mb-soundfont, GPL-2) rendered by fluidsynth",
          "applause": "TimGM6mb.sf2 hand claps (note 39)",
          "silence": "mains hum (50/60 Hz and harmonics) with hiss (numpy model)",
          "feedback": "simulated acoustic loop over group B programme in group B rooms"},
    "C": {"speech": "festival text2wave with voice kallpc16k (Debian festival + festvox-kallpc16k, MIT-style)",
          "music": "MuseScore_General_Lite.sf3 (Debian musescore-general-soundfont-small, MIT, parts PD/CC0) rendered by fluidsynth",
          "applause": "MuseScore_General_Lite.sf3 hand claps (note 39) mixed with a noise-burst clapping model",
          "silence": "HVAC rumble (brown noise) with a fan tone (numpy model)",
          "feedback": "simulated acoustic loop over group C programme in group C rooms"},
}

WORDS = ("the a one two stage sound check mic level band crowd show tonight please thank you "
         "hello everybody welcome music loud quiet left right front back song next time we are "
         "going to play for all of here again now let me hear say yeah come on great night city "
         "people hands up singer guitar drums bass keys light red blue green is this working "
         "monitor wedge louder softer lights ready break minutes encore sing along together").split()


def db(x):
    return 10.0 ** (np.asarray(x) / 20.0)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def set_level(x, level_db):
    return x * (db(level_db) / rms(x))


def resample(x, sr_in, sr_out):
    if sr_in == sr_out:
        return x
    n_out = int(round(len(x) * sr_out / sr_in))
    X = np.fft.rfft(x)
    keep = n_out // 2 + 1
    Y = np.zeros(keep, dtype=complex)
    m = min(keep, len(X))
    Y[:m] = X[:m]
    return np.fft.irfft(Y, n=n_out) * (n_out / len(x))


def read_wav(data):
    with wave.open(io.BytesIO(data)) as w:
        sr, ch, sw = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    assert sw == 2, "16-bit WAV expected"
    x = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    x = x.reshape(-1, ch).mean(axis=1)
    return resample(x, sr, SR)


def cached(key, make):
    """Runs make() -> bytes once per key; the cache makes reruns fast and changes nothing."""
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, hashlib.sha256(key.encode()).hexdigest()[:24] + ".bin")
    if not os.path.exists(path):
        data = make()
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    with open(path, "rb") as f:
        return f.read()


def cached_array(key, make):
    data = cached(key, lambda: make().astype(np.float32).tobytes())
    return np.frombuffer(data, dtype=np.float32).astype(np.float64)


# ---------------------------------------------------------------- speech synthesisers

def sentences(rng, n):
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 12)))) + "." for _ in range(n)]


def _espeak(text, voice, speed, pitch):
    return subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                          check=True, capture_output=True).stdout


def _flite(text, voice, stretch, f0):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "o.wav")
        subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}",
                        "--setf", f"int_f0_target_mean={f0}", "-t", text, "-o", out], check=True, capture_output=True)
        with open(out, "rb") as f:
            return f.read()


def _festival(text, stretch, f0):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "o.wav")
        ev = f"(begin (Parameter.set 'Duration_Stretch {stretch}) (set! int_lr_params '((target_f0_mean {f0}) (target_f0_std 14) (model_f0_mean 170) (model_f0_std 34))))"
        subprocess.run(["text2wave", "-eval", ev, "-o", out], input=text.encode(), check=True, capture_output=True)
        with open(out, "rb") as f:
            return f.read()


def speech_stream(group, n_utts=36, seed=0):
    """Utterances of the group's synthesiser: a list of 16 kHz arrays, leading/trailing silence trimmed."""
    rng = np.random.default_rng(7000 + GROUPS.index(group) * 10 + seed)
    texts = sentences(rng, n_utts)
    out = []
    for i, text in enumerate(texts):
        if group == "A":
            v = str(rng.choice(["en-us", "en", "en-us+f3", "en+m3", "en-gb-scotland", "en-us+f2", "en+m7", "en-029"]))
            s, p = int(rng.integers(120, 200)), int(rng.integers(25, 75))
            key, make = f"espeak|{v}|{s}|{p}|{text}", (lambda v=v, s=s, p=p, text=text: _espeak(text, v, s, p))
        elif group == "B":
            v = str(rng.choice(["slt", "rms", "awb", "kal16"]))
            st, f0 = round(float(rng.uniform(0.8, 1.3)), 2), int(rng.integers(90, 220))
            key, make = f"flite|{v}|{st}|{f0}|{text}", (lambda v=v, st=st, f0=f0, text=text: _flite(text, v, st, f0))
        else:
            st, f0 = round(float(rng.uniform(0.8, 1.3)), 2), int(rng.integers(90, 200))
            key, make = f"festival|{st}|{f0}|{text}", (lambda st=st, f0=f0, text=text: _festival(text, st, f0))
        x = read_wav(cached(key, make))
        act = np.where(np.abs(x) > 0.02 * np.max(np.abs(x)))[0]
        if len(act) == 0:
            continue
        x = x[act[0]:act[-1] + 1]
        out.append(x / (np.max(np.abs(x)) + 1e-9))
    return out


# ---------------------------------------------------------------- MIDI + fluidsynth

def _vlq(n):
    b = [n & 0x7F]
    n >>= 7
    while n:
        b.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(b))


def midi_file(events, tpq=480):
    """events: (tick, bytes) absolute; one track, tempo 120 (1 tick = 1/960 s)."""
    events = sorted(events, key=lambda e: e[0])
    body, last = b"", 0
    body += _vlq(0) + b"\xff\x51\x03" + (500000).to_bytes(3, "big")
    for tick, msg in events:
        body += _vlq(tick - last) + msg
        last = tick
    body += _vlq(0) + b"\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(body)) + body


def render_midi(sf, mid_bytes, gain=0.6):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        mid, out = os.path.join(d, "m.mid"), os.path.join(d, "o.wav")
        with open(mid, "wb") as f:
            f.write(mid_bytes)
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", str(gain), "-r", str(SR), "-F", out, sf, mid],
                       check=True, capture_output=True)
        with open(out, "rb") as f:
            return f.read()


T = 960  # ticks per second


def _note(ev, ch, t, dur, key, vel):
    ev.append((int(t * T), bytes([0x90 | ch, key, vel])))
    ev.append((int((t + dur) * T), bytes([0x80 | ch, key, 0])))


STYLES = {  # (programs for chords, bass program, melody programs, drums?, tempo range)
    "pop": ([0, 4, 5, 16], [33, 34, 38], [0, 56, 65, 73, 80], True, (90, 130)),
    "rock": ([29, 30, 27, 18], [34, 35], [29, 30, 81, 62], True, (110, 160)),
    "ballad": ([0, 1, 48, 49, 89], [32, 42], [0, 40, 71, 73, 68], False, (60, 85)),
    "jazz": ([0, 4, 26, 11], [32], [65, 66, 56, 57, 11], True, (100, 180)),
    "orchestral": ([48, 49, 50, 52], [42, 43], [40, 41, 60, 68, 71, 73], False, (70, 110)),
    "electronic": ([88, 89, 90, 81], [38, 39], [80, 81, 82, 84], True, (118, 132)),
    "folk": ([24, 25, 21, 105], [32, 33], [22, 73, 40, 105], False, (90, 130)),
}


def music_midi(seed, seconds=120):
    rng = np.random.default_rng(seed)
    ev = []
    t0 = 0.0
    scale_major, scale_minor = [0, 2, 4, 5, 7, 9, 11], [0, 2, 3, 5, 7, 8, 10]
    while t0 < seconds:
        style = list(STYLES)[int(rng.integers(len(STYLES)))]
        chords_p, bass_p, mel_p, drums, (b0, b1) = STYLES[style]
        seg = float(rng.uniform(6, 12))
        beat = 60.0 / rng.uniform(b0, b1)
        root = 48 + int(rng.integers(0, 12))
        scale = scale_major if rng.random() < 0.6 else scale_minor
        cp, bp, mp = int(rng.choice(chords_p)), int(rng.choice(bass_p)), int(rng.choice(mel_p))
        for ch, p in ((0, cp), (1, bp), (2, mp)):
            ev.append((int(t0 * T), bytes([0xC0 | ch, p])))
        t = t0
        while t < t0 + seg:
            deg = int(rng.integers(0, 7))
            chord = [root + scale[(deg + k) % 7] + 12 * ((deg + k) // 7) for k in (0, 2, 4)]
            bar = 4 * beat
            vel = int(rng.integers(50, 100))
            if rng.random() < 0.5:
                for k in chord:
                    _note(ev, 0, t, bar * 0.95, k, vel)
            else:  # arpeggio
                for i in range(8):
                    _note(ev, 0, t + i * bar / 8, bar / 8, chord[i % 3] + 12 * (i // 3 % 2), vel)
            for i in range(4 if rng.random() < 0.7 else 2):
                _note(ev, 1, t + i * bar / 4, bar / 4 * 0.9, chord[0] - 12, vel)
            mt = t
            while mt < t + bar:
                d = beat * float(rng.choice([0.5, 1, 1, 2]))
                if rng.random() < 0.85:
                    _note(ev, 2, mt, d * 0.9, root + 12 + scale[int(rng.integers(0, 7))] + 12 * int(rng.integers(0, 2)), int(rng.integers(60, 115)))
                mt += d
            if drums:
                for i in range(8):
                    tt = t + i * bar / 8
                    _note(ev, 9, tt, 0.1, 42 if rng.random() < 0.8 else 46, int(rng.integers(40, 90)))
                    if i % 4 == 0:
                        _note(ev, 9, tt, 0.1, 36, int(rng.integers(80, 120)))
                    if i % 4 == 2:
                        _note(ev, 9, tt, 0.1, 38, int(rng.integers(70, 115)))
            t += bar
        t0 = t + 0.3
    return midi_file(ev)


def clap_midi(seed, seconds=60):
    """Crowds of clappers on GM percussion note 39 (hand clap): each clapper claps at 2-6 Hz with
    jitter, bursts start and end, densities from a few people to a full house."""
    rng = np.random.default_rng(seed)
    ev = []
    t0 = 0.0
    while t0 < seconds:
        seg = float(rng.uniform(3, 8))
        people = int(rng.choice([3, 6, 12, 25, 40]))
        for _ in range(people):
            rate = rng.uniform(2.0, 6.0)
            t = t0 + rng.uniform(0, 0.5)
            end = t0 + seg - rng.uniform(0, 0.8)
            while t < end:
                _note(ev, 9, t, 0.05, 39, int(rng.integers(30, 127)))
                t += (1 / rate) * rng.uniform(0.85, 1.15)
        t0 += seg
    return midi_file(ev)


def music_stream(group):
    return cached_array(f"music|{group}|v1", lambda: read_wav(render_midi(SOUNDFONTS[group], music_midi(8000 + GROUPS.index(group)))))


def clap_stream(group):
    return cached_array(f"claps|{group}|v1", lambda: read_wav(render_midi(SOUNDFONTS[group], clap_midi(8100 + GROUPS.index(group)), gain=0.3)))


# ---------------------------------------------------------------- rooms: image-source RIRs

def image_source_rir(rng, dims, src, mic, rt60, n=4000):
    """Image-source model of a shoebox room (Allen & Berkley): every image up to the order the
    RT60 needs, one absorption for all walls (Sabine), fractional delays by a short windowed sinc."""
    dims, src, mic = np.asarray(dims), np.asarray(src), np.asarray(mic)
    V, S = np.prod(dims), 2 * (dims[0] * dims[1] + dims[0] * dims[2] + dims[1] * dims[2])
    alpha = min(0.95, 0.161 * V / (S * rt60))
    beta = np.sqrt(1 - alpha)
    c = 343.0
    max_d = n / SR * c
    order = [int(np.ceil(max_d / (2 * d))) + 1 for d in dims]
    ax = [np.arange(-o, o + 1) for o in order]
    h = np.zeros(n + 16)
    pos_all, refl_all = [], []
    for px in (0, 1):
        for py in (0, 1):
            for pz in (0, 1):
                p = np.array([px, py, pz])
                gx, gy, gz = np.meshgrid(*ax, indexing="ij")
                m = np.stack([gx.ravel(), gy.ravel(), gz.ravel()], axis=1)
                img = (1 - 2 * p) * src + 2 * m * dims
                refl = np.abs(m - p).sum(axis=1) + np.abs(m).sum(axis=1)
                pos_all.append(img)
                refl_all.append(refl)
    img = np.concatenate(pos_all)
    refl = np.concatenate(refl_all)
    d = np.linalg.norm(img - mic, axis=1)
    keep = d < max_d
    d, refl = d[keep], refl[keep]
    amp = beta ** refl / (4 * np.pi * np.maximum(d, 0.1))
    # Randomise the phases of late images a little (diffuse, not a perfect mirror box).
    amp = amp * np.where(refl > 4, rng.choice([-1.0, 1.0], size=len(amp)) * 0.7 + 0.3 * np.sign(amp), 1.0)
    t = d / c * SR
    k = np.arange(-4, 5)
    base = np.floor(t).astype(int)
    frac = t - base
    for j in k:
        w = np.sinc(j - frac) * (0.5 + 0.5 * np.cos(np.pi * (j - frac) / 5))
        idx = base + j
        ok = (idx >= 0) & (idx < len(h))
        np.add.at(h, idx[ok], amp[ok] * w[ok])
    return h[:n]


def random_room(rng):
    dims = np.array([rng.uniform(5, 30), rng.uniform(4, 25), rng.uniform(2.6, 10)])
    rt60 = rng.uniform(0.2, 1.4)
    return dims, rt60


def random_point(rng, dims, margin=0.5):
    return np.array([rng.uniform(margin, d - margin) for d in dims])


def room_set(group, count=16):
    """The group's rooms: (source->mic RIR, PA->mic RIR) pairs, seeded per group."""
    rng = np.random.default_rng(9000 + GROUPS.index(group))
    out = []
    for _ in range(count):
        dims, rt60 = random_room(rng)
        mic = random_point(rng, dims, 1.0)
        mic[2] = rng.uniform(1.0, 1.8)
        # the talker or instrument, close to the mic (0.1-1.5 m); the PA further away (2-8 m)
        v = rng.standard_normal(3)
        src = np.clip(mic + v / np.linalg.norm(v) * rng.uniform(0.1, 1.5), 0.3, dims - 0.3)
        v = rng.standard_normal(3)
        v[2] = abs(v[2]) * 0.3
        pa = np.clip(mic + v / np.linalg.norm(v) * rng.uniform(2, 8), 0.3, dims - 0.3)
        h_src = image_source_rir(rng, dims, src, mic, rt60, n=3000)
        h_pa = image_source_rir(rng, dims, pa, mic, rt60, n=3000)
        out.append((h_src / np.max(np.abs(h_src)), h_pa))
    return out


# ---------------------------------------------------------------- band limits

def butter_mag(f, fc, order, kind):
    r = (np.maximum(f, 1e-3) / fc) ** (2 * order)
    return 1 / np.sqrt(1 + r) if kind == "lp" else np.sqrt(r / (1 + r))


def band_limit(rng, x, lo=(40, 200), hi=(3500, 7900)):
    """A microphone's (or PA's) band: high-pass, low-pass and a tilt, random each time."""
    X = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / SR)
    g = butter_mag(f, rng.uniform(*lo), int(rng.integers(1, 4)), "hp") * butter_mag(f, rng.uniform(*hi), int(rng.integers(1, 5)), "lp")
    g = g * db(rng.uniform(-3, 3) * np.log2(np.maximum(f, 20) / 1000.0))
    if rng.random() < 0.5:  # a presence peak or a dip
        fc = np.exp(rng.uniform(np.log(1500), np.log(6000)))
        g = g * db(rng.uniform(-6, 6) * np.exp(-0.5 * (np.log2(np.maximum(f, 1) / fc) / 0.4) ** 2))
    return np.fft.irfft(X * g, n=len(x))


def biquad(x, b, a):
    y = np.zeros_like(x)
    x1 = x2 = y1 = y2 = 0.0
    for i in range(len(x)):
        v = b[0] * x[i] + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2
        x2, x1, y2, y1 = x1, x[i], y1, v
        y[i] = v
    return y


def hp_lp_causal(x, fhp, flp):
    """Causal 2nd-order high-pass and low-pass (RBJ), for the PA inside the loop."""
    def coeffs(fc, kind):
        w = 2 * np.pi * fc / SR
        al = np.sin(w) / (2 * 0.7071)
        cw = np.cos(w)
        if kind == "hp":
            b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        else:
            b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        a0 = 1 + al
        return np.array(b) / a0, np.array([1, -2 * cw / a0, (1 - al) / a0])
    y = biquad(x, *coeffs(fhp, "hp"))
    return biquad(y, *coeffs(flp, "lp"))


def conv(x, h):
    n = len(x) + len(h) - 1
    N = 1 << int(np.ceil(np.log2(n)))
    return np.fft.irfft(np.fft.rfft(x, N) * np.fft.rfft(h, N), N)[:len(x)]


# ---------------------------------------------------------------- noise floors (silence families)

def pink(rng, n):
    X = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(X), dtype=float)
    f[0] = 1
    return np.fft.irfft(X / np.sqrt(f), n=n)


def silence_source(group, rng, n):
    t = np.arange(n) / SR
    if group == "A":  # electronic floor: pink or white, sometimes a little crackle
        x = pink(rng, n) if rng.random() < 0.6 else rng.standard_normal(n)
        x = x / rms(x)
        if rng.random() < 0.3:
            k = rng.integers(0, n, size=int(rng.integers(1, 6)))
            x[k] += rng.standard_normal(len(k)) * 8
        return x
    if group == "B":  # mains hum with harmonics and hiss
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        hum = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) * rng.uniform(0.1, 1) / k for k in range(1, 8))
        hiss = rng.standard_normal(n)
        return hum / rms(hum) + hiss / rms(hiss) * db(rng.uniform(-20, 0))
    # C: HVAC: brown rumble, low-passed, with a fan tone
    br = np.cumsum(rng.standard_normal(n))
    br = br - np.convolve(br, np.ones(401) / 401, mode="same")
    fan = np.sin(2 * np.pi * rng.uniform(80, 400) * t) * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.5, 4) * t))
    air = band_limit(rng, rng.standard_normal(n), lo=(100, 400), hi=(1000, 3000))
    return br / rms(br) + fan / rms(fan) * db(rng.uniform(-25, -8)) + air / rms(air) * db(rng.uniform(-15, 0))


def noise_floor(group, rng, n):
    return set_level(silence_source(group, rng, n), rng.uniform(-90, -62))


# ---------------------------------------------------------------- per-group source banks

class Bank:
    def __init__(self, group):
        self.group = group
        self.speech = speech_stream(group)
        self.music = music_stream(group)
        self.claps = clap_stream(group)
        self.rooms = room_set(group)

    def excerpt(self, rng, stream, n, min_share=0.3):
        best = None
        for _ in range(20):
            off = int(rng.integers(0, len(stream) - n))
            x = stream[off:off + n]
            r = rms(x)
            if best is None or r > best[0]:
                best = (r, x)
            if r > min_share * rms(stream):
                return x.copy()
        return best[1].copy()

    def speech_seg(self, rng, n):
        # a stream of a few utterances with short pauses, as a talker speaks
        parts, total = [], 0
        while total < n + SR:
            u = self.speech[int(rng.integers(len(self.speech)))]
            gap = np.zeros(int(rng.uniform(0.05, 0.4) * SR))
            parts += [u, gap]
            total += len(u) + len(gap)
        s = np.concatenate(parts)
        return self.excerpt(rng, s, n, 0.5)

    def applause_seg(self, rng, n):
        x = self.excerpt(rng, self.claps, n, 0.4)
        if self.group == "C" and rng.random() < 0.5:
            x = x / rms(x) + burst_applause(rng, n) * rng.uniform(0.3, 1.0)
        if rng.random() < 0.35:  # cheering: a babble of the group's own voices over the claps
            babble = sum(self.speech_seg(rng, n) * rng.uniform(0.5, 1) for _ in range(int(rng.integers(4, 9))))
            x = x / rms(x) + babble / rms(babble) * rng.uniform(0.2, 0.7)
        return x

    def source(self, rng, label, n):
        if label == "speech":
            return self.speech_seg(rng, n)
        if label == "music":
            return self.excerpt(rng, self.music, n)
        if label == "applause":
            return self.applause_seg(rng, n)
        return silence_source(self.group, rng, n)


def burst_applause(rng, n):
    """A physical model of clapping: short decaying noise bursts, band-shaped by hand cavity."""
    x = np.zeros(n)
    count = rng.poisson(rng.uniform(30, 250) * n / SR)
    for p in rng.integers(0, n, size=count):
        L = min(int(rng.uniform(0.003, 0.015) * SR), n - p)
        x[p:p + L] += rng.standard_normal(L) * np.exp(-np.arange(L) / (L / 4)) * rng.uniform(0.3, 1)
    f = np.fft.rfftfreq(n, 1 / SR)
    shape = np.exp(-0.5 * (np.log2(np.maximum(f, 1) / rng.uniform(800, 2500)) / 0.9) ** 2)
    x = np.fft.irfft(np.fft.rfft(x) * shape, n=n)
    return x / rms(x)


# ---------------------------------------------------------------- the acoustic loop

def acoustic_loop(rng, direct, h_pa, gain_margin_db, sat_db, latency):
    """mic = direct + h_pa * PA(sat(G * mic delayed by the latency)): simulated in blocks shorter
    than the loop's delay (so each block depends only on earlier ones). G puts the loop's largest
    gain `gain_margin_db` above 1: the loop howls at that frequency and grows until the PA clips.
    Returns (mic signal, the howl frequency in Hz)."""
    fhp, flp = rng.uniform(50, 150), rng.uniform(5000, 7800)
    path = np.concatenate([np.zeros(latency), h_pa])
    imp = np.zeros(len(path))
    imp[0] = 1
    path = np.convolve(path, hp_lp_causal(imp[:400], fhp, flp))[:len(path)]
    H = np.fft.rfft(path, 1 << 15)
    # The loop howls where its gain passes 1 with zero phase: among the bins in phase, the
    # strongest sets G; `gain_margin_db` over 1 there.
    inphase = np.where(np.abs(np.angle(H)) < 0.08)[0]
    k = inphase[np.argmax(np.abs(H[inphase]))]
    G = db(gain_margin_db) / np.abs(H[k])
    B = 64
    assert latency + int(np.argmax(np.abs(h_pa) > 1e-6 * np.max(np.abs(h_pa)))) >= B
    n = len(direct)
    fb = np.zeros(n + len(path) + B)
    mic = np.zeros(n)
    dmax = rms(direct) * db(sat_db) * G  # the PA clips when the howl is about sat_db over the programme
    for s in range(0, n, B):
        e = min(n, s + B)
        mic[s:e] = direct[s:e] + fb[s:e]
        drive = np.tanh(G * mic[s:e] / dmax) * dmax
        fb[s:s + (e - s) + len(path) - 1] += np.convolve(drive, path)
    return mic, float(k * SR / (1 << 15))


def narrowband_power(x, f, bw_s=0.02):
    """Power of x within about 1/bw_s Hz of f, per sample (demodulate, moving average)."""
    z = x * np.exp(-2j * np.pi * f * np.arange(len(x)) / SR)
    m = int(bw_s * SR)
    c = np.concatenate([[0], np.cumsum(z)])
    lp = (c[m:] - c[:-m]) / m
    return np.concatenate([np.zeros(m - 1), 2 * np.abs(lp) ** 2])


# ---------------------------------------------------------------- clips

def sliding_mean(x, n):
    c = np.concatenate([[0.0], np.cumsum(x)])
    return (c[n:] - c[:-n]) / n


def feedback_clip(bank, rng, n, level):
    """A clip of the loop howling over the group's programme: the window where the howl is between
    6 dB under and 15 dB over the programme (from its first audible moment to a full howl)."""
    kind = str(rng.choice(["speech", "music", "applause", "silence"], p=[0.35, 0.35, 0.15, 0.15]))
    for attempt in range(6):
        total = int(2.5 * SR)
        src = bank.source(rng, kind, total + 3000)
        h_src, h_pa = bank.rooms[int(rng.integers(len(bank.rooms)))]
        direct = conv(src, h_src)[3000:]
        direct = set_level(direct, -30 if kind != "silence" else -60)
        margin = rng.uniform(0.5, 4.0) + attempt
        mic, f_howl = acoustic_loop(rng, direct, h_pa, margin, rng.uniform(6, 20), int(rng.uniform(0.001, 0.01) * SR))
        # sliding levels per 10 ms hop over clip-long windows
        hop = F.HOP
        e_h = sliding_mean(narrowband_power(mic, f_howl), n)[::hop]
        e_p = sliding_mean(direct ** 2, n)[::hop]
        ratio = 10 * np.log10((e_h + 1e-20) / (e_p + 1e-20))
        ok = np.where((ratio > -6) & (ratio < 15) & (e_h > 1e-12))[0]
        if len(ok):
            s = int(rng.choice(ok)) * hop
            x = band_limit(rng, mic[s:s + n])
            return set_level(x, level)
    return set_level(band_limit(rng, mic[-n:]), level)


def make_clip(bank, rng, label):
    n = CLIP
    level = rng.uniform(-45, -6)
    floor = noise_floor(bank.group, rng, n)
    if label == "silence":
        x = band_limit(rng, bank.source(rng, "silence", n))
        return np.clip(set_level(x, rng.uniform(-88, -55)), -1, 1)
    if label == "feedback":
        return np.clip(feedback_clip(bank, rng, n, level) + floor, -1, 1)

    def placed(lbl):
        src = bank.source(rng, lbl, n + 3000)
        if lbl != "speech" and rng.random() < 0.5:  # played through the PA: its band limits first
            src = band_limit(rng, src, lo=(40, 150), hi=(5000, 7900))
        if rng.random() < 0.8:
            src = conv(src, bank.rooms[int(rng.integers(len(bank.rooms)))][0])
        return band_limit(rng, src[3000:])

    x = set_level(placed(label), level)
    if rng.random() < 0.5:  # a quieter second source of the group
        other = str(rng.choice([c for c in ("speech", "music", "applause") if c != label]))
        x = x + set_level(placed(other), level - rng.uniform(8, 25))
    return np.clip(x + floor, -1, 1)


def make_group_set(group, per_class, seed):
    """Log-mel patches [N,50,40] and labels of one family group (cached)."""
    key = f"set|{group}|{per_class}|{seed}|v2"
    path = os.path.join(CACHE, hashlib.sha256(key.encode()).hexdigest()[:24] + ".npz")
    if os.path.exists(path):
        d = np.load(path)
        return d["X"], d["y"]
    bank = Bank(group)
    rng = np.random.default_rng(seed + GROUPS.index(group))
    X = np.zeros((per_class * len(CLASSES), F.PATCH_FRAMES, F.NMEL), dtype=np.float32)
    y = np.zeros(per_class * len(CLASSES), dtype=np.int64)
    i = 0
    for c, label in enumerate(CLASSES):
        for _ in range(per_class):
            X[i] = F.log_mel(make_clip(bank, rng, label))[:F.PATCH_FRAMES]
            y[i] = c
            i += 1
    os.makedirs(CACHE, exist_ok=True)
    np.savez(path + ".tmp.npz", X=X, y=y)
    os.replace(path + ".tmp.npz", path)
    return X, y


def vad_set(group, seconds=240, seed=12000):
    """Voice activity evaluation audio of one family group: the group's talker (its own
    synthesiser, in its rooms) alternating with its music, applause, room noise and silence, speech
    often over a quieter bed; 16 kHz mono, the true speech intervals (utterances, trimmed) and every
    part as [start, end, kind, level dBFS, bed] (for the confusion: what the errors are)."""
    bank = Bank(group)
    rng = np.random.default_rng(seed + GROUPS.index(group))
    parts, speech, segs, t = [], [], [], 0
    while t < seconds * SR:
        kind = str(rng.choice(["speech", "speech", "music", "applause", "silence", "noise"]))
        level = rng.uniform(-40, -10)
        if kind == "speech":
            u = bank.speech[int(rng.integers(len(bank.speech)))]
            h = bank.rooms[int(rng.integers(len(bank.rooms)))][0]
            x = set_level(band_limit(rng, conv(u, h) if rng.random() < 0.8 else u), level)
            bed = ""
            if rng.random() < 0.6:
                bed = "music" if rng.random() < 0.5 else "applause"
                x = x + set_level(bank.source(rng, bed, len(x)), level - rng.uniform(6, 20))
            speech.append([round(t / SR, 4), round((t + len(u)) / SR, 4)])
        else:
            n = int(rng.uniform(1.0, 4.0) * SR)
            if kind == "silence":
                x = set_level(silence_source(group, rng, n), rng.uniform(-85, -60))
            elif kind == "noise":
                x = set_level(pink(rng, n), level - 10)
            else:
                x = set_level(band_limit(rng, bank.source(rng, kind, n)), level)
        x = x + noise_floor(group, rng, len(x))
        segs.append([round(t / SR, 4), round((t + len(x)) / SR, 4), kind, round(float(level), 1), bed if kind == "speech" else ""])
        parts.append(x)
        t += len(x)
    return np.clip(np.concatenate(parts), -1, 1).astype(np.float32), speech, segs
