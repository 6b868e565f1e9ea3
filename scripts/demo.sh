#!/usr/bin/env bash
# `make demo`: the simulated plant (OPC UA PLC, MQTT JSON device, Sparkplug B node, embedded
# broker) and the edge runtime on the demo profile, with a live view in the terminal. Ctrl-C stops.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/debug"
mkdir -p .run
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
OPCUA_PORT=$(free_port); MQTT_PORT=$(free_port); HTTP_PORT=${FOODFLOW_HTTP_PORT:-$(free_port)}

"$BIN/foodflow-sim" --opcua-port "$OPCUA_PORT" --embedded-broker-port "$MQTT_PORT" \
  --extra-tags "${SIM_EXTRA_TAGS:-100}" --extra-rate "${SIM_EXTRA_RATE:-1}" \
  --pki-dir .run/sim-pki > .run/sim.out 2> .run/sim.log &
SIM=$!
trap 'kill $SIM 2>/dev/null; wait $SIM 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  grep -q '"ready":true' .run/sim.out 2>/dev/null && break
  kill -0 $SIM 2>/dev/null || { echo "foodflow-sim failed to start:"; cat .run/sim.log; exit 1; }
  sleep 0.1
done
grep -q '"ready":true' .run/sim.out || { echo "foodflow-sim did not become ready in 30 s (log: .run/sim.log)"; exit 1; }
echo "simulated plant: $(cat .run/sim.out)"
echo "edge: /healthz and /metrics on http://127.0.0.1:$HTTP_PORT — logs in .run/edge.log — journal in .run/edge-data"
sleep 1
"$BIN/foodflow-edge" run --profile device-profiles/line-sim.yaml --data-dir .run/edge-data \
  --opcua-endpoint "line1-plc=opc.tcp://127.0.0.1:$OPCUA_PORT/" \
  --mqtt-broker "plant-broker=mqtt://127.0.0.1:$MQTT_PORT" \
  --http "127.0.0.1:$HTTP_PORT" --view ${DEMO_EDGE_ARGS:-} 2> .run/edge.log || true
echo
echo "stopped. Inspect the journal: $BIN/foodflow-edge journal stats --data-dir .run/edge-data"
