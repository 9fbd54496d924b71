#!/usr/bin/env python3
"""Benchmark of `seglab up`, `seglab down`, `seglab verify` and `seglab scan` (`make bench`).

What it measures (wall clock of the commands, medians over --runs runs, with
min and max; never a pass/fail timing test: the targets are printed beside the
numbers for information, and the exit status is 0 unless something failed):

1. `seglab up SCENARIO --name LAB` and `seglab down LAB` for scenario-2 and
   scenario-4, with the node image already built (one warm-up up/down first).
2. Baselines that build the same lab without seglab:
   - docker-compose: tests/compose/SCENARIO.yml (same networks, driver
     options, subnets moved to 198.19.x, same containers, capabilities
     (none) and limits, sysctls, read-only root, static addresses, the seglab node image), then
     the same routes and nft rules applied from the host with
     `nsenter -t PID -n ip route ...` / `nsenter -t PID -n nft -f FILE`,
     one command after the other, as a shell script would. `down` is
     `docker-compose down`.
   - plain docker CLI, in parallel: `docker network create` for every
     network at once, then for every container at once `docker create`,
     `docker network connect`, `docker start`; then the same serial routes
     and rules. `down` is a `docker rm -f` per round of containers that share no
network (moby/moby#42119) and one `docker network rm`.
   The routes and rules are those of a real seglab lab of the same scenario
   (read with `seglab exec LAB NODE -- ip route` and `... nft list ruleset`,
   Docker's own DNS tables left out), with seglab's subnets replaced by the
   baseline's.
3. `seglab verify LAB --format json` of scenario-4's full matrix on a running
   lab, traced (the default: a traced drop decides its probe at once) and
   with `--no-trace` (a drop costs the timeout), interleaved, --verify-runs
   times after one warm-up: the whole process's wall clock, `summary.wall_ms`,
   probes, answered probes, answered (and all decided) probes per second of
   the process and of `summary.wall_ms`. Then, on the same lab,
   `seglab explain LAB SRC DST PROTO/PORT --format json` of a dropped and of
   an open cell, --explain-runs times each after one warm-up (issue #7).
4. The scale lab (tests/scale/scale-56: 8 segments x 6 hosts + 8 gateways,
   67,680 cells, made by tests/scale/gen.py): `seglab up`, `seglab verify`
   and `seglab down`, beside the parallel docker CLI baseline built from the
   seglab lab's own containers and networks as Docker reports them (same
   subnets, addresses, options; seglab's lab is down while it runs).
5. The leak scan beside nmap (tests/bench_scan.py), --scan-runs times after
   one warm-up, on two scenario-3 labs: `bench-scan-open` (allow-all.nft on
   both gateways) and `bench-scan-filtered` (the shipped rule sets), pair
   ams -> agent-1 (two gateways apart):
   - `seglab scan LAB --from ams --to agent-1 --proto tcp|udp --format json`:
     the process's wall clock, the pair's elapsed_ms and rounds, the ports
     found open (expected: 65,535 and 0);
   - nmap, TCP only (a UDP scan of 65,535 ports takes it hours), from the
     same source's namespace: `seglab exec LAB ams -- nmap -n -Pn -sS -p-
     -T5 --min-rate 50000 -oG - ADDR`: wall clock and ports found open;
     skipped, saying why, when nmap is not installed.
   The machine's conntrack count is printed before and after: seglab deletes
   its probes' entries, nmap leaves its own, so nmap's filtered-lab runs come
   last and every nmap run waits for the table to hold fewer than 65,536
   entries (every seglab run for it to be at most half full). No sysctl is
   changed.

6. Edit -> verdict with `seglab watch` on scenario-4 (tests/bench_watch.py):
   a gateway's rule file rewritten --watch-runs times (after one warm-up),
   alternating two versions, timed from the save to watch's summary line.

7. The HTML report (tests/bench_html.py): `seglab -v test scenario-4
   --format html --output FILE`, --html-runs times after one warm-up; the
   page's render time and size as seglab logs them, beside the terminal
   table's of the same reports (budget: 50 ms, 300 KB).

Everything it creates is removed whatever happens (try/finally, also on
Ctrl-C and SIGTERM), and at the end it checks that no container or network
labelled io.seglab.lab=bench* is left.

Only the lab containers are ever configured; the benchmark itself sends no
traffic (verify probes only the lab's own hosts; the scans, seglab's and
nmap's, run from a lab host's namespace to another lab host).

Usage: python3 tests/bench.py --seglab target/.../release/seglab [--runs 5] [--scan-runs 5]
(--no-updown, --no-cli, --no-verify, --no-scale, --no-scan, --no-watch, --no-html skip sections)
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from bench_scan import ScanBench, report_lines as scan_report_lines
from bench_watch import WatchBench, report_lines as watch_report_lines
from bench_html import HtmlBench, report_lines as html_report_lines
from benchlib import BenchError, fmt_ms, fmt_s, log, run, seglab_env, stats, table

HERE = os.path.dirname(os.path.abspath(__file__))
COMPOSE_DIR = os.path.join(HERE, "compose")

LABEL_LAB = "io.seglab.lab"
LABEL_SPEC = "io.seglab.spec"
COMPOSE_LAB = "bench-compose"
CLI_LAB = "bench-cli"
BENCH_PREFIX = "bench"

SCENARIOS = ["scenario-2", "scenario-4"]
SCALE_SCENARIO = os.path.join(HERE, "scale", "scale-56", "scenario.yaml")
VERIFY_SCENARIO = "scenario-4"
PROBE_TIMEOUT_MS = 500  # seglab verify's default --timeout

# Targets (informational).
UP_RATIO = 0.6
DOWN_RATIO = 0.5
VERIFY_SLACK_MS = 500
ANSWERED_PER_S = 10_000  # per second of summary.wall_ms (the first verify target)
# Issue #7: tracing decides a dropped probe at once instead of at the timeout.
VERIFY_PROC_MS = 150  # the whole `seglab verify LAB` process, traced
ANSWERED_PER_PROC_S = 5_000  # answered probes per second of the whole process
EXPLAIN_MS = 100  # one `seglab explain` process
# (name, SRC, DST, PROTO/PORT, observed) of scenario-4: no flow lets the
# management admin reach an agent; flow 5 lets an agent reach the AMS.
EXPLAIN_CELLS = [
    ("dropped", "admin", "agent-1", "tcp/7780", "blocked"),
    ("open", "agent-1", "ams", "tcp/7780", "open"),
]
SCALE_UP_RATIO = 1.0  # seglab up <= 1.0x the parallel docker CLI baseline
SCALE_VERIFY_S = 2.0


def docker_json(args):
    _, p = run(["docker"] + args)
    return json.loads(p.stdout or "[]")


def find_compose():
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    p = subprocess.run(["docker", "compose", "version"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if p.returncode == 0:
        return ["docker", "compose"]
    raise BenchError("neither `docker-compose` nor `docker compose` is installed")


# --------------------------------------------------------------------------
# Addresses


def prefix24(subnet):
    net, _, bits = subnet.partition("/")
    if bits != "24":
        raise BenchError(f"subnet {subnet}: the benchmark only maps /24 subnets")
    return ".".join(net.split(".")[:3]) + "."


def translator(mapping):
    """Replaces each /24 prefix 'a.b.c.' of `mapping` by its value, only at
    the start of an address."""
    pat = re.compile(r"(?<![0-9.])(" + "|".join(re.escape(k) for k in mapping) + r")(?=[0-9])")

    def tr(text):
        # One pass, so that a prefix is never translated twice.
        return pat.sub(lambda m: mapping[m.group(1)], text)
    return tr


# --------------------------------------------------------------------------
# What a seglab lab looks like, read back from the engine and the namespaces


def disjoint_rounds(containers):
    """`containers` as (name, networks) pairs, in rounds in which no two
    share a network, the most connected first: the engine's per-network
    endpoint count can go wrong under concurrent endpoint changes on one
    network, and the network then cannot be removed until dockerd restarts
    (moby/moby#42119). seglab's own teardown removes containers the same way."""
    rounds = []
    for name, nets in sorted(containers, key=lambda c: -len(c[1])):
        for r in rounds:
            if not any(nets & other for _, other in r):
                r.append((name, nets))
                break
        else:
            rounds.append([(name, nets)])
    return [[name for name, _ in r] for r in rounds]


def remove_containers(ids, check=False):
    """`docker rm -f` of `ids` in network-disjoint rounds (see disjoint_rounds)."""
    found = docker_json(["inspect"] + list(ids)) if ids else []
    pairs = [(c["Id"], set((c["NetworkSettings"]["Networks"] or {}).keys())) for c in found]
    for r in disjoint_rounds(pairs):
        run(["docker", "rm", "-f"] + r, check=check)


def lab_containers(label_value):
    ids = run(["docker", "ps", "-aq", "--filter", f"label={LABEL_LAB}={label_value}"])[1].stdout.split()
    return docker_json(["inspect"] + ids) if ids else []


def docker_tables_removed(listing):
    """`nft list ruleset` without Docker's own tables (those with a DOCKER_
    chain: its embedded DNS), as seglab itself treats them."""
    out, block, docker = [], [], False
    for line in listing.splitlines():
        if line.startswith("table "):
            block, docker = [line], False
        elif block:
            block.append(line)
            if line.strip().startswith("chain DOCKER_"):
                docker = True
            if line == "}":
                if not docker:
                    out.extend(block)
                block = []
    return "\n".join(out) + "\n" if out else ""


def read_seglab_lab(seglab, lab):
    """Nodes, segments, image, routes and rules of a running seglab lab."""
    cs = lab_containers(lab)
    if not cs:
        raise BenchError(f"lab {lab} has no containers")
    spec = json.loads(cs[0]["Config"]["Labels"][LABEL_SPEC])
    image = cs[0]["Image"]
    segments = {s["name"]: s["subnet"] for s in spec["segments"]}
    nodes = {}
    for g in spec["gateways"]:
        nodes[g["name"]] = {"kind": "gateway",
                            "addrs": {a["segment"]: a["address"] for a in g["attachments"]}}
    for h in spec["hosts"]:
        nodes[h["name"]] = {"kind": "host", "addrs": {h["segment"]: h["address"]}}
    for name, n in nodes.items():
        routes = run([seglab, "exec", lab, name, "--", "ip", "route"], env=seglab_env())[1].stdout
        rules = run([seglab, "exec", lab, name, "--", "nft", "list", "ruleset"], env=seglab_env())[1].stdout
        n["routes"] = routes
        n["rules"] = docker_tables_removed(rules)
    return {"image": image, "segments": segments, "nodes": nodes}


def config_commands(node, tr):
    """The shell-script baseline's commands for one node, addresses moved by
    `tr`: routes (one `ip` per route) and one `nft -f`."""
    cmds = []
    lines = [l.split() for l in node["routes"].splitlines() if l.strip()]
    if not any(l[0] == "default" for l in lines):
        # Docker's default route to the reserved address goes, as in seglab.
        cmds.append(["ip", "route", "flush", "exact", "0.0.0.0/0"])
    for l in lines:
        if "via" in l:
            cmds.append(["ip", "route", "replace", tr(l[0]), "via", tr(l[l.index("via") + 1])])
    return cmds


# --------------------------------------------------------------------------
# Baselines: configuration by nsenter, serially


def apply_config(plan, pids):
    """`plan`: [(container, [cmd...], nft_file or None)]; `pids`: container -> pid."""
    for container, cmds, nft_file in plan:
        pid = str(pids[container])
        for c in cmds:
            run(["nsenter", "-t", pid, "-n"] + c)
        if nft_file:
            run(["nsenter", "-t", pid, "-n", "nft", "-f", nft_file])


def pids_of(names):
    _, p = run(["docker", "inspect", "-f", "{{.Name}} {{.State.Pid}}"] + names)
    pids = {}
    for line in p.stdout.splitlines():
        name, pid = line.split()
        if pid == "0":
            raise BenchError(f"container {name} is not running")
        pids[name.lstrip("/")] = pid
    return pids


class Baseline:
    """A lab built without seglab (compose or docker CLI) with seglab's
    routes and rules applied afterwards."""

    def __init__(self, scenario, lab, workdir):
        self.scenario = scenario
        self.lab = lab  # seglab's view: from read_seglab_lab
        self.workdir = workdir
        self.plan = None

    def container(self, node):
        raise NotImplementedError

    def prepare_config(self, subnets):
        """subnets: segment -> this baseline's subnet."""
        missing = set(self.lab["segments"]) ^ set(subnets)
        if missing:
            raise BenchError(f"{self.scenario}: segments differ between seglab and the baseline: {sorted(missing)}")
        mapping = {prefix24(self.lab["segments"][s]): prefix24(subnets[s]) for s in subnets}
        tr = translator(mapping)
        self.tr = tr
        self.plan = []
        for name, node in self.lab["nodes"].items():
            nft_file = None
            if node["rules"].strip():
                nft_file = os.path.join(self.workdir, f"{name}.nft")
                with open(nft_file, "w") as f:
                    f.write(tr(node["rules"]))
            cmds = config_commands(node, tr)
            with open(os.path.join(self.workdir, f"{name}.sh"), "w") as f:
                for c in cmds:
                    f.write("nsenter -t $PID -n " + " ".join(c) + "\n")
                if nft_file:
                    f.write(f"nsenter -t $PID -n nft -f {nft_file}\n")
            self.plan.append((self.container(name), cmds, nft_file))
        # Every address the baseline configures must be one of its own.
        allowed = tuple(mapping.values())
        texts = [open(p[2]).read() for p in self.plan if p[2]] + \
            [" ".join(c) for p in self.plan for c in p[1]]
        for text in texts:
            for addr in re.findall(r"(?<![0-9.])\d+\.\d+\.\d+\.\d+", text):
                if addr != "0.0.0.0" and not addr.startswith(allowed):
                    raise BenchError(f"{self.scenario}: address {addr} in the baseline's "
                                     f"configuration is outside its subnets")

    def configure(self):
        pids = pids_of([p[0] for p in self.plan])
        apply_config(self.plan, pids)

    def check_addresses(self, containers):
        """Warns when the baseline's containers are not attached like seglab's."""
        problems = []
        for name, node in self.lab["nodes"].items():
            c = containers.get(self.container(name))
            if c is None:
                problems.append(f"{name}: missing")
                continue
            want = sorted(self.tr(a) for a in node["addrs"].values())
            have = sorted(ep["IPAddress"] for ep in c["NetworkSettings"]["Networks"].values())
            if want != have:
                problems.append(f"{name}: {have} instead of {want}")
            if node["kind"] == "gateway":
                hc = c["HostConfig"]
                if (hc.get("Sysctls") or {}).get("net.ipv4.ip_forward") != "1":
                    problems.append(f"{name}: not a gateway (ip_forward)")
            elif not c["HostConfig"].get("ReadonlyRootfs"):
                problems.append(f"{name}: root file system not read-only")
            hc = c["HostConfig"]
            if hc.get("CapAdd") or [d.upper() for d in hc.get("CapDrop") or []] != ["ALL"] or \
                    "no-new-privileges" not in (hc.get("SecurityOpt") or []) or \
                    not hc.get("PidsLimit") or not hc.get("Memory"):
                problems.append(f"{name}: not seglab's least privilege (cap_drop ALL, "
                                f"no-new-privileges, pids and memory limits)")
        extra = set(containers) - {self.container(n) for n in self.lab["nodes"]}
        if extra:
            problems.append(f"extra containers {sorted(extra)}")
        return problems


class ComposeBaseline(Baseline):
    def __init__(self, compose, scenario, lab, workdir, tag):
        super().__init__(scenario, lab, workdir)
        self.compose = compose
        self.file = os.path.join(COMPOSE_DIR, f"{scenario}.yml")
        if not os.path.exists(self.file):
            raise BenchError(f"missing compose file {self.file}")
        self.project = f"bench-compose-{tag}"
        self.env = dict(os.environ, SEGLAB_BENCH_IMAGE=lab["image"])
        self.made = False

    def cmd(self, *args):
        return self.compose + ["-f", self.file, "-p", self.project] + list(args)

    def container(self, node):
        return f"{self.project}_{node}_1" if self.compose == ["docker-compose"] \
            else f"{self.project}-{node}-1"

    def up(self):
        self.made = True
        dt, _ = run(self.cmd("up", "-d"), env=self.env)
        return dt

    def down(self):
        dt, _ = run(self.cmd("down", "--remove-orphans"), env=self.env)
        return dt

    def cleanup(self):
        if self.made:
            run(self.cmd("down", "--remove-orphans"), env=self.env, check=False)

    def warm_up(self):
        """First bring-up: learns the subnets, checks the compose file against
        seglab's lab, writes and tries the configuration."""
        self.up()
        nets = docker_json(["network", "inspect"] + run(
            ["docker", "network", "ls", "-q", "--filter",
             f"label=com.docker.compose.project={self.project}"])[1].stdout.split())
        subnets = {}
        self.networks = []
        for n in nets:
            seg = n["Labels"]["com.docker.compose.network"]
            subnets[seg] = n["IPAM"]["Config"][0]["Subnet"]
            self.networks.append(n)
        self.prepare_config(subnets)
        cs = lab_containers(COMPOSE_LAB)
        self.containers = [c for c in cs
                           if c["Config"]["Labels"].get("com.docker.compose.project") == self.project]
        problems = self.check_addresses({c["Name"].lstrip("/"): c for c in self.containers})
        self.configure()
        self.down()
        return problems


class CliBaseline(Baseline):
    """The compose lab again, made with the plain docker CLI in parallel."""

    def __init__(self, compose_baseline, tag):
        cb = compose_baseline
        super().__init__(cb.scenario, cb.lab, tempfile.mkdtemp(prefix="cli-", dir=cb.workdir))
        self.prefix = f"bench-cli-{tag}"
        self.image = cb.lab["image"]
        self.net_specs = []
        for n in cb.networks:
            seg = n["Labels"]["com.docker.compose.network"]
            self.net_specs.append((seg, self.network_spec(n, seg)))
        self.ctr_specs = []
        self.ctr_networks = {}
        compose_net_seg = {n["Name"]: n["Labels"]["com.docker.compose.network"] for n in cb.networks}
        for c in cb.containers:
            node = c["Config"]["Labels"]["com.docker.compose.service"]
            self.ctr_specs.append(self.container_spec(c, node, compose_net_seg))
        self.subnets = {seg: spec[spec.index("--subnet") + 1] for seg, spec in self.net_specs}
        self.made = False

    def container(self, node):
        return f"{self.prefix}-{node}"

    def network_spec(self, n, seg):
        """`docker network create` of segment `seg` with every setting of
        network `n` as the engine reports it."""
        cfg = n["IPAM"]["Config"][0]
        opts = []
        for k, v in sorted((n.get("Options") or {}).items()):
            opts += ["-o", f"{k}={v}"]
        return (["docker", "network", "create", "--driver", n["Driver"],
                 "--subnet", cfg["Subnet"], "--gateway", cfg["Gateway"]]
                + opts + ["--label", f"{LABEL_LAB}={CLI_LAB}", f"{self.prefix}-{seg}"])

    def container_spec(self, c, node, net_seg):
        """`docker create` (with every setting of container `c` as the engine
        reports it), the `docker network connect`s and the `docker start` of
        `node`; `net_seg` maps the engine's network names to segments."""
        hc = c["HostConfig"]
        args = ["docker", "create", "--name", self.container(node),
                "--hostname", c["Config"]["Hostname"],
                "--label", f"{LABEL_LAB}={CLI_LAB}", "--restart", "no", "--stop-timeout", "1"]
        if hc.get("ReadonlyRootfs"):
            args.append("--read-only")
        for cap in hc.get("CapAdd") or []:
            args += ["--cap-add", cap]
        for cap in hc.get("CapDrop") or []:
            args += ["--cap-drop", cap]
        for opt in hc.get("SecurityOpt") or []:
            args += ["--security-opt", opt]
        if hc.get("PidsLimit"):
            args += ["--pids-limit", str(hc["PidsLimit"])]
        if hc.get("Memory"):
            args += ["--memory", str(hc["Memory"])]
        if hc.get("MemorySwap"):
            args += ["--memory-swap", str(hc["MemorySwap"])]
        for k, v in sorted((hc.get("Sysctls") or {}).items()):
            args += ["--sysctl", f"{k}={v}"]
        for e in c["Config"]["Env"]:
            if e.startswith("SEGLAB_NODE="):
                args += ["--env", e]
        attach = sorted((net_seg[net], ep["IPAMConfig"]["IPv4Address"])
                        for net, ep in c["NetworkSettings"]["Networks"].items())
        first, rest = attach[0], attach[1:]
        self.ctr_networks[self.container(node)] = {f"{self.prefix}-{seg}" for seg, _ in attach}
        args += ["--network", f"{self.prefix}-{first[0]}", "--ip", first[1], self.image]
        connects = [["docker", "network", "connect", "--ip", ip, f"{self.prefix}-{seg}",
                     self.container(node)] for seg, ip in rest]
        return args, connects, ["docker", "start", self.container(node)]

    def up(self):
        self.made = True
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(len(self.net_specs), len(self.ctr_specs))) as ex:
            list(ex.map(lambda s: run(s[1]), self.net_specs))

            def one(spec):
                create, connects, start = spec
                run(create)
                for c in connects:
                    run(c)
                run(start)
            list(ex.map(one, self.ctr_specs))
        return time.perf_counter() - t0

    def down(self):
        t0 = time.perf_counter()
        # One `docker rm -f` per round of containers that share no network.
        for r in disjoint_rounds(list(self.ctr_networks.items())):
            run(["docker", "rm", "-f"] + r)
        run(["docker", "network", "rm"] + [f"{self.prefix}-{seg}" for seg, _ in self.net_specs])
        return time.perf_counter() - t0

    def cleanup(self):
        if not self.made:
            return
        ids = run(["docker", "ps", "-aq", "--filter", f"label={LABEL_LAB}={CLI_LAB}"], check=False)[1].stdout.split()
        remove_containers(ids)
        nets = run(["docker", "network", "ls", "-q", "--filter", f"label={LABEL_LAB}={CLI_LAB}"], check=False)[1].stdout.split()
        if nets:
            run(["docker", "network", "rm"] + nets, check=False)

    def warm_up(self):
        self.up()
        self.prepare_config(self.subnets)
        cs = {c["Name"].lstrip("/"): c for c in lab_containers(CLI_LAB)}
        problems = self.check_addresses(cs)
        self.configure()
        self.down()
        return problems


