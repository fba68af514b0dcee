#!/usr/bin/env python3
"""make deb (issue 18 item 1): the Debian package, built by tools/build-deb
(dpkg-buildpackage, debhelper with meson) in a temporary directory, puts
escrowd in its Debian places: /usr/bin/escrowd, the conffile
/etc/escrowd/escrowd.conf, the man page escrowd(8), the systemd unit
(enabled, not started), a postinst that makes the system user escrowd and /var/lib/escrowd, and
nothing else; what meson install installs is all in it; the checkout stays
clean; and the packaged binary runs: --version, then migrate, keys and
check on a new store with the packaged configuration.

The package is built from scratch (a minute or more); sanitizer builds
skip it (make test-asan leaves the suite deb out too). Without
dpkg-buildpackage and dh (dpkg-dev and debhelper, the Makefile's
DEB_DEBS) it is skipped, saying so."""
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

build = os.environ["ESC_BUILD_DIR"]
source = os.environ["ESC_SOURCE_DIR"]
SKIP = 77

# The unit's directory: /lib/systemd/system on Debian 12 (debian/rules),
# /usr/lib/systemd/system once Debian moves it.
UNIT_DIRS = ("./lib/systemd/system/", "./usr/lib/systemd/system/")


def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw).stdout


def introspect(what):
    return json.loads(run("meson", "introspect", what, build))


def package_files(deb):
    """The package's files (not its directories), as ./PATH, with modes."""
    files = {}
    for line in run("dpkg-deb", "-c", deb).splitlines():
        mode, owner, _size, _date, _time, path = line.split(None, 5)
        if not mode.startswith("d"):
            files[path.split(" -> ")[0]] = (mode, owner)
    return files


def debian_place(path, unit_dir):
    """Where the package puts a file that meson install puts at path."""
    if path.endswith("/systemd/system/escrowd.service"):
        return unit_dir + "escrowd.service"
    if path.endswith("/escrowd/escrowd.conf.example"):
        return "./etc/escrowd/escrowd.conf"
    if "/share/man/" in path:
        return "." + path + ".gz"
    return "." + path


def check_contents(deb, files):
    units = [d for d in UNIT_DIRS if d + "escrowd.service" in files]
    assert len(units) == 1, f"the unit under /lib or /usr/lib/systemd/system: {sorted(files)}"
    unit_dir = units[0]
    expected = {"./usr/bin/escrowd", "./etc/escrowd/escrowd.conf", unit_dir + "escrowd.service",
                unit_dir + "escrowd.service.d/debian.conf", "./usr/share/man/man8/escrowd.8.gz",
                "./usr/share/doc/escrowd/copyright", "./usr/share/doc/escrowd/changelog.gz"}
    # What meson install installs (in the plain build's configuration) is
    # all in the package, at its Debian place.
    prefix = next(o["value"] for o in introspect("--buildoptions") if o["name"] == "prefix")
    for path in introspect("--installed").values():
        if prefix != "/usr":
            path = "/usr" + path[len(prefix):] if path.startswith(prefix + "/") else path
        expected.add(debian_place(path, unit_dir))
    assert set(files) == expected, \
        f"the package holds {sorted(files)}; expected {sorted(expected)}"
    for path, (mode, owner) in files.items():
        assert owner == "root/root", f"{path} is {owner}'s"
    assert files["./usr/bin/escrowd"][0] == "-rwxr-xr-x", files["./usr/bin/escrowd"]
    assert files["./etc/escrowd/escrowd.conf"][0] == "-rw-r--r--"
    return unit_dir


def check_control(deb):
    version = introspect("--projectinfo")["version"]
    fields = run("dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends")
    control = dict(line.split(": ", 1) for line in fields.splitlines())
    assert control["Package"] == "escrowd", control
    assert control["Version"] == version, \
        f"debian/changelog's version {control['Version']} is not the project's {version}: " \
        "add a debian/changelog entry (dch -v VERSION)"
    depends = [d.strip().split()[0] for d in control["Depends"].split(",")]
    for lib in ("adduser", "libmicrohttpd12", "libsqlite3-0", "libpq5", "libsodium23",
                "libjansson4", "libcurl4", "libsystemd0"):
        assert lib in depends, f"Depends lacks {lib}: {control['Depends']}"
    assert run("dpkg-deb", "-I", deb, "conffiles").split() == ["/etc/escrowd/escrowd.conf"]


