#!/usr/bin/env python3
"""Builds FoodFlow's demo defect *detector* for biscuits on a conveyor, reproducibly, in the
YOLOv8 output layout ([1, 4 + classes, anchors], boxes as centre/size in input pixels, class
scores, no NMS inside), so the edge runs it exactly as it runs an Ultralytics export.

Method (small on purpose: no deep-learning toolchain is needed to rebuild it): one anchor per
8x8 cell of the 256x256 input (1,024 anchors). Each cell is described by the anomaly model's
fixed features (colour means and variances, gradient energy at two scales), as z-scores against
the cell's statistics on good biscuits, plus their magnitudes and the 3x3 neighbourhood average
(40 features). A softmax classifier (background + 4 defect classes), trained here with numpy by
gradient descent on generated images, gives the class scores. The box of an anchor is centred on
its cell, with the median size of its best class's training boxes. NMS at the edge keeps the
strongest cell of each defect.

Data: the anomaly model's generator (models/anomaly/make_biscuit_anomaly.py), which also returns
each defect's bounding box; training and held-out test sets from different seeds.

Writes models/detector/biscuit-defects.onnx and MODEL_CARD.md (mAP@0.5 per class on the held-out
set, measured with onnxruntime on the exported file and the Python reference decoder), prints the
sha256 for models/models.yaml.

    .venv-models/bin/python models/detector/make_biscuit_detector.py
"""
import argparse
import hashlib
import importlib.util
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gen = load("biscuits", os.path.join(ROOT, "models", "anomaly", "make_biscuit_anomaly.py"))
ref = load("reference", os.path.join(ROOT, "edge-runtime", "vision", "reference", "reference.py"))

CLASSES = list(gen.DEFECTS)  # burnt, crack, broken, foreign
G, CELL, SIZE = gen.GRID, gen.CELL, gen.SIZE


IGNORE = -1


