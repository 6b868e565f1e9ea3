#!/usr/bin/env python3
"""`make bench-ingest`: durable MQTT ingest vs. mosquitto_sub's raw drain rate on the same
stream in the same run, OPC UA monitored-item creation time and sustained change rate from
foodflow-sim, and the edge's peak RSS. Prints one JSON object as its last line.

Method (MQTT): both consumers hold persistent QoS 1 sessions on one Mosquitto; N messages are
queued for both while they are offline; then each drains its own queue from a cold start:
mosquitto_sub until it printed N messages, the edge until N records are durable in its journal
(acknowledged to the broker only after the group commit). The ratio compares the two.
"""
import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
N = int(os.environ.get("BENCH_MESSAGES", "200000"))
OPCUA_ITEMS = int(os.environ.get("BENCH_OPCUA_ITEMS", "10000"))
OPCUA_RATE = float(os.environ.get("BENCH_OPCUA_RATE", "5"))


CHILDREN = []


def spawn(*args, **kw):
    p = subprocess.Popen(*args, **kw)
    CHILDREN.append(p)
    return p


def log(msg):
    print(f"bench-ingest: {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def metrics(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def rss_peak_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def start_edge(profile_text, work, http_port):
    prof = os.path.join(work, f"profile-{http_port}.yaml")
    with open(prof, "w") as f:
        f.write(profile_text)
    p = spawn(
        [os.path.join(BIN, "foodflow-edge"), "run", "--profile", prof,
         "--data-dir", os.path.join(work, f"edge-{http_port}"), "--http", f"127.0.0.1:{http_port}"],
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(work, f"edge-{http_port}.log"), "w"),
        env={**os.environ, "RUST_LOG": "warn"},
    )
    wait_port(http_port)
    return p


def stop(p):
    p.terminate()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()


def publish(port, topic, payloads):
    """QoS 1, waiting until the broker acknowledged every message (mosquitto_pub -l does not)."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-pub")
    c.max_inflight_messages_set(1000)
    c.connect("127.0.0.1", port)
    c.loop_start()
    pending = collections.deque()
    for p in payloads:
        pending.append(c.publish(topic, p, qos=1))
        if len(pending) >= 900:
            pending.popleft().wait_for_publish(60)
    for info in pending:
        info.wait_for_publish(60)
    c.loop_stop()
    c.disconnect()


def bench_mqtt(work):
    port = free_port()
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 0\nmax_inflight_messages 1000\nset_tcp_nodelay true\n")
    broker = spawn(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    topic = "bench/line1/temp"
    http_port = free_port()
    profile = f"""device: {{ id: bench-edge, site: bench }}
mqtt:
  - name: broker
    broker: mqtt://127.0.0.1:{port}
    client_id: bench-edge
    subscriptions:
      - topic: bench/#
        codec: json
        stream: mqtt/bench
        json: {{ value_path: /v, timestamp_path: /ts, id_path: /id }}
"""
    # Register both persistent sessions, then take them offline.
    edge = start_edge(profile, work, http_port)
    for _ in range(100):
        if metrics(http_port).get('foodflow_source_connected{source="broker",protocol="mqtt"}') == 1:
            break
        time.sleep(0.1)
    stop(edge)
    subprocess.run(["mosquitto_sub", "-p", str(port), "-h", "127.0.0.1", "-q", "1", "-c", "-i", "bench-raw",
                    "-t", "bench/#", "-W", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log(f"queueing {N} QoS 1 messages for both consumers")
    publish(port, topic, (f'{{"id":"m{i}","v":{20 + (i % 1000) / 100},"ts":{1_800_000_000_000 + i}}}' for i in range(N)))

    log("draining with mosquitto_sub (raw reference)")
    t0 = time.time()
    subprocess.run(["mosquitto_sub", "-p", str(port), "-h", "127.0.0.1", "-q", "1", "-c", "-i", "bench-raw",
                    "-t", "bench/#", "-C", str(N)], stdout=subprocess.DEVNULL, check=True)
    raw_s = time.time() - t0
    reference_rate = N / raw_s

    log("draining with foodflow-edge (durable, acknowledged after group commit)")
    t0 = time.time()
    edge = start_edge(profile, work, http_port)
    key = 'foodflow_ingest_records_total{source="broker",protocol="mqtt"}'
    durable_key = "foodflow_journal_records_total"
    while True:
        m = metrics(http_port)
        if m.get(durable_key, 0) >= N and m.get(key, 0) >= N:
            break
        if time.time() - t0 > 600:
            raise RuntimeError(f"edge drained only {m.get(durable_key)} of {N} in 600 s")
        time.sleep(0.02)
    edge_s = time.time() - t0
    rss = rss_peak_mb(edge.pid)
    stop(edge)
    broker.terminate()
    broker.wait()
    return {"rate": N / edge_s, "reference_rate": reference_rate, "rss_mb": rss,
            "edge_s": edge_s, "raw_s": raw_s}


def bench_opcua(work):
    port = free_port()
    sim = spawn(
        [os.path.join(BIN, "foodflow-sim"), "--opcua-port", str(port), "--no-mqtt",
         "--extra-tags", str(OPCUA_ITEMS), "--extra-rate", str(OPCUA_RATE), "--pki-dir", os.path.join(work, "sim-pki")],
        stdout=subprocess.PIPE, stderr=open(os.path.join(work, "sim.log"), "w"))
    ready = json.loads(sim.stdout.readline())
    ns = ready["opcua_namespace_index"]
    tags = "\n".join(
        f'      - {{ node: "ns={ns};s=Extra.Tag{i + 1:05}", name: extra.t{i + 1:05}, sampling_interval_ms: {int(1000 / OPCUA_RATE)} }}'
        for i in range(OPCUA_ITEMS))
    http_port = free_port()
    profile = f"""device: {{ id: bench-opcua, site: bench }}