class SeglabCliBaseline(CliBaseline):
    """The parallel docker CLI baseline of a lab that has no compose file (the
    scale lab): networks and containers are copied from a running seglab lab
    as Docker reports them (same subnets and addresses: seglab's lab is down
    whenever the baseline is up)."""

    def __init__(self, scenario, lab, label, workdir, tag):
        Baseline.__init__(self, scenario, lab, tempfile.mkdtemp(prefix="cli-", dir=workdir))
        self.prefix = f"bench-cli-{tag}"
        self.image = lab["image"]
        nets = docker_json(["network", "inspect"] + run(
            ["docker", "network", "ls", "-q", "--filter", f"label={LABEL_LAB}={label}"])[1].stdout.split())
        net_seg = {}
        self.net_specs = []
        for n in nets:
            seg = n["Labels"]["io.seglab.segment"]
            net_seg[n["Name"]] = seg
            self.net_specs.append((seg, self.network_spec(n, seg)))
        self.ctr_specs = []
        self.ctr_networks = {}
        for c in lab_containers(label):
            labels = c["Config"]["Labels"]
            node = labels.get("io.seglab.gateway") or labels.get("io.seglab.host")
            if node is None:
                continue  # the lab's claim: no node, never started
            self.ctr_specs.append(self.container_spec(c, node, net_seg))
        self.subnets = {seg: spec[spec.index("--subnet") + 1] for seg, spec in self.net_specs}
        self.made = False