def cell_labels(box, kind):
    """Per cell: 0 background; 1 + class index for the cell holding the defect's centre (as YOLO
    assigns); IGNORE for the other cells of the defect's box (neither taught as the defect nor
    as background)."""
    lab = np.zeros((G, G), np.int64)
    if box is None:
        return lab
    x1, y1, x2, y2 = box
    c = (np.arange(G) + 0.5) * CELL
    inside = (c[None, :] >= x1 - CELL / 2) & (c[None, :] <= x2 + CELL / 2) & (c[:, None] >= y1 - CELL / 2) & (c[:, None] <= y2 + CELL / 2)
    lab[inside] = IGNORE
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    lab[min(max(int(cy // CELL), 0), G - 1), min(max(int(cx // CELL), 0), G - 1)] = 1 + CLASSES.index(kind)
    return lab


def design(feats, mu, sd):
    """[N,10,G,G] -> [N,40,G,G]: z-scores, magnitudes, 3x3 averages of both (same as the graph)."""
    z = (feats - mu[None]) / sd[None]
    a = np.abs(z)
    both = np.concatenate([z, a], axis=1)
    pad = np.pad(both, ((0, 0), (0, 0), (1, 1), (1, 1)))
    avg = sum(pad[:, :, dy:dy + G, dx:dx + G] for dy in range(3) for dx in range(3)) / 9.0
    return np.concatenate([both, avg], axis=1).astype(np.float32)


def train_softmax(x, y, classes, epochs, lr, weights):
    """Multinomial logistic regression by full-batch gradient descent (deterministic)."""
    n, d = x.shape
    w = np.zeros((d, classes), np.float64)
    b = np.zeros(classes, np.float64)
    sw = weights[y]
    onehot = np.eye(classes)[y]
    for _ in range(epochs):
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) * sw[:, None] / sw.sum()
        w -= lr * (x.T @ g + 1e-4 * w)
        b -= lr * g.sum(axis=0)
    return w.astype(np.float32), b.astype(np.float32)


def build_graph(mu, sd, w, b, sizes):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    # The anomaly model's feature extractor, then our head.
    base = gen.build_graph(np.zeros((G * G, 10), np.float32), np.tile(np.eye(10, dtype=np.float32), (G * G, 1, 1)), 0.0, 1.0)
    keep = []
    for node in base.graph.node:
        keep.append(node)
        if "feat" in node.output:
            break
    used = {i for node in keep for i in node.input}
    inits = [t for t in base.graph.initializer if t.name in used]
    nodes = list(keep)

    def c(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))

    def n(op, ins, outs, **kw):
        nodes.append(helper.make_node(op, ins, outs, **kw))

    c("mu", mu[None].astype(np.float32))
    c("sd", sd[None].astype(np.float32))
    n("Sub", ["feat", "mu"], ["zc"])
    n("Div", ["zc", "sd"], ["z"])
    n("Abs", ["z"], ["az"])
    n("Concat", ["z", "az"], ["both"], axis=1)
    c("box3", np.full((20, 1, 3, 3), 1 / 9, np.float32))
    n("Conv", ["both", "box3"], ["avg"], pads=[1, 1, 1, 1], group=20)
    n("Concat", ["both", "avg"], ["x"], axis=1)  # [1,40,G,G]
    c("head_w", w.T.reshape(len(b), -1, 1, 1))
    c("head_b", b)
    n("Conv", ["x", "head_w", "head_b"], ["logits"])  # [1,5,G,G]
    n("Softmax", ["logits"], ["prob"], axis=1)
    c("cls_idx", np.arange(1, len(b), dtype=np.int64))
    n("Gather", ["prob", "cls_idx"], ["cls"], axis=1)  # [1,4,G,G]
    c("shape_cls", np.array([1, len(b) - 1, G * G], np.int64))
    n("Reshape", ["cls", "shape_cls"], ["scores"])  # [1,4,A]
    # Box sizes by the best class; centres are the cells'.
    n("ArgMax", ["scores"], ["best"], axis=1, keepdims=0)  # [1,A]
    c("w_by_cls", sizes[:, 0].astype(np.float32))
    c("h_by_cls", sizes[:, 1].astype(np.float32))
    n("Gather", ["w_by_cls", "best"], ["bw"], axis=0)  # [1,A]
    n("Gather", ["h_by_cls", "best"], ["bh"], axis=0)
    centres = (np.arange(G) + 0.5) * CELL
    c("cx", np.tile(centres, G)[None].astype(np.float32))
    c("cy", np.repeat(centres, G)[None].astype(np.float32))
    c("ax1", np.array([1], np.int64))
    for name in ("cx", "cy", "bw", "bh"):
        n("Unsqueeze", [name, "ax1"], [name + "3"])  # [1,1,A]
    n("Concat", ["cx3", "cy3", "bw3", "bh3", "scores"], ["output0"], axis=1)  # [1,8,A]
    graph = helper.make_graph(
        nodes, "biscuit_defects",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + len(CLASSES), G * G])],
        inits)
    # The feature nodes read "input": rename it "images" as an Ultralytics export calls it.
    for node in graph.node:
        node.input[:] = ["images" if i == "input" else i for i in node.input]
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="foodflow")
    model.ir_version = 8
    for k, v in {"names": str(dict(enumerate(CLASSES))), "imgsz": f"[{SIZE}, {SIZE}]", "task": "detect"}.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model)
    return model


def average_precision(dets, gts, iou_t=0.5):
    """VOC all-points AP for one class. dets: [(image, score, box)], gts: {image: [box]}."""
    npos = sum(len(v) for v in gts.values())
    if npos == 0:
        return None
    used = {k: [False] * len(v) for k, v in gts.items()}
    tp, fp = [], []
    for img, _, box in sorted(dets, key=lambda d: -d[1]):
        best, j = 0.0, -1
        for i, g in enumerate(gts.get(img, [])):
            o = ref.iou(box, g)
            if o > best:
                best, j = o, i
        if best >= iou_t and not used[img][j]:
            used[img][j] = True
            tp.append(1)
            fp.append(0)
        else:
            tp.append(0)
            fp.append(1)
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / npos
    prec = tp / np.maximum(tp + fp, 1e-9)
    mrec = np.concatenate([[0], rec, [1]])
    mpre = np.concatenate([[0], prec, [0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]).sum())


