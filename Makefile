# FoodFlow OS — the two commands: `make demo` runs the stack with a simulated plant,
# `make test` runs every test. Both install what they need first (idempotent).

# Builds stay warm outside the clone, so CI on the same machine is incremental.
CARGO_TARGET_DIR ?= $(HOME)/.cache/foodflow/target
export CARGO_TARGET_DIR
# The edge's vision engine loads ONNX Runtime at run time; `make deps` extracts it from the wheel.
ORT_DYLIB_PATH ?= $(CURDIR)/.cache/onnxruntime/libonnxruntime.so.1.31.1
export ORT_DYLIB_PATH
CARGO ?= cargo

.PHONY: deps build demo test lint fuzz bench-ingest bench-sync bench-analytics bench-foodgraph bench-hub bench-forecast bench-optimize bench-vision models clean-run

deps:
	@scripts/install-deps.sh
	@scripts/prune-target.sh

build: deps
	$(CARGO) build --workspace --bins

demo: build
	@scripts/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p foodflow-edge --features uvc --all-targets -- -D warnings

# The scenario and mTLS tests run the real binaries: build them first.
test: deps lint
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace --no-fail-fast
	$(CARGO) test -p foodflow-edge --features uvc --lib connectors::camera

# Coverage-guided fuzzing of every parser that takes outside input (needs cargo-fuzz and a
# nightly toolchain): FUZZ_SECONDS each. `make test` runs the same bodies over the seed corpora.
FUZZ_SECONDS ?= 120
fuzz:
	cd sync-gateway/protocol && cargo +nightly fuzz run decode_batch fuzz/corpus/decode_batch -- -max_total_time=$(FUZZ_SECONDS)
	cd sync-gateway && cargo +nightly fuzz run config fuzz/corpus/config -- -max_total_time=$(FUZZ_SECONDS)
	cd cloud-hub && for t in vrplib jobshop plan forecast_csv epcis login api_body; do \
		cargo +nightly fuzz run $$t fuzz/corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done
	cd edge-runtime && for t in profile json_codec sparkplug; do \
		cargo +nightly fuzz run $$t fuzz/corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done

bench-ingest: deps
	$(CARGO) build --release --workspace --bins
	@.venv/bin/python bench/bench_ingest.py

# Edge journal → gateway → hub over loopback mTLS, backlog replay, one hop vs curl.
bench-sync: deps
	$(CARGO) build --release --workspace --bins
	$(CARGO) bench -p foodflow-hil --bench sync

# Rollups + alarms on 1 and 2 timely workers vs PostgreSQL's 1-minute rollup query.
# Tourism hierarchy vs StatsForecast AutoETS + HierarchicalForecast; 100k-series MinTrace scale.
bench-forecast: deps
	@scripts/install-venv.sh .venv-forecast scripts/requirements-bench-forecast.txt
	$(CARGO) build --release -p foodflow-hub
	@.venv-forecast/bin/python bench/bench_forecast.py

# Routing vs PyVRP at the same time limit (FOODFLOW_BENCH_TIME_LIMIT, default 60 s per instance).
bench-optimize: deps
	@scripts/install-venv.sh .venv-optimize scripts/requirements-bench-optimize.txt
	$(CARGO) build --release -p foodflow-hub
	@.venv-optimize/bin/python bench/bench_optimize.py

# YOLOv8n per-frame latency vs the Python reference pipeline (numpy + onnxruntime), same run.
bench-vision: deps
	$(CARGO) build --release -p foodflow-edge --bin foodflow-edge
	@.venv/bin/python bench/bench_vision.py

# Rebuilds the demo anomaly model and defect detector and their model cards (byte for byte:
# the scripts are seeded).
models:
	@scripts/install-venv.sh .venv-models scripts/requirements-models.txt
	@.venv-models/bin/python models/anomaly/make_biscuit_anomaly.py
	@.venv-models/bin/python models/detector/make_biscuit_detector.py

bench-analytics: deps
	@scripts/install-bench-deps.sh
	$(CARGO) build --release --workspace --bins
	FOODFLOW_BENCH_OUT=$(CURDIR)/.run/alarm-latency.json $(CARGO) bench -p foodflow-hil --bench alarm_latency
	FOODFLOW_BENCH_OUT=$(CURDIR)/.run/alarm-latency.json $(CARGO) bench -p foodflow-analytics --bench analytics

# FoodGraph on 1M lots / 10M generated events vs PostgreSQL recursive CTEs over the same edges.
bench-foodgraph: deps
	@scripts/install-bench-deps.sh
	$(CARGO) bench -p foodflow-hub --bench foodgraph

# The hub under mixed people reads (h2load) while two devices upload, then the same under a
# slowloris, a login flood and a tenant's job flood (FOODFLOW_BENCH_SECONDS per phase, 15).
bench-hub: deps
	@scripts/install-bench-deps.sh h2load
	$(CARGO) bench -p foodflow-hub --bench hub_load

clean-run:
	rm -rf .run
