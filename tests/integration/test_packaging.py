"""gpx installed the ways users install it, end to end on this machine. The
slower tests of the suite (about two minutes; `-m "not packaging"` leaves
them out):

- the Debian package: built with dpkg-buildpackage from a copy of the
  source tree (which it must leave as it was but for debian/'s ignored
  files), lintian-clean, installed with apt-get, loaded by name from an
  unrelated directory, purged without a trace;
- PyPI's uWSGI with gpx compiled in: docker/Dockerfile's own pip line, run
  in a fresh venv; that uwsgi serves docker/uwsgi.ini and a command line
  with no plugin line;
- docker/Dockerfile's packages exist in Debian 12 and its run stage has
  every library gpx links.

The package stays installed only while its server runs, and is purged
whatever happens: other tests and users of this machine must not find gpx
in /usr/lib/uwsgi/plugins. Counted requests go to /missing (404), which the
readiness probe never sends.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BUILDS, DEMO_APP, ROOT, Server, send_missing, wait_for

pytestmark = pytest.mark.packaging

VERSION = (ROOT / "VERSION").read_text().strip()
PACKAGE = "uwsgi-plugin-gpx"
INSTALLED_PLUGIN = Path("/usr/lib/uwsgi/plugins/gpx_plugin.so")
MISSING = 'gunicorn_requests_total{method="GET",status="404"}'
# The libraries gpx links (uWSGI's own come on top).
GPX_LIBRARIES = ("libmicrohttpd.so", "libhiredis.so", "libjansson.so", "libz.so", "libgnutls.so", "libcrypt.so")
APT = ([] if os.geteuid() == 0 else ["sudo", "-n"]) + ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q",
                                                        "-o", "DPkg::Lock::Timeout=300"]


# -- helpers -------------------------------------------------------------------
def run(cmd, timeout=600, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert out.returncode == 0, f"{cmd} exited with {out.returncode}:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    return out


def copy_source(dest: Path):
    """The source tree as git sees it (tracked and new files, nothing
    ignored), into dest."""
    files = run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"]).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def counts_exactly(s: Server, count: int):
    send_missing(s, count)
    wait_for(lambda: s.scrape().get("gunicorn_requests_total", method="GET", status="404") == count,
             what=f"{count} requests counted")
    [labels] = s.scrape().series("gunicorn_exporter_build_info")
    return dict(labels)


def dockerfile() -> str:
    return (ROOT / "docker" / "Dockerfile").read_text()


def apt_installs(text: str) -> list[list[str]]:
    """The packages of each `apt-get install` in a Dockerfile, in order."""
    joined = text.replace("\\\n", " ")
    return [[w for w in m.group(1).split() if not w.startswith("-")]
            for m in re.finditer(r"apt-get install ((?:(?!&&)[^\n])*)", joined)]


def package_of(path: str) -> str:
    """The Debian package that owns a library path (either side of /usr merge)."""
    real = os.path.realpath(path)
    candidates = [path, real] + [p.replace("/usr/lib/", "/lib/", 1) if p.startswith("/usr/lib/")
                                 else p.replace("/lib/", "/usr/lib/", 1) for p in (path, real)]
    for candidate in candidates:
        out = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.split(":")[0]
    raise AssertionError(f"no package owns {path}")


def linked_libraries(binary: Path) -> dict[str, str]:
    """{soname: path} of what the binary loads (ldd)."""
    out = run(["ldd", str(binary)]).stdout
    return dict(re.findall(r"^\s*(\S+) => (\S+)", out, re.M))


def snapshot(dirs) -> set[str]:
    found = set()
    for d in dirs:
        for dirpath, dirnames, filenames in os.walk(d):
            found.update(os.path.join(dirpath, n) for n in dirnames + filenames)
    return found


def expected_package_files() -> set[str]:
    """What the package must hold: the plugin, docs/ (dh_compress gzips
    files over 4 KiB but the examples), the changelogs, the copyright, the
    lintian overrides."""
    doc = f"usr/share/doc/{PACKAGE}"

    def maybe_gz(path: Path, name: str) -> str:
        return name + ".gz" if path.stat().st_size > 4096 else name

    files = {"usr/lib/uwsgi/plugins/gpx_plugin.so", f"{doc}/changelog.gz", f"{doc}/changelog.Debian.gz",
             f"{doc}/copyright", f"{doc}/examples/gpx.json", f"{doc}/examples/gpx-rules.yml",
             f"usr/share/lintian/overrides/{PACKAGE}", maybe_gz(ROOT / "README.md", f"{doc}/README.md")}
    files |= {maybe_gz(p, f"{doc}/docs/{p.name}") for p in (ROOT / "docs").glob("*.md")}
    return files


# -- the Debian package ------------------------------------------------------------
def test_debian_package(tmp_path):
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    # dpkg-buildpackage writes the .deb beside the source directory.
    src = tmp_path / "pkg" / f"gpx-{VERSION}"
    copy_source(src)
    git = ["git", "-C", str(src), "-c", "user.name=t", "-c", "user.email=t@t"]
    run(git + ["init", "-q"])
    run(git + ["add", "-A"])
    run(git + ["commit", "-qm", "source"])

    started = time.monotonic()
    build = run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, timeout=900)
    print(f"dpkg-buildpackage: {time.monotonic() - started:.0f} s")
    assert f"gpx {VERSION}, gpx_plugin.so for the uwsgi binary that builds it: TLS yes, basic auth (bcrypt) yes" \
        in build.stdout
    # Nothing written but ignored files in debian/.
    status = run(git + ["status", "--porcelain", "--ignored", "--untracked-files=all"]).stdout.splitlines()
    assert status and all(line.startswith("!! debian/") for line in status), status

    debs = sorted((tmp_path / "pkg").glob(f"{PACKAGE}_*_{arch}.deb"))
    assert [d.name for d in debs] == [f"{PACKAGE}_{VERSION}-1_{arch}.deb"]
    deb = debs[0]
    changes = tmp_path / "pkg" / f"gpx_{VERSION}-1_{arch}.changes"
    lint = subprocess.run(["lintian", "--fail-on", "error,warning", str(deb), str(changes)], capture_output=True,
                          text=True, timeout=600)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert not [line for line in lint.stdout.splitlines() if line[:2] in ("E:", "W:")], lint.stdout

    # What it holds and depends on: the libraries it links and this exact uWSGI ABI.
    listing = run(["dpkg-deb", "-c", str(deb)]).stdout.splitlines()
    files = {line.split()[-1].removeprefix("./") for line in listing if line.startswith("-")}
    paths = {"/" + line.split()[-1].removeprefix("./").rstrip("/") for line in listing} - {"/"}
    assert files == expected_package_files()
    depends = {d.split()[0] for d in run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout.split(",")}
    abi = "uwsgi-abi-" + hashlib.md5(run(["uwsgi-core", "--dot-h"]).stdout.encode()).hexdigest()
    assert depends == {"libc6", "libcrypt1", "libgnutls30", "libhiredis0.14", "libjansson4", "libmicrohttpd12",
                       "libprotobuf-c1", "zlib1g", abi}
    assert abi in run(["dpkg-query", "-W", "-f", "${Provides}", "uwsgi-core"]).stdout

    # Install, use by name from an unrelated directory, purge.
    assert not INSTALLED_PLUGIN.exists(), f"{INSTALLED_PLUGIN} exists already: not overwriting it"
    existed = {p for p in paths if os.path.lexists(p)}  # /usr, /usr/share/doc...
    plugins_before = snapshot(["/usr/lib/uwsgi"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    s = Server(BUILDS["system"], tmp_path)
    s.cmd = ["uwsgi", "--plugin", "python3", "--plugin", "gpx", "--gpx-port", str(s.metrics_port),
             "--gpx-bind", "127.0.0.1", "--gpx-multiproc-dir", s.multiproc_dir,
             "--http-socket", f"127.0.0.1:{s.app_port}", "--wsgi-file", str(DEMO_APP), "--processes", "2",
             "--pidfile", str(s.pidfile), "--die-on-term"]
    s.cwd = elsewhere
    try:
        run(APT + ["install", f"./{deb.name}"], cwd=deb.parent)
        installed = run(["dpkg-query", "-L", PACKAGE]).stdout.splitlines()
        assert {p.lstrip("/") for p in installed if Path(p).is_file()} == expected_package_files()
        s.start()
        labels = counts_exactly(s, 9)
        assert labels["version"] == VERSION and labels["uwsgi_version"] == "2.0.21-debian"
        assert f"gpx: serving metrics on http://127.0.0.1:{s.metrics_port}/metrics" in s.output()
    finally:
        s.stop()
        run(APT + ["purge", PACKAGE])
    assert not INSTALLED_PLUGIN.exists()
    assert subprocess.run(["dpkg-query", "-W", "-f", "${Status}", PACKAGE], capture_output=True,
                          text=True).stdout.strip() in ("", "unknown ok not-installed")
    assert {p for p in paths if os.path.lexists(p)} == existed
    assert snapshot(["/usr/lib/uwsgi"]) == plugins_before


# -- PyPI's uWSGI with gpx compiled in -------------------------------------------
def test_dockerfile_packages_exist():
    text = dockerfile()
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["python:3.11-slim-bookworm"] * 2
    build_stage, run_stage = apt_installs(text)
    for package in build_stage + run_stage:
        policy = run(["apt-cache", "policy", package]).stdout
        assert re.search(r"Candidate: (?!\(none\))", policy), f"{package}: not in this Debian\n{policy}"
    for src in re.findall(r"^COPY (?!--from)(\S+) ", text, re.M):
        assert (ROOT / src).exists(), src


def test_pypi_uwsgi_with_gpx_compiled_in(tmp_path):
    text = dockerfile()
    # The Dockerfile's own line, as it is but for the venv and source paths.
    m = re.search(r'^COPY \. /src/gpx\nRUN python -m venv /opt/venv \\\n\s+&& UWSGI_EMBED_PLUGINS="gpx=/src/gpx" '
                  r'/opt/venv/bin/pip (install [^\n]+)\n', text, re.M)
    assert m, "docker/Dockerfile's build stage no longer has the expected pip line"
    pip_args = shlex.split(m.group(1))
    readme = (ROOT / "README.md").read_text()
    install_md = (ROOT / "docs" / "install.md").read_text()
    assert f'UWSGI_EMBED_PLUGINS="gpx=$PWD" pip {m.group(1)}' in readme
    assert f'UWSGI_EMBED_PLUGINS="gpx=/abs/path/to/gpx" pip {m.group(1)}' in install_md

    src = tmp_path / "src" / "gpx"
    copy_source(src)
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    started = time.monotonic()
    run([str(venv / "bin" / "pip"), *pip_args], timeout=1800, env={**os.environ, "UWSGI_EMBED_PLUGINS": f"gpx={src}"})
    print(f"PyPI's uWSGI 2.0.31 with gpx compiled in: pip install took {time.monotonic() - started:.0f} s")
    uwsgi = venv / "bin" / "uwsgi"
    assert run([str(uwsgi), "--version"]).stdout.strip() == "2.0.31"
    # --plugins-list lists, then stops for want of a socket.
    listed = subprocess.run([str(uwsgi), "--plugins-list"], capture_output=True, text=True, timeout=30)
    assert "gpx" in (listed.stdout + listed.stderr).splitlines()

    # The run stage installs the package of every library gpx links.
    run_stage = apt_installs(text)[1]
    linked = linked_libraries(uwsgi)
    ours = {so: path for so, path in linked.items() if so.startswith(GPX_LIBRARIES)}
    assert len(ours) == len(GPX_LIBRARIES), linked
    for so, path in ours.items():
        assert package_of(path) in run_stage, f"{so} ({package_of(path)}) is not in the Dockerfile's run stage"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # docker/uwsgi.ini with this machine's paths and free ports.
    s = Server(BUILDS["pypi"], tmp_path)
    ini = (ROOT / "docker" / "uwsgi.ini").read_text()
    assert not re.search(r"^\s*plugins?\s*=", ini, re.M)
    for old, new in (("0.0.0.0:8000", f"127.0.0.1:{s.app_port}"), ("/app/app.py", str(DEMO_APP)),
                     ("gpx-port = 9090", f"gpx-port = {s.metrics_port}\ngpx-bind = 127.0.0.1"),
                     ("/tmp/prometheus_multiproc", s.multiproc_dir)):
        assert old in ini
        ini = ini.replace(old, new)
    (tmp_path / "uwsgi.ini").write_text(ini + f"pidfile = {s.pidfile}\n")
    s.cmd = [str(uwsgi), "--ini", str(tmp_path / "uwsgi.ini")]
    s.cwd = elsewhere
    try:
        s.start()
        labels = counts_exactly(s, 6)
        assert labels["version"] == VERSION and labels["uwsgi_version"] == "2.0.31"
    finally:
        s.stop()

    # The command line, with no plugin line.
    s = Server(BUILDS["pypi"], tmp_path)
    s.cmd = [str(uwsgi), "--gpx-port", str(s.metrics_port), "--gpx-bind", "127.0.0.1", "--gpx-multiproc-dir",
             s.multiproc_dir, "--http-socket", f"127.0.0.1:{s.app_port}", "--wsgi-file", str(DEMO_APP),
             "--pidfile", str(s.pidfile), "--die-on-term"]
    s.cwd = elsewhere
    try:
        s.start()
        counts_exactly(s, 4)
    finally:
        s.stop()
    assert not list(elsewhere.iterdir())
