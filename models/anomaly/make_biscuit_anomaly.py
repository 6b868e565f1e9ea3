#!/usr/bin/env python3
"""Builds FoodFlow's demo anomaly model for round biscuits on a conveyor, reproducibly.

Method: PaDiM (Defard et al., 2020) with a fixed, hand-designed feature extractor instead of a
pretrained CNN: per 8x8 cell of a 256x256 image, the local colour means and variances and the
gradient energy at two scales (10 features). On good biscuits only, a Gaussian (mean, covariance)
is fitted per cell; a cell's anomaly is its Mahalanobis distance to that Gaussian. The map is
upsampled, smoothed, and normalised as Anomalib does (0.5 = the decision threshold, clipped to
0..1). Everything — features, per-cell statistics, distance, normalisation — is one ONNX graph with
Anomalib's output names (`anomaly_map` [1,1,256,256], `pred_score` [1]), so FoodFlow runs it as an
`anomalib` export.

Data: synthetic images made here (numpy + Pillow, fixed seeds): golden biscuits with docking holes
and browned rims on a grey belt; test defects are burnt patches, cracks, broken-off pieces and
foreign bodies. Training uses good images only (as in production: defects are rare).

Writes models/anomaly/biscuit-anomaly.onnx and models/anomaly/MODEL_CARD.md (AUROC and accuracy
measured with onnxruntime on the exported file, on a held-out set), and prints the sha256 for
models/models.yaml.

    .venv-models/bin/python models/anomaly/make_biscuit_anomaly.py [--out DIR] [--samples DIR]
"""
import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# onnx and onnxruntime are imported where the model is built, so `--samples-only` needs only
# numpy and Pillow (the test venv).

SIZE = 256
CELL = 8
GRID = SIZE // CELL
EPS = 0.01
DEFECTS = ("burnt", "crack", "broken", "foreign")


# ---------------------------------------------------------------- synthetic images


def belt(rng):
    base = rng.uniform(70, 95)
    img = np.full((SIZE, SIZE, 3), base, np.float32)
    img += rng.normal(0, 4, (SIZE, SIZE, 1))  # grain, grey
    stripes = (np.arange(SIZE)[None, :, None] % 24 < 2) * -10.0  # belt weave
    return np.clip(img + stripes, 0, 255)


def biscuit(rng, defect=None):
    """One frame: belt, biscuit, optional defect. Returns an RGB uint8 array."""
    return biscuit_with_box(rng, defect)[0]


