"""bench-vision: per-frame latency of FoodFlow's vision pipeline (`foodflow-edge vision bench`,
release build) side by side with the Python reference pipeline (PIL decode, numpy letterbox and
decode/NMS, the onnxruntime wheel: edge-runtime/vision/reference/reference.py), same model,
same image, same thread count, same run, alternating twice.

Model: the real YOLOv8n export in nudenet 3.4.2 (320n.onnx, dynamic input size), run at 320 and at
640 (the headline: Ultralytics' default size). Frame: a 1280x720 JPEG made from a fixture photo.
End to end = JPEG decode -> pre-processing -> inference -> post-processing. `overhead_pct` is our
pre- plus post-processing time as a percentage of our own session (inference) time; decode is
reported separately. Our pipeline also runs with IO binding forced on (`bound_ms`), to show what
binding saves on this provider. The last line is the JSON the issue asks for.
"""

import json
import os
import subprocess
import sys

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
EDGE = os.path.join(TARGET, "release", "foodflow-edge")
FIX = os.path.join(ROOT, "tests", "data", "external", "vision")
MODEL = os.path.join(FIX, "nudenet-320n.onnx")
REF = os.path.join(ROOT, "edge-runtime", "vision", "reference", "reference.py")
ITER = int(os.environ.get("FOODFLOW_BENCH_ITERATIONS", "200"))
THREADS = os.cpu_count() or 1


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def frame():
    out = os.path.join(ROOT, ".run", "bench-vision")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "frame-1280x720.jpg")
    Image.open(os.path.join(FIX, "astronaut.png")).convert("RGB").resize((1280, 720), Image.BILINEAR).save(path, quality=90)
    return path


def ours(size, image, io_binding="auto"):
    # Our CLI takes the input size from the manifest; write one for this size.
    manifest = os.path.join(ROOT, ".run", "bench-vision", f"models-{size}.yaml")
    import hashlib
    sha = hashlib.sha256(open(MODEL, "rb").read()).hexdigest()
    with open(manifest, "w") as f:
        f.write(
            "models:\n  - name: yolov8n\n    version: '3.4.2'\n    task: detect\n"
            f"    file: {MODEL}\n    sha256: {sha}\n    input: {{ size: [{size}, {size}] }}\n"
            "    output: { layout: yolov8 }\n"
            f"    labels: [{', '.join(f'c{i}' for i in range(18))}]\n"
            "    licence: AGPL-3.0 (benchmark fixture)\n    source: nudenet 3.4.2 wheel\n"
        )
    out = subprocess.run(
        [EDGE, "vision", "bench", "--manifest", manifest, "--model", "yolov8n", "--image", image,
         "--iterations", str(ITER), "--warmup", "10", "--threads", str(THREADS),
         "--io-binding", io_binding],
        capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench-vision: foodflow-edge failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def reference(size, image):
    out = subprocess.run(
        [sys.executable, REF, "bench", "--model", MODEL, "--size", str(size), "--threads", str(THREADS),
         "--iterations", str(ITER), "--warmup", "10", image], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench-vision: reference failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def mean(rows, key):
    return sum(r[key] for r in rows) / len(rows)


def main():
    image = frame()
    results = {}
    for size in (320, 640):
        o, r, b = [], [], []
        for rnd in range(2):
            o.append(ours(size, image))
            r.append(reference(size, image))
            b.append(ours(size, image, io_binding="on"))
            log(f"size {size} round {rnd + 1}: ours {o[-1]['ours_ms']:.2f} ms "
                f"(decode {o[-1]['decode_ms']:.2f}, pre {o[-1]['pre_ms']:.2f}, session {o[-1]['session_ms']:.2f}, "
                f"post {o[-1]['post_ms']:.2f}) | reference {r[-1]['reference_ms']:.2f} ms (decode {r[-1]['decode_ms']:.2f}, "
                f"pre {r[-1]['pre_ms']:.2f}, session {r[-1]['session_ms']:.2f}, post {r[-1]['post_ms']:.2f}) | "
                f"ours with IO binding {b[-1]['ours_ms']:.2f} ms (session {b[-1]['session_ms']:.2f})")
        ours_ms, ref_ms = mean(o, "ours_ms"), mean(r, "reference_ms")
        session = mean(o, "session_ms")
        results[size] = {
            "ours_ms": round(ours_ms, 3),
            "reference_ms": round(ref_ms, 3),
            "speedup": round(ref_ms / ours_ms, 3),
            "session_ms": round(session, 3),
            "overhead_pct": round(100 * (mean(o, "pre_ms") + mean(o, "post_ms")) / session, 2),
            "decode_ms": round(mean(o, "decode_ms"), 3),
            "reference_session_ms": round(mean(r, "session_ms"), 3),
            "reference_overhead_pct": round(100 * (mean(r, "pre_ms") + mean(r, "post_ms")) / mean(r, "session_ms"), 2),
            "reference_decode_ms": round(mean(r, "decode_ms"), 3),
            "fps": round(1e3 / ours_ms, 1),
            "provider": o[0]["provider"],
            "io_binding": o[0]["io_binding"],
            # The same with IO binding forced on (auto leaves it off on the CPU provider).
            "bound_ms": round(mean(b, "ours_ms"), 3),
            "bound_session_ms": round(mean(b, "session_ms"), 3),
        }
        log(f"size {size}: {json.dumps(results[size])}")
    head = results[640]
    print(json.dumps({
        "bench": "vision",
        "model": "yolov8n (nudenet 320n.onnx) @640",
        "ours_ms": head["ours_ms"],
        "reference_ms": head["reference_ms"],
        "speedup": head["speedup"],
        "session_ms": head["session_ms"],
        "overhead_pct": head["overhead_pct"],
        "fps": head["fps"],
        "provider": head["provider"],
        "threads": THREADS,
        "image": "1280x720 JPEG",
        "at_320": results[320],
        "at_640": head,
    }))


if __name__ == "__main__":
    main()
