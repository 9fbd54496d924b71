"""Section 5 of `make bench` (tests/bench.py): `seglab scan` of one host pair,
every TCP and UDP port, beside nmap run from the same source host on the
same labs in the same run.

Two labs of scenario-3: `bench-scan-open` (both gateways given
tests/fixtures/rulesets/allow-all.nft: every port of agent-1 answers) and
`bench-scan-filtered` (the shipped rule sets: the plan has no flow ams ->
agent-1, so every port is dropped). The pair is ams -> agent-1, two
gateways apart.

The machine's conntrack table (the machine's own namespace: Docker's
bridges run lab packets through its hooks) is shared by every lab on the
machine. seglab deletes its probes' entries after each target; nmap leaves
its own (an unanswered SYN stays 120 s). So the bench waits before each
nmap run until the table is below NMAP_ROOM entries, before each seglab run
until it is at most half full, runs nmap's filtered-lab runs last, and
prints the table's count before and after. It never changes a sysctl.
"""

import json
import os
import re
import shutil
import time

from benchlib import BenchError, fmt_s, log, stats, table

HERE = os.path.dirname(os.path.abspath(__file__))
ALLOW_ALL = os.path.join(HERE, "fixtures", "rulesets", "allow-all.nft")

SCENARIO = "scenario-3"
SRC, DST = "ams", "agent-1"
# (kind, lab name, extra `seglab up` arguments, ports expected open)
LABS = [
    ("open", "bench-scan-open",
     ["--ruleset", f"gw-mgmt={ALLOW_ALL}", "--ruleset", f"gw-sensitive={ALLOW_ALL}"], 65535),
    ("filtered", "bench-scan-filtered", [], 0),
]
PROTOS = ["tcp", "udp"]
TARGET_S = {"tcp": 1.0, "udp": 2.0}  # one pair, every port (informational)
NMAP_ARGS = ["-n", "-Pn", "-sS", "-p-", "-T5", "--min-rate", "50000", "-oG", "-"]
# The anchor for nmap on this pair: all-open 20.9 s with 18,720 of
# 65,535 open found; behind a dropping gateway 2.9 s.
NMAP_ANCHOR = {"open": "20.9 s, 18720 open", "filtered": "2.9 s"}

CONNTRACK_COUNT = "/proc/sys/net/netfilter/nf_conntrack_count"
CONNTRACK_MAX = "/proc/sys/net/netfilter/nf_conntrack_max"
NMAP_ROOM = 65_536  # nmap runs only when the table holds fewer entries
ROOM_WAIT_S = 300  # longer than an unanswered SYN's 120 s


def conntrack_count():
    with open(CONNTRACK_COUNT) as f:
        return int(f.read())


def conntrack_max():
    with open(CONNTRACK_MAX) as f:
        return int(f.read())


class NoRoom(BenchError):
    """The machine's conntrack table stayed too full to start a run."""


def entries_from(addrs):
    """Entries of the machine's conntrack table whose original source is one
    of `addrs` (the labs' source host): this section's own footprint,
    whatever other labs on the machine do meanwhile."""
    keys = {f"src={a}" for a in addrs}
    n = 0
    try:
        with open("/proc/net/nf_conntrack") as f:
            for line in f:
                i = line.find(" src=")
                if i >= 0 and line[i + 1:line.find(" ", i + 1)] in keys:
                    n += 1
    except OSError:
        return None
    return n


def open_ports(pair):
    """Ports of a scanned pair that answered as open."""
    return sum(s["last"] - s["first"] + 1 for s in pair["spans"] if s["observed"] == "open")


def observed_counts(pair):
    """Ports of a scanned pair by what they observed, e.g. `60788 open, 4747 blocked`."""
    n = {}
    for s in pair["spans"]:
        key = s["observed"] + (f" ({s['verdict']})" if s["verdict"] in ("error", "host-down", "path-down") else "")
        n[key] = n.get(key, 0) + s["last"] - s["first"] + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(n.items(), key=lambda kv: -kv[1]))