def check_scripts(deb):
    with tempfile.TemporaryDirectory() as d:
        run("dpkg-deb", "-e", deb, d)
        scripts = {}
        for name in ("postinst", "prerm", "postrm"):
            path = os.path.join(d, name)
            assert os.access(path, os.X_OK), f"no {name}"
            run("sh", "-n", path)
            with open(path) as f:
                scripts[name] = f.read()
    postinst = scripts["postinst"]
    # The system user, then its directory, then the unit enabled (and a
    # running daemon restarted on upgrade), never started on installation.
    user = postinst.index("adduser --system --group --home /var/lib/escrowd")
    state = postinst.index("install -d -o escrowd -g escrowd -m 0750 /var/lib/escrowd")
    enable = postinst.index("deb-systemd-helper enable 'escrowd.service'")
    assert user < state < enable, postinst
    assert "deb-systemd-invoke try-restart 'escrowd.service'" in postinst, postinst
    assert "deb-systemd-invoke start" not in postinst, "started on installation"
    assert "deb-systemd-invoke stop escrowd.service" in scripts["prerm"]
    assert "rm -rf" not in scripts["postrm"], "purge must keep the store"


def check_tree(root, unit_dir):
    with open(os.path.join(root, unit_dir, "escrowd.service")) as f:
        unit = f.read()
    for line in ("ExecStart=/usr/bin/escrowd serve --config /etc/escrowd/escrowd.conf",
                 "StateDirectory=escrowd", "User=escrowd", "Group=escrowd", "Type=notify"):
        assert line in unit.splitlines(), f"the unit lacks {line}"
    with open(os.path.join(root, unit_dir, "escrowd.service.d/debian.conf")) as f:
        assert "DynamicUser=no" in f.read().splitlines()
    with open(os.path.join(root, "etc/escrowd/escrowd.conf")) as f:
        assert "db = /var/lib/escrowd/escrowd.db" in f.read().splitlines()
    with gzip.open(os.path.join(root, "usr/share/doc/escrowd/changelog.gz"), "rt") as f:
        assert f.readline().startswith("escrowd (")
    # escrowd(8), as scdoc made it, compressed by dh_compress.
    with gzip.open(os.path.join(root, "usr/share/man/man8/escrowd.8.gz"), "rt") as f:
        page = f.read()
    assert '.TH "escrowd" "8"' in page, page[:300]


def check_binary(root, tmp):
    binary = os.path.join(root, "usr/bin/escrowd")
    version = introspect("--projectinfo")["version"]
    assert run(binary, "--version").strip() == f"escrowd {version}"
    # The packaged configuration's keys are all the binary's; --db wins
    # over its db line. Then the first steps of docs/operations.md.
    db = os.path.join(tmp, "escrowd.db")
    conf = os.path.join(root, "etc/escrowd/escrowd.conf")
    env = dict(os.environ, ESCROWD_PASSWORD_HASHING="minimum")
    env.pop("ESCROWD_DB", None)
    env.pop("ESCROWD_CONFIG", None)
    run(binary, "migrate", "--config", conf, "--db", db, env=env)
    made = run(binary, "keys", "create", "--db", db, "--name", "admin", env=env)
    assert "secret: esk_" in made, made
    assert "admin" in run(binary, "keys", "list", "--db", db, env=env)
    run(binary, "check", "--db", db, env=env)


def main():
    if next(o["value"] for o in introspect("--buildoptions") if o["name"] == "b_sanitize") \
            != "none":
        print("skipped: a sanitizer build (the plain run builds the package)")
        return SKIP
    missing = [t for t in ("dpkg-buildpackage", "dh", "dpkg-deb") if not shutil.which(t)]
    if missing:
        print(f"skipped: {', '.join(missing)} missing: install dpkg-dev and debhelper "
              "(the Makefile's DEB_DEBS; make deb installs them as root)")
        return SKIP
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, DEB_BUILD_OPTIONS="noddebs parallel=2")
        built = subprocess.run([os.path.join(source, "tools/build-deb"), out], env=env,
                               capture_output=True, text=True)
        assert built.returncode == 0, \
            f"tools/build-deb failed:\n{built.stdout[-6000:]}\n{built.stderr[-4000:]}"
        deb = built.stdout.strip().splitlines()[-1]
        assert os.path.dirname(deb) == out and os.path.isfile(deb), deb
        assert os.listdir(out) == [os.path.basename(deb)], os.listdir(out)
        for left in ("debian/escrowd", "debian/.debhelper", "obj-x86_64-linux-gnu"):
            assert not os.path.exists(os.path.join(source, left)), f"{left} in the checkout"
        files = package_files(deb)
        print("package:", deb, *sorted(files), sep="\n  ")
        unit_dir = check_contents(deb, files)
        check_control(deb)
        check_scripts(deb)
        root = os.path.join(out, "root")
        run("dpkg-deb", "-x", deb, root)
        check_tree(root, unit_dir)
        check_binary(root, out)
    print("ok: the Debian package")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        raise