def biscuit_with_box(rng, defect=None):
    """Like `biscuit`, with the defect's bounding box (x1, y1, x2, y2), or None when good. Draws
    with exactly the same random numbers as `biscuit`, so both give the same images."""
    box = None
    img = Image.fromarray(belt(rng).astype(np.uint8))
    cx = SIZE / 2 + rng.uniform(-8, 8)
    cy = SIZE / 2 + rng.uniform(-8, 8)
    r = rng.uniform(84, 96)
    # Bake varies from pale to well done; the light varies across the belt.
    tone = np.array([205, 152, 84]) * rng.uniform(0.9, 1.08) * rng.uniform(0.97, 1.03, 3)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    dist = np.hypot(xx - cx, yy - cy)
    inside = dist <= r
    arr = np.asarray(img, np.float32).copy()
    # Browner towards the rim, a little mottling everywhere.
    rim = np.clip((dist - 0.6 * r) / (0.4 * r), 0, 1)[..., None]
    body = tone[None, None, :] * (1 - 0.22 * rim) + rng.normal(0, 5, (SIZE, SIZE, 1))
    arr[inside] = body[inside]
    # Docking holes on a grid (turned as the biscuit lies), slightly darker.
    turn = rng.uniform(0, math.pi / 2)
    for gx in range(-2, 3):
        for gy in range(-2, 3):
            ox, oy = gx * 26 * math.cos(turn) - gy * 26 * math.sin(turn), gx * 26 * math.sin(turn) + gy * 26 * math.cos(turn)
            hx, hy = cx + ox + rng.uniform(-1.5, 1.5), cy + oy + rng.uniform(-1.5, 1.5)
            if math.hypot(hx - cx, hy - cy) < r - 14:
                hole = np.hypot(xx - hx, yy - hy) <= 2.6
                arr[hole] *= 0.72
    # Uneven light: a gentle gradient in a random direction.
    ga = rng.uniform(0, 2 * math.pi)
    light = 1 + rng.uniform(0, 0.12) * ((xx - SIZE / 2) * math.cos(ga) + (yy - SIZE / 2) * math.sin(ga)) / SIZE
    arr *= light[..., None]
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    # Crumbs on the belt are normal, not defects.
    for _ in range(int(rng.integers(2, 14))):
        a, rr = rng.uniform(0, 2 * math.pi), rng.uniform(r + 8, SIZE * 0.7)
        px, py = cx + rr * math.cos(a), cy + rr * math.sin(a)
        c = rng.uniform(1.5, 3.5)
        d.ellipse([px - c, py - c, px + c, py + c], fill=tuple(int(v) for v in tone * 0.9))
    if defect == "burnt":
        a = rng.uniform(0, 2 * math.pi)
        rr = rng.uniform(0, r - 24)
        px, py = cx + rr * math.cos(a), cy + rr * math.sin(a)
        s = rng.uniform(6, 16)
        shade = rng.uniform(0.3, 0.65)  # from scorched to burnt black
        d.ellipse([px - s, py - s * 0.8, px + s, py + s * 0.8], fill=tuple(int(v * shade) for v in tone))
        img = img.filter(ImageFilter.GaussianBlur(1.0))
        box = (px - s, py - s * 0.8, px + s, py + s * 0.8)
    elif defect == "crack":
        a = rng.uniform(0, 2 * math.pi)
        pts = [(cx + (r + 2) * math.cos(a), cy + (r + 2) * math.sin(a))]
        for _ in range(int(rng.integers(2, 6))):
            a += rng.uniform(-0.5, 0.5)
            x, y = pts[-1]
            pts.append((x - 14 * math.cos(a), y - 14 * math.sin(a)))
        d.line(pts, fill=tuple(int(v * 0.55) for v in tone), width=2)
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        box = (min(xs) - 1, min(ys) - 1, max(xs) + 1, max(ys) + 1)
    elif defect == "broken":
        a = rng.uniform(0, 2 * math.pi)
        w = rng.uniform(0.25, 0.7)
        bg = Image.fromarray(belt(rng).astype(np.uint8))
        mask = Image.new("L", (SIZE, SIZE), 0)
        md = ImageDraw.Draw(mask)
        chord = r * rng.uniform(0.6, 0.85)
        md.pieslice([cx - r - 2, cy - r - 2, cx + r + 2, cy + r + 2],
                    math.degrees(a - w), math.degrees(a + w), fill=255)
        md.ellipse([cx - chord, cy - chord, cx + chord, cy + chord], fill=0)
        img.paste(bg, (0, 0), mask)
        inside = Image.new("L", (SIZE, SIZE), 0)
        ImageDraw.Draw(inside).ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        gone = np.asarray(mask) & np.asarray(inside)
        ys, xs = np.nonzero(gone)
        if len(xs):
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    elif defect == "foreign":
        px = cx + rng.uniform(-r + 20, r - 20)
        py = cy + rng.uniform(-r + 20, r - 20)
        colour = [(40, 90, 200), (60, 170, 70), (170, 170, 180), (225, 215, 190)][int(rng.integers(0, 4))]
        e = rng.uniform(3, 8)
        pts = [(px + rng.uniform(-e, e), py + rng.uniform(-e, e)) for _ in range(5)]
        d.polygon(pts, fill=colour)
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        box = (min(xs), min(ys), max(xs), max(ys))
    return np.asarray(img, np.uint8), box


# ---------------------------------------------------------------- features (numpy and ONNX alike)