def nmap_open(out):
    """Open ports in nmap's greppable output (`-oG -`), and the count of the
    state it did not list (`Ignored State: filtered (N)`), as text."""
    opened, ignored = 0, ""
    for line in out.splitlines():
        if "Ports:" in line:
            opened += len(re.findall(r"(?:^|[\s,])\d+/open/tcp/", line.split("Ports:", 1)[1]))
        m = re.search(r"Ignored State: (\S+) \((\d+)\)", line)
        if m:
            ignored = f"{m.group(2)} {m.group(1)}"
    return opened, ignored


def host_address(status, host):
    """`host`'s address in `seglab status LAB` output (its table row)."""
    for line in status.splitlines():
        cells = [c.strip() for c in re.split(r"[│┆|]", line) if c.strip()]
        if cells and cells[0] == host:
            m = re.search(r"\b(\d+\.\d+\.\d+\.\d+)\b", line)
            if m:
                return m.group(1)
    raise BenchError(f"`seglab status` shows no address of {host}:\n{status}")


class ScanBench:
    """The scan section, run by tests/bench.py's Bench (`bench`): its seglab
    runner, lab bookkeeping (for cleanup), notes, errors and results."""

    def __init__(self, bench):
        self.b = bench
        self.runs = bench.args.scan_runs
        self.addr = {}
        self.waited = []  # (before what, seconds, count when done)

    def wait_room(self, below, what):
        """Waits until the machine's conntrack table holds fewer than `below`
        entries; says how long it waited."""
        t0 = time.perf_counter()
        n = conntrack_count()
        said = 0
        while n >= below:
            waited = time.perf_counter() - t0
            if waited > ROOM_WAIT_S:
                raise NoRoom(f"the machine's conntrack table still holds {n} entries after "
                             f"{ROOM_WAIT_S} s (waiting for fewer than {below} before {what}; "
                             f"{entries_from(self.sources())} of them from this section's source hosts)")
            if waited >= said + 30:
                said = waited
                log(f"  waiting for conntrack room before {what}: {n} entries, fewer than {below} wanted")
            time.sleep(1)
            n = conntrack_count()
        dt = time.perf_counter() - t0
        if dt >= 1:
            log(f"  waited {dt:.0f} s for conntrack room before {what} (now {n} entries)")
            self.waited.append((what, dt, n))

    def sources(self):
        return [a for (lab, host), a in self.addr.items() if host == SRC]

    def footprint(self, r, when):
        """The machine's conntrack count, and how many entries come from this
        section's source hosts, `when`."""
        r["conntrack"].append((when, conntrack_count(), entries_from(self.sources())))

    def scan_once(self, lab, proto):
        """One `seglab scan`: (process s, pair elapsed s, rounds, open ports,
        ports by what they observed)."""
        dt, p = self.b.sl("scan", lab, "--from", SRC, "--to", DST, "--proto", proto,
                          "--format", "json", check=False)
        if p.returncode not in (0, 1):  # 1: leaks found (the open lab)
            raise BenchError(f"seglab scan {lab} --proto {proto} failed (exit {p.returncode}):\n"
                             f"{p.stderr.strip()}")
        data = json.loads(p.stdout)
        report = (data if isinstance(data, list) else [data])[0]
        pairs = [x for x in report["pairs"] if x["src"] == SRC and x["dst"] == DST and x["proto"] == proto]
        if len(pairs) != 1:
            raise BenchError(f"seglab scan {lab} --proto {proto}: {len(pairs)} pairs {SRC} -> {DST}")
        pair = pairs[0]
        return dt, pair["elapsed_ms"] / 1000, pair["rounds"], open_ports(pair), observed_counts(pair)

    def nmap_once(self, lab):
        """One nmap SYN scan of every TCP port of DST from SRC's namespace:
        (process s, open ports, what nmap did not list)."""
        dt, p = self.b.sl("exec", lab, SRC, "--", "nmap", *NMAP_ARGS, self.addr[(lab, DST)],
                          check=False)
        if p.returncode != 0:
            raise BenchError(f"nmap in {lab}/{SRC} failed (exit {p.returncode}):\n{p.stderr.strip()[-2000:]}")
        opened, ignored = nmap_open(p.stdout)
        return dt, opened, ignored

    def run(self):
        log(f"\n== scan of {SRC} -> {DST} ({SCENARIO}), seglab scan beside nmap")
        r = {"conntrack": [], "rows": {}, "nmap": None, "waited": self.waited}
        self.b.results["scan"] = r
        labs = []
        try:
            for kind, lab, extra, _ in LABS:
                self.b.labs.append(lab)
                dt, _ = self.b.sl("up", SCENARIO, "--name", lab, *extra)
                labs.append(lab)
                status = self.b.sl("status", lab)[1].stdout
                for host in (SRC, DST):
                    self.addr[(lab, host)] = host_address(status, host)
                log(f"{lab}: up in {dt:.2f} s; {SRC} is {self.addr[(lab, SRC)]}, {DST} is "
                    f"{self.addr[(lab, DST)]}")
            self.footprint(r, "before the scans")
            self.bench_seglab(r)
            self.footprint(r, "after seglab's runs")
            try:
                self.bench_nmap(r)
            except NoRoom as e:
                r["nmap"] = f"stopped: {e}"
                self.b.note(f"scan: nmap baseline {r['nmap']}")
            self.footprint(r, "after nmap's runs")
        finally:
            for lab in labs:
                self.b.seglab_down(lab)
            log("conntrack entries of the machine: " + conntrack_text(r["conntrack"]))

    def bench_seglab(self, r):
        half = conntrack_max() // 2
        got = {(k, p): [] for k, *_ in LABS for p in PROTOS}
        for i in range(self.runs + 1):  # the first is a warm-up
            parts = []
            # Interleaved, so that a change of load hits all alike.
            for kind, lab, _, want in LABS:
                for proto in PROTOS:
                    self.wait_room(half + 1, f"seglab scan {kind} {proto}")
                    one = self.b.attempt(f"scan run {i}: seglab scan {lab} {proto}",
                                         lambda: self.scan_once(lab, proto), lambda: None)
                    if one is None:
                        parts.append(f"{kind} {proto} FAILED")
                        continue
                    dt, elapsed, rounds, opened, seen = one
                    parts.append(f"{kind} {proto} {dt:.2f} s (pair {elapsed:.2f} s, {rounds} rounds, {seen})")
                    if opened != want:
                        self.b.note(f"scan: seglab found {opened} of {want} expected open ports of {SRC} -> "
                                    f"{DST} {proto} in the {kind} lab ({'warm-up' if i == 0 else f'run {i}'}: {seen})")
                    if i:
                        got[(kind, proto)].append(one)
            log(f"{f'run {i}/{self.runs}' if i else 'warm-up'}: " + " | ".join(parts))
        for (kind, proto), xs in got.items():
            r["rows"][("seglab", kind, proto)] = {
                "proc": stats([x[0] for x in xs]), "pair": stats([x[1] for x in xs]),
                "rounds": stats([x[2] for x in xs]), "open": stats([x[3] for x in xs])}

    def bench_nmap(self, r):
        if not shutil.which("nmap"):
            r["nmap"] = "skipped: `nmap` is not installed on this machine (apt-get install nmap)"
            log(f"nmap baseline {r['nmap']}")
            return
        ver = self.b.sl("exec", LABS[0][1], SRC, "--", "nmap", "--version", check=False)[1].stdout
        r["nmap"] = (ver.splitlines() or ["nmap"])[0]
        # The filtered lab last: its unanswered SYNs hold the table longest.
        for kind, lab, _, _ in LABS:
            xs = []
            for i in range(self.runs + 1):  # the first is a warm-up
                self.wait_room(NMAP_ROOM, f"nmap {kind} run {i}")
                one = self.b.attempt(f"scan run {i}: nmap {lab}", lambda: self.nmap_once(lab), lambda: None)
                if one is None:
                    continue
                dt, opened, ignored = one
                log(f"nmap {kind} {'warm-up' if i == 0 else f'run {i}/{self.runs}'}: {dt:.2f} s, "
                    f"{opened} open, not listed: {ignored or '-'}; conntrack {conntrack_count()} entries, "
                    f"{entries_from([self.addr[(lab, SRC)]])} from {SRC}")
                if not i:
                    continue
                xs.append((dt, opened))
                # Kept after every run: a later run may find no room.
                r["rows"][("nmap", kind, "tcp")] = {
                    "proc": stats([x[0] for x in xs]), "pair": None, "rounds": None,
                    "open": stats([x[1] for x in xs])}


