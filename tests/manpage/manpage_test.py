#!/usr/bin/env python3
"""escrowd(8) (issue 18 item 3): the built man page names every configuration
key that `escrowd config keys` lists, with its default and its environment
variable; every command of `escrowd --help`; every flag and environment
variable of the commands' --help; and it renders without a warning."""
import os
import re
import shutil
import subprocess
import sys

build = os.environ["ESC_BUILD_DIR"]
binary = os.path.join(build, "escrowd")
page_path = os.path.join(build, "escrowd.8")


def run(*args):
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout


def plain(roff):
    """The page's text as written in doc/escrowd.8.scd: roff's escapes and
    fonts taken out."""
    text = re.sub(r"\\f[BIRP]", "", roff)
    return text.replace("\\&", "").replace("\\-", "-").replace("\\e", "\\").replace("\\\\", "\\")


def section(roff, name):
    m = re.search(r"^\.SH " + re.escape(name) + r"\n(.*?)(?=^\.SH |\Z)", roff, re.M | re.S)
    assert m, f"no section {name}"
    return m.group(1)


def env_name(key):
    return "ESCROWD_" + key.upper().replace(".", "_").replace("-", "_")


def main():
    with open(page_path) as f:
        roff = f.read()
    text = plain(roff)
    missing = []

    # Every key, its default and its variable: "*key* = default (ESCROWD_KEY)".
    keys = plain(section(roff, "CONFIGURATION KEYS"))
    for line in run("config", "keys").splitlines():
        name, default = line.split()[:2]
        pattern = any(part.isupper() for part in name.split("."))
        want = name if default == "-" else f"{name} = {default}"
        if not pattern:
            want += f" ({env_name(name)})"
        if not re.search(r"^" + re.escape(want) + r"$", keys, re.M):
            missing.append(f"the key line '{want}'")

    # Every command, as an entry of COMMANDS.
    helptext = run("--help")
    commands = re.search(r"^commands:\n(.*?)\n\n", helptext, re.M | re.S).group(1)
    names = [line.split()[0] for line in commands.splitlines()]
    assert len(names) >= 8, names
    entries = section(roff, "COMMANDS")
    for name in names:
        if not re.search(r"^\\fB" + re.escape(name) + r"\\fR", entries, re.M):
            missing.append(f"the command '{name}'")

    # Every flag and environment variable the help texts name.
    usage = helptext + "".join(run(name, "--help") for name in names)
    for flag in sorted(set(re.findall(r"--[a-z][a-z-]*[a-z]", usage))):
        if flag not in text:
            missing.append(f"the flag '{flag}'")
    for var in sorted(set(re.findall(r"\b(?:ESCROWD|NOTIFY|WATCHDOG|CREDENTIALS)_[A-Z_]+", usage))):
        if var not in text:
            missing.append(f"the variable '{var}'")
    for name in ["EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO", "CONFIGURATION"]:
        section(roff, name)

    if missing:
        print("doc/escrowd.8.scd lacks:", *missing, sep="\n  ", file=sys.stderr)
        sys.exit(1)

    # It renders without a warning, when the tools are here.
    if shutil.which("groff"):
        r = subprocess.run(["groff", "-man", "-ww", "-z", page_path], capture_output=True,
                           text=True)
        assert r.returncode == 0 and not r.stderr, r.stderr
    if shutil.which("man"):
        r = subprocess.run(["man", "-l", page_path], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat",
                                    LC_ALL="C.UTF-8"))
        assert r.returncode == 0 and not r.stderr, r.stderr
        assert "CONFIGURATION KEYS" in r.stdout
    print(f"ok: escrowd(8) names {len(names)} commands and every configuration key")


if __name__ == "__main__":
    main()
