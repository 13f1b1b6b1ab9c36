"""A throwaway PostgreSQL cluster for the tests of the PostgreSQL audit store.

:class:`Cluster` runs Debian's postgresql binaries (``initdb``, ``pg_ctl`` from
``/usr/lib/postgresql/*/bin`` or the PATH): a new cluster in a private temporary
directory, listening on a Unix socket in that directory only (no TCP port at all), with
``trust`` authentication for the one role it creates. PostgreSQL refuses to run as root:
as root the cluster runs as the ``postgres`` user (created by Debian's package) through
``runuser``, in a directory owned by it. :meth:`Cluster.database` creates a fresh
database per test and returns its DSN. ``.ci/run`` installs the package when missing;
:func:`find_binaries` says why the tests must skip where it is not there.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import urllib.parse

__all__ = ["Cluster", "find_binaries", "unavailable"]

ROLE = "lighthouse"
PORT = 5432             # names the socket file only: the cluster listens on no TCP port
START_TIMEOUT = 120     # seconds pg_ctl waits for the server to accept connections (a loaded machine)


def find_binaries():
    """The directory holding initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) for x in p.split("/")[4].split(".") if x.isdigit()])
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else None


def unavailable():
    """Why a cluster cannot be started here ("" when it can)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (make install installs it)"
    if find_binaries() is None:
        return ("PostgreSQL's server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql "
                "(.ci/run installs it when it can)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root without runuser to run PostgreSQL as the postgres user"
    return ""


class Cluster:
    """A PostgreSQL server of its own: ``start()``, ``database(name)``, ``stop()``."""

    def __init__(self):
        self.bindir = find_binaries()
        self.root = tempfile.mkdtemp(prefix="lh-pg-")
        self.data = os.path.join(self.root, "data")
        self.sockdir = self.root
        self.log = os.path.join(self.root, "server.log")
        self._as = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.started = False

    def _run(self, *args, timeout=START_TIMEOUT):
        cmd = self._as + [os.path.join(self.bindir, args[0])] + list(args[1:])
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                           cwd=self.root)
        if r.returncode != 0:
            log = ""
            if os.path.exists(self.log):
                with open(self.log) as f:
                    log = f.read()[-4000:]
            raise RuntimeError("%s failed (%d): %s\n%s" % (" ".join(cmd), r.returncode, r.stdout, log))
        return r.stdout

    def start(self):
        self._run("initdb", "-D", self.data, "-U", ROLE, "--auth=trust", "--no-sync", "-E", "UTF8",
                  "--locale=C")
        opts = ("-c listen_addresses='' -k %s -p %d -c fsync=off -c full_page_writes=off "
                "-c max_connections=100 -c shared_buffers=32MB" % (self.sockdir, PORT))
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-o", opts, "-w", "-t", str(START_TIMEOUT), "start")
        self.started = True
        return self

    def dsn(self, dbname="postgres"):
        return "postgresql://%s@/%s?host=%s&port=%d" % (ROLE, dbname, urllib.parse.quote(self.sockdir, safe=""),
                                                         PORT)

    def database(self, name):
        """Create the database ``name`` (dropped first if it exists); its DSN."""
        import psycopg
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "%s"' % name)
            conn.execute('CREATE DATABASE "%s"' % name)
        return self.dsn(name)

    def stop(self):
        if self.started:
            self.started = False
            try:
                self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "-t", "60", "stop", timeout=90)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)
