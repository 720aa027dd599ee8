"""Delivery by SFTP to a real SFTP server started here on 127.0.0.1 (paramiko's server side,
serving a temporary folder): the files arrive whole, under their final names only; a failed
attempt is retried; a target that keeps failing is reported and leaves nothing half-written."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from datetime import date
from pathlib import Path

import paramiko
import pytest
import yaml

from attendance.home import Home
from exports.deliver import deliver
from exports.publish import Publication

RUN = date(2025, 11, 21)


class _Handle(paramiko.SFTPHandle):
    pass


class _FolderSFTP(paramiko.SFTPServerInterface):
    """An SFTP server over one local folder. `fail_writes` > 0 makes the next uploads break
    after their first bytes (a dropped connection, seen from the far end)."""

    root: Path
    fail_writes = 0
    renames: list[tuple[str, str]]

    def _real(self, path: str) -> str:
        return str(self.root / path.lstrip("/"))

    def stat(self, path: str):
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._real(path)))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    lstat = stat

    def list_folder(self, path: str):
        real = self._real(path)
        return [
            paramiko.SFTPAttributes.from_stat(os.stat(os.path.join(real, n)), n)
            for n in os.listdir(real)
        ]

    def mkdir(self, path: str, attr):
        os.mkdir(self._real(path))
        return paramiko.SFTP_OK

    def remove(self, path: str):
        try:
            os.remove(self._real(path))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)
        return paramiko.SFTP_OK

    def posix_rename(self, oldpath: str, newpath: str):
        type(self).renames.append((oldpath, newpath))
        os.replace(self._real(oldpath), self._real(newpath))
        return paramiko.SFTP_OK

    def open(self, path: str, flags: int, attr):
        real = self._real(path)
        fd = os.open(real, flags | getattr(os, "O_BINARY", 0), 0o640)
        mode = "wb" if flags & os.O_WRONLY else "rb"
        handle = _Handle(flags)
        f = os.fdopen(fd, mode)
        handle.filename = real
        if mode == "wb":
            handle.writefile = f
            if type(self).fail_writes > 0:
                type(self).fail_writes -= 1
                original = handle.write

                def broken(offset, data):  # noqa: ANN001, ANN202
                    original(offset, data[:10])
                    return paramiko.SFTP_FAILURE

                handle.write = broken
        else:
            handle.readfile = f
        return handle


class _Server(paramiko.ServerInterface):
    def __init__(self, client_key: paramiko.PKey) -> None:
        self.client_key = client_key

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == "trust" and key == self.client_key:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return (
            paramiko.OPEN_SUCCEEDED
            if kind == "session"
            else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        )


@pytest.fixture
def sftp_server(tmp_path: Path):
    far = tmp_path / "far"
    far.mkdir()
    host_key = paramiko.ECDSAKey.generate()
    client_key = paramiko.ECDSAKey.generate()
    key_file = tmp_path / "client_key"
    client_key.write_private_key_file(str(key_file))
    _FolderSFTP.root, _FolderSFTP.fail_writes, _FolderSFTP.renames = far, 0, []
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    sock.settimeout(0.2)
    stop = threading.Event()
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            t = paramiko.Transport(conn)
            t.add_server_key(host_key)
            t.set_subsystem_handler("sftp", paramiko.SFTPServer, _FolderSFTP)
            transports.append(t)
            try:
                t.start_server(server=_Server(client_key))
            except (paramiko.SSHException, OSError, EOFError):
                continue  # the client hung up (as it should on a wrong host key)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield {
        "far": far,
        "port": sock.getsockname()[1],
        "key_file": str(key_file),
        "host_key": f"{host_key.get_name()} {host_key.get_base64()}",
    }
    stop.set()
    thread.join(timeout=5)
    for t in transports:
        t.close()
    sock.close()


def _home(tmp_path: Path, server: dict, **overrides) -> Home:
    home = Home(tmp_path / "home")
    (home.config).mkdir(parents=True)
    target = {
        "name": "la-931",
        "folders": "la/931",
        "protocol": "sftp",
        "host": "127.0.0.1",
        "port": server["port"],
        "user": "trust",
        "key_file": server["key_file"],
        "host_key": server["host_key"],
        "remote_dir": "/incoming",
        "timeout": 5,
        **overrides,
    }
    config = {"retries": 3, "retry_wait_seconds": 0, "targets": [target]}
    (home.config / "delivery.yml").write_text(yaml.safe_dump(config))
    return home


def _publish(home: Home) -> list[Path]:
    pub = Publication(home.exports, RUN)
    d = RUN.isoformat()
    big = ("upn,code\n" + "A931200019001,/\n" * 20000).encode()
    pub.add(f"la/931/{d}", f"pupil_attendance_931_{d}.csv", big, 20000)
    pub.add(f"la/937/{d}", f"pupil_attendance_937_{d}.csv", b"upn\n", 0)
    return pub.commit()


def test_delivers_whole_files_under_final_names(tmp_path: Path, sftp_server: dict) -> None:
    home = _home(tmp_path, sftp_server)
    published = _publish(home)
    report = deliver(home, RUN, published, sleep=lambda s: None)
    assert report == [
        {"target": "la-931", "protocol": "sftp", "attempts": 1, "files": 2, "status": "delivered"}
    ]
    d = RUN.isoformat()
    far = sftp_server["far"] / "incoming" / d
    assert sorted(p.name for p in far.iterdir()) == [
        "manifest.json",
        f"pupil_attendance_931_{d}.csv",
    ]
    local = home.exports / "la" / "931" / d
    for name in ("manifest.json", f"pupil_attendance_931_{d}.csv"):
        assert (far / name).read_bytes() == (local / name).read_bytes()
    manifest = json.loads((far / "manifest.json").read_text())
    sha = hashlib.sha256((far / f"pupil_attendance_931_{d}.csv").read_bytes()).hexdigest()
    assert manifest["files"][0]["sha256"] == sha
    # every file arrived under a temporary name and was renamed; the manifest came last
    renames = _FolderSFTP.renames
    assert [Path(new).name for _, new in renames][-1] == "manifest.json"
    assert all(Path(old).name.startswith(".") and old.endswith(".part") for old, _ in renames)
    assert not (sftp_server["far"] / "incoming" / "la").exists()  # LA 937 is not this target's
    logged = json.loads((home.root / "logs" / f"delivery_{d}.json").read_text())
    assert logged[0]["status"] == "delivered"


def test_a_failed_upload_is_retried(tmp_path: Path, sftp_server: dict) -> None:
    home = _home(tmp_path, sftp_server)
    _FolderSFTP.fail_writes = 1
    waits: list[float] = []
    report = deliver(home, RUN, _publish(home), sleep=waits.append)
    assert report[0]["status"] == "delivered" and report[0]["attempts"] == 2
    assert waits == [0.0]
    far = sftp_server["far"] / "incoming" / RUN.isoformat()
    assert sorted(p.name for p in far.iterdir()) == [
        "manifest.json",
        f"pupil_attendance_931_{RUN.isoformat()}.csv",
    ]


def test_a_target_that_keeps_failing_is_reported_and_nothing_half_written(
    tmp_path: Path, sftp_server: dict
) -> None:
    home = _home(tmp_path, sftp_server)
    _FolderSFTP.fail_writes = 99
    report = deliver(home, RUN, _publish(home), sleep=lambda s: None)
    assert report[0]["status"] == "failed" and report[0]["attempts"] == 3
    assert report[0]["error"]
    far = sftp_server["far"] / "incoming" / RUN.isoformat()
    assert list(far.iterdir()) == []  # no partial file, no temporary file left behind


def test_an_unknown_host_key_is_refused(tmp_path: Path, sftp_server: dict) -> None:
    other = paramiko.ECDSAKey.generate()
    home = _home(tmp_path, sftp_server, host_key=f"{other.get_name()} {other.get_base64()}")
    report = deliver(home, RUN, _publish(home), sleep=lambda s: None)
    assert report[0]["status"] == "failed" and "host key" in report[0]["error"]
    assert not (sftp_server["far"] / "incoming").exists()


def test_without_configuration_the_local_folder_is_the_delivery(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    assert deliver(home, RUN, _publish(home)) == []


def test_a_local_target_gets_the_same_files(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.config.mkdir(parents=True)
    share = tmp_path / "mounted_share"
    config = {
        "targets": [{"name": "dfe", "folders": "la/937", "protocol": "local", "path": str(share)}]
    }
    (home.config / "delivery.yml").write_text(yaml.safe_dump(config))
    published = _publish(home)
    assert deliver(home, RUN, published)[0]["status"] == "delivered"
    d = RUN.isoformat()
    assert (share / d / f"pupil_attendance_937_{d}.csv").read_bytes() == b"upn\n"
    assert sorted(p.name for p in (share / d).iterdir()) == [
        "manifest.json",
        f"pupil_attendance_937_{d}.csv",
    ]
