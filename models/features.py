# Feature definitions shared by training (numpy) and the appliance (addons/src/features/*.cc).
# Keep the two in step: tests/inference/features.test.ts compares the native log-mel against the
# golden frames this module writes (models/fixtures/logmel_golden.json).
import numpy as np

SR = 16000
FRAME = 400          # 25 ms analysis window
HOP = 160            # 10 ms hop
NFFT = 512
NMEL = 40
FMIN, FMAX = 50.0, 7600.0
LOG_FLOOR = 1e-8

# Classifier patch: 50 frames (0.5 s) of 40 log-mel bands.
PATCH_FRAMES = 50

# Per-output spectrum (EQ recommender), at the engine rate.
SPEC_SR = 48000
SPEC_NFFT = 2048
SPEC_BANDS = 32
SPEC_FMIN, SPEC_FMAX = 31.5, 16000.0
# Recommender output bands: octave centres.
EQ_CENTRES = [63, 125, 250, 500, 1000, 2000, 4000, 8000]


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank():
    """Triangular HTK-mel filters over FFT bins 0..NFFT/2, shape [NMEL, NFFT//2+1]."""
    edges = mel_to_hz(np.linspace(hz_to_mel(FMIN), hz_to_mel(FMAX), NMEL + 2))
    freqs = np.arange(NFFT // 2 + 1) * SR / NFFT
    fb = np.zeros((NMEL, NFFT // 2 + 1))
    for m in range(NMEL):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[m] = np.maximum(0.0, np.minimum(up, down))
    return fb


_FB = mel_filterbank()
# Periodic Hann window.
_WIN = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(FRAME) / FRAME)


def log_mel(x):
    """x: float array at 16 kHz in [-1, 1]. Returns [frames, NMEL] of ln(mel power + 1e-8).
    Frame i covers samples [i*HOP, i*HOP+FRAME)."""
    x = np.asarray(x, dtype=np.float64)
    n = 1 + (len(x) - FRAME) // HOP if len(x) >= FRAME else 0
    if n == 0:
        return np.zeros((0, NMEL), dtype=np.float32)
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    frames = x[idx] * _WIN[None, :]
    spec = np.fft.rfft(frames, n=NFFT, axis=1)
    power = (spec.real ** 2 + spec.imag ** 2) / NFFT
    return np.log(power @ _FB.T + LOG_FLOOR).astype(np.float32)


def spec_band_edges():
    return np.geomspace(SPEC_FMIN, SPEC_FMAX, SPEC_BANDS + 1)


def spec_band_centres():
    e = spec_band_edges()
    return np.sqrt(e[:-1] * e[1:])
