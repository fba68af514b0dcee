#!/usr/bin/env python3
"""crash_loop.py - the kill test: SIGKILL under load, with real-clock
deadlines firing and webhooks delivered (issue 15, "What must not change").

One `escrowd serve` on a SQLite file in a temporary directory (with
--postgresql, on a fresh database of the server in ESC_TEST_PG), on the
real clock, with short windows (payment 1.5 s, seller response 2.5 s,
shipping 4 s, receipt 2 s, dispute answers 2 s, refund alert 3 s) so that
deadlines come due all the time the loop runs, and a webhook endpoint for
every event at a receiver on loopback that checks each signature. Client
threads run the order flows (unpaid; cancelled unpaid; cancellation asked
and left to the deadline, accepted, rejected, withdrawn; shipped,
delivered and confirmed or left; disputes left to the seller's or the
buyer's deadline; messages; refunds settled or failed by the operator, or
left to their alert), each POST with its own Idempotency-Key, retried
with the same key until it is answered. A killer SIGKILLs the daemon at
random moments 0.3-1.5 s apart: a quarter of the time as soon as the
store shows deadlines claimed (the worker is firing them), now and then
while it starts, and now and then after leaving it down 1-3 s, as it
fires what came due meanwhile. It starts it again on the same store and
port (another if that one is taken).

After each kill, before the daemon starts again, the store as the killed
daemon left it (on SQLite a copy of the file and its WAL, so that the
next daemon still recovers the WAL itself; the copy is checked while the
load goes on, and the next kill waits for the check):

  - `PRAGMA integrity_check` (SQLite) and `escrowd check` pass;
  - every 2xx answer a client had received is in it: its key's kept
    answer (same status, same bytes) and what it made (its order's
    history row at the answered version, the refund's outcome, the
    message): an answer never goes out before its commit;
  - the requests sent and not answered when it died are noted: those it
    had committed (their key's answer is in the store) must be answered
    that kept answer when sent again, not run a second time.

A failure names the kill ("kill 17 of 50") and keeps the copy. Then, once
every deadline is due:

  - every request unanswered at a kill was answered since, by its key;
  - every kept answer (2xx, and the refusals a key keeps), sent again with
    its key, is answered byte for byte the same, status and body;
  - every command a client was answered for is in its order's history
    once, and the history holds no command no client was answered for;
  - every deadline fired exactly once: one system event per deadline (its
    kind and due_at), never before it was due nor long after (a killed
    daemon's claims must not wait for their lease), none left due in the
    store, no order left in a state whose short deadline has passed;
  - no refund twice: an order's refunds sum to what it says it refunded,
    never more than paid, one refund for each cancellation after payment,
    one refund transfer each in the ledger;
  - every event of GET /v1/events delivered to the receiver at least once
    with a valid signature, every second delivery of an event the same
    bytes (never two different events under one id);
  - `escrowd check` and `PRAGMA integrity_check` after the daemon stops;
    the outbox holds each event of the histories once, each carrying its
    history line;
  - the daemon printed nothing but its start and stop lines (and that it
    hashes passwords at the tests' least cost).

It ends with one line starting "crash_loop: summary:" with the figures
(for docs/reliability.md). CRASH_LOOP_KILLS (default 50; 20 with --postgresql,
where each kill's checks hold the daemon down; 10 under ESC_TEST_QUICK) and
CRASH_LOOP_CLIENTS (default 6) make longer runs by hand, e.g.
  CRASH_LOOP_KILLS=100 ESC_BUILD_DIR=build python3 tests/cluster/crash_loop.py
  ESC_BUILD_DIR=build tests/pg/with-server python3 tests/cluster/crash_loop.py --postgresql
Exits 0 when it holds, 1 when it does not, 77 (skipped) when the daemon
is not built or, with --postgresql, ESC_TEST_PG is not set.
"""
import collections
import datetime
import http.client
import json
import os
import queue
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import webhook_common

KEY = "crash-loop-operator-key-0001"
PASSWORD = "crash-loop-password"
# --postgresql: the same loop on a fresh database of the server in
# ESC_TEST_PG (tests/pg/with-server), skipped without it.
POSTGRESQL = "--postgresql" in sys.argv[1:]
# Kill cycles: fewer under ESC_TEST_QUICK (make test's sanitizer build),
# and on PostgreSQL, whose database cannot be copied as SQLite's file is:
# each kill's checks run there while the daemon is down, 1-2 s a kill.
KILLS = int(os.environ.get("CRASH_LOOP_KILLS", "10" if os.environ.get("ESC_TEST_QUICK") else
                           "20" if POSTGRESQL else "50"))
CLIENTS = int(os.environ.get("CRASH_LOOP_CLIENTS", "6"))
# The windows of the policy, in the config file and in seconds.
WINDOWS = {"payment_window": 1.5, "response_window": 2.5, "ship_window": 4,
           "confirm_window": 2, "dispute_seller_window": 2, "dispute_buyer_window": 2,
           "refund_alert": 3}
# A deadline fires within this much of the daemon's time up after it was
# due (it looks once a second); a killed daemon's claims must not wait for
# their lease (15 s by default) when it starts again.
LATE_MAX_S = 10
# The lease on a process's claims. On SQLite a daemon takes every claim it
# finds when it starts, whatever the lease: a long one makes a daemon that
# did not stand out (its deadlines would fire a minute late). On
# PostgreSQL a daemon started again waits for its dead predecessor's
# lease, as another daemon would: a short one.
LEASE_S = 2 if POSTGRESQL else 60
ANSWER_WAIT_S = 60  # a request unanswered this long, retried, fails the test
# States whose deadline is one of the short windows above: none may be
# left once they have all passed. (shipped waits for the protection
# deadline, weeks away.)
SHORT_STATES = {"awaiting_payment", "awaiting_shipment", "cancellation_requested",
                "delivered", "in_dispute"}
