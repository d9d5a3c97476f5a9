"""redis-py's MultiDBClient in the failover bench's scenarios, for a measured comparison.

The same scenarios as multidb-client/benches/failover.rs: two real redis-server processes on
free loopback ports, started as the testkit starts them; per trial a fresh MultiDBClient over
a primary (weight 1.0) and a secondary (weight 0.5); a load of TASKS threads doing SET then
GET of a marker key naming the server; SETTLE after the load is warm, a fault on the
primary — SIGKILL (`kill`), SIGSTOP (`pause`), `CLIENT PAUSE 10000 ALL` (`client-pause`) —
or on both (`all-down`, SIGKILL of both); measured from just before the fault: the first
successful command answered by the secondary, the moment every thread has had one, the
ActiveDatabaseChanged event, and the errors the application saw (for `all-down`: the first
error and the longest call). A trial that has not moved within GUARD is cut off: the
fault is undone, which releases calls stuck on it. Each scenario runs with redis-py's
defaults and `-tuned`: the most aggressive settings a user would pick (1 failure, rate
0.01, 1 s window, 1 s checks, 1 probe, 1 s socket timeout).

Run by `cargo xtask bench --peer redis-py` in a throw-away virtualenv. Prints a table like
the Rust bench and, with MULTIDB_BENCH_JSON=path, appends one JSON object per figure.
Only 127.0.0.1 is ever contacted.
"""

import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import redis
from redis.event import EventListenerInterface
from redis.multidb.client import MultiDBClient
from redis.multidb.config import DatabaseConfig, MultiDbConfig
from redis.multidb.event import ActiveDatabaseChanged

BENCH = "failover-redis-py"
TASKS = 4
SETTLE = 0.25
WARM_OPS = 20
# A trial that has not moved by then failed; redis-py's health checks run every 5 s.
GUARD = 30.0
# How long an all-down trial watches the calls fail before both servers come back.
ALL_DOWN_WATCH = 5.0
# Trials of the scenarios that may wait out GUARD at redis-py's defaults.
SLOW_TRIALS = 5
# Name, fault, tuned settings.
SCENARIOS = [
    ("kill", "kill", False),
    ("pause", "pause", False),
    ("client-pause", "client-pause", False),
    ("all-down", "all-down", False),
    ("kill-tuned", "kill", True),
    ("pause-tuned", "pause", True),
    ("client-pause-tuned", "client-pause", True),
    ("all-down-tuned", "all-down", True),
]
TUNED = dict(
    min_num_failures=1,
    failure_rate_threshold=0.01,
    failures_detection_window=1.0,
    health_check_interval=1.0,
    health_check_probes=1,
)
MARKER = "bench:failover:server"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A redis-server on a fixed loopback port with the testkit's settings."""

    def __init__(self, binary):
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="multidb-peer-")
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self):
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--protected-mode", "no",
            "--daemonize", "no",
            "--dir", self.dir,
            "--save", "",
            "--appendonly", "no",
            "--logfile", os.path.join(self.dir, "redis.log"),
        ]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(port=self.port, socket_timeout=1).ping():
                    return
            except redis.ConnectionError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not come up")
            time.sleep(0.01)

    def kill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def client_pause(self):
        redis.Redis(port=self.port).execute_command("CLIENT", "PAUSE", 10000, "ALL")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def mark(self, name):
        redis.Redis(port=self.port).set(MARKER, name)


class SwitchListener(EventListenerInterface):
    def __init__(self):
        self.at = None

    def listen(self, event):
        if self.at is None:
            self.at = time.perf_counter()


def load_thread(client, t, warm, state):
    deadline = time.perf_counter() + GUARD
    done = 0
    while time.perf_counter() < deadline and not state["stop"]:
        started = time.perf_counter()
        try:
            client.set(f"bench:fo:{t}", done)
            state["ok"] += 1
            server = client.get(MARKER)
            state["ok"] += 1
            if server == b"secondary":
                state["moved"][t] = time.perf_counter()
                return
        except Exception:  # noqa: BLE001 - every error surfaced to the application counts
            state["errors"] += 1
            if state["first_error"] is None:
                state["first_error"] = time.perf_counter()
        state["longest"] = max(state["longest"], time.perf_counter() - started)
        done += 1
        if done == WARM_OPS:
            warm.release()


