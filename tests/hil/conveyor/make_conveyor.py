#!/usr/bin/env python3
"""The HIL rig's synthetic conveyor: what two cameras over a biscuit line would see, frame by
frame, with the ground truth of every frame.

- `biscuits/frame_NNNNN.png`: a biscuit from above (256x256), good or with an injected defect
  (burnt, crack, broken, foreign body), drawn by the demo anomaly model's own generator
  (models/anomaly/make_biscuit_anomaly.py) with other seeds than its training and test sets;
- `labels/frame_NNNNN.png`: the pack's printed date code (Pillow's bundled font), normally the
  batch's code, sometimes a wrong one (another date or a misprinted lot);
- `truth.jsonl`: one line per frame: {"frame", "defect" (null when good), "code", "code_ok"}.

`foodflow-sim conveyor` runs this with the test venv (numpy, Pillow) and plays the sequences to
an edge as two image-sequence cameras.

    make_conveyor.py OUT FRAMES SEED CODE [--defect-rate 0.3] [--wrong-code-rate 0.1]
"""
import argparse
import importlib.util
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
spec = importlib.util.spec_from_file_location("biscuits", os.path.join(ROOT, "models", "anomaly", "make_biscuit_anomaly.py"))
biscuits = importlib.util.module_from_spec(spec)
spec.loader.exec_module(biscuits)


def wrong(code, rng):
    """A plausible misprint: another digit somewhere, or the day moved by one."""
    chars = list(code)
    digits = [i for i, c in enumerate(chars) if c.isdigit()]
    i = digits[int(rng.integers(0, len(digits)))]
    chars[i] = str((int(chars[i]) + int(rng.integers(1, 9))) % 10)
    return "".join(chars)


def label(code, path):
    font = ImageFont.load_default(size=36)
    img = Image.new("RGB", (520, 110), (246, 243, 232))
    ImageDraw.Draw(img).text((30, 32), code, fill=(24, 24, 30), font=font)
    img.save(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("frames", type=int)
    ap.add_argument("seed", type=int)
    ap.add_argument("code")
    ap.add_argument("--defect-rate", type=float, default=0.3)
    ap.add_argument("--wrong-code-rate", type=float, default=0.1)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    for sub in ("biscuits", "labels"):
        os.makedirs(os.path.join(a.out, sub), exist_ok=True)
    with open(os.path.join(a.out, "truth.jsonl"), "w") as truth:
        for i in range(a.frames):
            defect = None
            if rng.random() < a.defect_rate:
                defect = biscuits.DEFECTS[int(rng.integers(0, len(biscuits.DEFECTS)))]
            Image.fromarray(biscuits.biscuit(rng, defect)).save(os.path.join(a.out, "biscuits", f"frame_{i:05d}.png"))
            code = a.code if rng.random() >= a.wrong_code_rate else wrong(a.code, rng)
            label(code, os.path.join(a.out, "labels", f"frame_{i:05d}.png"))
            truth.write(json.dumps({"frame": i, "defect": defect, "code": code, "code_ok": code == a.code}) + "\n")
    print(json.dumps({"out": a.out, "frames": a.frames}))


if __name__ == "__main__":
    sys.exit(main())