SYSTEM_EVENTS = {"payment_deadline", "ship_deadline", "response_deadline",
                 "protection_deadline", "confirm_deadline", "dispute_deadline",
                 "refund_overdue"}


def log(*args):
    print("crash_loop:", *args, flush=True)


def ms_of(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def sql_text(value):
    """A string as an SQL literal (ids, keys and event names here)."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_list(values):
    return "(" + ",".join(sql_text(v) for v in values) + ")"


def expected_line(line):
    """A line of the daemon's log (one JSON object, docs/operations.md)
    that says nothing went wrong: it listens, it stopped, it hashes at the
    tests' cost, its mode, the writer's nice where it may not lower one."""
    try:
        said = json.loads(line)
    except ValueError:
        return False
    return isinstance(said, dict) and "time" in said and bool(re.match(
        r"(listening on http://|stopped$|password_hashing = minimum: |"
        r"mode = (test|production): |the writer runs at the process's nice, not "
        r"writer_nice: )", said.get("msg", "")))


class SqliteStore:
    """The daemon's SQLite file, read beside it (read-only), or a copy of
    the file as a killed daemon left it."""
    kind = "SQLite"

    def __init__(self, path, copy=False):
        self.path = self.url = path
        self.copy = copy

    def connect(self):
        # A copy has no -shm: a read-write connection makes one from the
        # WAL (and never checkpoints before it closes).
        if self.copy:
            return sqlite3.connect(self.path, timeout=10)
        return sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, timeout=10)

    def query(self, sql):
        con = self.connect()
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def queries(self, sqls):
        """The rows of each query, on one connection."""
        con = self.connect()
        try:
            return [con.execute(sql).fetchall() for sql in sqls]
        finally:
            con.close()

    def claimed(self, wait=0.0):
        """Are deadlines claimed in the store? The daemon fires them in a
        transaction after the one that claims them: seen claimed, they are
        being fired. Looks again every millisecond for `wait` seconds."""
        con = self.connect()
        give_up = time.time() + wait
        try:
            while True:
                if con.execute("SELECT 1 FROM deadlines WHERE claim_owner IS NOT NULL LIMIT 1"
                               ).fetchone():
                    return True
                if time.time() >= give_up:
                    return False
                time.sleep(0.001)
        finally:
            con.close()

    def as_killed(self, dest):
        """A copy of the file and its WAL, as they are now (the daemon
        dead): what a daemon started on it would find. The checks run on
        the copy, so that the daemon started again still finds the WAL to
        recover."""
        os.makedirs(dest)
        for suffix in ("", "-wal"):
            if os.path.exists(self.path + suffix):
                shutil.copyfile(self.path + suffix, os.path.join(dest, "escrowd.db" + suffix))
        return SqliteStore(os.path.join(dest, "escrowd.db"), copy=True)

    def integrity(self):
        """PRAGMA integrity_check's rows, [("ok",)] when the file is sound."""
        return self.query("PRAGMA integrity_check")


class PgStore:
    """A database on the test server, read through psql."""
    kind = "PostgreSQL"
    copy = False

    def __init__(self, url):
        self.url = url

    def query(self, sql):
        return self.queries([sql])[0]

    def queries(self, sqls):
        """The rows of each query, from one psql: a line \\x1e between
        the results, \\x1f between the fields."""
        args = ["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
                self.url]
        for i, sql in enumerate(sqls):
            args += (["-c", "\\echo \x1e"] if i else []) + ["-c", sql]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("psql: %s: %s" % (sqls[0][:200], r.stderr))
        results = [[]]
        for line in r.stdout.split("\n"):
            if line == "\x1e":
                results.append([])
            elif line:
                results[-1].append(tuple(
                    None if v == "" else int(v) if re.fullmatch(r"-?\d+", v) else v
                    for v in line.split("\x1f")))
        assert len(results) == len(sqls), (len(results), len(sqls), r.stdout[:300])
        return results

    def claimed(self, wait=0.0):
        give_up = time.time() + wait
        while True:
            if self.query("SELECT 1 FROM deadlines WHERE claim_owner IS NOT NULL LIMIT 1"):
                return True
            if time.time() >= give_up:
                return False
            time.sleep(0.05)  # each look is a psql process

    def as_killed(self, dest):
        # The server lives on: the database is as the daemon left it for
        # as long as no daemon runs on it.
        return self

    def integrity(self):
        return None  # PRAGMA integrity_check is SQLite's


class Daemon:
    """The one daemon, started again after each kill on the same file and,
    when it can bind it, the same port; clients read .port each request."""

    def __init__(self, exe, db, config):
        self.exe, self.db, self.config = exe, db, config
        self.proc = None
        self.port = 0
        self.lines = []  # everything any incarnation printed
        self.starts = 0
        self.port_changes = 0
        self.kill_times = []
        self.died = []  # (incarnation, exit status) of each that ended by itself
        self.bind_failed = set()  # incarnations that could not bind the old port
        self.up = []  # [listening since, killed at or None]: when it could fire deadlines

    def spawn(self, port):
        self.proc = subprocess.Popen(
            [self.exe, "serve", "--db", self.db, "--listen", "127.0.0.1:%d" % port,
             "--operator-key", KEY, "--config", self.config, "--quiet"],
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.starts += 1
        lines = queue.Queue()

        def drain(proc, n):
            for line in proc.stderr:
                self.lines.append((n, line.rstrip("\n")))
                lines.put(line)
            lines.put(None)
        threading.Thread(target=drain, args=(self.proc, self.starts), daemon=True).start()
        return lines

    def start(self):
        """Start and wait until it listens; the previous port first."""
        for port in ([self.port] if self.port else []) + [0]:
            lines = self.spawn(port)
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    line = lines.get(timeout=1)
                except queue.Empty:
                    continue
                if line is None:
                    break
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if m:
                    if self.port and int(m.group(1)) != self.port:
                        self.port_changes += 1
                    self.port = int(m.group(1))
                    self.up.append([time.time(), None])
                    return
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            else:
                self.ended(port)
        raise RuntimeError("the daemon did not start:\n" +
                           "\n".join(l for _, l in self.lines[-20:]))

    def up_between(self, a, b):
        """How long it listened between times a and b."""
        return sum(max(0.0, min(b, e or b) - max(a, s)) for s, e in self.up)

    def ended(self, port):
        """It ended by itself: it could not bind the old port (taken
        meanwhile), or it crashed or stopped."""
        time.sleep(0.1)  # its last words
        said = [l for n, l in self.lines if n == self.starts]
        if port and any("cannot listen on 127.0.0.1:%d" % port in l for l in said):
            self.bind_failed.add(self.starts)
        else:
            self.died.append((self.starts, self.proc.returncode))

    def kill(self):
        if self.proc.poll() is not None:
            self.ended(self.port)
        self.kill_times.append(time.time())
        if self.up and self.up[-1][1] is None:
            self.up[-1][1] = self.kill_times[-1]
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode if self.proc else 0


class Client:
    """One HTTP connection kept alive, opened again after each failure."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.conn = None
        self.port = None

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None

    def once(self, method, path, token, body, key=None, timeout=10):
        """(status, body bytes), or None when the daemon does not answer."""
        port = self.daemon.port
        if self.conn is None or port != self.port:
            self.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            self.port = port
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + token
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
            if r.getheader("Connection", "").lower() == "close":
                self.close()
            return r.status, data
        except (OSError, http.client.HTTPException):
            self.close()
            return None


def still_running(status, data):
    return status == 409 and b"still running" in data


class Load:
    def __init__(self, daemon, tokens, ids):
        self.daemon = daemon
        self.tokens = tokens  # "operator", "buyerN", "sellerN" -> token
        self.ids = ids
        self.lock = threading.Lock()
        self.kept = []  # (method, path, token, body, key, status, data): answers to replay
        self.acked_orders = {}  # (order_id, version) -> event of a 2xx order answer
        self.acked_refunds = {}  # refund_id -> event of a 2xx refund answer
        self.orders = {}  # order_id -> plan
        self.messages = {}  # order_id -> seqs of the 2xx answers to its messages
        self.errors = []
        self.attempts = {}  # key -> [(sent, answered, port, status or None)]: for a failure's story
        self.retries = 0
        self.unavailable = 0  # 503 answers (retried)
        # Every 2xx answer as it arrives, for the check after the next
        # kill: (key, status, data, what it made: ("order", id, version,
        # event), ("refund", id, event), ("message", order id, seq)).
        self.acks = []
        self.inflight = {}  # key -> (method, path): sent, not answered yet
        # key -> (status, data) its killed daemon had kept: the answer the
        # client must get once it sends the key again
        self.committed_unanswered = {}
        self.stop = threading.Event()

    def error(self, text):
        with self.lock:
            self.errors.append(text)

    def send(self, client, method, path, who, doc, event=None):
        """POST once with one key, again and again with that key until
        answered: (status, json or None). A 2xx order answer records
        (order, version) as acknowledged for event."""
        body = json.dumps(doc, separators=(",", ":")).encode()
        key = uuid.uuid4().hex
        token = self.tokens[who]
        give_up = time.time() + ANSWER_WAIT_S
        with self.lock:
            self.inflight[key] = (method, path)
        try:
            return self.send_key(client, method, path, token, body, key, give_up, event)
        finally:
            with self.lock:
                self.inflight.pop(key, None)

    def send_key(self, client, method, path, token, body, key, give_up, event):
        while True:
            sent = time.time()
            got = client.once(method, path, token, body, key)
            self.attempts.setdefault(key, []).append(
                (sent, time.time(), client.port, got and got[0]))
            if got is not None:
                status, data = got
                if status == 503:
                    with self.lock:
                        self.unavailable += 1
                elif not still_running(status, data) and status != 429:
                    break
            if time.time() > give_up:
                self.error("%s %s: not answered in %d s (key %s)" % (method, path,
                                                                    ANSWER_WAIT_S, key))
                return None, None
            with self.lock:
                self.retries += 1
            time.sleep(random.uniform(0.02, 0.15))
        try:
            j = json.loads(data)
        except ValueError:
            self.error("%s %s: %d, not JSON: %r" % (method, path, status, data[:200]))
            return status, None
        if status >= 500:  # a failure, not kept: no answer to replay
            self.error("%s %s: %d %s" % (method, path, status, data[:300]))
            return status, j
        with self.lock:
            self.kept.append((method, path, token, body, key, status, data))
            made = None
            if 200 <= status < 300 and event:
                if event.startswith("refund_"):
                    self.acked_refunds.setdefault(j["id"], []).append(event)
                    made = ("refund", j["id"], event)
                elif "order_version" in j:  # a dispute's answer
                    self.acked_orders.setdefault((j["order_id"], j["order_version"]),
                                                 []).append(event)
                    made = ("order", j["order_id"], j["order_version"], event)
                else:
                    self.acked_orders.setdefault((j["id"], j["version"]), []).append(event)
                    made = ("order", j["id"], j["version"], event)
            elif 200 <= status < 300 and path.endswith("/messages"):
                made = ("message", path.split("/")[3], j["seq"])
            if 200 <= status < 300:
                self.acks.append((key, status, data, made))
        return status, j

    def get(self, client, path, who="operator"):
        give_up = time.time() + ANSWER_WAIT_S
        while True:
            got = client.once("GET", path, self.tokens[who], None)
            if got is not None and got[0] < 500:
                return got[0], json.loads(got[1])
            if time.time() > give_up:
                self.error("GET %s: not answered" % path)
                return None, None
            time.sleep(random.uniform(0.02, 0.15))


PLANS = ["unpaid", "cancel_unpaid", "silent", "accept", "accept_balance", "reject",
         "withdraw", "confirm", "deliver_silent", "dispute_silent", "dispute_counter",
         "dispute_reject"]


def flow(load, client, rng, n, k):
    """One order through one plan; each step ends the flow unless 2xx."""
    buyer, seller = "buyer%d" % n, "seller%d" % n
    plan = rng.choice(PLANS)
    price = rng.randrange(100, 100000)
    status, o = load.send(client, "POST", "/v1/orders", "operator", {
        "buyer_id": load.ids[buyer], "seller_id": load.ids[seller], "currency": "EUR",
        "items": [{"title": "Item %d-%d" % (n, k), "quantity": 1, "unit_price": price}]},
        "create")
    if status != 201:
        if status is not None:
            load.error("create: %s %s" % (status, o))
        return
    oid = o["id"]
    with load.lock:
        load.orders[oid] = plan
    base = "/v1/orders/" + oid

    def step(path, who, doc, event):
        status, j = load.send(client, "POST", base + path, who, doc, event)
        return status is not None and 200 <= status < 300, j

    if rng.random() < 0.2:
        # Not a command: kept with its key in the write's own transaction.
        with load.lock:
            load.messages.setdefault(oid, [])
        ok, j = step("/messages", rng.choice((buyer, seller)),
                     {"body": "About order %d-%d" % (n, k)}, None)
        if ok:
            with load.lock:
                load.messages[oid].append(j["seq"])
    if plan == "unpaid":
        return
    if plan == "cancel_unpaid":
        step("/cancel", buyer, {"reason": "no_longer_needed"}, "cancel")
        return
    ok, j = step("/pay", "operator",
                 {"amount": price, "payment_method": rng.choice(("card", "wallet", "balance"))},
                 "pay")
    if not ok:
        return
    if plan in ("silent", "accept", "accept_balance", "reject", "withdraw"):
        doc = {"reason": rng.choice(("no_longer_needed", "better_price", "out_of_stock"))}
        if plan == "accept_balance":
            doc["refund_to"] = "balance"
        ok, j = step("/cancel", buyer, doc, "cancel")
        if not ok or plan == "silent":
            return
        if plan in ("accept", "accept_balance"):
            step("/cancellation/accept", seller, {}, "accept_cancellation")
        elif plan == "withdraw":
            step("/cancellation/withdraw", buyer, {}, "withdraw_cancellation")
            # left to the ship deadline
        else:
            ok, j = step("/cancellation/reject", seller, {"message": "Already packed"},
                         "reject_cancellation")
            if ok and rng.random() < 0.5:
                step("/cancel", buyer, {"reason": "change_order"}, "cancel")  # left
            elif ok:
                step("/ship", seller, {"carrier": "Posturinn", "tracking_number": "RR%d%dIS" %
                                       (n, k)}, "ship")
        return
    ok, j = step("/ship", seller, {"carrier": "Posturinn", "tracking_number": "RR%d%dIS" % (n, k)},
                 "ship")
    if not ok:
        return
    ok, j = step("/deliver", "operator", {}, "deliver")
    if not ok:
        return
    if plan == "confirm":
        step("/confirm-receipt", buyer, {}, "confirm_receipt")
        return
    if plan == "deliver_silent":
        return
    ok, j = step("/disputes", buyer, {"ground": "not_as_described", "outcome": "refund_only",
                                      "amount": max(1, price // 2),
                                      "description": "Not as described"}, "open_dispute")
    if not ok or plan == "dispute_silent":
        return
    dispute = "/v1/disputes/%s" % j["id"]
    if plan == "dispute_counter":
        load.send(client, "POST", dispute + "/counter-offer", seller,
                  {"amount": max(1, price // 4), "message": "Half of that"}, "counter_offer")
    else:
        load.send(client, "POST", dispute + "/reject", seller,
                  {"message": "It was as described"}, "reject_dispute")


def settle_some(load, client, rng):
    """The payment integration reports a pending refund or two."""
    status, j = load.get(client, "/v1/refunds?status=pending&limit=20")
    if status != 200 or not j["data"]:
        return
    for r in rng.sample(j["data"], min(2, len(j["data"]))):
        outcome = rng.choice(("settle", "fail"))
        load.send(client, "POST", "/v1/refunds/%s/%s" % (r["id"], outcome), "operator", {},
                  "refund_settled" if outcome == "settle" else "refund_failed")


def client_main(load, n):
    rng = random.Random(n * 7919 + int(time.time()))
    client = Client(load.daemon)
    k = 0
    try:
        while not load.stop.is_set():
            flow(load, client, rng, n, k)
            k += 1
            if rng.random() < 0.3:
                settle_some(load, client, rng)
    except Exception as e:  # a bug of the test, or an answer it cannot read
        load.error("client %d: %r" % (n, e))
        raise
    finally:
        client.close()


REFUND_STATUS = {"refund_settled": "settled", "refund_failed": "failed"}


class Cycles:
    """What each kill left: after each SIGKILL, before the daemon starts
    again, the store as it found it (a copy of the SQLite file and its
    WAL, checked in a thread of its own while the load goes on; on
    PostgreSQL the database itself, checked there and then):

      - `PRAGMA integrity_check` (SQLite) and `escrowd check` pass;
      - every 2xx answer a client got before the kill is in it: its key's
        kept answer, the same status and bytes, and what it made (the
        history row of its order's version, the refund's outcome, the
        message);
      - the requests sent and not answered when it died: those whose
        key's answer it had kept must get that answer when sent again.

    A failure names the kill (1 = the first) and keeps the copy."""

    def __init__(self, exe, store, load, tmp):
        self.exe, self.store, self.load, self.tmp = exe, store, load, tmp
        self.kills = 0
        self.checked = 0  # load.acks before this index were checked at an earlier kill
        self.failure = None
        self.figures = collections.Counter()
        self.unanswered = set()  # keys sent and not answered when a daemon died
        self.took_max = 0.0
        self.queue = queue.Queue()
        threading.Thread(target=self.worker, daemon=True).start()

    def worker(self):
        while True:
            job = self.queue.get()
            try:
                if self.failure is None:
                    self.check(*job)
            except Exception as e:  # AssertionError, or a tool that failed
                self.failure = "kill %d of %d (the store left as it was in %s): %s" % (
                    job[0], KILLS, os.path.dirname(job[1].path) if job[1].copy else
                    "the database", str(e)[:3000])
            finally:
                self.queue.task_done()

    def after_kill(self):
        """With the daemon dead, before it starts again."""
        self.kills += 1
        with self.load.lock:
            acks = self.load.acks[self.checked:]
            inflight = set(self.load.inflight)
        self.checked += len(acks)
        store = self.store.as_killed(os.path.join(self.tmp, "kill-%d" % self.kills))
        self.queue.put((self.kills, store, acks, inflight))
        if not store.copy:
            self.queue.join()
        self.raise_failure()

    def wait(self):
        """Until every check is done (before a kill: one copy at a time)."""
        self.queue.join()
        self.raise_failure()

    def raise_failure(self):
        if self.failure:
            raise AssertionError(self.failure)

    def check(self, n, store, acks, inflight):
        started = time.time()
        integrity = store.integrity()
        assert integrity in (None, [("ok",)]), ("PRAGMA integrity_check", integrity[:10])
        made = collections.defaultdict(list)
        for a in acks:
            if a[3]:
                made[a[3][0]].append(a[3])
        # Every query at once (one psql on PostgreSQL), 500 ids at most in
        # each: [held deliveries, refunds, then idempotency, history and
        # messages by parts].
        keys = [a[0] for a in acks] + sorted(inflight)
        orders = sorted({m[1] for m in made["order"] + made["message"]})
        sqls = [
            # Deliveries it had claimed and not recorded: the most it may
            # have sent that the next daemon sends again.
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' "
            "AND claim_owner IS NOT NULL",
            "SELECT id, status FROM refunds WHERE id IN " +
            sql_list([m[1] for m in made["refund"]] or [""])]
        parts = {"key": [], "history": [], "messages": []}
        for i in range(0, len(keys), 500):
            parts["key"].append(len(sqls))
            sqls.append("SELECT key, status, response FROM idempotency WHERE key IN " +
                        sql_list(keys[i:i + 500]))
        for i in range(0, len(orders), 500):
            part = sql_list(orders[i:i + 500])
            parts["history"].append(len(sqls))
            sqls.append("SELECT order_id, version, event FROM outbox WHERE event <> '' "
                        "AND order_id IN " + part)
            parts["messages"].append(len(sqls))
            sqls.append("SELECT order_id, seq FROM messages WHERE order_id IN " + part)
        rows = store.queries(sqls)
        held = rows[0][0][0]
        refunds = dict(rows[1])
        kept = {k: (status, response) for i in parts["key"] for k, status, response in rows[i]}
        history = {r for i in parts["history"] for r in rows[i]}
        messages = {r for i in parts["messages"] for r in rows[i]}
        for key, status, data, what in acks:
            assert kept.get(key) == (status, data.decode()), (
                "answered %d before the kill, its key's answer not kept" % status, key,
                data[:300], kept.get(key))
        for _, oid, version, event in made["order"]:
            assert (oid, version, event) in history, (
                "acknowledged before the kill, not in the history", oid, version, event)
        for _, oid, seq in made["message"]:
            assert (oid, seq) in messages, ("acknowledged before the kill, not kept",
                                            oid, seq)
        for _, rid, event in made["refund"]:
            assert refunds.get(rid) == REFUND_STATUS[event], (
                "acknowledged before the kill, not in the store", rid, event, refunds.get(rid))
        committed = {k: kept[k] for k in inflight if k in kept}
        with self.load.lock:
            self.load.committed_unanswered.update(committed)
        r = subprocess.run([self.exe, "check", "--db", store.url], capture_output=True,
                           text=True)
        assert r.returncode == 0, ("escrowd check", r.returncode, r.stdout + r.stderr)
        if store.copy:
            shutil.rmtree(os.path.dirname(store.path), ignore_errors=True)
        with self.load.lock:
            self.figures["acks"] += len(acks)
            self.figures["deliveries_held"] += held
            self.unanswered |= inflight
        self.took_max = max(self.took_max, time.time() - started)


def killer(daemon, store, cycles, kills, counts):
    """SIGKILL the daemon `kills` times, check what each kill left, and
    start it again."""
    rng = random.Random()

    def kill():
        daemon.kill()
        counts["claims"] += store.claimed()
        cycles.after_kill()

    while len(daemon.kill_times) < kills:
        r = rng.random()
        if r < 0.25:
            # Aimed at the deadline worker: as soon as it has claimed
            # what is due, before or as it commits their firing.
            time.sleep(0.3)
            cycles.wait()
            store.claimed(wait=2.5)
        else:
            time.sleep(rng.uniform(0.2, 1.0))
            cycles.wait()
        if 0.25 <= r < 0.4 and len(daemon.kill_times) + 2 <= kills:
            # Now and then while it starts: opening the store, taking
            # back the dead one's claims, or firing what came due.
            kill()
            daemon.spawn(daemon.port)
            time.sleep(rng.uniform(0.0, 0.08))
            counts["starting"] += 1
        kill()
        if r >= 0.85 and counts["down"] < max(1, kills // 6) and \
                len(daemon.kill_times) + 1 <= kills:
            # Down for a while, so that deadlines come due meanwhile and
            # must fire as soon as it is back (SPEC §8); killed again as
            # it fires them, holding their claims.
            time.sleep(rng.uniform(1, 3))
            counts["down"] += 1
            daemon.start()
            time.sleep(rng.uniform(0.0, 0.05))
            kill()
        daemon.start()
    cycles.wait()


def run_parallel(daemon, items, fn, threads=4):
    """[fn(client, item) for item in items], in threads, each with its own
    connection; the first exception is raised."""
    items = list(items)
    out, failures = [None] * len(items), []
    lock = threading.Lock()
    it = iter(range(len(items)))

    def run():
        client = Client(daemon)
        while not failures:
            with lock:
                i = next(it, None)
            if i is None:
                break
            try:
                out[i] = fn(client, items[i])
            except Exception as e:
                failures.append(e)
        client.close()
    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if failures:
        raise failures[0]
    return out


def events_of(load, client, oid):
    rows, after = [], None
    while True:
        path = "/v1/orders/%s/events?limit=100" % oid
        if after:
            path += "&starting_after=%s" % after
        status, j = load.get(client, path)
        assert status == 200, (status, j)
        rows += j["data"]
        if not j.get("has_more"):
            return rows
        after = j["data"][-1]["version"]


def sign_up(daemon):
    """A buyer and a seller for each client, signed in: their tokens and ids."""
    setup = Client(daemon)
    tokens, ids = {"operator": KEY}, {}
    for n in range(CLIENTS):
        for role in ("buyer", "seller"):
            email = "%s%d@crash.test" % (role, n)
            got = setup.once("POST", "/v1/users", KEY, json.dumps(
                {"role": role, "name": "%s %d" % (role, n), "email": email,
                 "password": PASSWORD}).encode())
            assert got and got[0] == 201, got
            ids["%s%d" % (role, n)] = json.loads(got[1])["id"]
            got = setup.once("POST", "/v1/sessions", None, json.dumps(
                {"email": email, "password": PASSWORD}).encode())
            assert got and got[0] == 201, got
            tokens["%s%d" % (role, n)] = json.loads(got[1])["token"]
    setup.close()
    return tokens, ids


def wait_for_deadlines(store):
    """Until the store holds no deadline of the short windows: every chain
    of them (a refund's alert after the deadline that refunded) has come
    due and fired."""
    wait_until = time.time() + 2 * sum(WINDOWS.values()) + LEASE_S + 10
    while True:
        short = store.query("SELECT count(*) FROM deadlines WHERE due_ms < %d" %
                            (int(time.time() * 1000) + 3600 * 1000))[0][0]
        if not short:
            return
        assert time.time() < wait_until, "%d short deadlines still wait" % short
        time.sleep(0.5)


def check_replays(load):
    """Each kept answer, sent again with its key: the same bytes."""
    def replay(client, r):
        method, path, token, body, key, status, data = r
        for _ in range(50):
            got = client.once(method, path, token, body, key)
            if got is not None:
                break
            time.sleep(0.1)
        assert got == (status, data), ("replay differs", method, path, key, (status, data), got)
    run_parallel(load.daemon, load.kept, replay)


def check_histories(load, histories, orders):
    """The acknowledged commands once, nothing else by a client; each
    deadline once, when due. Returns (fired, the figures' text)."""
    daemon = load.daemon
    fired, late_max, down_max, by_kind = 0, 0.0, 0.0, collections.Counter()
    refund_outcomes = {}
    for oid, rows in histories.items():
        versions = [r["version"] for r in rows]
        assert versions == list(range(1, len(rows) + 1)), (oid, versions)
        deadlines = set()
        for r in rows:
            if r["actor"] == "system":
                assert r["event"] in SYSTEM_EVENTS, (oid, r)
                ident = (r["event"], r["detail"].get("due_at"), r["detail"].get("refund_id"))
                assert ident not in deadlines, ("a deadline fired twice", oid, rows)
                deadlines.add(ident)
                if r["event"] == "refund_overdue":
                    refund = [x for x in orders[oid]["refunds"]
                              if x["id"] == r["detail"]["refund_id"]][0]
                    due = ms_of(refund["created_at"]) / 1000 + WINDOWS["refund_alert"]
                else:
                    due = ms_of(r["detail"]["due_at"]) / 1000
                at = ms_of(r["at"]) / 1000
                assert at >= due, ("fired before due", oid, r)
                late = daemon.up_between(due, at)
                assert late <= LATE_MAX_S, ("fired %.1f s of time up late" % late, oid, r)
                late_max = max(late_max, late)
                down_max = max(down_max, at - due - late)
                fired += 1
                by_kind[r["event"]] += 1
            elif r["event"] in ("refund_settled", "refund_failed"):
                refund_outcomes.setdefault(r["detail"].get("refund_id"), []).append(r["event"])
            else:
                got = load.acked_orders.get((oid, r["version"]))
                assert got == [r["event"]], ("history row without one answer", oid, r, got)
        # One firing per kind in these flows (one dispute, one window each).
        kinds = [d[0] for d in deadlines if d[0] != "refund_overdue"]
        assert len(kinds) == len(set(kinds)), (oid, rows)
    for (oid, version), events in load.acked_orders.items():
        rows = histories[oid]
        assert len(events) == 1 and version <= len(rows) and \
            rows[version - 1]["event"] == events[0], ("answered, not kept once", oid, version,
                                                      events, rows)
    for rid, events in load.acked_refunds.items():
        assert len(events) == 1 and len(refund_outcomes.get(rid, [])) == 1, \
            ("refund outcome not kept once", rid, events, refund_outcomes.get(rid))
    assert len(refund_outcomes) == len(load.acked_refunds), "unanswered refund outcomes"
    return fired, "%d deadlines fired once each (%s), at most %.1f s of time up after due " \
        "(and %.1f s down); %d commands kept once" % (
            fired, ", ".join("%s %d" % kv for kv in sorted(by_kind.items())), late_max,
            down_max, len(load.acked_orders) + len(load.acked_refunds))


def check_messages(load):
    """Each answered message kept once, none unanswered."""
    def messages_of(client, oid):
        status, j = load.get(client, "/v1/orders/%s/messages?limit=100" % oid)
        assert status == 200 and not j["has_more"], (status, j)
        # (A rejection's message joins the conversation too.)
        return [m["seq"] for m in j["data"] if m["body"].startswith("About order")]
    got = dict(zip(load.messages, run_parallel(load.daemon, list(load.messages), messages_of)))
    for oid, seqs in load.messages.items():
        assert sorted(seqs) == got[oid], ("messages not kept once", oid, seqs, got[oid])


def check_orders(histories, orders):
    """No order waits for a short deadline; no refund twice. Returns the
    number of refunds."""
    refunds = 0
    for oid, o in orders.items():
        assert o["status"] not in SHORT_STATES, ("left waiting", oid, o["status"],
                                                 histories[oid])
        rs = o["refunds"]
        assert len({r["id"] for r in rs}) == len(rs), (oid, rs)
        assert sum(r["amount"] for r in rs) == o["refunded"] <= o["paid"], (oid, o)
        if o["status"] == "cancelled" and o["paid"]:
            assert len(rs) == 1 and rs[0]["amount"] == o["paid"], (oid, o)
        for r in rs:
            overdue = [h for h in histories[oid] if h["event"] == "refund_overdue"
                       and h["detail"].get("refund_id") == r["id"]]
            assert len(overdue) <= 1 and (r["status"] != "pending" or overdue), \
                ("refund alert", oid, r, overdue)
        refunds += len(rs)
    return refunds


def check_unanswered(load, unanswered):
    """A request a daemon died before answering was sent again with its key
    until answered; one that daemon had committed was answered what it had
    kept, not run a second time."""
    last = {r[4]: (r[5], r[6].decode()) for r in load.kept}
    lost = unanswered - set(last)
    assert not lost, ("unanswered at a kill, never answered since", sorted(lost)[:5])
    for key, answer in load.committed_unanswered.items():
        assert last.get(key) == answer, ("committed before a kill, answered otherwise after",
                                         key, answer, last.get(key))


def check_store(exe, store, orders):
    """The stopped daemon's store: its ledger, its pages, its queues.
    Returns the number of outbox events."""
    r = subprocess.run([exe, "check", "--db", store.url], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    integrity = store.integrity()
    assert integrity in (None, [("ok",)]), integrity
    due = store.query("SELECT count(*) FROM deadlines WHERE due_ms <= %d" %
                      int(time.time() * 1000))[0][0]
    assert due == 0, "%d deadlines due in the store" % due
    claimed = store.query("SELECT count(*) FROM deadlines WHERE claim_owner IS NOT NULL")[0][0]
    assert claimed == 0, "%d deadlines still claimed after SIGTERM" % claimed
    # Each refund's transfer once, in the ledger as in the API.
    ledger = dict(store.query(
        "SELECT order_id, count(DISTINCT transfer_id) FROM entries WHERE kind = 'refund' "
        "GROUP BY order_id"))
    for oid, o in orders.items():
        assert ledger.get(oid, 0) == len(o["refunds"]), (oid, ledger.get(oid), o["refunds"])
    # Each command's event once in the outbox that webhooks deliver from,
    # carrying its history line in the same row (issue 15): the rows with
    # a history line are the events of commands (none is purged here),
    # one line per order's version. The reputation events a command's
    # marks cause carry no history line.
    outbox = collections.Counter(store.query(
        "SELECT order_id, type, at_ms FROM outbox WHERE type NOT LIKE 'reputation.%' "
        "AND payload <> ''"))
    history = collections.Counter(store.query(
        "SELECT order_id, type, at_ms FROM outbox WHERE event <> ''"))
    assert outbox == history, ("the outbox is not the history",
                               list((outbox - history).items())[:5],
                               list((history - outbox).items())[:5])
    twice = store.query("SELECT order_id, version FROM outbox WHERE event <> '' "
                        "GROUP BY order_id, version HAVING count(*) > 1")
    assert not twice, ("two history lines of one version", twice[:5])
    return sum(outbox.values())


def fresh_database(admin):
    """A new database on the test server: (name, its URL)."""
    name = "crash_loop_%d_%d" % (os.getpid(), random.randrange(1 << 30))
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", admin, "-c",
                    "CREATE DATABASE " + name], check=True)
    return name, re.sub(r"/[^/?]*(\?|$)", "/" + name + r"\1", admin, count=1)


def drop_database(admin, name):
    subprocess.run(["psql", "-X", "-q", "-v", "VERBOSITY=terse", admin, "-c",
                    "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name], check=False,
                   stderr=subprocess.DEVNULL)


def main():
    exe = os.path.join(os.environ.get("ESC_BUILD_DIR", "build"), "escrowd")
    if not os.access(exe, os.X_OK):
        log("skipped: no daemon at %s (set ESC_BUILD_DIR)" % exe)
        return 77
    admin = os.environ.get("ESC_TEST_PG")
    if POSTGRESQL and not admin:
        log("skipped: ESC_TEST_PG is not set (make test starts a server)")
        return 77
    tmp = tempfile.mkdtemp(prefix="escrowd-crash-loop-")
    database = None
    if POSTGRESQL:
        database, url = fresh_database(admin)
        store = PgStore(url)
        subprocess.run([exe, "migrate", "--db", url], check=True, stdout=subprocess.DEVNULL)
    else:
        store = SqliteStore(os.path.join(tmp, "escrowd.db"))
    config = os.path.join(tmp, "escrowd.conf")
    with open(config, "w") as f:
        for k, v in WINDOWS.items():
            f.write("%s = %dms\n" % (k, v * 1000))
        # One buyer per client cancels hundreds of orders: keep every
        # buyer in good standing, so that each may go on asking.
        f.write("watch_cancellations = 1000000000\nrestricted_cancellations = 1000000000\n"
                "suspended_cancellations = 1000000000\nrestricted_rate = 100%%\n"
                "suspended_lost_disputes = 1000000000\ncancel_requests_max = 2\n"
                "http.signin_per_address = 1000\nhttp.signin_per_account = 1000\n"
                "db_pool = 4\ndeadline_lease = %ds\n"
                # The receiver below listens on loopback.
                "webhooks.allow_private = true\n" % LEASE_S)
    daemon = Daemon(exe, store.url, config)
    # Now and then slow to answer, so that kills find deliveries in flight.
    receiver = webhook_common.Receiver(slow_share=0.05, slow_max_s=0.5)
    load = None
    started = time.time()
    try:
        daemon.start()
        webhook_common.endpoint(daemon.port, KEY, receiver)
        load = Load(daemon, *sign_up(daemon))
        cycles = Cycles(exe, store, load, tmp)
        counts = {"starting": 0, "down": 0, "claims": 0}
        loop_started = time.time()
        threads = [threading.Thread(target=client_main, args=(load, n)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        try:
            killer(daemon, store, cycles, KILLS, counts)
            time.sleep(0.5)
        finally:
            load.stop.set()
            for t in threads:
                t.join()
        loop_took = time.time() - loop_started
        assert not load.errors, load.errors[:10]
        acked = sum(1 for r in load.kept if 200 <= r[5] < 300)
        kills = len(daemon.kill_times)
        log("%s: %d kills (%d while starting, %d after 1-3 s down and then as it fired what "
            "came due; %d with deadlines claimed) in %.1f s; %d orders, "
            "%d answers kept (%d 2xx), %d retries, %d 503s; %d port changes" % (
                store.kind, kills, counts["starting"], counts["down"], counts["claims"],
                loop_took, len(load.orders), len(load.kept), acked, load.retries,
                load.unavailable, daemon.port_changes))
        f = cycles.figures
        log("after each kill, before the restart: %sescrowd check passed; the %d answers "
            "acknowledged before it were in the store (their keys' answers, history rows, "
            "refund outcomes, messages); the %d checks took at most %.1f s" % (
                "PRAGMA integrity_check ok, " if not POSTGRESQL else "", f["acks"],
                cycles.kills, cycles.took_max))
        check_unanswered(load, cycles.unanswered)
        log("%d requests unanswered when their daemon died, all sent again with their keys "
            "and answered; the %d of them it had committed were answered what it had kept" % (
                len(cycles.unanswered), len(load.committed_unanswered)))

        wait_for_deadlines(store)
        log("no short deadline left, %.1f s after the loop" %
            (time.time() - loop_started - loop_took))
        check_replays(load)
        log("%d answers replayed byte for byte" % len(load.kept))
        ids = list(load.orders)
        histories = dict(zip(ids, run_parallel(daemon, ids,
                                               lambda c, oid: events_of(load, c, oid))))
        orders = dict(zip(ids, run_parallel(daemon, ids, lambda c, oid: load.get(
            c, "/v1/orders/" + oid)[1])))
        fired, figures = check_histories(load, histories, orders)
        log(figures)
        check_messages(load)
        refunds = check_orders(histories, orders)

        drained = webhook_common.wait_delivered(daemon.port, KEY, 120)
        events, _ = webhook_common.event_ids(daemon.port, KEY)
        assert len(set(events)) == len(events), "GET /v1/events lists an id twice"
        received, duplicates = receiver.check(events)
        held = cycles.figures["deliveries_held"]
        log("webhooks: the %d events all delivered (%d deliveries, %d again with the same "
            "bytes, of at most %d that killed daemons held; drained %.1f s after the checks "
            "above)" % (received, receiver.total, duplicates, held, drained))
        assert duplicates <= held, ("more deliveries sent twice than the killed daemons "
                                    "held", duplicates, held)

        code = daemon.stop()
        assert code == 0, "the daemon exited %s on SIGTERM" % code
        assert not daemon.died, ("the daemon ended by itself", daemon.died)
        alarming = [(n, l) for n, l in daemon.lines if n not in daemon.bind_failed and
                    not expected_line(l)]
        assert not alarming, alarming[:20]
        outbox = check_store(exe, store, orders)
        log("escrowd check: the store's invariants hold; %s%d refunds, each once; %d outbox "
            "events, each once" % ("integrity_check ok; " if not POSTGRESQL else "", refunds,
                                   outbox))

        log("summary: %s, %d kills each checked, %d acknowledged requests, %d replays "
            "identical, %d deadlines fired once, %d refunds once, %d events delivered, "
            "%d orders, %.0f s" % (
                store.kind, kills, acked, len(load.kept), fired, refunds, received,
                len(load.orders), time.time() - started))
        return 0
    except AssertionError as e:
        log("FAILED:", str(e)[:4000])
        if load:
            for oid in sorted(set(re.findall(r"ord_[0-9a-z]+", str(e))))[:3]:
                story(load, oid, started)
        daemon.stop()
        log("the store and its config are kept in", tmp if not POSTGRESQL else
            "%s and database %s" % (tmp, database))
        tmp = database = None
        return 1
    finally:
        daemon.stop()
        receiver.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if database:
            drop_database(admin, database)


def story(load, oid, t0):
    """What the clients sent on an order, attempt by attempt, and the kills
    around: to tell a lost or doubled command from a bug of the test."""
    log("the requests on", oid, "(seconds from the start; kill times at the end):")
    first, last = None, None
    for method, path, token, body, key, status, data in load.kept:
        if oid not in path and oid.encode() not in data[:40]:
            continue
        log("  %s %s %s key %s -> %d %s" % (method, path, body.decode()[:80], key, status,
                                             data.decode()[:160]))
        for sent, answered, port, got in load.attempts.get(key, []):
            log("    %.3f..%.3f port %s: %s" % (sent - t0, answered - t0, port, got))
            first = sent if first is None else min(first, sent)
            last = answered if last is None else max(last, answered)
    if first is not None:
        log("  kills: %s" % ", ".join("%.3f" % (k - t0) for k in load.daemon.kill_times
                                      if first - 2 <= k <= last + 2))


if __name__ == "__main__":
    sys.exit(main())
