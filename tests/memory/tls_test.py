#!/usr/bin/env python3
"""Thread-local storage stays small. Every thread a process starts gets
its own copy of the binary's thread-local variables, zeroed at the
thread's start: serve runs some 40 threads (32 HTTP workers by default),
so a 2 MB _Thread_local array became 80 MB resident for nothing (replay's
batch arrays did, until they moved to the heap). The binary's PT_TLS
segment, read with readelf, must stay under LIMIT."""
import os
import re
import subprocess
import sys

LIMIT = 64 * 1024


def main():
    binary = os.path.join(os.environ["ESC_BUILD_DIR"], "escrowd")
    out = subprocess.run(["readelf", "-lW", binary], check=True, capture_output=True,
                         text=True).stdout
    tls = [line.split() for line in out.splitlines() if line.split()[:1] == ["TLS"]]
    size = int(tls[0][5], 16) if tls else 0
    print(f"thread-local storage of {binary}: {size} bytes (limit {LIMIT})")
    if size > LIMIT:
        print("a _Thread_local variable grew: each thread of serve carries it; keep big "
              "buffers on the heap", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