def trial(primary, secondary, fault, tuned):
    listener = SwitchListener()
    kwargs = {"socket_timeout": 1.0} if tuned else {}
    config = MultiDbConfig(
        databases_config=[
            DatabaseConfig(from_url=primary.url, weight=1.0, client_kwargs=dict(kwargs)),
            DatabaseConfig(from_url=secondary.url, weight=0.5, client_kwargs=dict(kwargs)),
        ],
        **(TUNED if tuned else {}),
    )
    config.event_dispatcher.register_listeners({ActiveDatabaseChanged: [listener]})
    client = MultiDBClient(config)
    client.initialize()
    if client.get(MARKER) != b"primary":
        raise RuntimeError("the primary is not active after initialize()")
    state = {"ok": 0, "errors": 0, "moved": [None] * TASKS, "stop": False,
             "first_error": None, "longest": 0.0}
    warm = threading.Semaphore(0)
    threads = [
        threading.Thread(target=load_thread, args=(client, t, warm, state), daemon=True)
        for t in range(TASKS)
    ]
    for th in threads:
        th.start()
    for _ in range(TASKS):
        warm.acquire()
    time.sleep(SETTLE)
    state["longest"] = 0.0
    start = time.perf_counter()
    if fault == "kill":
        primary.kill()
    elif fault == "pause":
        primary.pause()
    elif fault == "client-pause":
        primary.client_pause()
    else:
        primary.kill()
        secondary.kill()
    cut_off = start + (ALL_DOWN_WATCH if fault == "all-down" else GUARD)
    for th in threads:
        th.join(max(0.0, cut_off - time.perf_counter()))
    state["stop"] = True
    # Undo the fault: calls stuck on it return.
    if fault == "pause":
        primary.resume()
    elif fault == "client-pause":
        primary.kill()
    for th in threads:
        th.join(GUARD)
    moved = state["moved"]
    since = lambda at: None if at is None else at - start  # noqa: E731
    result = {
        "first": since(min((m for m in moved if m is not None), default=None)),
        "all": since(max(moved)) if all(m is not None for m in moved) else None,
        "switch": since(listener.at),
        "errors": state["errors"],
        "ok": state["ok"],
        "first_error": since(state["first_error"]),
        "longest": state["longest"],
    }
    client.close()
    if fault in ("kill", "client-pause", "all-down"):
        primary.start()
        primary.mark("primary")
    if fault == "all-down":
        secondary.start()
        secondary.mark("secondary")
    return result


def percentile(values, p):
    """Nearest rank, as in the Rust bench."""
    if not values:
        return None
    rank = min(max(math.ceil(p * len(values)), 1), len(values))
    return sorted(values)[rank - 1]


def ms(v):
    return "timeout" if v is None else f"{v * 1e3:.2f}"


def record(path, name, value, unit, **extra):
    if path:
        with open(path, "a", encoding="utf-8") as f:
            figure = {"bench": BENCH, "name": name, "value": value, "unit": unit, **extra}
            f.write(json.dumps(figure) + "\n")


def summarize(name, trials, json_path):
    print(
        f"\n=== redis-py {redis.__version__} MultiDBClient, {name}: "
        f"{SETTLE * 1e3:.0f} ms into the load; {len(trials)} trials, {TASKS} load threads, "
        f"{'tuned' if name.endswith('-tuned') else 'default'} config ==="
    )
    print(f"{'trial':>5} {'first ok (ms)':>14} {'all moved (ms)':>14} {'switch (ms)':>14} "
          f"{'errors':>7} {'ok':>7} {'1st error (ms)':>14} {'longest call (ms)':>17}")
    for i, t in enumerate(trials):
        print(f"{i + 1:>5} {ms(t['first']):>14} {ms(t['all']):>14} {ms(t['switch']):>14} "
              f"{t['errors']:>7} {t['ok']:>7} {ms(t['first_error']):>14} {ms(t['longest']):>17}")
    failed = sum(1 for t in trials if t["first"] is None)
    print(f"summary ({failed} trials without recovery):")
    record(json_path, f"{name}/trials", len(trials), "count")
    record(json_path, f"{name}/trials_without_recovery", failed, "count")
    stats = [("first ok", "first", "first_ok"), ("all moved", "all", "all_moved"),
             ("switch", "switch", "switch"), ("1st error", "first_error", "first_error"),
             ("longest", "longest", "longest_call")]
    for label, key, figure in stats:
        values = [t[key] for t in trials if t[key] is not None]
        p50, p99, top = percentile(values, 0.5), percentile(values, 0.99), max(values, default=None)
        print(f"  {label:<10} p50 {ms(p50):>8} ms   p99 {ms(p99):>8} ms   max {ms(top):>8} ms")
        for stat, v in (("p50", p50), ("p99", p99), ("max", top)):
            record(json_path, f"{name}/{figure}/{stat}", None if v is None else v * 1e3, "ms")
    errors = [t["errors"] for t in trials]
    print(
        f"  errors     total {sum(errors)}   max per trial {max(errors, default=0)}   "
        f"trials with errors {sum(1 for e in errors if e > 0)}"
    )
    record(json_path, f"{name}/errors/total", sum(errors), "count")
    record(json_path, f"{name}/errors/max_per_trial", max(errors, default=0), "count")
    record(json_path, f"{name}/errors/trials_with_errors", sum(1 for e in errors if e > 0), "count")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--redis-server", default="redis-server")
    parser.add_argument("only", nargs="*", help="run the scenarios whose name contains one of these")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)  # MultiDBClient is @experimental
    json_path = os.environ.get("MULTIDB_BENCH_JSON")
    record(json_path, "version", None, "", text=f"redis-py {redis.__version__}")
    primary = Server(args.redis_server)
    secondary = Server(args.redis_server)
    try:
        primary.mark("primary")
        secondary.mark("secondary")
        for name, fault, tuned in SCENARIOS:
            if args.only and not any(o in name for o in args.only):
                continue
            # At defaults a stall or an outage may wait out GUARD: fewer trials of those.
            n = args.trials if fault == "kill" or tuned else min(args.trials, SLOW_TRIALS)
            trials = []
            for i in range(n):
                trials.append(trial(primary, secondary, fault, tuned))
                t = trials[-1]
                print(f"  {name} trial {i + 1}/{n}: first ok {ms(t['first'])} ms, "
                      f"errors {t['errors']}", file=sys.stderr, flush=True)
            summarize(name, trials, json_path)
    finally:
        primary.stop()
        secondary.stop()


if __name__ == "__main__":
    main()
