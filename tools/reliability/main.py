"""main.py: gort-proxy's reliability suite (issue 9), the driver.

    python3 -m reliability.main GORT_PROXY GORT_CERTS [--only s1,s2,...] [--out FILE] [--fuzz-log FILE]

(run from tools/, or through tools/reliability/run-reliability.sh, which
builds the binaries and runs the libFuzzer part of scenario 6). Each
scenario is a module here, run against the real gort-proxy binary on
loopback, bounded in time, reporting figures:

  s1 concurrent   many connections at once, every byte checked both ways
  s2 upkill       an upstream SIGKILLed mid-transfer; the others complete
  s3 clients      resets, half-open and vanished clients; fds back to baseline
  s4 slowloris    silent and 1 byte/s connections; normal clients' latency
  s5 fds          the proxy under `ulimit -n 256`: no crash, no spin, recovers
  s6 malformed    malformed ClientHellos through the live proxy
  s7 soak         mixed load for SOAK_SECONDS; RSS and fds flat

Sizes: SHORT by default (CI), FULL=1 for the full ones; smaller under
ASan (common.SIZES). A failed check fails the scenario and the exit status
(1); the others still run. --out writes (or updates, by run) the markdown
report; --fuzz-log adds the libFuzzer run's figures to scenario 6.
"""
import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True

from . import common  # noqa: E402
from .common import ENV, SIZES, Result, log, raise_nofile  # noqa: E402
from e2e.harness import BACKENDS, Skipped, kill_all  # noqa: E402
from . import s1_concurrent, s2_upkill, s3_clients, s4_slowloris, s5_fds, s6_malformed, s7_soak  # noqa: E402

SCENARIOS = {
    "s1": s1_concurrent,
    "s2": s2_upkill,
    "s3": s3_clients,
    "s4": s4_slowloris,
    "s5": s5_fds,
    "s6": s6_malformed,
    "s7": s7_soak,
}


def sh(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=common.REPO).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024 // 1024
    dirty = " (with uncommitted changes in the working tree)" if sh("git", "status", "--porcelain", "-uno") else ""
    return {
        "machine": f"{os.cpu_count()} CPUs ({cpu}), {mem} GiB RAM, Linux {platform.release()}",
        "commit": sh("git", "log", "-1", "--format=%h %s")[:100] + dirty,
        "python": platform.python_version(),
    }


def scenario_text(r, key):
    when = time.strftime("%H:%M UTC", time.gmtime(r.started))
    lines = [f"<!-- scenario:{key} -->",
             f"### {r.title}: {'skipped' if r.skipped else 'passed' if r.passed else 'FAILED'} "
             f"({r.seconds:.0f} s, run at {when})", ""]
    if r.skipped:
        return "\n".join(lines + [f"Skipped: {r.skipped}.", ""]) + "\n"
    lines += ["| figure | value |", "| --- | --- |"]
    for k, v in r.figures.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items())
        lines.append(f"| {k} | {str(v).replace('|', '/')} |")
    lines.append("")
    if r.checks:
        lines.append("Checked:")
        lines += [f"- {c}" for c in r.checks]
        lines.append("")
    for n in r.notes:
        lines += [n, ""]
    if r.error:
        lines += ["Failure:", "", "```", r.error, "```", ""]
    return "\n".join(lines) + "\n"


def old_scenarios(section):
    """{key: text} of the scenario subsections in an earlier report section."""
    out = {}
    parts = section.split("<!-- scenario:")
    for p in parts[1:]:
        k = p[:p.index(" -->")]
        out[k] = "<!-- scenario:" + p.split("<!-- /run:")[0]
    return out


def write_report(path, results, info, seconds):
    """Writes this run's section of the report (one per run kind: FULL or SHORT, and the build),
    replacing the earlier one; scenarios not run this time (--only) keep their earlier text."""
    key = f"{'full' if common.FULL else 'short'}-{ENV.sanitizer or 'none'}"
    build = {"": "RelWithDebInfo", "address": "ASan+UBSan"}.get(ENV.sanitizer, ENV.sanitizer)
    old = open(path).read() if os.path.exists(path) else ""
    start, end = f"<!-- run:{key} -->", f"<!-- /run:{key} -->\n"
    earlier = old_scenarios(old[old.index(start):old.index(end)]) if start in old and end in old else {}
    texts = dict(earlier)
    ran = {}
    for r, k in results:
        texts[k] = scenario_text(r, k)
        ran[k] = r.passed
    verdicts = [ran.get(k, ": FAILED (" not in texts[k].split("\n")[1]) for k in sorted(texts)]
    kept = [k for k in sorted(texts) if k not in ran]
    lines = [start,
             f"## {SIZES.mode} run, {build} build",
             "",
             f"- when: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds / 60:.1f} min"
             + (f" (scenarios {', '.join(sorted(ran))}; {', '.join(kept)} from the earlier run)" if kept else " in all"),
             f"- machine: {info['machine']}",
             f"- commit: {info['commit']}",
             f"- gort-proxy: `{os.path.relpath(ENV.proxy, common.REPO)}` ({build}); Python {info['python']}",
             f"- durations: FUZZ_SECONDS={SIZES.fuzz_seconds}, SOAK_SECONDS={SIZES.soak_seconds}",
             f"- verdict: **{'nothing lost: every check passed' if all(verdicts) else 'FAILED'}**",
             ""]
    section = "\n".join(lines) + "\n" + "".join(texts[k] for k in sorted(texts)) + end
    if start in old and end in old:
        a, b = old.index(start), old.index(end) + len(end)
        text = old[:a] + section + old[b:]
    elif old:
        text = old.rstrip("\n") + "\n\n" + section
    else:
        text = HEADER + "\n" + section
    with open(path, "w") as f:
        f.write(text)
    log(f"report written to {path} (section {key})")


