"""Section 6 of `make bench` (tests/bench.py): edit -> verdict with `seglab
watch` (issue #9's target: <= 1 s median on scenario 4).

One scenario-4 lab, brought up with gw-sensitive's rule file copied into
the bench's work folder (`--ruleset gw-sensitive=COPY`), and `seglab watch
LAB` running on it (the default: the lab's own rule files). The copy is then
rewritten --watch-runs times (after one warm-up), alternating two versions:
the shipped file, and the same without its `tcp dport 7780` line (agents
can no longer reach the AMS: two cells go missing). Each rewrite is an
editor's save: the new text written beside the file, renamed over it. Time
runs from the rename to the moment watch's summary line (PASS/FAIL) is read
from its standard output: the debounce, the rule file read, `apply` (an nft
check, the replacement, the seal, the recorded scenario) and the verify of
the whole base matrix (traced, timeout 500 ms), and the diff printed.
"""

import os
import queue
import shutil
import signal
import subprocess
import threading
import time

from benchlib import BenchError, fmt_ms, log, seglab_env, stats, table

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO = "scenario-4"
GATEWAY = "gw-sensitive"
SHIPPED = os.path.join(HERE, "..", "scenarios", SCENARIO, f"{GATEWAY}.nft")
TARGET_MS = 1000  # edit -> verdict, median (informational)
FIRST_RUN_S = 120
SAVE_S = 30


def save(path, text):
    """An editor's save: written beside, renamed over; returns the rename's time."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".swp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    t0 = time.perf_counter()
    os.replace(tmp, path)
    return t0


class WatchBench:
    def __init__(self, bench):
        self.b = bench
        self.lines = queue.Queue()

    def read(self, stream):
        for line in stream:
            self.lines.put((time.perf_counter(), line.rstrip("\n")))
        self.lines.put((time.perf_counter(), None))

    def summary(self, within):
        """The lines up to watch's next summary line, and when it was read."""
        got, deadline = [], time.monotonic() + within
        while True:
            try:
                t, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise BenchError(f"watch printed no summary line within {within} s: {got[-5:]}")
            if line is None:
                raise BenchError(f"watch ended: {got[-5:]}")
            got.append(line)
            if line.startswith(("PASS ", "FAIL ")):
                return t, got

    def run(self):
        runs = self.b.args.watch_runs
        log(f"\n== watch: edit -> verdict on {SCENARIO} ({GATEWAY}'s file, {runs} saves after a warm-up)")
        shipped = open(SHIPPED).read()
        versions = [
            ("without 7780", "".join(l for l in shipped.splitlines(True) if "tcp dport 7780" not in l)),
            ("shipped", shipped),
        ]
        folder = os.path.join(self.b.workdir, "watch")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{GATEWAY}.nft")
        with open(path, "w") as f:
            f.write(shipped)
        lab = self.b.lab_name(SCENARIO, "watch")
        self.b.labs.append(lab)
        self.b.sl("up", SCENARIO, "--name", lab, "--ruleset", f"{GATEWAY}={path}")
        r = {"times": [], "changed": [], "verdicts": []}
        self.b.results["watch"] = r
        proc = subprocess.Popen([self.b.seglab, "watch", lab], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=seglab_env())
        threading.Thread(target=self.read, args=(proc.stdout,), daemon=True).start()
        try:
            _, first = self.summary(FIRST_RUN_S)
            log(f"first run: {first[-1]}")
            for i in range(runs + 1):  # the first is a warm-up
                name, text = versions[i % 2]
                t0 = save(path, text)
                t1, got = self.summary(SAVE_S)
                changed = [l for l in got if l[:2] in ("+ ", "- ", "~ ")]
                ms = (t1 - t0) * 1000
                log(f"{f'save {i}/{runs}' if i else 'warm-up'} ({name}): {ms:.0f} ms, "
                    f"{len(changed)} cells changed, {got[-1].split('  ')[0]}")
                if i == 0:
                    continue
                r["times"].append(ms)
                r["changed"].append(len(changed))
                r["verdicts"].append(got[-1].split()[0])
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.b.seglab_down(lab)
            shutil.rmtree(folder, ignore_errors=True)


def report_lines(results, verdicts):
    """The section's table for the final summary; appends whether the
    target was met to `verdicts` (informational)."""
    r = results.get("watch")
    if not r or not r["times"]:
        return []
    st = stats(r["times"])
    ok = st[0] <= TARGET_MS
    verdicts.append(ok)
    rows = [[f"save -> summary line ({len(r['times'])} saves)", fmt_ms(st), f"<= {TARGET_MS} ms median",
             "yes" if ok else "NO"],
            ["cells changed per save", f"{min(r['changed'])}-{max(r['changed'])}", "", ""]]
    return ["", f"watch, edit -> verdict: {SCENARIO}, {GATEWAY}'s file alternating the shipped version and "
            "one without its 7780 rule, saved by rename; `seglab watch LAB` (traced, timeout 500 ms)", "",
            table(rows, ["step", "seglab watch", "target", "met"])]
