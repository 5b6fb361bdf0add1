"""GET /health every 10 ms from a process of its own until stdin closes, then print the
latencies (seconds, JSON). Used by the benches so the figures are the server's latency, not
the lag of a load generator's own busy event loop (`harness.separate_health_prober`).

    python bench/health_prober.py PORT
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time


def main() -> None:
    port = int(sys.argv[1])
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies: list[float] = []
    statuses: list[int] = []
    while not stop.is_set():
        started = time.perf_counter()
        connection.request("GET", "/health")
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        statuses.append(response.status)
        time.sleep(0.01)
    connection.close()
    json.dump({"latencies": latencies, "statuses": statuses}, sys.stdout)


if __name__ == "__main__":
    main()
