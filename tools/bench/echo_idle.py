#!/usr/bin/env python3
"""echo_idle.py: what idle connections cost an echo server (run-echo-bench.sh's "idle" test).

    echo_idle.py --addr 127.0.0.1:9000 --pid SERVER_PID [--conns 10000] [--secs 5]

Opens --conns connections to the echo server, does one 64-byte exchange on
each (checked), so that every connection was accepted and its fiber or
goroutine sits parked in read, waits 0.5 s for the server to settle, then
holds them all open and silent for --secs while it measures the server's
CPU time: the exact sum_exec_runtime of its threads from
/proc/PID/task/*/schedstat (as the harness's loadgen does) at the start and
the end of the window. Prints one JSON line:

    {"mode": "idle", "conns": N, "window_s": ..., "proxy_cpu_s": ...,
     "server_threads": ..., "server_rss_kib": ..., "setup_s": ..., "errors": 0}

proxy_cpu_s is named as in loadgen's output, so one summary reads both.
Raises its own RLIMIT_NOFILE to the hard limit; the server needs as many
descriptors (run-echo-bench.sh raises the shell's limit before starting it).
Every socket call has a timeout; the whole run is bounded by an alarm.
"""
import argparse
import json
import os
import resource
import signal
import socket
import sys
import time


def server_cpu_ns(pid):
    total = 0
    task_dir = f"/proc/{pid}/task"
    for tid in os.listdir(task_dir):
        try:
            with open(f"{task_dir}/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just exited
    return total


def status_field(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--secs", type=float, default=5.0)
    a = ap.parse_args()
    signal.alarm(int(a.secs) + 120)  # default action: the process dies

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.conns + 64
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            print(f"echo_idle: need {want} descriptors, hard limit is {hard}", file=sys.stderr)
            return 2
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    host, port = a.addr.rsplit(":", 1)
    host = host.strip("[]")
    msg = bytes(range(64))
    conns, errors = [], 0
    t0 = time.monotonic()
    for _ in range(a.conns):
        try:
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                chunk = s.recv(len(msg) - len(got))
                if not chunk:
                    break
                got += chunk
            if got != msg:
                errors += 1
            conns.append(s)
        except OSError as e:
            errors += 1
            if errors == 1:
                print(f"echo_idle: {e}", file=sys.stderr)
            if errors > 100:
                break
    setup = time.monotonic() - t0
    time.sleep(0.5)

    c0, w0 = server_cpu_ns(a.pid), time.monotonic()
    time.sleep(a.secs)
    c1, w1 = server_cpu_ns(a.pid), time.monotonic()
    r = {
        "mode": "idle",
        "conns": len(conns),
        "window_s": w1 - w0,
        "proxy_cpu_s": (c1 - c0) / 1e9,
        "server_threads": len(os.listdir(f"/proc/{a.pid}/task")),
        "server_rss_kib": status_field(a.pid, "VmRSS"),
        "setup_s": setup,
        "errors": errors,
    }
    for s in conns:
        s.close()
    print(json.dumps(r), flush=True)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