def features_np(batch):
    """batch: [N,3,H,W] float32 0..1 -> [N,10,GRID,GRID]; the same arithmetic as the graph."""
    def pool(x, k):
        n, c, h, w = x.shape
        return x.reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5))

    mean = pool(batch, CELL)
    var = pool(batch * batch, CELL) - mean * mean
    lum = (0.299 * batch[:, 0:1] + 0.587 * batch[:, 1:2] + 0.114 * batch[:, 2:3])
    g1 = grad_energy_np(lum)
    half = pool(lum, 2)
    g2 = grad_energy_np(half)
    return np.concatenate([mean, var, pool(g1, CELL), pool(g2, CELL // 2)], axis=1).astype(np.float32)


SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 8
SOBEL_Y = SOBEL_X.T.copy()


def conv3_same(x, k):
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros_like(x)
    for dy in range(3):
        for dx in range(3):
            out += k[dy, dx] * p[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]
    return out


def grad_energy_np(lum):
    gx, gy = conv3_same(lum, SOBEL_X), conv3_same(lum, SOBEL_Y)
    return np.concatenate([gx * gx, gy * gy], axis=1)


def const(name, arr):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(arr), name)


def build_graph(mu, inv_cov, t_raw, span):
    """The ONNX graph: image [1,3,256,256] (0..1 RGB) -> anomaly_map [1,1,256,256], pred_score [1]."""
    import onnx
    from onnx import TensorProto, helper

    nodes, inits = [], []

    def n(op, ins, outs, **kw):
        nodes.append(helper.make_node(op, ins, outs, **kw))

    cell = [CELL, CELL]
    n("AveragePool", ["input"], ["mean"], kernel_shape=cell, strides=cell)
    n("Mul", ["input", "input"], ["sq"])
    n("AveragePool", ["sq"], ["meansq"], kernel_shape=cell, strides=cell)
    n("Mul", ["mean", "mean"], ["mean2"])
    n("Sub", ["meansq", "mean2"], ["var"])
    inits.append(const("lumw", np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 3, 1, 1)))
    n("Conv", ["input", "lumw"], ["lum"])
    sob = np.stack([SOBEL_X, SOBEL_Y])[:, None]  # [2,1,3,3]
    inits.append(const("sobel", sob.astype(np.float32)))
    n("Conv", ["lum", "sobel"], ["g1"], pads=[1, 1, 1, 1])
    n("Mul", ["g1", "g1"], ["e1"])
    n("AveragePool", ["e1"], ["f_e1"], kernel_shape=cell, strides=cell)
    n("AveragePool", ["lum"], ["half"], kernel_shape=[2, 2], strides=[2, 2])
    n("Conv", ["half", "sobel"], ["g2"], pads=[1, 1, 1, 1])
    n("Mul", ["g2", "g2"], ["e2"])
    n("AveragePool", ["e2"], ["f_e2"], kernel_shape=[CELL // 2] * 2, strides=[CELL // 2] * 2)
    n("Concat", ["mean", "var", "f_e1", "f_e2"], ["feat"], axis=1)  # [1,10,G,G]
    nf = mu.shape[1]
    inits.append(const("shape_pf", np.array([nf, GRID * GRID], np.int64)))
    n("Reshape", ["feat", "shape_pf"], ["f2"])  # [10, P]
    n("Transpose", ["f2"], ["fp"], perm=[1, 0])  # [P, 10]
    inits.append(const("mu", mu.astype(np.float32)))  # [P, 10]
    n("Sub", ["fp", "mu"], ["diff"])
    inits.append(const("ax1", np.array([1], np.int64)))
    n("Unsqueeze", ["diff", "ax1"], ["diff3"])  # [P,1,10]
    inits.append(const("icov", inv_cov.astype(np.float32)))  # [P,10,10]
    n("MatMul", ["diff3", "icov"], ["m1"])  # [P,1,10]
    n("Mul", ["m1", "diff3"], ["m2"])
    inits.append(const("ax2", np.array([2], np.int64)))
    n("ReduceSum", ["m2", "ax2"], ["d2"], keepdims=0)  # [P,1]
    inits.append(const("zero", np.array(0, np.float32)))
    n("Max", ["d2", "zero"], ["d2p"])
    n("Sqrt", ["d2p"], ["dist"])
    inits.append(const("shape_map", np.array([1, 1, GRID, GRID], np.int64)))
    n("Reshape", ["dist", "shape_map"], ["small"])
    inits.append(const("scales", np.array([1, 1, CELL, CELL], np.float32)))
    n("Resize", ["small", "", "scales"], ["big"], mode="linear", coordinate_transformation_mode="half_pixel")
    g = np.exp(-0.5 * (np.arange(-6, 7) / 3.0) ** 2)
    k = np.outer(g, g)
    inits.append(const("blur", (k / k.sum()).astype(np.float32)[None, None]))
    n("Conv", ["big", "blur"], ["raw_map"], pads=[6, 6, 6, 6])
    # Anomalib's normalisation: (x - threshold) / (max - min) + 0.5, clipped to 0..1.
    inits.append(const("t", np.array(t_raw, np.float32)))
    inits.append(const("span", np.array(span, np.float32)))
    inits.append(const("half_", np.array(0.5, np.float32)))
    inits.append(const("one", np.array(1.0, np.float32)))
    for src, dst in (("raw_map", "anomaly_map"),):
        n("Sub", [src, "t"], [src + "_c"])
        n("Div", [src + "_c", "span"], [src + "_s"])
        n("Add", [src + "_s", "half_"], [src + "_h"])
        n("Clip", [src + "_h", "zero", "one"], [dst])
    n("ReduceMax", ["anomaly_map"], ["pred_score"], axes=[1, 2, 3], keepdims=0)  # [1]
    graph = helper.make_graph(
        nodes, "biscuit_padim",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, [1, 1, SIZE, SIZE]),
         helper.make_tensor_value_info("pred_score", TensorProto.FLOAT, [1])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="foodflow")
    model.ir_version = 8
    meta = model.metadata_props.add()
    meta.key, meta.value = "task", "anomaly"
    onnx.checker.check_model(model)
    return model


def to_input(rgb):
    return (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]


def auroc(scores, labels):
    """Probability that a random defective image scores above a random good one (ties half)."""
    s, l = np.asarray(scores), np.asarray(labels)
    pos, neg = s[l == 1], s[l == 0]
    gt = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(gt / (len(pos) * len(neg)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--train", type=int, default=600)
    ap.add_argument("--test", type=int, default=100, help="good test images; as many defective")
    ap.add_argument("--samples", help="also save a few test images (PNG) here")
    ap.add_argument("--samples-only", type=int, metavar="N",
                    help="only write N images (good and each defect in turn) to --samples, seed 4242")
    a = ap.parse_args()
    if a.samples_only:
        os.makedirs(a.samples, exist_ok=True)
        rng = np.random.default_rng(4242)
        for i in range(a.samples_only):
            kind = None if i % 2 == 0 else DEFECTS[(i // 2) % len(DEFECTS)]
            Image.fromarray(biscuit(rng, kind)).save(os.path.join(a.samples, f"{i:02d}-{kind or 'good'}.png"))
        return
    import onnx
    import onnxruntime as ort

    rng = np.random.default_rng(20261124)
    print(f"generating {a.train} good training images", file=sys.stderr)
    train = np.concatenate([to_input(biscuit(rng)) for _ in range(a.train)])
    feats = features_np(train)  # [N,10,G,G]
    nf = feats.shape[1]
    fp = feats.reshape(len(train), nf, -1).transpose(2, 0, 1)  # [P,N,10]
    mu = fp.mean(axis=1)
    centred = fp - mu[:, None, :]
    cov = np.einsum("pni,pnj->pij", centred, centred) / (len(train) - 1)
    # Regularise relative to each feature's scale so colour and texture weigh alike.
    scale = np.maximum(np.einsum("pii->pi", cov).mean(axis=0), 1e-8)
    cov += EPS * np.eye(nf)[None] * scale[None, :, None]
    inv_cov = np.linalg.inv(cov)

    # The normalisation comes from good validation images (as Anomalib's min-max): score them
    # raw first, with a span wide enough that nothing clips.
    probe = ort.InferenceSession(build_graph(mu, inv_cov, 0.0, 1000.0).SerializeToString())
    val_rng = np.random.default_rng(7)
    raw_good = [float((probe.run(["pred_score"], {"input": to_input(biscuit(val_rng))})[0][0] - 0.5) * 1000.0)
                for _ in range(200)]
    t_raw = float(np.max(raw_good))  # no good validation image is flagged
    span = float(t_raw * 2.0)
    model = build_graph(mu, inv_cov, t_raw, span)
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "biscuit-anomaly.onnx")
    onnx.save(model, path)

    sess = ort.InferenceSession(path)
    test_rng = np.random.default_rng(99)
    scores, labels, kinds = [], [], []
    for i in range(a.test * 2):
        kind = None if i % 2 == 0 else DEFECTS[(i // 2) % len(DEFECTS)]
        rgb = biscuit(test_rng, kind)
        if a.samples and i < 8:
            os.makedirs(a.samples, exist_ok=True)
            Image.fromarray(rgb).save(os.path.join(a.samples, f"test-{i:02d}-{kind or 'good'}.png"))
        s = float(sess.run(["pred_score"], {"input": to_input(rgb)})[0][0])
        scores.append(s)
        labels.append(0 if kind is None else 1)
        kinds.append(kind or "good")
    scores, labels = np.array(scores), np.array(labels)
    pred = scores > 0.5
    result = {
        "auroc": auroc(scores, labels),
        "accuracy_at_0.5": float((pred == (labels == 1)).mean()),
        "good_flagged": int(((labels == 0) & pred).sum()),
        "defects_missed": int(((labels == 1) & ~pred).sum()),
        "per_defect_auroc": {k: auroc(np.r_[scores[np.array(kinds) == k], scores[labels == 0]],
                                      np.r_[np.ones((np.array(kinds) == k).sum()), np.zeros((labels == 0).sum())])
                             for k in DEFECTS},
        "test_images": int(len(scores)),
        "train_images": a.train,
        "threshold_raw": t_raw,
    }
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    size = os.path.getsize(path)
    card = f"""# biscuit-anomaly — model card

Made by `models/anomaly/make_biscuit_anomaly.py` (run it with `make models`; it is deterministic
for the pinned numpy/onnx/onnxruntime of `scripts/requirements-models.txt`).

- **Task**: anomaly detection on round biscuits seen from above on a conveyor (256×256 RGB,
  the whole frame stretched). Output as an Anomalib export: `anomaly_map` [1,1,256,256] and
  `pred_score` [1], both normalised so that 0.5 is the decision threshold.
- **Method**: PaDiM with a fixed feature extractor (per 8×8 cell: colour means and variances,
  gradient energy at two scales — 10 features), one Gaussian per cell fitted on good images,
  Mahalanobis distance, bilinear upsampling, Gaussian smoothing (σ = 3 px). No pretrained
  weights, no learned filters.
- **Data**: synthetic, generated by the script (fixed seeds): {a.train} good training images;
  a held-out test set of {a.test} good and {a.test} defective images (burnt patch, crack,
  broken-off piece, foreign body: {a.test // len(DEFECTS)} each), different seeds.
- **Threshold**: the highest raw score of 200 good validation images (raw {t_raw:.4f}): no
  good validation image is flagged.
- **File**: `biscuit-anomaly.onnx`, {size:,} bytes, sha256 `{digest}`. Licence: Apache-2.0 (ours).

## Measured on the held-out set (onnxruntime, the exported file)

| metric | value |
|---|---|
| image AUROC | {result['auroc']:.4f} |
| accuracy at 0.5 | {result['accuracy_at_0.5']:.4f} |
| good images flagged | {result['good_flagged']} of {a.test} |
| defective images missed | {result['defects_missed']} of {a.test} |
""" + "".join(f"| AUROC, {k} vs good | {v:.4f} |\n" for k, v in result["per_defect_auroc"].items()) + """
## Limits

Trained and measured on synthetic images only: it shows the pipeline end to end and how to
export a model in Anomalib's layout, not performance on a real line. Position changes beyond
about ±8 px, other biscuit shapes, lighting changes and belt colours it has not seen will raise
scores. Retrain per product and camera from good images of the real line.
"""
    with open(os.path.join(a.out, "MODEL_CARD.md"), "w") as f:
        f.write(card)
    print(json.dumps({"model": path, "sha256": digest, "bytes": size, **result}))


if __name__ == "__main__":
    main()