HEADER = """# gort-proxy reliability

What `tools/reliability/run-reliability.sh` measured: the real gort-proxy
binary on loopback between Python clients (asyncio) and backends
(`tools/reliability/peer.py`, a process of its own), each scenario bounded
in time and reporting its figures. Every byte that a scenario says was
verified was compared by sha256 at both ends; each scenario ends by
stopping gort-proxy with SIGTERM, which must exit 0 with no sanitizer
report on its stderr. The sections below are written by the script, one per
run (`FULL=1`, and the ASan+UBSan build); rerunning it replaces its own
section.

```sh
bash tools/reliability/run-reliability.sh                     # SHORT (CI), ~3 min
FULL=1 OUT=docs/reliability.md bash tools/reliability/run-reliability.sh
SANITIZE=address FULL=1 OUT=docs/reliability.md bash tools/reliability/run-reliability.sh
```
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proxy")
    ap.add_argument("certs")
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--fuzz-log", default="")
    a = ap.parse_args()
    only = [s for s in a.only.split(",") if s] or list(SCENARIOS)
    limit = raise_nofile()

    def terminated(sig, _):
        kill_all()
        os._exit(128 + sig)

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGINT, terminated)
    ENV.setup(a.proxy, a.certs)
    SIZES.setup()

    def watchdog(*_):
        print(f"FAIL: watchdog: the suite took more than {bound} s", flush=True)
        kill_all()
        os._exit(1)

    # Every wait is bounded; this bounds the whole (a hang anywhere fails, never blocks CI).
    bound = int((600 + 2 * SIZES.soak_seconds + (1800 if common.FULL else 0)) * ENV.slow)
    signal.signal(signal.SIGALRM, watchdog)
    signal.alarm(bound)
    s6_malformed.FUZZ_LOG = a.fuzz_log
    log(f"reliability suite, {SIZES.mode}; RLIMIT_NOFILE {limit}; scenarios {' '.join(only)}")
    info = machine()
    results = []
    t_all = time.monotonic()
    for key in only:
        t0 = time.monotonic()
        log(f"===== {key}")
        r = Result(key, SCENARIOS[key].TITLE)
        r.started = time.time()
        try:
            SCENARIOS[key].run(r)
            r.passed = True
        except Skipped as e:
            r.passed, r.skipped = True, str(e)
            log(f"SKIP {key}: {e}")
        except Exception as e:
            r.passed = False
            r.error = f"{type(e).__name__}: {e}"
            log(f"FAIL {key}: {r.error}")
            if type(e).__name__ != "TestFailure":
                traceback.print_exc()
            from e2e.harness import PROCS
            for p in PROCS:
                if p.name.endswith("proxy"):
                    print(f"--- {p.name} (status {p.p.poll()}) stderr, last lines:\n{p.text(last=25)}", flush=True)
        finally:
            kill_all()
            for b in BACKENDS:
                b.close()
            from e2e.harness import PROCS
            PROCS.clear()
        r.seconds = time.monotonic() - t0
        results.append((r, key))
        log(f"===== {key}: {'passed' if r.passed else 'FAILED'} in {r.seconds:.0f} s")
    seconds = time.monotonic() - t_all
    print("\nsummary:")
    for r, _ in results:
        print(f"  {'SKIP' if r.skipped else 'PASS' if r.passed else 'FAIL'}  {r.title} ({r.seconds:.0f} s)" + (f": {r.error}" if r.error else ""))
    if a.out:
        write_report(a.out, results, info, seconds)
    ok = all(r.passed for r, _ in results)
    if ok and not os.environ.get("KEEP"):
        shutil.rmtree(ENV.tmp, ignore_errors=True)
    else:
        print(f"(temporary files kept in {ENV.tmp})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
