#!/usr/bin/env bash
# `make demo`: the whole path with a simulated plant — foodflow-sim (OPC UA PLC, MQTT JSON
# device, Sparkplug B node, embedded broker) → foodflow-edge (journal) → foodflow-gateway
# (durable queue) → foodflow-hub (store), mutual TLS on both hops, a development PKI in
# .run/pki. A dashboard refreshes every 2 s; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/debug"
mkdir -p .run
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
OPCUA_PORT=$(free_port); MQTT_PORT=$(free_port); HTTP_PORT=${FOODFLOW_HTTP_PORT:-$(free_port)}
HUB_PORT=$(free_port); HUB_ADMIN=$(free_port); GW_PORT=$(free_port); GW_ADMIN=$(free_port)
HUB_PUBLIC=${FOODFLOW_HUB_PUBLIC_PORT:-$(free_port)}

if [ ! -f .run/pki/ca.pem ]; then
  "$BIN/foodflow-hub" pki init --dir .run/pki
  "$BIN/foodflow-hub" pki issue --dir .run/pki --gateway site-gw --tenant demo --host 127.0.0.1 --host localhost
  "$BIN/foodflow-hub" pki issue --dir .run/pki --device line-sim-01 --tenant demo
  "$BIN/foodflow-hub" pki issue --dir .run/pki --gateway portal --tenant demo
fi

# No default password: the demo tenant's first admin gets a random one, kept for you only.
if [ ! -f .run/admin-password ]; then
  (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(18))' > .run/admin-password)
  FOODFLOW_ADMIN_PASSWORD="$(cat .run/admin-password)" "$BIN/foodflow-hub" admin create \
    --data-dir .run/hub-data --tenant demo --username admin > /dev/null
fi

# The site gateway uploads for the line's box and nothing else.
"$BIN/foodflow-hub" gateway list --data-dir .run/hub-data --tenant demo | grep -q '"site-gw"' ||
  "$BIN/foodflow-hub" gateway bind --data-dir .run/hub-data --tenant demo --gateway site-gw \
    --device line-sim-01 > /dev/null

# Alarms on the line screen are acknowledged by an operator with a PIN: the demo's operator
# gets a random one, kept for you only.
[ -f .run/operator-pin ] || (umask 077
  python3 -c 'import secrets; print(f"{secrets.randbelow(10**6):06d}")' > .run/operator-pin)
if [ ! -f .run/edge-data/operators.json ]; then
  FOODFLOW_OPERATOR_PIN="$(cat .run/operator-pin)" "$BIN/foodflow-edge" operator add \
    --data-dir .run/edge-data --name "Demo Operator" > /dev/null
fi

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 300); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "$2 did not start (log: .run/$2.log)"; exit 1; }

"$BIN/foodflow-hub" serve --listen "127.0.0.1:$HUB_PORT" --admin "127.0.0.1:$HUB_ADMIN" \
  --public "127.0.0.1:$HUB_PUBLIC" --data-dir .run/hub-data --pki-dir .run/pki > /dev/null 2> .run/hub.log &
PIDS+=($!); wait_port "$HUB_PORT" hub; wait_port "$HUB_PUBLIC" hub

# A generated supply chain for FoodGraph (captures are idempotent: a second run adds nothing).
[ -f .run/foodgraph/summary.json ] || "$BIN/foodflow-sim" foodgraph --lots 2000 --seed 1 --out .run/foodgraph 2> .run/foodgraph.log
for f in .run/foodgraph/epcis-*.json; do
  curl -sS --cacert .run/pki/ca.pem --cert .run/pki/portal.pem --key .run/pki/portal.key \
    -H 'content-type: application/json' --data-binary "@$f" "https://127.0.0.1:$HUB_PORT/v1/epcis/capture" > /dev/null
done
# Monthly sales of the plant's products → a hierarchical forecast (CLI), and the same as a job
# through the public API with the admin's token.
[ -f .run/sales.csv ] || "$BIN/foodflow-sim" sales --out .run/sales.csv 2> .run/sales.log
"$BIN/foodflow-hub" forecast run --input .run/sales.csv --hierarchy 'product/sku*location' --horizon 6 \
  --output .run/forecast.csv 2> .run/forecast.log