def main():
    import onnx
    import onnxruntime as ort

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--train", type=int, default=600)
    ap.add_argument("--test", type=int, default=200)
    a = ap.parse_args()

    rng = np.random.default_rng(31)
    print(f"generating {a.train} training images", file=sys.stderr)
    imgs, labs, boxes = [], [], {k: [] for k in CLASSES}
    for i in range(a.train):
        kind = None if i % 3 == 0 else CLASSES[i % len(CLASSES)]
        rgb, box = gen.biscuit_with_box(rng, kind)
        imgs.append(gen.to_input(rgb))
        labs.append(cell_labels(box, kind))
        if box is not None:
            boxes[kind].append((box[2] - box[0], box[3] - box[1]))
    feats = gen.features_np(np.concatenate(imgs))
    good = feats[np.array([l.max() == 0 for l in labs])]
    mu = good.mean(axis=0)
    sd = good.std(axis=0) + 1e-3
    x = design(feats, mu, sd).transpose(0, 2, 3, 1).reshape(-1, 40)
    y = np.stack(labs).reshape(-1)
    x, y = x[y != IGNORE], y[y != IGNORE]
    # Balance: defect cells are rare; weigh each class equally overall.
    counts = np.bincount(y, minlength=len(CLASSES) + 1).astype(np.float64)
    weights = counts.sum() / (len(counts) * np.maximum(counts, 1))
    print(f"training on {len(y)} cells ({counts.astype(int).tolist()} per class)", file=sys.stderr)
    w, b = train_softmax(x, y, len(CLASSES) + 1, epochs=400, lr=0.5, weights=weights)
    sizes = np.array([np.median(np.array(boxes[k]), axis=0) for k in CLASSES])
    model = build_graph(mu, sd, w, b, sizes)
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "biscuit-defects.onnx")
    onnx.save(model, path)

    # Held-out evaluation: the exported file, the reference decoder (score 0.05, NMS 0.45).
    sess = ort.InferenceSession(path)
    test_rng = np.random.default_rng(977)
    dets = {k: [] for k in CLASSES}
    gts = {k: {} for k in CLASSES}
    for i in range(a.test):
        kind = None if i % 3 == 0 else CLASSES[i % len(CLASSES)]
        rgb, box = gen.biscuit_with_box(test_rng, kind)
        if box is not None:
            gts[kind].setdefault(i, []).append(box)
        (out,) = sess.run(None, {"images": gen.to_input(rgb)})
        for cls, score, bx in ref.decode_v8(out, 0.05, 0.45):
            dets[CLASSES[cls]].append((i, score, tuple(float(v) for v in bx)))
    ap50 = {k: average_precision(dets[k], gts[k]) for k in CLASSES}
    m = float(np.mean([v for v in ap50.values() if v is not None]))
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    size = os.path.getsize(path)
    result = {"map50": m, "ap50": ap50, "test_images": a.test, "train_images": a.train}
    card = f"""# biscuit-defects — model card

Made by `models/detector/make_biscuit_detector.py` (`make models`; deterministic for the pinned
numpy/onnx/onnxruntime of `scripts/requirements-models.txt`).

- **Task**: detection of defects on round biscuits seen from above (256×256 RGB input,
  letterboxed), classes {', '.join(CLASSES)}. Output in the YOLOv8 layout: `output0`
  [1, 8, 1024] — cx, cy, w, h in input pixels, then the four class scores; no NMS inside;
  Ultralytics-style metadata (`names`, `imgsz`), so `foodflow-edge vision run --model FILE`
  reads it without a manifest entry.
- **Method**: one anchor per 8×8 cell; the cell's 10 fixed features (those of `biscuit-anomaly`)
  as z-scores against good biscuits, their magnitudes and 3×3 neighbourhood means (40 inputs);
  a softmax classifier (background + 4 classes) trained by gradient descent with classes
  weighted equally, the cell holding a defect's centre as its positive (the rest of its box
  ignored, as YOLO assigns); the box is centred on the cell with the median size of its class's
  training boxes. No pretrained weights, no deep-learning toolchain.
- **Data**: synthetic, from the anomaly model's generator with the defects' boxes:
  {a.train} training images (a third good), {a.test} held-out images from another seed.
- **File**: `biscuit-defects.onnx`, {size:,} bytes, sha256 `{digest}`. Licence: Apache-2.0 (ours).

## Measured on the held-out set (onnxruntime on the exported file; score ≥ 0.05, NMS IoU 0.45)

| class | AP@0.5 |
|---|---|
""" + "".join(f"| {k} | {v:.3f} |\n" for k, v in ap50.items()) + f"""| **mAP@0.5** | **{m:.3f}** |

## Limits

A cell classifier with boxes of fixed size per class: compact defects (burnt spots, foreign
bodies) are boxed well; long cracks and broken-off pieces vary in shape and size, which fixed
boxes cannot follow, so their AP is lower. Synthetic data only: it demonstrates the pipeline and
the export layout, not performance on a real line. Retrain (or replace with a CNN detector in
the same layout) for a real product and camera.
"""
    with open(os.path.join(a.out, "MODEL_CARD.md"), "w") as f:
        f.write(card)
    print(json.dumps({"model": path, "sha256": digest, "bytes": size, **result}))


if __name__ == "__main__":
    main()