opcua:
  - name: sim
    endpoint: opc.tcp://127.0.0.1:{port}/
    stream: opcua/bench
    publishing_interval_ms: 100
    tags:
{tags}
"""
    edge = start_edge(profile, work, http_port)
    key = 'foodflow_ingest_messages_total{source="sim",protocol="opcua"}'
    t0 = time.time()
    created = None
    while time.time() - t0 < 120:
        m = metrics(http_port)
        if (m.get('foodflow_source_items{source="sim",protocol="opcua"}', 0) >= OPCUA_ITEMS
                and m.get('foodflow_source_subscribing{source="sim",protocol="opcua"}', 1) == 0):
            created = m.get('foodflow_source_setup_duration_ms{source="sim",protocol="opcua"}', 0) / 1000.0
            break
        time.sleep(0.1)
    if created is None:
        raise RuntimeError("the edge did not create the monitored items within 120 s")
    time.sleep(5)  # settle
    a = metrics(http_port).get(key, 0)
    ta = time.time()
    time.sleep(20)
    b = metrics(http_port).get(key, 0)
    rate = (b - a) / (time.time() - ta)
    rss = rss_peak_mb(edge.pid)
    stop(edge)
    sim.terminate()
    sim.wait()
    return {"opcua_items": OPCUA_ITEMS, "opcua_create_s": created, "opcua_changes_per_s": rate,
            "offered_changes_per_s": OPCUA_ITEMS * OPCUA_RATE, "rss_mb": rss}


def main():
    for tool in ("mosquitto", "mosquitto_sub"):
        if not shutil.which(tool):
            sys.exit(f"bench-ingest: {tool} is missing; run `make deps`")
    if not os.path.exists(os.path.join(BIN, "foodflow-edge")):
        sys.exit(f"bench-ingest: no release build in {BIN}; run `make bench-ingest`")
    work = tempfile.mkdtemp(prefix="foodflow-bench-")
    try:
        mq = bench_mqtt(work)
        log(f"MQTT: edge {mq['rate']:.0f}/s ({mq['edge_s']:.2f} s), mosquitto_sub {mq['reference_rate']:.0f}/s "
            f"({mq['raw_s']:.2f} s), peak RSS {mq['rss_mb']:.1f} MB")
        ua = bench_opcua(work)
        log(f"OPC UA: {ua['opcua_items']} items created in {ua['opcua_create_s']:.2f} s, "
            f"{ua['opcua_changes_per_s']:.0f} changes/s of {ua['offered_changes_per_s']:.0f} offered, "
            f"peak RSS {ua['rss_mb']:.1f} MB")
    finally:
        for p in CHILDREN:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "bench": "ingest",
        "rate": round(mq["rate"]),
        "reference_rate": round(mq["reference_rate"]),
        "ratio": round(mq["rate"] / mq["reference_rate"], 3),
        "rss_mb": round(max(mq["rss_mb"], ua["rss_mb"]), 1),
        "opcua_items": ua["opcua_items"],
        "opcua_create_s": round(ua["opcua_create_s"], 3),
        "opcua_changes_per_s": round(ua["opcua_changes_per_s"]),
    }))


if __name__ == "__main__":
    main()