TOKEN=$(curl -sS --cacert .run/pki/ca.pem -H 'content-type: application/json' \
  --data "{\"tenant\":\"demo\",\"username\":\"admin\",\"password\":\"$(cat .run/admin-password)\"}" \
  "https://127.0.0.1:$HUB_PUBLIC/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
(umask 077; echo "$TOKEN" > .run/token)
python3 -c 'import json,sys; print(json.dumps({"csv": open(".run/sales.csv").read(), "hierarchy": "product/sku*location", "horizon": 6}))' > .run/forecast-request.json
FORECAST_ID=$(curl -sS --cacert .run/pki/ca.pem -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  --data-binary @.run/forecast-request.json "https://127.0.0.1:$HUB_PUBLIC/v1/forecasts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
SAMPLE_LOT=$(python3 -c 'import json; print(json.load(open(".run/foodgraph/summary.json"))["sample_raw"][0].replace(":", "%3A"))')

sed -e "s#^listen: .*#listen: 127.0.0.1:$GW_PORT#" -e "s#^admin: .*#admin: 127.0.0.1:$GW_ADMIN#" \
    -e "s#url: https://127.0.0.1:8443#url: https://127.0.0.1:$HUB_PORT#" \
    sync-gateway/gateway.example.yaml > .run/gateway.yaml
"$BIN/foodflow-gateway" run --config .run/gateway.yaml > /dev/null 2> .run/gateway.log &
PIDS+=($!); wait_port "$GW_PORT" gateway

"$BIN/foodflow-sim" --opcua-port "$OPCUA_PORT" --embedded-broker-port "$MQTT_PORT" \
  --extra-tags "${SIM_EXTRA_TAGS:-100}" --extra-rate "${SIM_EXTRA_RATE:-1}" \
  --pki-dir .run/sim-pki > .run/sim.out 2> .run/sim.log &
PIDS+=($!)
for _ in $(seq 1 300); do grep -q '"ready":true' .run/sim.out 2>/dev/null && break; sleep 0.1; done
grep -q '"ready":true' .run/sim.out || { echo "foodflow-sim did not become ready in 30 s (log: .run/sim.log)"; exit 1; }

# The rig's conveyor as two cameras (biscuits with injected defects, packs with printed codes)
# running the shipped models: the line screen shows their verdicts, the journal their records.
[ -f .run/conveyor/cameras.yaml ] || "$BIN/foodflow-sim" conveyor generate --out .run/conveyor \
  --frames 120 --fps 2 > /dev/null 2> .run/conveyor.log
{ cat device-profiles/line-sim.yaml; printf '\nvision:\n  manifest: %s/models/models.yaml\n' "$PWD"
  cat .run/conveyor/cameras.yaml; } > .run/demo-profile.yaml

"$BIN/foodflow-edge" run --profile .run/demo-profile.yaml --data-dir .run/edge-data \
  --opcua-endpoint "line1-plc=opc.tcp://127.0.0.1:$OPCUA_PORT/" \
  --mqtt-broker "plant-broker=mqtt://127.0.0.1:$MQTT_PORT" \
  --uplink "https://127.0.0.1:$GW_PORT" --http "127.0.0.1:$HTTP_PORT" ${DEMO_EDGE_ARGS:-} \
  > /dev/null 2> .run/edge.log &
PIDS+=($!); wait_port "$HTTP_PORT" edge

# The sum of a metric over all its label sets.
metric() { curl -s "$1" | awk -v m="$2" '$1==m || index($1, m"{")==1 {s+=$2} END {printf "%d", s}'; }
while true; do
  clear 2>/dev/null || true
  echo "FoodFlow OS demo — plant → edge → gateway → hub (mutual TLS).  Ctrl-C stops.  Logs: .run/*.log"
  echo
  echo "line screen  http://127.0.0.1:$HTTP_PORT/screen  (kiosk: ?kiosk=1; acknowledge as \"Demo Operator\", PIN in .run/operator-pin)"
  echo "portal  https://127.0.0.1:$HUB_PUBLIC/portal  (tenant demo, user admin, password in .run/admin-password; dev CA .run/pki/ca.pem)"
  echo
  echo "edge     http://127.0.0.1:$HTTP_PORT/metrics   journaled $(metric "http://127.0.0.1:$HTTP_PORT/metrics" foodflow_journal_records_total) records;" \
       "uplink confirmed $(metric "http://127.0.0.1:$HTTP_PORT/metrics" foodflow_uplink_records_total), pending $(metric "http://127.0.0.1:$HTTP_PORT/metrics" foodflow_uplink_pending_records)"
  echo "vision   conveyor cameras: $(metric "http://127.0.0.1:$HTTP_PORT/metrics" foodflow_camera_frames_inferred_total) frames through the models," \
       "$(metric "http://127.0.0.1:$HTTP_PORT/metrics" foodflow_camera_frames_kept_total) with findings kept (.run/edge-data/vision/; verdicts on the line screen)"
  echo
  "$BIN/foodflow-gateway" status --admin "http://127.0.0.1:$GW_ADMIN" 2>/dev/null | sed 's/^/gateway  /' || echo "gateway  (not answering)"
  echo
  echo "hub      https://127.0.0.1:$HUB_PORT   committed $(metric "http://127.0.0.1:$HUB_ADMIN/metrics" foodflow_hub_records_committed_total) records," \
       "duplicates skipped $(metric "http://127.0.0.1:$HUB_ADMIN/metrics" foodflow_hub_records_duplicate_total)"
  echo "         query: curl --cacert .run/pki/ca.pem --cert .run/pki/portal.pem --key .run/pki/portal.key https://127.0.0.1:$HUB_PORT/v1/devices/line-sim-01/streams"
  echo "         FoodGraph: $(metric "http://127.0.0.1:$HUB_ADMIN/metrics" foodflow_hub_epcis_captured_total) EPCIS events captured; a trace:"
  echo "           curl --cacert .run/pki/ca.pem --cert .run/pki/portal.pem --key .run/pki/portal.key 'https://127.0.0.1:$HUB_PORT/v1/trace/forward?id=$SAMPLE_LOT'"
  echo "         forecast: .run/forecast.csv ($(($(wc -l < .run/forecast.csv) - 1)) rows, CLI); API job $FORECAST_ID:"
  echo "           curl --cacert .run/pki/ca.pem -H \"authorization: Bearer \$(cat .run/token)\" https://127.0.0.1:$HUB_PUBLIC/v1/forecasts/$FORECAST_ID/inventory?lead_time=2"
  echo "         people: https://127.0.0.1:$HUB_PUBLIC  POST /auth/login {\"tenant\":\"demo\",\"username\":\"admin\",\"password\":<.run/admin-password>}"
  sleep 2
done