# --------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args):
        self.args = args
        self.seglab = os.path.abspath(args.seglab)
        self.tag = f"{os.getpid() & 0xffff:04x}"
        self.labs = []  # seglab labs this run may have made
        self.baselines = []
        self.workdir = tempfile.mkdtemp(prefix="seglab-bench-")
        self.results = {}
        self.notes = []
        self.errors = []
        self.stuck_before = set()
        self.compose = None

    # -- seglab

    def sl(self, *args, check=True):
        return run([self.seglab] + list(args), env=seglab_env(), check=check)

    def lab_name(self, scenario, what):
        return f"{BENCH_PREFIX}-{self.tag}-{scenario.replace('scenario-', 's')}-{what}"

    def seglab_up(self, scenario, lab):
        self.labs.append(lab)
        dt, _ = self.sl("up", scenario, "--name", lab)
        return dt

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)

    def attempt(self, what, fn, recover):
        """Runs a timed step; on failure records the error, runs `recover`
        (cleanup, so the next run starts clean) and returns None."""
        try:
            return fn()
        except BenchError as e:
            self.errors.append(f"{what} failed: {e}")
            log(f"  {what} FAILED: {str(e).splitlines()[0]} ...")
            try:
                recover()
            except BenchError as e2:
                self.errors.append(f"{what}: cleanup after the failure failed too: {e2}")
            return None

    def forget_lab(self, lab):
        """Removes a lab after a failed step, retrying: `seglab down` is safe to repeat."""
        for _ in range(3):
            time.sleep(1)
            _, p = self.sl("down", lab, check=False)
            if p.returncode == 0:
                self.labs.remove(lab)
                return
        raise BenchError(f"`seglab down {lab}` still fails: {p.stderr.strip()}")

    def seglab_down(self, lab):
        dt, _ = self.sl("down", lab)
        self.labs.remove(lab)
        return dt

    # -- checks

    def preflight(self):
        if os.geteuid() != 0:
            raise BenchError("run as root: seglab and the baselines enter containers' namespaces")
        if not os.access(self.seglab, os.X_OK):
            raise BenchError(f"{self.seglab} is not an executable (make build)")
        for tool in ["docker", "nsenter", "ip", "nft"]:
            if not shutil.which(tool):
                raise BenchError(f"`{tool}` is not installed")
        self.compose = find_compose()
        ver = run(self.compose + ["version", "--short"], check=False)[1].stdout.strip()
        engine = run(["docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"])[1].stdout.strip()
        log(f"seglab {self.seglab}; Docker engine {engine}; {' '.join(self.compose)} {ver}; "
            f"{os.cpu_count()} CPUs; {self.args.runs} runs; work files in {self.workdir}")
        left = self.remove_leftovers(before=True)
        if left[0] or left[1]:
            log(f"WARNING: cannot remove leftovers of an earlier run: {left}; they are not counted "
                f"against this run")

    def leftovers(self):
        def ours(kind):
            fmt = "{{.ID}} {{.Label \"%s\"}}" % LABEL_LAB
            _, p = run(["docker"] + kind + ["--filter", f"label={LABEL_LAB}", "--format", fmt])
            return [l.split(None, 1) for l in p.stdout.splitlines()
                    if len(l.split(None, 1)) == 2 and l.split(None, 1)[1].startswith(BENCH_PREFIX)]
        return ours(["ps", "-a"]), ours(["network", "ls"])

    def remove_leftovers(self, before=False):
        """Removes every container and network labelled io.seglab.lab=bench*;
        returns what could not be removed as (containers, networks)."""
        containers, networks = self.leftovers()
        if not containers and not networks:
            return [], []
        labs = sorted({v for _, v in containers + networks})
        if before:
            log(f"removing leftovers of an earlier benchmark: {', '.join(labs)}")
        for lab in labs:
            if lab not in (COMPOSE_LAB, CLI_LAB):
                self.sl("down", lab, check=False)
        containers, networks = self.leftovers()
        remove_containers([i for i, _ in containers])
        for i, _ in networks:
            run(["docker", "network", "rm", i], check=False)
        containers, networks = self.leftovers()
        for i, lab in networks:
            n = docker_json(["network", "inspect", i])
            if n and not n[0].get("Containers"):
                self.note(
                    f"network {n[0]['Name']} ({i}, lab {lab}) cannot be removed although no container is "
                    f"attached: Docker's stale endpoint count (moby/moby#42119, 'has active endpoints'); "
                    f"restarting dockerd clears it")
        if before:
            self.stuck_before = {i for i, _ in containers + networks}
        return containers, networks

    # -- phases

    def bench_scenario(self, scenario):
        runs = self.args.runs
        log(f"\n== {scenario}")
        # Warm-up: the node image gets built (if needed), and the lab's routes
        # and rules are read for the baselines.
        warm = self.lab_name(scenario, "warm")
        t_up = self.seglab_up(scenario, warm)
        lab = read_seglab_lab(self.seglab, warm)
        t_down = self.seglab_down(warm)
        n_gw = sum(1 for n in lab["nodes"].values() if n["kind"] == "gateway")
        shape = (f"{len(lab['nodes'])} containers ({n_gw} gateways, {len(lab['nodes']) - n_gw} hosts), "
                 f"{len(lab['segments'])} networks")
        log(f"warm-up: seglab up {t_up:.2f} s, down {t_down:.2f} s; {shape}; image {lab['image'][:19]}")

        wd = os.path.join(self.workdir, scenario)
        os.makedirs(wd)
        compose = ComposeBaseline(self.compose, scenario, lab, wd, f"{self.tag}-{scenario.replace('scenario-', 's')}")
        self.baselines.append(compose)
        problems = compose.warm_up()
        for p in problems:
            self.note(f"{scenario}: compose file differs from seglab's lab: {p}")
        bases = [("compose", compose)]
        if not self.args.no_cli:
            cli = CliBaseline(compose, f"{self.tag}-{scenario.replace('scenario-', 's')}")
            self.baselines.append(cli)
            for p in cli.warm_up():
                self.note(f"{scenario}: docker CLI lab differs from seglab's lab: {p}")
            bases.append(("cli", cli))
        log(f"warm-up of the baselines done; their configuration scripts are in {wd}")

        r = {"shape": shape, "seglab_up": [], "seglab_down": []}
        for name, _ in bases:
            r.update({f"{name}_up": [], f"{name}_cfg": [], f"{name}_total": [], f"{name}_down": []})
        # Interleaved, so that a change of load on the machine hits all alike.
        for i in range(runs):
            lab_i = self.lab_name(scenario, f"r{i + 1}")
            line = f"run {i + 1}/{runs}:"
            up = self.attempt(f"{scenario} run {i + 1}: seglab up",
                              lambda: self.seglab_up(scenario, lab_i), lambda: self.forget_lab(lab_i))
            down = up is not None and self.attempt(
                f"{scenario} run {i + 1}: seglab down", lambda: self.seglab_down(lab_i),
                lambda: self.forget_lab(lab_i))
            if up is not None and down not in (None, False):
                r["seglab_up"].append(up)
                r["seglab_down"].append(down)
                line += f" seglab up {up:.2f} down {down:.2f}"
            else:
                line += " seglab FAILED"
            for name, b in bases:
                def up_and_configure(b=b):
                    t_up = b.up()
                    t0 = time.perf_counter()
                    b.configure()
                    return t_up, time.perf_counter() - t0
                got = self.attempt(f"{scenario} run {i + 1}: {name} up", up_and_configure, b.cleanup)
                t_down = got is not None and self.attempt(
                    f"{scenario} run {i + 1}: {name} down", b.down, b.cleanup)
                if got is None or t_down in (None, False):
                    line += f" | {name} FAILED"
                    continue
                t_up, t_cfg = got
                r[f"{name}_up"].append(t_up)
                r[f"{name}_cfg"].append(t_cfg)
                r[f"{name}_total"].append(t_up + t_cfg)
                r[f"{name}_down"].append(t_down)
                line += f" | {name} up {t_up:.2f}+{t_cfg:.2f} down {t_down:.2f}"
            log(line)
        self.results[scenario] = r

    def bench_scale(self):
        """up/verify/down of the scale lab beside the parallel docker CLI."""
        path, runs = self.args.scale, self.args.scale_runs
        log(f"\n== scale lab {path}")
        warm = self.lab_name("scale", "warm")
        t_up = self.seglab_up(path, warm)
        r = {"seglab_up": [], "seglab_down": [], "verify": [], "verify_wall": [],
             "cli_up": [], "cli_cfg": [], "cli_total": [], "cli_down": []}
        try:
            for i in range(runs + 1):  # the first is a warm-up
                dt, p = self.sl("verify", warm, "--format", "json", check=False)
                if p.returncode not in (0, 1):
                    raise BenchError(f"seglab verify {warm} failed (exit {p.returncode}):\n{p.stderr.strip()}")
                data = json.loads(p.stdout)
                s = (data if isinstance(data, list) else [data])[0]["summary"]
                if p.returncode == 1:
                    self.note(f"scale: verify run {i} failed {s['probes'] - s['passed']} cells")
                log(f"verify {i}{' (warm-up)' if i == 0 else ''}: {s['probes']} probes, "
                    f"passed {s['passed']}, errors {s['errors']}, retried {s['retries']}, "
                    f"wall {s['wall_ms']} ms, process {dt:.2f} s")
                if i:
                    r["verify"].append(dt)
                    r["verify_wall"].append(s["wall_ms"] / 1000)
            lab = read_seglab_lab(self.seglab, warm)
            n_gw = sum(1 for n in lab["nodes"].values() if n["kind"] == "gateway")
            r["shape"] = (f"{len(lab['nodes'])} containers ({n_gw} gateways, {len(lab['nodes']) - n_gw} "
                          f"hosts), {len(lab['segments'])} networks")
            wd = os.path.join(self.workdir, "scale")
            os.makedirs(wd)
            cli = SeglabCliBaseline("scale", lab, warm, wd, f"{self.tag}-scale")
        finally:
            t_down = self.seglab_down(warm)
        log(f"warm-up: seglab up {t_up:.2f} s, down {t_down:.2f} s; {r['shape']}")
        self.baselines.append(cli)
        for p in cli.warm_up():
            self.note(f"scale: docker CLI lab differs from seglab's lab: {p}")
        for i in range(runs):
            lab_i = self.lab_name("scale", f"r{i + 1}")
            line = f"run {i + 1}/{runs}:"
            up = self.attempt(f"scale run {i + 1}: seglab up", lambda: self.seglab_up(path, lab_i),
                              lambda: self.forget_lab(lab_i))
            down = up is not None and self.attempt(f"scale run {i + 1}: seglab down",
                                                   lambda: self.seglab_down(lab_i), lambda: self.forget_lab(lab_i))
            if up is not None and down not in (None, False):
                r["seglab_up"].append(up)
                r["seglab_down"].append(down)
                line += f" seglab up {up:.2f} down {down:.2f}"
            else:
                line += " seglab FAILED"

            def up_and_configure():
                t_up = cli.up()
                t0 = time.perf_counter()
                cli.configure()
                return t_up, time.perf_counter() - t0
            got = self.attempt(f"scale run {i + 1}: cli up", up_and_configure, cli.cleanup)
            t_down = got is not None and self.attempt(f"scale run {i + 1}: cli down", cli.down, cli.cleanup)
            if got is None or t_down in (None, False):
                line += " | cli FAILED"
            else:
                r["cli_up"].append(got[0])
                r["cli_cfg"].append(got[1])
                r["cli_total"].append(got[0] + got[1])
                r["cli_down"].append(t_down)
                line += f" | cli up {got[0]:.2f}+{got[1]:.2f} down {t_down:.2f}"
            log(line)
        self.results["scale"] = r

    def verify_once(self, lab, *extra):
        """One `seglab verify LAB --format json [extra]`: (process seconds,
        summary, blocked cells decided before the timeout, exit code)."""
        dt, p = self.sl("verify", lab, "--format", "json", *extra, check=False)
        if p.returncode not in (0, 1):
            raise BenchError(f"seglab verify {lab} {' '.join(extra)} failed (exit {p.returncode}):\n"
                             f"{p.stderr.strip()}")
        data = json.loads(p.stdout)
        report = (data if isinstance(data, list) else [data])[0]
        # A blocked cell that ended well before the timeout was decided by a
        # traced drop (or a reject), not by waiting.
        early = sum(1 for c in report.get("results", [])
                    if c.get("observed") == "blocked" and c.get("elapsed_ms", PROBE_TIMEOUT_MS)
                    < 0.9 * PROBE_TIMEOUT_MS)
        return dt, report["summary"], early, p.returncode

    def bench_verify(self):
        """Full-matrix verify of scenario-4, traced (the default) and with
        --no-trace, interleaved on one lab; then `seglab explain` of a
        dropped and an open cell on the same lab."""
        scenario, runs = VERIFY_SCENARIO, self.args.verify_runs
        log(f"\n== verify {scenario}")
        lab = self.lab_name(scenario, "verify")
        self.seglab_up(scenario, lab)
        try:
            modes = (("trace", ()), ("no_trace", ("--no-trace",)))
            got = {m: {"proc": [], "wall": [], "answered": [], "probes": [], "own_rate": [], "early": []}
                   for m, _ in modes}
            failed = 0
            for i in range(runs + 1):  # the first is a warm-up
                parts = []
                # Interleaved, so that a change of load hits both alike.
                for m, extra in modes:
                    dt, s, early, rc = self.verify_once(lab, *extra)
                    failed += rc == 1
                    parts.append(f"{m.replace('_', '-')}: process {dt * 1000:.0f} ms, wall_ms {s['wall_ms']}, "
                                 f"{s['probes']} probes, {s['answered']} answered, passed {s['passed']}, "
                                 f"{early} blocked early")
                    if i == 0:
                        continue
                    g = got[m]
                    g["proc"].append(dt * 1000)
                    g["wall"].append(s["wall_ms"])
                    g["answered"].append(s["answered"])
                    g["probes"].append(s["probes"])
                    g["own_rate"].append(s.get("answered_per_s", 0.0))
                    g["early"].append(early)
                log(f"{f'run {i}/{runs}' if i else 'warm-up'}: " + " | ".join(parts))
            if failed:
                self.note(f"verify: {failed} of {2 * (runs + 1)} runs reported failed cells (exit 1)")
            res = {}
            for m, g in got.items():
                res[m] = {
                    "probes": statistics.median(g["probes"]), "answered": statistics.median(g["answered"]),
                    "early": statistics.median(g["early"]),
                    "proc": stats(g["proc"]), "wall": stats(g["wall"]),
                    "rate_proc": stats([a / (w / 1000) for a, w in zip(g["answered"], g["proc"]) if w > 0]),
                    "decided_proc": stats([n / (w / 1000) for n, w in zip(g["probes"], g["proc"]) if w > 0]),
                    "rate": stats([a / (w / 1000) for a, w in zip(g["answered"], g["wall"]) if w > 0]),
                    "own_rate": stats(g["own_rate"]),
                }
            self.results["verify"] = res
            self.bench_explain(lab)
        finally:
            self.seglab_down(lab)

    def bench_explain(self, lab):
        """`seglab explain LAB SRC DST PROTO/PORT --format json` of each of
        EXPLAIN_CELLS, interleaved, after one warm-up each."""
        runs = self.args.explain_runs
        log(f"\n== explain on {lab}")
        times = {name: [] for name, *_ in EXPLAIN_CELLS}
        for i in range(runs + 1):  # the first is a warm-up
            parts = []
            for name, src, dst, port, want in EXPLAIN_CELLS:
                dt, p = self.sl("explain", lab, src, dst, port, "--format", "json", check=False)
                if p.returncode != 0:
                    raise BenchError(f"seglab explain {lab} {src} {dst} {port} failed "
                                     f"(exit {p.returncode}):\n{p.stderr.strip()}")
                cell = json.loads(p.stdout)
                if cell.get("observed") != want or cell.get("verdict") != "pass":
                    self.note(f"explain {src} {dst} {port}: observed {cell.get('observed')}, verdict "
                              f"{cell.get('verdict')} (the bench expects {want}, pass)")
                if want == "blocked" and cell.get("elapsed_ms", 0) >= 0.9 * PROBE_TIMEOUT_MS:
                    self.note(f"explain {src} {dst} {port}: the drop was decided by the timeout, not by a trace")
                parts.append(f"{name} {dt * 1000:.0f} ms")
                if i:
                    times[name].append(dt * 1000)
            log(f"{f'run {i}/{runs}' if i else 'warm-up'}: " + ", ".join(parts))
        self.results["explain"] = {name: stats(ts) for name, ts in times.items()}

    def cleanup(self):
        for lab in list(self.labs):
            try:
                self.sl("down", lab, check=False)
            except BenchError as e:
                log(f"cleanup: {e}")
        for b in reversed(self.baselines):
            try:
                b.cleanup()
            except BenchError as e:
                log(f"cleanup: {e}")
        containers, networks = self.remove_leftovers()
        ours = [x for x in containers + networks if x[0] not in self.stuck_before]
        older = [x for x in containers + networks if x[0] in self.stuck_before]
        clean = not ours
        if not containers and not networks:
            log("\ncleanup: no container or network labelled io.seglab.lab=bench* is left")
        else:
            log(f"\ncleanup: LEFT OVER by this run: {ours or 'nothing'}; "
                f"from earlier runs: {older or 'nothing'}")
            if ours:
                self.errors.append(f"cleanup: left over: {ours}")
        if not self.args.keep_files:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return clean

    # -- report

    def report(self):
        rows = []
        header = ["scenario", "step", "seglab (s)", "compose+cfg (s)", "docker CLI ∥ +cfg (s)",
                  "seglab/compose", "target", "met"]
        verdicts = []
        for sc in self.args.scenarios:
            r = self.results.get(sc)
            if not r:
                continue
            for step, ratio in (("up", UP_RATIO), ("down", DOWN_RATIO)):
                sg = stats(r[f"seglab_{step}"])
                key = "total" if step == "up" else "down"
                co = stats(r.get(f"compose_{key}", []))
                cl = stats(r.get(f"cli_{key}", []))
                rel = sg[0] / co[0] if co and co[0] > 0 else None
                met = rel is not None and rel <= ratio
                verdicts.append(met)
                rows.append([sc, step, fmt_s(sg), fmt_s(co), fmt_s(cl),
                             f"{rel:.2f}x" if rel else "-", f"<= {ratio:.1f}x compose",
                             "yes" if met else "NO"])
            if "compose_up" in r:
                rows.append([sc, "  networks+containers only", "", fmt_s(stats(r["compose_up"])),
                             fmt_s(stats(r.get("cli_up", []))), "", "", ""])
                rows.append([sc, "  routes+rules only", "", fmt_s(stats(r["compose_cfg"])),
                             fmt_s(stats(r.get("cli_cfg", []))), "", "", ""])
            rows.append(None)
        out = ["", "=" * 30 + " seglab benchmark " + "=" * 30,
               f"medians of {self.args.runs} runs [min-max], wall clock of the commands, "
               f"image already built; machine: {os.cpu_count()} CPUs"]
        for sc in self.args.scenarios:
            if sc in self.results:
                out.append(f"  {sc}: {self.results[sc]['shape']}")
        out.append("")
        if rows:
            if rows[-1] is None:
                rows.pop()
            out.append(table(rows, header))
        sc = self.results.get("scale")
        if sc:
            up, cli = stats(sc["seglab_up"]), stats(sc["cli_total"])
            rel = up[0] / cli[0] if up and cli and cli[0] > 0 else None
            ver = stats(sc["verify"])
            srows = [
                ["up", fmt_s(up), fmt_s(cli), f"{rel:.2f}x" if rel else "-",
                 f"<= {SCALE_UP_RATIO:.1f}x docker CLI", "yes" if rel is not None and rel <= SCALE_UP_RATIO else "NO"],
                ["  networks+containers only", "", fmt_s(stats(sc["cli_up"])), "", "", ""],
                ["  routes+rules only", "", fmt_s(stats(sc["cli_cfg"])), "", "", ""],
                ["down", fmt_s(stats(sc["seglab_down"])), fmt_s(stats(sc["cli_down"])), "", "", ""],
                ["verify (process)", fmt_s(ver), "", "", f"<= {SCALE_VERIFY_S:g} s",
                 "yes" if ver and ver[0] <= SCALE_VERIFY_S else "NO"],
                ["  verify (summary.wall_ms)", fmt_s(stats(sc["verify_wall"])), "", "", "", ""],
            ]
            verdicts += [rel is not None and rel <= SCALE_UP_RATIO, bool(ver and ver[0] <= SCALE_VERIFY_S)]
            out += ["", f"scale lab {self.args.scale}: {sc.get('shape', '')}, "
                    f"medians of {self.args.scale_runs} runs (verify after one warm-up)", "",
                    table(srows, ["step", "seglab (s)", "docker CLI ∥ +cfg (s)", "seglab/CLI", "target", "met"])]
        v = self.results.get("verify")
        if v:
            t, n = v["trace"], v["no_trace"]
            wall_target = PROBE_TIMEOUT_MS + VERIFY_SLACK_MS
            checks = [
                t["proc"][0] <= VERIFY_PROC_MS,
                t["rate_proc"][0] >= ANSWERED_PER_PROC_S,
                t["wall"][0] <= wall_target,
                t["rate"][0] >= ANSWERED_PER_S,
            ]
            verdicts += checks

            def rate(st):
                return f"{st[0]:.0f}/s [{st[1]:.0f}-{st[2]:.0f}]" if st else "-"

            def met(ok):
                return "yes" if ok else "NO"
            vrows = [
                ["probes (full matrix, all phases off)", f"{t['probes']:.0f}", f"{n['probes']:.0f}", "", ""],
                ["answered probes (open or rejected)", f"{t['answered']:.0f}", f"{n['answered']:.0f}", "", ""],
                ["  blocked cells decided before the timeout", f"{t['early']:.0f}", f"{n['early']:.0f}", "", ""],
                ["seglab verify process, whole", fmt_ms(t["proc"]), fmt_ms(n["proc"]),
                 f"<= {VERIFY_PROC_MS} ms (traced)", met(checks[0])],
                ["answered / process wall", rate(t["rate_proc"]), rate(n["rate_proc"]),
                 f">= {ANSWERED_PER_PROC_S}/s (traced)", met(checks[1])],
                ["  decided (all probes) / process wall", rate(t["decided_proc"]), rate(n["decided_proc"]), "", ""],
                ["verify wall (summary.wall_ms)", fmt_ms(t["wall"]), fmt_ms(n["wall"]),
                 f"<= {wall_target} ms (timeout {PROBE_TIMEOUT_MS} + 500)", met(checks[2])],
                ["answered / summary.wall_ms", rate(t["rate"]), rate(n["rate"]),
                 f">= {ANSWERED_PER_S}/s", met(checks[3])],
                ["  seglab's answered_per_s (to last answer)", rate(t["own_rate"]), rate(n["own_rate"]), "", ""],
            ]
            e = self.results.get("explain")
            if e:
                for name, src, dst, port, _ in EXPLAIN_CELLS:
                    ok = bool(e.get(name)) and e[name][0] <= EXPLAIN_MS
                    verdicts.append(ok)
                    vrows.append([f"seglab explain, {name} cell ({src} -> {dst} {port})", fmt_ms(e.get(name)),
                                  "", f"<= {EXPLAIN_MS} ms", met(ok)])
            out += ["", f"verify of {VERIFY_SCENARIO} on a running lab (`seglab verify LAB --format json`, "
                    f"timeout {PROBE_TIMEOUT_MS} ms, traced and `--no-trace` interleaved, medians of "
                    f"{self.args.verify_runs} runs after one warm-up [min-max]; `seglab explain LAB SRC DST "
                    f"PROTO/PORT --format json`, medians of {self.args.explain_runs} runs after one warm-up)", "",
                    table(vrows, ["measure", "traced (default)", "--no-trace", "target", "met"])]
            out.append("  process: wall clock of the whole `seglab` process as the bench sees it (Docker "
                       "connection, node checks before and after probing included)")
            if n["answered"] and n["wall"][0] >= PROBE_TIMEOUT_MS:
                ceiling = n["answered"] / (PROBE_TIMEOUT_MS / 1000)
                out.append(f"  note: without tracing, a matrix with dropped probes takes at least the probe "
                           f"timeout, so answered/wall cannot exceed {n['answered']:.0f}/"
                           f"{PROBE_TIMEOUT_MS / 1000:g} s = {ceiling:.0f}/s there")
        out += scan_report_lines(self.results, self.args.scan_runs, verdicts)
        out += watch_report_lines(self.results, verdicts)
        out += html_report_lines(self.results, verdicts)
        if rows or sc:
            out += ["", "baselines:",
                    "  compose+cfg: `docker-compose -f tests/compose/SCENARIO.yml up -d`, then from the host, one "
                    "command at a time: one `docker inspect` for the PIDs, `nsenter -t PID -n ip route "
                    "flush exact 0.0.0.0/0` (gateways) and `ip route replace DEST via GW` per route, "
                    "`nsenter -t PID -n nft -f FILE` per node; down: `docker-compose down`",
                    "  docker CLI ∥: all `docker network create` at once, then per container at once "
                    "`docker create` + `docker network connect` + `docker start`; the same routes and "
                    "rules; down: a `docker rm -f` per round of containers sharing no network (moby#42119), one `docker network rm`",
                    "  routes and nft rules: those of a real seglab lab of the scenario (`seglab exec LAB NODE -- "
                    "ip route` / `nft list ruleset`, Docker's DNS tables left out): the scenario's gateway .nft "
                    "files with seglab's defines expanded, plus seglab's host catch-all table; subnets moved "
                    "to the baseline's 198.19.x",
                    "  the baselines' hosts run the agent with an empty service list, and neither baseline "
                    "waits for the agents' ready line (seglab up does)",
                    "  scale lab: the docker CLI baseline copies seglab's own networks and containers as Docker "
                    "reports them (same subnets, addresses, options and agent configuration), routes and rules "
                    "as above"]
        if self.notes:
            out += ["", "notes:"] + [f"  {n}" for n in self.notes]
        if self.errors:
            out += ["", "ERRORS (the affected runs are left out of the medians):"] + \
                [f"  {e}" for e in self.errors]
        met = sum(1 for x in verdicts if x)
        out += ["", f"targets met: {met} of {len(verdicts)} (informational)"]
        log("\n".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seglab", required=True, help="the seglab binary (seglab-node must be next to it)")
    ap.add_argument("--runs", type=int, default=5, help="repetitions of each measurement (default 5)")
    ap.add_argument("--scenarios", nargs="*", default=SCENARIOS, help=argparse.SUPPRESS)
    ap.add_argument("--no-cli", action="store_true", help="skip the parallel docker CLI baseline")
    ap.add_argument("--no-verify", action="store_true", help="skip the verify and explain benchmark")
    ap.add_argument("--verify-runs", type=int, default=7,
                    help="repetitions of scenario-4's verify, traced and untraced (default 7)")
    ap.add_argument("--explain-runs", type=int, default=11,
                    help="repetitions of each `seglab explain` cell (default 11)")
    ap.add_argument("--scale", default=SCALE_SCENARIO, help="the scale lab's scenario (default: scale-56)")
    ap.add_argument("--scale-runs", type=int, default=3, help="repetitions for the scale lab (default 3)")
    ap.add_argument("--no-scale", action="store_true", help="skip the scale lab")
    ap.add_argument("--no-updown", action="store_true",
                    help="skip the up/down benchmark of scenario-2 and scenario-4 and its baselines")
    ap.add_argument("--no-scan", action="store_true", help="skip the scan benchmark (seglab scan beside nmap)")
    ap.add_argument("--scan-runs", type=int, default=5,
                    help="repetitions of each scan, seglab's and nmap's (default 5)")
    ap.add_argument("--no-watch", action="store_true", help="skip the watch benchmark (edit -> verdict)")
    ap.add_argument("--no-html", action="store_true", help="skip the HTML report's budget")
    ap.add_argument("--html-runs", type=int, default=3,
                    help="runs of `seglab test scenario-4 --format html`, after a warm-up (default 3)")
    ap.add_argument("--watch-runs", type=int, default=10,
                    help="saves of the watched rule file, after a warm-up (default 10)")
    ap.add_argument("--keep-files", action="store_true",
                    help="keep the baselines' generated route/rule files")
    args = ap.parse_args()
    if min(args.runs, args.scale_runs, args.verify_runs, args.explain_runs, args.scan_runs, args.watch_runs,
           args.html_runs) < 1:
        ap.error("--runs, --scale-runs, --verify-runs, --explain-runs, --scan-runs, --watch-runs and --html-runs "
                 "must be at least 1")
    if args.no_updown:
        args.scenarios = []

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    bench = Bench(args)
    status = 0
    try:
        bench.preflight()
        for sc in args.scenarios:
            bench.bench_scenario(sc)
        if not args.no_verify:
            bench.bench_verify()
        if not args.no_scale:
            bench.bench_scale()
        if not args.no_scan:
            ScanBench(bench).run()
        if not args.no_watch:
            WatchBench(bench).run()
        if not args.no_html:
            HtmlBench(bench).run()
    except BenchError as e:
        log(f"\nbench: error: {e}")
        status = 1
    except KeyboardInterrupt:
        log("\nbench: interrupted")
        status = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            clean = bench.cleanup()
        except Exception as e:  # never leave without saying so
            log(f"cleanup failed: {e}")
            clean = False
        if (not clean or bench.errors) and status == 0:
            status = 1
    if bench.results or bench.errors:
        bench.report()
    sys.exit(status)


if __name__ == "__main__":
    main()
