#!/usr/bin/env python3
"""Sum the cmocka cases of meson test logs into one closing line."""
import json
import re
import sys

passed = failed = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            out = (t.get("stdout", "") or "") + (t.get("stderr", "") or "")
            p = len(re.findall(r"^\[       OK \]", out, re.M))
            x = sum(int(n) for n in re.findall(r"\[  FAILED  \] (\d+) test", out))
            if t.get("result") != "OK" and x == 0:
                x = 1
            passed += p
            failed += x
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
