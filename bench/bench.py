#!/usr/bin/env python3
"""bench.py - issue 15's figures, as `make bench` prints them.

Usage: bench/bench.py BUILD_DIR        (a release build: BUILD_DIR/escrowd,
                                        the anchors and bench_deadlines)

Everything over HTTP is driven by wrk (bench/phase.lua), on 127.0.0.1,
on the same 2 cores as the daemon: the figures are the pair's. Printed,
never asserted; the closing table says which of the issue's goals each
figure meets.

 1. POST /v1/orders on a new SQLite store (WAL, synchronous=FULL, every
    answer after its durable commit) at 64 and 256 connections, beside
    the reference programs of bench/anchors/ measured in the same run:
    the group-commit reference (mhd_sqlite_group, FULL) and the
    libmicrohttpd hello ceiling (mhd_server), and the ratio to the first.
    As compare.sh sends it: one body, and a script with no response(),
    so that wrk's work a request is about what it is for the references
    (the flow's create phase of 2, whose script builds each request and
    reads each answer, is printed under it).
 2. The cancellation flow one command at a time, at 64 and 256
    connections: create (for wrk's -d), then pay,
    cancel (as the buyer), accept (as the seller) and settle the refund,
    each phase sending one request for each order the phase before
    answered (wrk's response() collects the ids) and ending when all are
    answered. For each: durable commands a second, p50 and p99, and from
    the daemon (/proc/PID/stat, /metrics) over the phase: CPU microseconds
    a command (utime+stime / commands), WAL bytes a command
    (escrowd_store_wal_frames_total times page size + 24), commands a
    commit (escrowd_commits_total).
 3. p99 of POST /v1/orders at a fixed rate of half the highest measured in
    1, on the same store right after 1 (before the flow of 2), open loop
    (bench_fixed: each request due at its time over 64
    connections, its latency counted from then even when it had to wait
    for a free connection; the rate reached, p99.9 and max are printed).
    Beside it, the group-commit reference driven the same way at half of
    its own best at the first connection count: the tail of a durable
    commit on this machine without escrowd.
 4. GET /v1/orders/{id} (as the order's buyer, an order of the flow at
    random) against the same daemon's GET /healthz sent by the same wrk
    script with the same headers, 64 connections: wrk shares the two
    cores, and a script's work per request would otherwise weigh on one
    figure and not the other. Three pairs of runs, /healthz then GET,
    and the ratio of their means: the machine's speed drifts from one
    minute to the next. /healthz by wrk with no script is printed too.
 5. With ESC_BENCH_PG (a PostgreSQL admin URL, as tests/pg/server prints):
    the flow on a new database with 1 and with 3 daemons (wrk thread i to
    daemon i mod 3), flows a second, the ratio of 3 to 1, the
    serialization retries (escrowd_store_retries_total), and the CPU
    microseconds a command of the database's backends (pg_stat_activity's
    pids, read from /proc: a server on this machine).
 6. BUILD_DIR/bench_deadlines: ESC_BENCH_ORDERS orders (1,000,000) created
    through the engine and their payment deadlines fired; then a daemon
    serves that store: its resident size (VmRSS) after reading orders,
    and `escrowd check` on it.
 7. BUILD_DIR/bench_replay (issue 16): a source store of
    ESC_BENCH_REPLAY_COMMANDS recorded commands (1,000,000) built through
    the engine, then `escrowd replay`'s work on it under a 48-hour
    response window (both runs, the base policy's and the new one's):
    "replay: N commands/s", and its CPU per command.
 8. The summary: each goal, the figure, met or not.

Environment: ESC_BENCH_SECONDS (5: each timed wrk run), ESC_BENCH_PHASE_MAX
(120: a flow's phase stops there with the commands made, as three
PostgreSQL daemons' pay phase would take many minutes), ESC_BENCH_CONNS
(64,256), ESC_BENCH_PG, ESC_BENCH_PG_DAEMONS (1,3: the daemon counts of 5),
ESC_BENCH_USERS (16,4: the buyers and sellers of 1-4), ESC_BENCH_PG_USERS
(240,60: of 5), ESC_BENCH_ORDERS (1000000; 0 skips 6),
ESC_BENCH_REPLAY_COMMANDS (1000000; 0 skips 7),
ESC_BENCH_PARTS (sqlite,pg,deadlines,replay: 1-4, 5, 6, 7),
ESC_BENCH_DIR (a new directory under /tmp), ESC_BENCH_KEEP (keep it).
Only Python's standard library, wrk and psql (for 5) are used.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

KEY = "bench-operator-key-0123456789"
PASSWORD = "bench-password-1"
HZ = os.sysconf("SC_CLK_TCK")
# The users of 1-4 (SQLite: one writer, so how many hardly matters) and of
# 5 (PostgreSQL: the 240 buyers and 60 sellers of bench_http, with which
# the 145 and 208 flows/s were measured; under SERIALIZABLE, daemons
# that move the same users' balances and counters at once conflict).
USERS = tuple(int(n) for n in (os.environ.get("ESC_BENCH_USERS") or "16,4").split(","))
PG_USERS = tuple(int(n) for n in (os.environ.get("ESC_BENCH_PG_USERS") or "240,60").split(","))
FLOW = [("create", "create"), ("pay", "pay"), ("cancel", "cancel"),
        ("accept", "accept_cancellation"), ("settle", "refund_settled")]
HERE = os.path.dirname(os.path.abspath(__file__))

SECONDS = int(os.environ.get("ESC_BENCH_SECONDS") or 5)
READ_PAIRS = 3  # item 4's runs of /healthz and GET
PHASE_MAX = int(os.environ.get("ESC_BENCH_PHASE_MAX") or 120)
CONNS = [int(c) for c in (os.environ.get("ESC_BENCH_CONNS") or "64,256").split(",")]
ORDERS = int(os.environ.get("ESC_BENCH_ORDERS") or 1000000)
PARTS = (os.environ.get("ESC_BENCH_PARTS") or "sqlite,pg,deadlines,replay").split(",")
REPLAY_COMMANDS = int(os.environ.get("ESC_BENCH_REPLAY_COMMANDS") or 1000000)
PG_DAEMONS = [int(n) for n in (os.environ.get("ESC_BENCH_PG_DAEMONS") or "1,3").split(",")]

GOALS = []  # (goal, figure, met)
PHASES = 0  # wrk runs so far, naming their files


def goal(what, figure, met):
    """met: True, False, or None when the run did not measure what the
    goal names (a smaller count than it says)."""
    GOALS.append((what, figure, "not measured" if met is None else "met" if met else "NOT met"))


def say(*args):
    print(*args, file=sys.stderr, flush=True)


def out(*args):
    print(*args, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, path, proc, seconds=120):
    end = time.time() + seconds
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"bench: the server on port {port} exited ({proc.returncode})")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            c.getresponse().read()
            c.close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"bench: nothing answers on port {port}")


def call(port, method, path, body=None, token=KEY, expect=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    c.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    if expect and r.status != expect:
        raise SystemExit(f"bench: {method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data) if data and data[:1] in (b"{", b"[") else data


class Server:
    """A process serving HTTP on a port of its own: escrowd or an anchor."""

    def __init__(self, argv, port, path, log):
        self.port = port
        self.log = open(log, "w")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(port, path, self.p)

    def cpu(self):
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HZ  # utime, stime

    def rss_kib(self, what="VmRSS"):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith(what + ":"):
                    return int(line.split()[1])
        return 0

    def metrics(self):
        text = call(self.port, "GET", "/metrics", token=None, expect=200).decode()
        m = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    m[name] = float(value)
                except ValueError:
                    pass
        return m

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def latency_ms(text, pct):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\b" % pct, text, re.M)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def wrk_plain(url, conns, seconds, script=None):
    """wrk on a fixed URL (with script: a fixed request, no response()):
    req/s, p50 and p99 in ms, and its error lines."""
    r = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency"] +
                       (["-s", script] if script else []) + [url],
                       capture_output=True, text=True)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    bad = " ".join(l.strip() for l in r.stdout.splitlines()
                   if "Socket errors" in l or "Non-2xx" in l)
    return (float(rps.group(1)) if rps else 0.0, latency_ms(r.stdout, 50),
            latency_ms(r.stdout, 99), bad)


class Store:
    """Daemons on one store, with users and their sessions."""

    def __init__(self, exe, url, work, daemons, conf, users=USERS):
        self.exe, self.url, self.work = exe, url, work
        subprocess.run([exe, "migrate", "--db", url, "--config", conf], check=True,
                       stdout=subprocess.DEVNULL)
        self.daemons = []
        for k in range(daemons):
            port = free_port()
            self.daemons.append(Server(
                [exe, "serve", "--db", url, "--config", conf, "--listen",
                 f"127.0.0.1:{port}", "--operator-key", KEY, "--quiet"],
                port, "/healthz", os.path.join(work, f"escrowd-{k}.log")))
        port = self.daemons[0].port
        self.buyers, self.sellers, self.tokens = [], [], {}
        for role, n, ids in (("buyer", users[0], self.buyers), ("seller", users[1], self.sellers)):
            for i in range(n):
                email = f"{role}{i}@bench.test"
                u = call(port, "POST", "/v1/users", {"role": role, "name": f"Bench {role} {i}",
                                                     "email": email, "password": PASSWORD},
                         expect=201)
                s = call(port, "POST", "/v1/sessions", {"email": email, "password": PASSWORD},
                         token=None, expect=201)
                ids.append(u["id"])
                self.tokens[u["id"]] = s["token"]

    def post_plain(self, conns):
        """POST /v1/orders as compare.sh sends it: one body, built once,
        no response() (wrk then counts the answers itself): the client's
        work that of the references' runs. Req/s, p50, p99, error lines."""
        script = os.path.join(self.work, "create-plain.lua")
        body = json.dumps({"buyer_id": self.buyers[0], "seller_id": self.sellers[0],
                           "currency": "EUR", "items": [{"title": "Bench item", "quantity": 1,
                                                         "unit_price": 2599}]})
        with open(script, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = %s\n'
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    'wrk.headers["Authorization"] = "Bearer %s"\n' % (json.dumps(body), KEY))
        return wrk_plain(f"http://127.0.0.1:{self.daemons[0].port}/v1/orders", conns, SECONDS,
                         script)

    def snapshot(self):
        snap = {"t": time.time(), "cpu": 0.0, "m": {}, "db_cpu": self.db_cpu(),
                "machine": machine_cpu()}
        for d in self.daemons:
            snap["cpu"] += d.cpu()
            for k, v in d.metrics().items():
                if k == "escrowd_store_page_size_bytes":
                    snap["m"][k] = v
                else:
                    snap["m"][k] = snap["m"].get(k, 0.0) + v
        return snap

    def db_cpu(self):
        """The CPU seconds of the PostgreSQL backends serving this store's
        database (pg_stat_activity's pids, on this machine), or None."""
        if not getattr(self, "pg_admin", None):
            return None
        r = subprocess.run(["psql", self.pg_admin, "-Atc", "SELECT pid FROM pg_stat_activity "
                            f"WHERE datname = '{self.pg_db}'"], capture_output=True, text=True)
        total = 0.0
        for pid in r.stdout.split():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / HZ
            except (OSError, ValueError, IndexError):
                pass
        return total

    def script(self, phase, ids_in, threads):
        """The wrk script of a phase: its settings, then phase.lua."""
        global PHASES
        PHASES += 1  # a new name each time: no file of an earlier run is read
        prefix = os.path.join(self.work, f"p{PHASES:03d}-{phase}")
        lua = lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        with open(prefix + ".lua", "w") as f:
            f.write(f"phase = {lua(phase)}\nids_in = {lua(ids_in or '')}\n"
                    f"out = {lua(prefix)}\nthreads = {threads}\n"
                    f"ports = {{{', '.join(str(d.port) for d in self.daemons)}}}\n"
                    f"key = {lua(KEY)}\n"
                    f"buyers = {{{', '.join(lua(b) for b in self.buyers)}}}\n"
                    f"sellers = {{{', '.join(lua(s) for s in self.sellers)}}}\n"
                    "tokens = {" + ", ".join(f"[{lua(u)}] = {lua(t)}"
                                             for u, t in self.tokens.items()) + "}\n"
                    f"dofile({lua(os.path.join(HERE, 'phase.lua'))})\n")
        return prefix

    def phase(self, phase, event, conns, ids_in=None, seconds=SECONDS):
        """One wrk run; the figures of the commands of `event` it made."""
        threads = len(self.daemons) if len(self.daemons) > 1 else 2
        prefix = self.script(phase, ids_in, threads)
        timed = ids_in is None or phase in ("get", "healthz")
        before = self.snapshot()
        t0 = time.time()
        p = subprocess.Popen(["wrk", f"-t{threads}", f"-c{conns}",
                              f"-d{seconds if timed else 600}s", "--timeout", "30s",
                              "-s", prefix + ".lua", f"http://127.0.0.1:{self.daemons[0].port}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not timed:
            # Every thread stops when all its commands are answered. A
            # request can be lost (its connection cut by the daemon, wrk
            # reconnecting), and then its thread never ends: the phase
            # also ends when 95 % of the commands are made and the count
            # has not moved for a second (read twice a second), its time
            # taken at the last move.
            with open(ids_in) as f:
                wanted = sum(1 for _ in f)
            made, moved, polled, stalled = 0.0, t0, t0, False
            while p.poll() is None and not all(
                    os.path.exists(f"{prefix}.done.{t}") for t in range(threads)):
                time.sleep(0.01)
                now = time.time()
                if now - polled < 0.5:
                    continue
                polled = now
                count = sum(d.metrics().get(f'escrowd_commands_total{{event="{event}"}}', 0.0)
                            for d in self.daemons) - before["m"].get(
                                f'escrowd_commands_total{{event="{event}"}}', 0.0)
                if now - t0 >= PHASE_MAX:
                    say(f"  {phase}: stopped after {PHASE_MAX} s (ESC_BENCH_PHASE_MAX), "
                        f"{count:.0f} of {wanted} commands made; the figures are theirs")
                    made, moved, stalled = count, now, True
                    break
                if count > made:
                    made, moved = count, now
                elif (count >= 0.95 * wanted and now - moved >= 1) or now - moved >= 30:
                    say(f"  {phase}: {wanted - count:.0f} of {wanted} commands not made; "
                        "the phase ends without them")
                    stalled = True
                    break
            t1 = moved if stalled else time.time()
            after = self.snapshot()
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate()
        if timed:
            t1 = time.time()
            after = self.snapshot()
        for line in stderr.splitlines()[:3]:
            say("  wrk: " + line)
        try:
            with open(prefix + ".stats") as f:
                answers, refused, p50, p99, _ = (int(x) for x in f.read().split())
        except (OSError, ValueError):
            raise SystemExit(f"bench: wrk wrote no figures for {phase}: {stdout} {stderr}")
        d = lambda k: after["m"].get(k, 0.0) - before["m"].get(k, 0.0)
        all_cmds = sum(d(k) for k in after["m"] if k.startswith("escrowd_commands_total{"))
        cmds = d(f'escrowd_commands_total{{event="{event}"}}') if event else answers
        commits = d("escrowd_commits_total")
        frames = d("escrowd_store_wal_frames_total")
        page = after["m"].get("escrowd_store_page_size_bytes", 0.0)
        secs = t1 - t0
        return {
            "phase": phase, "conns": conns, "secs": secs, "cmds": cmds, "answers": answers,
            "refused": refused, "rate": cmds / secs if secs else 0.0,
            "p50": p50 / 1000.0, "p99": p99 / 1000.0,
            "cpu_us": (after["cpu"] - before["cpu"]) * 1e6 / all_cmds if all_cmds else 0.0,
            "wal_b": frames * (page + 24) / all_cmds if all_cmds and page else None,
            "per_commit": all_cmds / commits if commits else 0.0,
            "retries": d("escrowd_store_retries_total"),
            "db_cpu_us": ((after["db_cpu"] - before["db_cpu"]) * 1e6 / all_cmds
                          if all_cmds and after["db_cpu"] is not None else None),
            "busy": busy(before["machine"], after["machine"]),
            "ids": prefix + ".ids",
        }

    def fixed(self, exe, rate, conns, seconds):
        """POST /v1/orders at a fixed rate (bench_fixed, open loop): the
        figures of phase(), latency counted from each request's due time."""
        bodies = os.path.join(self.work, "fixed-bodies")
        with open(bodies, "w") as f:
            for i in range(len(self.buyers) * len(self.sellers)):
                f.write(json.dumps({"buyer_id": self.buyers[i % len(self.buyers)],
                                    "seller_id": self.sellers[i // len(self.buyers)],
                                    "currency": "EUR", "items": [{
                                        "title": "Bench item", "quantity": 1,
                                        "unit_price": 2599}]}, separators=(",", ":")) + "\n")
        before = self.snapshot()
        answers, refused, p50, p99, p999, top, secs = fixed_run(
            exe, self.daemons[0].port, rate, conns, seconds, bodies)
        after = self.snapshot()
        d = lambda k: after["m"].get(k, 0.0) - before["m"].get(k, 0.0)
        all_cmds = sum(d(k) for k in after["m"] if k.startswith("escrowd_commands_total{"))
        page = after["m"].get("escrowd_store_page_size_bytes", 0.0)
        commits = d("escrowd_commits_total")
        return {
            "phase": "fixed", "conns": conns, "secs": secs, "cmds": answers,
            "answers": answers, "refused": refused, "rate": answers / seconds,
            "p50": p50 / 1000.0, "p99": p99 / 1000.0, "p999": p999 / 1000.0,
            "max": top / 1000.0,
            "cpu_us": (after["cpu"] - before["cpu"]) * 1e6 / all_cmds if all_cmds else 0.0,
            "wal_b": (d("escrowd_store_wal_frames_total") * (page + 24) / all_cmds
                      if all_cmds and page else None),
            "per_commit": all_cmds / commits if commits else 0.0,
            "retries": d("escrowd_store_retries_total"),
        }

    def flow(self, conns):
        """The cancellation flow, a phase per command; their figures."""
        rows, ids = [], None
        for phase, event in FLOW:
            r = self.phase(phase, event, conns, ids_in=ids)
            rows.append(r)
            ids = r["ids"]
        return rows

    def stop(self):
        for d in self.daemons:
            d.stop()


HEAD = "%-8s %5s %9s %8s %8s %9s %8s %10s %8s %8s" % (
    "command", "conns", "cmds/s", "p50 ms", "p99 ms", "commands", "refused", "CPU us/cmd",
    "WAL B/cmd", "cmd/commit")


def row(r, name=None):
    wal = "%10.0f" % r["wal_b"] if r["wal_b"] is not None else "%10s" % "-"
    out("%-8s %5d %9.0f %8.2f %8.2f %9d %8d %10.0f %s %8.1f" % (
        name or r["phase"], r["conns"], r["rate"], r["p50"], r["p99"], r["cmds"], r["refused"],
        r["cpu_us"], wal, r["per_commit"]))


def flows_per_s(rows):
    secs = sum(r["secs"] for r in rows)
    return rows[-1]["cmds"] / secs if secs else 0.0


def write_conf(work):
    conf = os.path.join(work, "bench.conf")
    with open(conf, "w") as f:
        # The benchmark's buyers cancel everything: lift the thresholds.
        f.write("watch_cancellations = 1000000000\nrestricted_cancellations = 1000000000\n"
                "suspended_cancellations = 1000000000\nrestricted_rate = 100%\n"
                # wrk's connections and the users' sign-ins all come from
                # 127.0.0.1.
                "http.connections_per_address = 0\nhttp.connections_max = 4096\n"
                "http.signin_per_address = 1000000\n")
    return conf


def fixed_run(exe, port, rate, conns, seconds, bodies, ok=None):
    """bench_fixed's figures: answers, refused, p50, p99, p99.9 and max in
    microseconds, and its seconds."""
    env = dict(os.environ, ESC_FIXED_OK=str(ok)) if ok else None
    p = subprocess.run([exe, str(port), "%.1f" % rate, str(conns), str(seconds), KEY, bodies],
                       capture_output=True, text=True, env=env)
    for line in p.stderr.splitlines()[:3]:
        say("  bench_fixed: " + line)
    try:
        _, _, answers, refused, p50, p99, p999, top = (int(x) for x in p.stdout.split()[:8])
        return answers, refused, p50, p99, p999, top, float(p.stdout.split()[8])
    except (ValueError, IndexError):
        raise SystemExit(f"bench: bench_fixed wrote no figures: {p.stdout} {p.stderr}")


def references(build, work):
    """The anchors at each connection count: {conns: (hello, group)}; and
    the group-commit reference at a fixed rate of half its best at the
    first count, as item 3 drives escrowd: (rate, p50, p99, p99.9, max)
    in ms, under refs["fixed"]."""
    refs = {}
    for c in CONNS:
        port = free_port()
        s = Server([os.path.join(build, "anchor_mhd_server"), str(port), "2"], port, "/",
                   os.path.join(work, "hello.log"))
        hello = wrk_plain(f"http://127.0.0.1:{port}/", c, SECONDS)
        s.stop()
        port = free_port()
        db = os.path.join(work, f"group-{c}.db")
        s = Server([os.path.join(build, "anchor_mhd_sqlite_group"), db, "FULL", str(port)],
                   port, "/", os.path.join(work, "group.log"))
        group = wrk_plain(f"http://127.0.0.1:{port}/", c, SECONDS)
        if c == CONNS[0]:
            # It answers 200 and reads no body ("-": bench_fixed sends none).
            n, _, p50, p99, p999, top, secs = fixed_run(
                os.path.join(build, "bench_fixed"), port, group[0] / 2, 64, max(SECONDS, 5),
                "-", ok=200)
            refs["fixed"] = (n / secs if secs else 0.0, p50 / 1000.0, p99 / 1000.0,
                             p999 / 1000.0, top / 1000.0)
        s.stop()
        refs[c] = (hello, group)
    return refs


def sqlite_part(build, work, conf):
    exe = os.path.join(build, "escrowd")
    say("references: libmicrohttpd hello and the group-commit reference...")
    refs = references(build, work)
    say("escrowd on a new SQLite store...")
    store = Store(exe, os.path.join(work, "escrowd.db"), work, 1, conf)
    posts = {c: store.post_plain(c) for c in CONNS}
    # Item 3 on the store that item 1 measured, before the flows make it
    # several times larger: half of a young store's best on a store that
    # large is near its own best, where every queue is long.
    best = max(post[0] for post in posts.values())
    fixed = store.fixed(os.path.join(build, "bench_fixed"), best / 2, 64, max(SECONDS, 5))
    flows = {c: store.flow(c) for c in CONNS}

    out("\n1. POST /v1/orders, durable (SQLite WAL, synchronous=FULL), wrk -t2 -d%ds" % SECONDS)
    out("%-34s %5s %9s %8s %8s %s" % ("server", "conns", "req/s", "p50 ms", "p99 ms",
                                      "x group ref"))
    for c in CONNS:
        hello, group = refs[c]
        post, create = posts[c], flows[c][0]
        ratio = post[0] / group[0] if group[0] else 0.0
        out("%-34s %5d %9.0f %8.2f %8.2f %s" % ("libmicrohttpd hello (ceiling)", c, *hello[:3],
                                                hello[3]))
        out("%-34s %5d %9.0f %8.2f %8.2f %s" % ("group-commit reference (FULL)", c, *group[:3],
                                                group[3]))
        out("%-34s %5d %9.0f %8.2f %8.2f %.2f %s" % ("escrowd POST /v1/orders", c, *post[:3],
                                                     ratio, post[3]))
        out("%-34s %5d %9.0f %8.2f %8.2f %.2f" % ("  the flow's create (2, scripted)", c,
                                                  create["rate"], create["p50"], create["p99"],
                                                  create["rate"] / group[0] if group[0] else 0))
        goal(f"POST /v1/orders at {c} conns >= 20,000/s", "%.0f/s" % post[0], post[0] >= 20000)
        goal(f"POST /v1/orders at {c} conns >= 3x group ref", "%.2fx (ref %.0f/s)" %
             (ratio, group[0]), ratio >= 3)

    out("\n2. The cancellation flow, one phase a command (SQLite; refused: non-2xx answers)")
    out(HEAD)
    for c in CONNS:
        for r in flows[c]:
            row(r)
        out("%-8s %5d %9.0f flows/s (commands a second of the slowest: %.0f)" % (
            "flow", c, flows_per_s(flows[c]), min(r["rate"] for r in flows[c])))
        for r in flows[c][1:]:
            goal(f"{r['phase']} at {c} conns >= 20,000/s", "%.0f/s" % r["rate"],
                 r["rate"] >= 20000)

    out("\n3. POST /v1/orders at a fixed rate, half of %.0f/s: bench_fixed, open loop over 64 "
        "connections, latency from each request's due time" % best)
    target, r = best / 2, fixed
    out("%-8s %5s %9s %8s %8s %9s %8s %10s %9s %8s" % (
        "command", "conns", "cmds/s", "p50 ms", "p99 ms", "commands", "refused", "CPU us/cmd",
        "WAL B/cmd", "cmd/commit"))
    row(r, "create")
    out("target %.0f/s, reached %.0f/s; p99.9 %.2f ms, max %.2f ms" % (
        target, r["rate"], r["p999"], r["max"]))
    g = refs["fixed"]
    out("the group-commit reference the same way, at half of its best at %d conns: %.0f/s, "
        "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms" % (CONNS[0], *g))
    goal("p99 at half the max rate <= 10 ms", "%.2f ms at %.0f/s" % (r["p99"], r["rate"]),
         r["p99"] <= 10)

    out("\n4. Reads on the same daemon, wrk -t2 -c64 -d%ds" % SECONDS)
    port = store.daemons[0].port
    hz = wrk_plain(f"http://127.0.0.1:{port}/healthz", 64, SECONDS)
    # Both through the same wrk script, its requests made before the run,
    # so that wrk's own work on the same two cores is the same for both:
    # what differs is the daemon's.
    # READ_PAIRS pairs, each /healthz then GET: the machine's speed drifts
    # from minute to minute, and one run of each would weigh the drift
    # on the ratio. It is the ratio of the sums.
    ids = flows[CONNS[0]][0]["ids"]
    pairs = [(store.phase("healthz", None, 64, ids_in=ids),
              store.phase("get", None, 64, ids_in=ids)) for _ in range(READ_PAIRS)]
    rate = lambda r: r["answers"] / r["secs"] if r["secs"] else 0.0
    h_rate = sum(rate(h) for h, _ in pairs) / len(pairs)
    g_rate = sum(rate(g) for _, g in pairs) / len(pairs)
    out("%-34s %9s %8s %8s" % ("", "req/s", "p50 ms", "p99 ms"))
    out("%-34s %9.0f %8.2f %8.2f %s" % ("GET /healthz (wrk, no script)", *hz[:3], hz[3]))
    for i, (h, g) in enumerate(pairs):
        out("%-34s %9.0f %8.2f %8.2f (refused %d)" % (
            "GET /healthz (the script, as a buyer)", rate(h), h["p50"], h["p99"], h["refused"]))
        out("%-34s %9.0f %8.2f %8.2f (refused %d; pair %d: %.0f %%)" % (
            "GET /v1/orders/{id} (as the buyer)", rate(g), g["p50"], g["p99"], g["refused"],
            i + 1, 100 * rate(g) / rate(h) if rate(h) else 0.0))
    pct = 100 * g_rate / h_rate if h_rate else 0.0
    out("GET /v1/orders/{id}: %.0f %% of /healthz through the same script, the means of %d "
        "pairs (%.0f %% of wrk with no script)" % (pct, len(pairs),
                                                    100 * g_rate / hz[0] if hz[0] else 0.0))
    goal("GET /v1/orders/{id} >= 50% of /healthz", "%.0f %%" % pct, pct >= 50)
    m = store.daemons[0].metrics()
    store.stop()
    check = subprocess.run([exe, "check", "--db", store.url], capture_output=True, text=True)
    out("escrowd check: %s (%d orders)" % ("ok" if check.returncode == 0 else "FAILED: " +
                                           check.stdout[-300:], m.get(
                                               'escrowd_commands_total{event="create"}', 0)))


def machine_cpu():
    """The machine's CPU time so far (/proc/stat's cpu line): (busy, all)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]  # not guest: in user
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


def busy(before, after):
    """The share of the machine's CPU time that was busy between two
    machine_cpu() readings, in %."""
    total = after[1] - before[1]
    return 100.0 * (after[0] - before[0]) / total if total else 0.0


def pg_url(admin, name):
    return re.sub(r"/[^/?]*(\?|$)", "/" + name + r"\1", admin.split("://", 1)[1], count=1)


def pg_part(build, work, conf, admin):
    exe = os.path.join(build, "escrowd")
    out("\n5. PostgreSQL (fsync on), the flow at 64 connections, a new database each run, "
        "%d buyers and %d sellers" % PG_USERS)
    out(HEAD)
    results = {}
    for n in PG_DAEMONS:
        name = f"escrowd_bench_{os.getpid()}_{n}"
        scheme = admin.split("://", 1)[0]
        url = scheme + "://" + pg_url(admin, name)
        subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
        try:
            store = Store(exe, url, work, n, conf, PG_USERS)
            store.pg_admin, store.pg_db = admin, name
            try:
                rows = store.flow(64)
            finally:
                store.stop()
        finally:
            subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name}"])
        for r in rows:
            row(r, f"{r['phase']}")
        f = flows_per_s(rows)
        retries = sum(r["retries"] for r in rows)
        out("%d daemon%s: %.0f flows/s, %d serialization retries (%s)" % (
            n, "s" if n > 1 else "", f, retries,
            ", ".join("%s %d" % (r["phase"], r["retries"]) for r in rows)))
        if all(r["db_cpu_us"] is not None for r in rows):
            out("PostgreSQL backends' CPU us/cmd (its server on this machine): " + ", ".join(
                "%s %.0f" % (r["phase"], r["db_cpu_us"]) for r in rows))
        out("The machine's %d cores busy (wrk, daemons, server): " % os.cpu_count() + ", ".join(
            "%s %.0f %%" % (r["phase"], r["busy"]) for r in rows))
        results[n] = f
    if 1 in results:
        goal("PG flow, 1 daemon >= 3x 145/s", "%.0f flows/s" % results[1], results[1] >= 435)
    if 3 in results:
        goal("PG flow, 3 daemons >= 3x 208/s", "%.0f flows/s" % results[3], results[3] >= 624)
    if 1 in results and 3 in results:
        ratio = results[3] / results[1] if results[1] else 0.0
        out("3 daemons / 1: %.2f" % ratio)
        goal("PG 3 daemons >= 1.5x 1 daemon", "%.2fx" % ratio, ratio >= 1.5)


def deadlines_part(build, work):
    exe = os.path.join(build, "escrowd")
    db = os.path.join(work, "orders.db")
    out("\n6. %d orders created through the engine (SQLite, FULL, 256 a commit), their "
        "payment deadlines fired" % ORDERS)
    r = subprocess.run([os.path.join(build, "bench_deadlines"), db], stdout=subprocess.PIPE,
                       text=True, env=dict(os.environ, ESC_BENCH_ORDERS=str(ORDERS)))
    if r.returncode:
        out("bench_deadlines failed")
        return
    fig = dict(line.split() for line in r.stdout.splitlines())
    fired, secs = int(fig["fired"]), float(fig["fire_seconds"])
    out("created %s orders in %.1f s (%s/s); fired %d deadlines in %.1f s (%s/s, %s commits, "
        "%s us of CPU and %s WAL bytes a deadline)" % (
            fig["orders"], float(fig["create_seconds"]), fig["create_per_second"], fired, secs,
            fig["fire_per_second"], fig["fire_commits"], fig.get("fire_cpu_us_each", "?"),
            fig.get("fire_wal_bytes_each", "?")))
    scaled = ""
    if fired and fired != 1000000:
        scaled = " (%d fired; 1,000,000 at that rate: %.0f s)" % (fired, secs * 1e6 / fired)
    goal("1,000,000 deadlines fired < 60 s", "%.1f s%s" % (secs, scaled),
         secs < 60 if not scaled else None if secs * 1e6 / fired < 60 else False)
    port = free_port()
    s = Server([exe, "serve", "--db", db, "--listen", f"127.0.0.1:{port}", "--operator-key",
                KEY, "--quiet"], port, "/healthz", os.path.join(work, "orders-serve.log"))
    after = None
    for _ in range(50):  # 5,000 orders read, newest first, through the list
        page = call(s.port, "GET", "/v1/orders?limit=100" +
                    (f"&starting_after={after}" if after else ""), expect=200)
        for o in page.get("data", []):
            call(s.port, "GET", f"/v1/orders/{o['id']}", expect=200)
        if not page.get("data"):
            break
        after = page["data"][-1]["id"]
    rss, hwm = s.rss_kib(), s.rss_kib("VmHWM")
    s.stop()
    size = sum(os.path.getsize(os.path.join(work, f)) for f in os.listdir(work)
               if f.startswith("orders.db"))
    out("a daemon serving them (store %.0f MiB), after reading 5,000 orders: VmRSS %.1f MiB, "
        "VmHWM %.1f MiB" % (size / 2**20, rss / 1024, hwm / 1024))
    t0 = time.time()
    check = subprocess.run([exe, "check", "--db", db], capture_output=True, text=True)
    out("escrowd check: %s (%.0f s)" % ("ok" if check.returncode == 0 else "FAILED " +
                                        check.stdout[-300:], time.time() - t0))
    n = int(fig["orders"])
    goal("RSS < 100 MiB with 1,000,000 orders", "%.1f MiB with %d orders" % (rss / 1024, n),
         (rss < 100 * 1024) if n >= 1000000 else None if rss < 100 * 1024 else False)


def replay_part(build, work):
    out("\n7. escrowd replay: %d recorded commands, replayed under a 48-hour response "
        "window (both runs)" % REPLAY_COMMANDS)
    r = subprocess.run([os.path.join(build, "bench_replay")], stdout=subprocess.PIPE,
                       text=True, env=dict(os.environ, ESC_BENCH_DIR=work,
                                           ESC_BENCH_REPLAY_COMMANDS=str(REPLAY_COMMANDS)))
    if r.returncode:
        out("bench_replay failed")
        return
    for line in r.stdout.splitlines():
        out(line)
    m = re.search(r"replayed (\d+) commands .* in ([0-9.]+) s", r.stdout)
    if not m:
        return
    n, secs = int(m.group(1)), float(m.group(2))
    scaled = n < 1000000
    figure = "%.1f s for %d" % (secs, n)
    if scaled:
        figure += " (1,000,000 at that rate: %.0f s)" % (secs * 1e6 / n)
    # The wall time is the neighbours' as much as replay's on a loaded
    # machine: say the load, and what the CPU time gives on two free cores
    # (the reader and both runs go in three threads).
    cpu = re.search(r"replay CPU: ([0-9.]+) us per command", r.stdout)
    figure += "; load %.1f" % os.getloadavg()[0]
    if cpu:
        figure += "; %s us CPU a command, 1,000,000 on 2 free cores: %.0f s" % (
            cpu.group(1), float(cpu.group(1)) / 2)
    goal("1,000,000 commands replayed < 60 s", figure,
         secs < 60 if not scaled else None if secs * 1e6 / n < 60 else False)


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: bench/bench.py BUILD_DIR")
    build = os.path.abspath(sys.argv[1])
    if not shutil.which("wrk"):
        raise SystemExit("bench: wrk is missing (make bench installs it: tools/install-debs)")
    base = os.environ.get("ESC_BENCH_DIR") or "/tmp"
    work = tempfile.mkdtemp(prefix="escrowd-bench-", dir=base)
    conf = write_conf(work)
    out("escrowd benchmark (issue 15), %s, %d cores shared by wrk and the servers; "
        "wrk runs of %d s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              os.cpu_count(), SECONDS))
    try:
        if "sqlite" in PARTS:
            sqlite_part(build, work, conf)
        if "pg" in PARTS and os.environ.get("ESC_BENCH_PG"):
            pg_part(build, work, conf, os.environ["ESC_BENCH_PG"])
        elif "pg" in PARTS:
            out("\n5. PostgreSQL: skipped (ESC_BENCH_PG names no server)")
        if "deadlines" in PARTS and ORDERS > 0:
            deadlines_part(build, work)
        if "replay" in PARTS and REPLAY_COMMANDS > 0:
            replay_part(build, work)
    finally:
        if not os.environ.get("ESC_BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            say("kept " + work)
    out("\n8. The goals (issue 15's, and issue 16's replay)")
    out("%-44s %-56s %s" % ("goal", "figure", ""))
    for g in GOALS:
        out("%-44s %-56s %s" % g)


if __name__ == "__main__":
    main()
