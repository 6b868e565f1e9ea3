#!/usr/bin/env python3
"""The independent reference for FoodFlow's vision pipelines: PIL decode, numpy pre- and
post-processing, the Python onnxruntime session (YOLO detection; Anomalib-layout anomaly scores).

Used by the parity tests (edge-runtime/vision/tests/parity.rs) and by `make bench-vision`.
It shares no code with the Rust pipeline; it implements the same published conventions:
Ultralytics' letterbox (centred, pad 114, round(d - 0.1) before), OpenCV INTER_LINEAR sampling
(half-pixel centres, clamped edges), the YOLOv8 output [1, 4 + classes, anchors], class-aware greedy
NMS in descending score order.

  reference.py run     --model M.onnx --size 320 [--score 0.25 --iou 0.45] IMAGE...
  reference.py bench   --model M.onnx --size 320 --iterations 200 --warmup 10 IMAGE
  reference.py anomaly --model M.onnx --size 256 IMAGE...   (stretched, RGB 0..1)
Prints one JSON object per image (run, anomaly) or one summary (bench).
"""
import argparse
import ast
import io
import json
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

F32 = np.float32


def taps(src, dst):
    inv = F32(src) / F32(dst)
    f = (np.arange(dst, dtype=F32) + F32(0.5)) * inv - F32(0.5)
    f = np.maximum(f, F32(0))
    i0 = np.floor(f).astype(np.int64)
    w = (f - i0.astype(F32)).astype(F32)
    i0 = np.minimum(i0, src - 1)
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, w


def letterbox(rgb, size):
    h, w = rgb.shape[:2]
    r = min(F32(size) / F32(w), F32(size) / F32(h))
    new_w = min(max(int(np.floor(F32(w) * r + F32(0.5))), 1), size)
    new_h = min(max(int(np.floor(F32(h) * r + F32(0.5))), 1), size)
    pad_x = int(np.floor(F32((size - new_w) / 2) - F32(0.1) + F32(0.5)))
    pad_y = int(np.floor(F32((size - new_h) / 2) - F32(0.1) + F32(0.5)))
    x0, x1, wx = taps(w, new_w)
    y0, y1, wy = taps(h, new_h)
    img = rgb.astype(F32)
    wx = wx[None, :, None]
    top = img[y0][:, x0] * (F32(1) - wx) + img[y0][:, x1] * wx
    bot = img[y1][:, x0] * (F32(1) - wx) + img[y1][:, x1] * wx
    wy = wy[:, None, None]
    resized = top * (F32(1) - wy) + bot * wy
    scale = F32(1.0 / 255.0)
    out = np.full((size, size, 3), F32(114) * scale, dtype=F32)
    out[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized * scale
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None]), r, pad_x, pad_y


def stretch(rgb, size):
    h, w = rgb.shape[:2]
    x0, x1, wx = taps(w, size)
    y0, y1, wy = taps(h, size)
    img = rgb.astype(F32)
    wx = wx[None, :, None]
    top = img[y0][:, x0] * (F32(1) - wx) + img[y0][:, x1] * wx
    bot = img[y1][:, x0] * (F32(1) - wx) + img[y1][:, x1] * wx
    wy = wy[:, None, None]
    out = (top * (F32(1) - wy) + bot * wy) * F32(1.0 / 255.0)
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None])


def anomaly(model, size, paths):
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        amap, score = session.run(["anomaly_map", "pred_score"], {name: stretch(rgb, size)})
        print(json.dumps({"image": path, "score": float(score.reshape(-1)[0]),
                          "map_max": float(amap.max()), "map_mean": float(amap.mean())}))


def iou(a, b):
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return 0.0 if union <= 0 else inter / union


def decode_v8(out, score_t, iou_t, max_det=300):
    o = out[0]
    scores = o[4:]
    best = scores.max(axis=0)
    cls = scores.argmax(axis=0)
    keep = np.nonzero(best > score_t)[0]
    cx, cy, bw, bh = o[0, keep], o[1, keep], o[2, keep], o[3, keep]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    s, c = best[keep], cls[keep]
    order = np.argsort(-s, kind="stable")
    kept = []
    for i in order:
        if len(kept) >= max_det:
            break
        if all(c[k] != c[i] or iou(boxes[k], boxes[i]) <= iou_t for k in kept):
            kept.append(i)
    return [(int(c[i]), float(s[i]), boxes[i]) for i in kept]


class Pipeline:
    def __init__(self, model, size, score, iou_t, threads):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        names = self.session.get_modelmeta().custom_metadata_map.get("names", "{}")
        self.labels = [v for _, v in sorted(ast.literal_eval(names).items())]
        self.size, self.score, self.iou = size, score, iou_t
        self.last = {}

    def __call__(self, data):
        t0 = time.perf_counter()
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        t1 = time.perf_counter()
        x, r, px, py = letterbox(rgb, self.size)
        t2 = time.perf_counter()
        (out,) = self.session.run(None, {self.input: x})
        t3 = time.perf_counter()
        h, w = rgb.shape[:2]
        dets = []
        for c, s, b in decode_v8(out, self.score, self.iou):
            x1, x2 = [float(np.clip((v - px) / r, 0, w)) for v in (b[0], b[2])]
            y1, y2 = [float(np.clip((v - py) / r, 0, h)) for v in (b[1], b[3])]
            label = self.labels[c] if c < len(self.labels) else f"class_{c}"
            dets.append({"label": label, "class_id": c, "score": s, "box": [x1, y1, x2, y2]})
        t4 = time.perf_counter()
        self.last = {"decode": t1 - t0, "pre": t2 - t1, "session": t3 - t2, "post": t4 - t3, "total": t4 - t0}
        return dets


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["run", "bench", "anomaly"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--score", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.45)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("images", nargs="+")
    a = ap.parse_args()
    if a.mode == "anomaly":
        anomaly(a.model, a.size, a.images)
        return
    p = Pipeline(a.model, a.size, a.score, a.iou, a.threads)
    if a.mode == "run":
        for path in a.images:
            with open(path, "rb") as f:
                dets = p(f.read())
            print(json.dumps({"image": path, "detections": dets}))
        return
    with open(a.images[0], "rb") as f:
        data = f.read()
    sums = {}
    totals = []
    for i in range(a.warmup + a.iterations):
        p(data)
        if i >= a.warmup:
            totals.append(p.last["total"])
            for k, v in p.last.items():
                sums[k] = sums.get(k, 0.0) + v
    n = a.iterations
    print(json.dumps({
        "reference_ms": 1e3 * sums["total"] / n,
        "p50_ms": 1e3 * sorted(totals)[n // 2],
        "decode_ms": 1e3 * sums["decode"] / n,
        "pre_ms": 1e3 * sums["pre"] / n,
        "session_ms": 1e3 * sums["session"] / n,
        "post_ms": 1e3 * sums["post"] / n,
    }))


if __name__ == "__main__":
    main()
