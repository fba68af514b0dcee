#!/usr/bin/env python3
"""meson install (issue 18 item 1): into a DESTDIR, the binary, the man page,
the example configuration and the systemd unit land where the build's
options say, and nothing else; the installed binary runs, and takes the
example as its configuration."""
import json
import os
import subprocess
import sys
import tempfile

build = os.environ["ESC_BUILD_DIR"]


def option(options, name):
    return next(o["value"] for o in options if o["name"] == name)


def main():
    options = json.loads(subprocess.run(["meson", "introspect", "--buildoptions", build],
                                        check=True, capture_output=True, text=True).stdout)
    prefix = option(options, "prefix")
    bindir = os.path.join(prefix, option(options, "bindir"))
    sysconfdir = os.path.join(prefix, option(options, "sysconfdir"))
    mandir = os.path.join(prefix, option(options, "mandir"))
    with tempfile.TemporaryDirectory() as dest:
        subprocess.run(["meson", "install", "-C", build, "--destdir", dest, "--no-rebuild",
                        "--quiet"], check=True)
        installed = sorted(os.path.relpath(os.path.join(d, f), dest)
                           for d, _, files in os.walk(dest) for f in files)
        binary = os.path.join(dest + bindir, "escrowd")
        example = os.path.join(dest + sysconfdir, "escrowd", "escrowd.conf.example")
        manpage = os.path.join(dest + mandir, "man8", "escrowd.8")
        units = [p for p in installed if p.endswith("/systemd/system/escrowd.service")]
        print("installed:", *installed, sep="\n  ")
        assert len(installed) == 4, "only the binary, the man page, the example and the unit"
        assert os.access(binary, os.X_OK), binary
        assert os.path.isfile(example), example
        assert os.path.isfile(manpage), manpage
        assert len(units) == 1, "the unit in a systemd/system directory"
        version = subprocess.run([binary, "--version"], check=True, capture_output=True,
                                 text=True).stdout
        assert version.startswith("escrowd "), version
        with open(os.path.join(dest, units[0])) as f:
            unit = f.read()
        assert f"ExecStart={bindir}/escrowd serve --config {sysconfdir}/escrowd/escrowd.conf" \
            in unit, unit
        # Every line of the example is a key the binary takes (--db wins
        # over its db line, which names /var/lib/escrowd).
        run = subprocess.run([binary, "migrate", "--config", example, "--db",
                              os.path.join(dest, "escrowd.db")],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    print("ok: meson install --destdir")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        raise
