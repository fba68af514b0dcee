#!/usr/bin/env python3
"""bench/walframes.py BUILD_DIR - which tables' pages a command writes.

The cancellation flow of bench.py (one wrk phase a command, 64 connections,
SQLite) on a new store; during each phase a reader holds a snapshot, so
that the WAL is not restarted and keeps every frame the phase appended.
After the phase, each frame's page is named by SQLite's dbstat (the table
or index whose b-tree holds it), and the phase's frames a command are
printed by b-tree: WAL B/cmd of bench.py's table, taken apart.

A frame is a whole page (4,096 bytes here) written again: a command that
touches a row on a page no other command of its commit touched costs that
page. Keys that put a command's rows next to the rows of the commands
committed with it (a growing rowid, a time-ordered id) share pages;
keys by order (an order's refund, its history, its ledger entries) land
wherever that order's earlier rows are, a page each.

The held snapshot stops the checkpointer's RESTART (the WAL grows by the
phase's frames: tens of MB), so the rates here are not bench.py's; only
the frames are measured. Environment: ESC_WAL_CONNS (64), ESC_BENCH_USERS,
ESC_BENCH_DIR and ESC_BENCH_KEEP as bench.py's.
"""
import collections
import os
import shutil
import sqlite3
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the Store, its phases and its configuration)

CONNS = int(os.environ.get("ESC_WAL_CONNS") or 64)


SHM = {}


def wal_index(db):
    """The WAL's salts and its last committed frame, from the wal-index
    header at the start of the -shm file (native byte order). The file is
    opened once and never closed: closing any descriptor of it would drop
    every POSIX lock this process holds on it, the snapshot's included."""
    if db not in SHM:
        SHM[db] = os.open(db + "-shm", os.O_RDONLY)
    head = os.pread(SHM[db], 48, 0)
    return head[32:40], struct.unpack("=I", head[16:20])[0]


def wal_pages(db, first, last):
    """The page numbers of frames first+1 .. last, and how many of them
    end a commit."""
    pages, commits = [], 0
    with open(db + "-wal", "rb") as f:
        size = 24 + struct.unpack(">I", f.read(12)[8:12])[0]
        for i in range(first, last):
            f.seek(32 + i * size)
            page, commit = struct.unpack(">II", f.read(8))
            pages.append(page)
            commits += commit != 0
    return pages, commits


class Pin:
    """A reader's snapshot held during a phase. A snapshot taken while
    the WAL holds nothing the checkpointer has not copied reads the
    database file alone and does not stop the WAL's restart: when the WAL
    starts over anyway, the snapshot is taken again, and the frames are
    counted from the last one."""

    def __init__(self, db):
        self.db, self.stop, self.at = db, threading.Event(), None
        self.con = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stop.wait(0.01 if not self.at else 0.2):
            salts, last = wal_index(self.db)
            if self.at and self.at[0] == salts:
                continue
            if self.con.in_transaction:
                self.con.execute("ROLLBACK")
            self.at = None
            self.con.execute("BEGIN")
            self.con.execute("SELECT 1 FROM orders LIMIT 1").fetchall()
            salts, last = wal_index(self.db)
            if last:
                self.at = (salts, last)

    def frames(self):
        """The pages of the frames committed since the snapshot, and the
        commits; None when the WAL was started over meanwhile."""
        self.stop.set()
        self.thread.join()
        salts, last = wal_index(self.db)
        seen = (wal_pages(self.db, self.at[1], last) if self.at and self.at[0] == salts
                else (None, 0))
        if self.con.in_transaction:
            self.con.execute("ROLLBACK")
        # The daemon is idle between phases: empty the WAL, so that the
        # next phase's starts from its beginning.
        self.con.execute("PRAGMA busy_timeout = 10000")
        self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        self.con.close()
        return seen


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: bench/walframes.py BUILD_DIR")
    build = os.path.abspath(sys.argv[1])
    base = os.environ.get("ESC_BENCH_DIR") or "/tmp"
    work = tempfile.mkdtemp(prefix="escrowd-walframes-", dir=base)
    conf = bench.write_conf(work)
    db = os.path.join(work, "escrowd.db")
    store = None
    try:
        store = bench.Store(os.path.join(build, "escrowd"), db, work, 1, conf)
        print("escrowd WAL frames by b-tree (bench/walframes.py), %s, the flow at %d "
              "connections" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), CONNS))
        ids = None
        for phase, event in bench.FLOW:
            pin = Pin(db)
            r = store.phase(phase, event, CONNS, ids_in=ids)
            pages, commits = pin.frames()
            ids = r["ids"]
            if pages is None or not commits:
                print("\n%s: the WAL was restarted during the phase; no figure" % phase)
                continue
            con = sqlite3.connect(db)
            names = dict(con.execute("SELECT pageno, name FROM dbstat"))
            page = con.execute("PRAGMA page_size").fetchone()[0]
            con.close()
            by = collections.Counter(names.get(p, "(freed since)") for p in pages)
            # The commands of the commits watched (the phase's first ones
            # came before the snapshot), by the phase's commands a commit.
            cmds = commits * r["per_commit"]
            print("\n%s: %d commits of %.1f commands, %.2f frames a command (%.0f B)" % (
                phase, commits, r["per_commit"], len(pages) / cmds,
                len(pages) * (page + 24) / cmds))
            for name, n in by.most_common():
                if n / len(pages) >= 0.005:
                    print("  %-24s %6.2f frames/cmd %5.1f %%" % (
                        name, n / cmds, 100.0 * n / len(pages)))
    finally:
        if store:
            store.stop()
        if not os.environ.get("ESC_BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept " + work)


if __name__ == "__main__":
    main()
