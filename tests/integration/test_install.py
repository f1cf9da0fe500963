"""`make install` puts gpx where uwsgi looks for plugins by name, so the
usage users copy (`--plugin gpx`, `plugin = gpx`) works as written."""

import subprocess

import requests

from conftest import BUILDS, DEMO_APP, ROOT, Server, free_port


def _install(build, destdir):
    uwsgi = "uwsgi" if build.name == "system" else build.uwsgi
    target = "all" if build.name == "system" else "pypi"
    # Install the plugin this binary built; the plugin directory comes from
    # the binary's own build flags (Debian: /usr/lib/uwsgi/plugins).
    plugin_dir = subprocess.run(["make", "-s", "-C", str(ROOT), "--no-print-directory", f"UWSGI={uwsgi}",
                                 "print-plugin-dir"], capture_output=True, text=True, check=True).stdout.strip()
    if build.name == "pypi":
        plugin_dir = "/usr/local/lib/uwsgi"  # PyPI's binary looks in "."; install somewhere named instead
    subprocess.run(["make", "-s", "-C", str(ROOT), f"UWSGI={uwsgi}", target], check=True, capture_output=True)
    subprocess.run(["make", "-s", "-C", str(ROOT), f"UWSGI={uwsgi}", f"DESTDIR={destdir}",
                    f"PLUGIN_DIR={plugin_dir}", f"PLUGIN={build.plugin}", "install"], check=True,
                   capture_output=True)
    return destdir / plugin_dir.lstrip("/")


def test_plugin_by_name_from_the_command_line(build, tmp_path):
    plugins_dir = _install(build, tmp_path / "dest")
    assert (plugins_dir / "gpx_plugin.so").exists()
    server = Server(build, tmp_path)
    # `--plugin gpx` by name, found in the installed directory.
    server.cmd = [build.uwsgi, *build.python_args, "--plugins-dir", str(plugins_dir), "--plugin", "gpx",
                  "--gpx-port", str(server.metrics_port), "--gpx-bind", "127.0.0.1",
                  "--gpx-multiproc-dir", str(tmp_path / "mp"), "--http-socket", f"127.0.0.1:{server.app_port}",
                  "--wsgi-file", str(DEMO_APP), "--pidfile", str(server.pidfile)]
    try:
        server.start()
        server.wait_requests(1)
        assert server.scrape().value("gunicorn_requests_total", method="GET", status="200") == 1
    finally:
        server.stop()


def test_plugin_line_in_an_ini_file(build, tmp_path):
    plugins_dir = _install(build, tmp_path / "dest")
    server = Server(build, tmp_path)
    ini = tmp_path / "app.ini"
    python = "plugin = python3\n" if build.python_args else ""
    ini.write_text(
        "[uwsgi]\n"
        f"plugins-dir = {plugins_dir}\n"
        f"{python}"
        "plugin = gpx\n"
        f"gpx-port = {server.metrics_port}\n"
        "gpx-bind = 127.0.0.1\n"
        f"gpx-multiproc-dir = {tmp_path / 'mp'}\n"
        f"http-socket = 127.0.0.1:{server.app_port}\n"
        f"wsgi-file = {DEMO_APP}\n"
        "processes = 2\n"
        f"pidfile = {server.pidfile}\n"
    )
    server.cmd = [build.uwsgi, "--ini", str(ini)]
    try:
        server.start()
        for _ in range(4):
            requests.get(server.url("/"), timeout=5)
        server.wait_requests(5)
        m = server.scrape()
        assert m.sum("gunicorn_worker_requests_total") == 5
        assert set(dict(k)["worker_id"] for k in m.series("gunicorn_worker_requests_total")) == {"1", "2"}
        assert "gpx: " in server.output()
    finally:
        server.stop()


def test_make_install_default_dir_is_the_binarys(tmp_path):
    out = subprocess.run(["make", "-s", "-C", str(ROOT), "--no-print-directory", "UWSGI=uwsgi", "print-plugin-dir"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "/usr/lib/uwsgi/plugins"
    out = subprocess.run(["make", "-s", "-C", str(ROOT), "--no-print-directory", f"UWSGI={BUILDS['pypi'].uwsgi}",
                          "print-plugin-dir"], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "."
    assert free_port() > 0


def test_unrecognized_option_without_gpx(tmp_path):
    """The line the README's troubleshooting names, for both its causes."""
    empty = tmp_path / "empty"
    empty.mkdir()
    # Not installed where uwsgi looks: PyPI's uwsgi looks in ".", here empty.
    pypi = BUILDS["pypi"].uwsgi
    out = subprocess.run([pypi, "--plugin", "gpx", "--gpx-port", "9090"], cwd=empty, capture_output=True, text=True,
                         timeout=30)
    lines = (out.stdout + out.stderr).splitlines()
    assert out.returncode == 1
    assert ("!!! UNABLE to load uWSGI plugin: ./gpx_plugin.so: cannot open shared object file: No such file or "
            "directory !!!") in lines
    assert f"{pypi}: unrecognized option '--gpx-port'" in lines
    # The option before the plugin: uWSGI does not know it yet.
    out = subprocess.run(["uwsgi", "--gpx-port", "9090", "--plugin", BUILDS["system"].plugin], cwd=empty,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "uwsgi: unrecognized option '--gpx-port'" in (out.stdout + out.stderr).splitlines()
