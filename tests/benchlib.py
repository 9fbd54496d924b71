"""What the benchmark's sections share (tests/bench.py and its section modules):
running commands, statistics and the report's tables."""

import os
import statistics
import subprocess
import time


class BenchError(Exception):
    pass


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------
# Running commands


def run(cmd, check=True, env=None, timeout=300):
    """Runs `cmd`, returns (seconds, CompletedProcess)."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env, timeout=timeout)
    except FileNotFoundError as e:
        raise BenchError(f"cannot run {cmd[0]}: {e}") from e
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"{' '.join(cmd)} did not finish in {timeout} s") from e
    dt = time.perf_counter() - t0
    if check and p.returncode != 0:
        raise BenchError(
            f"`{' '.join(cmd)}` failed (exit {p.returncode}):\n"
            f"{(p.stderr or '').strip()[-3000:]}\n{(p.stdout or '').strip()[-1000:]}")
    return dt, p


def seglab_env():
    env = dict(os.environ)
    env.pop("RUST_LOG", None)  # logging would slow seglab down
    return env


# --------------------------------------------------------------------------
# Statistics and the report


def stats(xs):
    if not xs:
        return None
    return (statistics.median(xs), min(xs), max(xs))


def fmt_s(st):
    if st is None:
        return "-"
    med, lo, hi = st
    return f"{med:6.2f} [{lo:.2f}-{hi:.2f}]"


def fmt_ms(st):
    if st is None:
        return "-"
    med, lo, hi = st
    return f"{med:.0f} ms [{lo:.0f}-{hi:.0f}]"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [x for x in rows if x] + [header]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)), line]
    for r in rows:
        if r is None:
            out.append(line)
        else:
            out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return "\n".join(out)
