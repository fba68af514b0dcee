#!/usr/bin/env python3
"""Sum the cmocka cases of meson test logs, and the browser tests' TAP, into one closing line."""
import json
import re
import sys

passed = failed = 0
for path in sys.argv[1:]:
    if path.endswith(".tap"):
        # Node's test runner: one top-level "ok N" or "not ok N" per test.
        with open(path) as f:
            for line in f:
                if re.match(r"^ok \d+", line) and "# SKIP" not in line:
                    passed += 1
                elif re.match(r"^not ok \d+", line):
                    failed += 1
        continue
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            out = (t.get("stdout", "") or "") + (t.get("stderr", "") or "")
            p = len(re.findall(r"^\[       OK \]", out, re.M))
            x = sum(int(n) for n in re.findall(r"\[  FAILED  \] (\d+) test", out))
            if t.get("result") == "SKIP":
                continue
            if t.get("result") != "OK" and x == 0:
                x = 1
            if t.get("result") == "OK" and p == 0:
                p = 1  # a test that is not cmocka's: one case
            passed += p
            failed += x
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