def conntrack_text(points):
    return ", ".join(f"{n} {w} ({'?' if ours is None else ours} from the source hosts)" for w, n, ours in points)


def count_text(st):
    if st is None:
        return "-"
    med, lo, hi = st
    return f"{med:.0f}" if lo == hi else f"{med:.0f} [{lo:.0f}-{hi:.0f}]"


def report_lines(results, runs, verdicts):
    """The section's table and conclusions for the final summary; appends
    whether each seglab target was met to `verdicts` (informational)."""
    r = results.get("scan")
    if not r:
        return []
    rows = []
    for tool in ("seglab", "nmap"):
        for kind, lab, _, want in LABS:
            for proto in PROTOS:
                x = r["rows"].get((tool, kind, proto))
                if x is None:
                    if tool == "nmap" and proto == "udp" and ("nmap", kind, "tcp") in r["rows"]:
                        rows.append([tool, kind, proto, "not run (TCP only)", "", "", f"{want}", "", "", ""])
                    continue
                target, met = "", ""
                if tool == "seglab":
                    ok = x["proc"] is not None and x["proc"][0] <= TARGET_S[proto]
                    verdicts.append(ok)
                    target, met = f"<= {TARGET_S[proto]:g} s", "yes" if ok else "NO"
                else:
                    target = f"(issue: {NMAP_ANCHOR[kind]})"
                rows.append([tool, kind, proto, fmt_s(x["proc"]),
                             fmt_s(x["pair"]) if x["pair"] else "-", count_text(x["open"]),
                             f"{want}", count_text(x["rounds"]), target, met])
            if rows and rows[-1] is not None:
                rows.append(None)
    if rows and rows[-1] is None:
        rows.pop()
    out = ["", f"scan of one pair, every port: {SRC} -> {DST} of {SCENARIO}, two gateways apart; labs "
           f"`open` (allow-all.nft on both gateways) and `filtered` (the shipped rule sets, no flow); "
           f"medians of {runs} runs after one warm-up [min-max]", "",
           table(rows, ["tool", "lab", "proto", "process (s)", "pair elapsed (s)", "found open",
                        "expected open", "rounds", "target", "met"])]
    out.append(f"  seglab: `seglab scan LAB --from {SRC} --to {DST} --proto P --format json`; process: its "
               f"wall clock; pair elapsed: the pair's elapsed_ms; found open: its spans observed open")
    if isinstance(r.get("nmap"), str) and r["nmap"].startswith(("skipped", "stopped")):
        out.append(f"  nmap baseline {r['nmap']}")
    else:
        out.append(f"  nmap: `seglab exec LAB {SRC} -- nmap {' '.join(NMAP_ARGS)} ADDR` ({r.get('nmap') or '-'}), "
                   f"from {SRC}'s namespace; found open: `N/open/tcp` in its output; TCP only: nmap's UDP scan "
                   f"of 65,535 ports takes hours")
    # Conclusions: the medians side by side.
    rw = r["rows"]

    def med(key, what):
        x = rw.get(key)
        return x[what][0] if x and x[what] else None

    for kind, _, _, want in LABS:
        s_t, s_o = med(("seglab", kind, "tcp"), "proc"), med(("seglab", kind, "tcp"), "open")
        n_t, n_o = med(("nmap", kind, "tcp"), "proc"), med(("nmap", kind, "tcp"), "open")
        line = f"  TCP, {kind} lab: seglab "
        line += f"{s_t:.2f} s, {s_o:.0f} of {want} expected open found" if s_t is not None else "-"
        if n_t is not None:
            line += f"; nmap {n_t:.2f} s, {n_o:.0f} found ({n_t / s_t:.1f}x seglab's time)" \
                if s_t else f"; nmap {n_t:.2f} s, {n_o:.0f} found"
        out.append(line)
        u_t, u_o = med(("seglab", kind, "udp"), "proc"), med(("seglab", kind, "udp"), "open")
        if u_t is not None:
            out.append(f"  UDP, {kind} lab: seglab {u_t:.2f} s, {u_o:.0f} of {want} expected open found; "
                       f"nmap not run")
    out.append("  conntrack entries of the machine (other labs' included): " + conntrack_text(r["conntrack"]))
    if r.get("waited"):
        out.append("  waited for conntrack room: " +
                   ", ".join(f"{dt:.0f} s before {w}" for w, dt, _ in r["waited"]))
    return out
