#!/usr/bin/env python3
"""webhook_three_daemons.py - three daemons deliver one database's events
(issue 14).

Three `escrowd serve` processes share a fresh database on the test server
(ESC_TEST_PG, from tests/pg/with-server), on the real clock, with
webhooks.allow_private = true and one endpoint for "*" at one receiver on
a loopback port (webhook_common.Receiver: it checks every signature, and
answers now and then slowly, so that deliveries are in flight). Client
threads run order flows through all three. One daemon is killed with
SIGKILL halfway, while the receiver holds a delivery. The deliveries it had
claimed then are counted in the database (its claims outlive it), and pass
to the others when its lease ends (2 s here). Once nothing is pending:

  - every event of GET /v1/events was received at least once, with a
    valid signature;
  - every duplicate carries the same event id and the same bytes;
  - there are no more duplicates than deliveries the killed daemon had
    claimed when it died: the live ones deliver each event once;
  - no delivery failed, and the outbox holds as many events as were listed.

Exits 77 (skipped) without ESC_TEST_PG.
"""
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time

import webhook_common as wc

KEY = "webhook-cluster-operator-key-1"
PASSWORD = "webhook-cluster-password"
DAEMONS = 3
CLIENTS = 3
ORDERS_PER_CLIENT = 25
LEASE_MS = 2000
DRAIN_TIMEOUT_S = 30


def log(*args):
    print("webhook_three_daemons:", *args, flush=True)


def psql(url, sql):
    r = subprocess.run(["psql", "-qAt", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                       check=True, capture_output=True, text=True)
    return [line.split("|") for line in r.stdout.splitlines() if line]


def fresh_database(admin):
    name = "webhooks_%d_%d" % (os.getpid(), random.randrange(1 << 30))
    psql(admin, "CREATE DATABASE " + name)
    return name, re.sub(r"/[^/?]*(\?|$)", "/" + name + r"\1", admin, count=1)


def drop_database(admin, name):
    subprocess.run(["psql", "-q", "-v", "VERBOSITY=terse", admin, "-c",
                    "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name], check=False,
                   stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def claims(url):
    """owner -> deliveries it holds claimed and not yet finished."""
    return {owner: int(n) for owner, n in psql(
        url, "SELECT claim_owner, COUNT(*) FROM webhook_deliveries WHERE status = 'pending' "
        "AND claim_owner IS NOT NULL AND claim_owner <> '' GROUP BY claim_owner")}


def heartbeats(url):
    return {pid: int(beat) for pid, beat in psql(
        url, "SELECT id, heartbeat_real_ms FROM processes")}


def main():
    admin = os.environ.get("ESC_TEST_PG")
    if not admin:
        log("skipped: ESC_TEST_PG is not set (tests/pg/with-server starts a server)")
        return 77
    exe = os.path.join(os.environ.get("ESC_BUILD_DIR", "build"), "escrowd")
    tmp = tempfile.mkdtemp(prefix="escrowd-webhook-cluster-")
    config = os.path.join(tmp, "escrowd.conf")
    with open(config, "w") as f:
        f.write("webhooks.allow_private = true\n"
                "watch_cancellations = 1000000000\nrestricted_cancellations = 1000000000\n"
                "suspended_cancellations = 1000000000\nhttp.signin_per_address = 1000\n"
                "db_pool = 4\ndeadline_lease = %dms\n" % LEASE_MS)
    name, url = fresh_database(admin)
    receiver = wc.Receiver(slow_share=0.3, slow_max_s=1.0)
    daemons = []
    try:
        subprocess.run([exe, "migrate", "--db", url], check=True, stdout=subprocess.DEVNULL)
        for n in range(DAEMONS):
            daemons.append(wc.Daemon(exe, url, config, KEY, "daemon %d" % n))
            daemons[-1].start()
        port = daemons[0].port
        wc.endpoint(port, KEY, receiver)
        tokens, ids = wc.users(port, KEY, PASSWORD, CLIENTS)
        load = wc.Load(lambda: [d.port for d in daemons if not d.dead], tokens, ids)

        def run(n):
            rng = random.Random(n)
            for k in range(ORDERS_PER_CLIENT):
                wc.flow(load, rng, n, k)
        threads = [threading.Thread(target=run, args=(n,)) for n in range(CLIENTS)]
        started = time.time()
        for t in threads:
            t.start()
        # Kill daemon 1 halfway, while the receiver holds a delivery.
        while load.orders < CLIENTS * ORDERS_PER_CLIENT // 2 and \
                any(t.is_alive() for t in threads):
            time.sleep(0.05)
        until = time.time() + 3
        while receiver.inflight == 0 and time.time() < until:
            time.sleep(0.01)
        before = heartbeats(url)
        daemons[1].kill()
        held = claims(url)
        log("killed daemon 1 (SIGKILL) after %d orders, %d deliveries at the receiver; "
            "claims then: %s" % (load.orders, receiver.inflight, held))
        for t in threads:
            t.join()
        assert not load.errors, load.errors[:5]
        log("%d orders, %d commands acknowledged in %.1f s" %
            (load.orders, load.acked, time.time() - started))

        waited = wc.wait_delivered(port, KEY, DRAIN_TIMEOUT_S)
        events, source = wc.event_ids(port, KEY)
        received, duplicates = receiver.check(events)
        # The killed daemon is the process whose heartbeat stopped.
        after = heartbeats(url)
        dead = [p for p, beat in before.items() if after.get(p, beat) == beat]
        bound = sum(held.get(p, 0) for p in dead) if dead else sum(held.values())
        log("%d events (from %s) all received, %d duplicates with the same bytes, "
            "at most %d allowed (claimed by %s when it died); %d deliveries in all; "
            "drained %.1f s after the load" % (len(events), source, duplicates, bound,
                                                dead or "any", receiver.total, waited))
        assert duplicates <= bound, (duplicates, bound, held, dead)
        deliveries = wc.list_all(port, KEY, "/v1/webhook-deliveries")
        assert len(deliveries) == len(events), (len(deliveries), len(events))
        for d in deliveries:
            assert d["status"] == "delivered", d
        (outbox,), = psql(url, "SELECT COUNT(*) FROM outbox WHERE payload <> ''")
        assert int(outbox) == len(events), (outbox, len(events))
        for d in daemons:
            if not d.dead:
                assert d.stop() == 0, "\n".join(d.lines[-20:])
        return 0
    finally:
        for d in daemons:
            d.stop()
        receiver.close()
        drop_database(admin, name)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        log("FAILED:", e)
        sys.exit(1)
