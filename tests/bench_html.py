"""Section 7 of `make bench` (tests/bench.py): the HTML report's budget
(issue #10: scenario 4's page renders in <= 50 ms and is <= 300 KB).

`seglab -v test scenario-4 --format html --output FILE`, --html-runs times
after one warm-up: a real run (up, verify of the base policy, the phase and
the closed-phase check, down), so the page has its three views of 900 cells
with their explanations. seglab logs (`-v`) the page's render time and size
beside the table's, rendered from the same reports in the same process: the
baseline. The bench reads that line and checks the file's size itself.
"""

import os
import re
import shutil

from benchlib import BenchError, log, run, seglab_env, stats, table

SCENARIO = "scenario-4"
TARGET_MS = 50
TARGET_BYTES = 300 * 1024
LINE = re.compile(r"html report: (\d+) views, (\d+) bytes, rendered in ([\d.]+) ms "
                  r"\(the table: (\d+) bytes in ([\d.]+) ms\)")


class HtmlBench:
    def __init__(self, bench):
        self.b = bench

    def run(self):
        runs = self.b.args.html_runs
        log(f"\n== html: `seglab test {SCENARIO} --format html` ({runs} runs after a warm-up)")
        folder = os.path.join(self.b.workdir, "html")
        os.makedirs(folder, exist_ok=True)
        page = os.path.join(folder, "report.html")
        r = {"html_ms": [], "table_ms": [], "bytes": [], "table_bytes": [], "views": []}
        self.b.results["html"] = r
        try:
            for i in range(runs + 1):  # the first is a warm-up
                _, p = run([self.b.seglab, "-v", "test", SCENARIO, "--format", "html", "--output", page],
                        check=False, env=seglab_env(), timeout=600)
                if p.returncode != 0:
                    raise BenchError(f"seglab test {SCENARIO} --format html: exit {p.returncode}: "
                                     f"{p.stderr[-500:]}")
                m = LINE.search(p.stderr)
                if not m:
                    raise BenchError(f"seglab -v logged no 'html report:' line: {p.stderr[-500:]}")
                views, size, html_ms, table_size, table_ms = m.groups()
                on_disk = os.path.getsize(page)
                if on_disk != int(size):
                    raise BenchError(f"the page has {on_disk} bytes on disk, {size} logged")
                log(f"{f'run {i}/{runs}' if i else 'warm-up'}: {views} views, {int(size) / 1024:.0f} KB "
                    f"in {float(html_ms):.1f} ms (table {float(table_ms):.2f} ms)")
                if i == 0:
                    continue
                r["html_ms"].append(float(html_ms))
                r["table_ms"].append(float(table_ms))
                r["bytes"].append(int(size))
                r["table_bytes"].append(int(table_size))
                r["views"].append(int(views))
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def fmt(st):
    med, lo, hi = st
    return f"{med:.2f} ms [{lo:.2f}-{hi:.2f}]"


def report_lines(results, verdicts):
    """The section's table for the final summary; appends whether each
    budget was met to `verdicts`."""
    r = results.get("html")
    if not r or not r["html_ms"]:
        return []
    st = stats(r["html_ms"])
    tst = stats(r["table_ms"])
    size = max(r["bytes"])
    time_ok = st[0] <= TARGET_MS
    size_ok = size <= TARGET_BYTES
    verdicts += [time_ok, size_ok]
    rows = [[f"render ({len(r['html_ms'])} runs)", fmt(st), fmt(tst), f"<= {TARGET_MS} ms median",
             "yes" if time_ok else "NO"],
            ["size", f"{size / 1024:.0f} KB", f"{max(r['table_bytes']) / 1024:.1f} KB",
             f"<= {TARGET_BYTES // 1024} KB", "yes" if size_ok else "NO"]]
    return ["", f"HTML report: `seglab test {SCENARIO} --format html` ({max(r['views'])} views of 900 cells), "
            "render time and size as seglab -v logs them, beside the terminal table of the same reports", "",
            table(rows, ["measure", "html", "table (baseline)", "budget", "met"])]
