"""Delivery beyond the local exports folder: SFTP (or another local folder) per target, as
configuration in `config/delivery.yml`. Without that file the local exports folder is the
delivery and nothing else happens.

```yaml
retries: 3                  # attempts per target before it is reported failed
retry_wait_seconds: 10      # pause between attempts (doubles each time)
targets:
  - name: dfe
    folders: dfe            # what to send: exports/<folders>/<D>/ for the run date
    protocol: sftp
    host: sftp.example.gov.uk
    port: 22
    user: example-trust
    key_file: /run/secrets/dfe_ed25519
    host_key: "ssh-ed25519 AAAAC3Nz..."   # or known_hosts: /path/to/known_hosts
    remote_dir: /incoming/attendance
  - name: la-931
    folders: la/931
    protocol: local          # a mounted share
    path: /mnt/la931/attendance
```

Each file is written under a temporary name and renamed into place only once complete, the
manifest last, so the far end never sees half a file, and a reader who waits for the manifest
never sees half a delivery. A failed attempt removes its temporary file and is retried; a target
that still fails is reported (in the result and in `logs/delivery_<D>.json`), and the other
targets still go.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import posixpath
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from attendance.home import Home

log = logging.getLogger(__name__)

CONFIG_NAME = "delivery.yml"


class DeliveryError(RuntimeError):
    pass


@dataclass
class Target:
    name: str
    folders: str
    protocol: str
    remote_dir: str = ""
    host: str = ""
    port: int = 22
    user: str = ""
    key_file: str = ""
    host_key: str = ""
    known_hosts: str = ""
    timeout: float = 15.0
    extra: dict = field(default_factory=dict)


def load_targets(home: Home) -> tuple[list[Target], int, float]:
    path = home.config / CONFIG_NAME
    if not path.exists():
        return [], 1, 0.0
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    targets = []
    for i, t in enumerate(raw.get("targets") or []):
        where = f"{path}: targets[{i}]"
        if not isinstance(t, dict) or not t.get("name") or not t.get("folders"):
            raise DeliveryError(f"{where}: needs 'name' and 'folders'")
        protocol = str(t.get("protocol", "sftp"))
        if protocol not in ("sftp", "local"):
            raise DeliveryError(f"{where}: protocol must be sftp or local")
        targets.append(
            Target(
                name=str(t["name"]),
                folders=str(t["folders"]).strip("/"),
                protocol=protocol,
                remote_dir=str(t.get("remote_dir") or t.get("path") or ""),
                host=str(t.get("host", "")),
                port=int(t.get("port", 22)),
                user=str(t.get("user", "")),
                key_file=str(t.get("key_file", "")),
                host_key=str(t.get("host_key", "")),
                known_hosts=str(t.get("known_hosts", "")),
                timeout=float(t.get("timeout", 15)),
            )
        )
    return targets, max(1, int(raw.get("retries", 3))), float(raw.get("retry_wait_seconds", 10))


def _files_in_order(folder: Path) -> list[Path]:
    """Data files first (sorted), the manifest last: its arrival says the folder is complete."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != "manifest.json")
    manifest = folder / "manifest.json"
    return files + ([manifest] if manifest.exists() else [])


def _selected(target: Target, exports_root: Path, published: list[Path]) -> list[tuple[Path, str]]:
    """(local folder, path under the target's remote dir) for each published folder it takes."""
    out = []
    for folder in published:
        rel = folder.relative_to(exports_root).as_posix()
        if rel == target.folders or rel.startswith(target.folders + "/"):
            out.append((folder, rel[len(target.folders) :].strip("/")))
    return out


# --- SFTP --------------------------------------------------------------------------------------


def _check_host_key(target: Target, key) -> None:  # noqa: ANN001 (paramiko.PKey)
    import paramiko

    if target.host_key:
        kind, _, blob = target.host_key.strip().partition(" ")
        blob = blob.split()[0] if blob else ""
        if key.get_name() != kind or key.asbytes() != base64.b64decode(blob):
            raise DeliveryError(f"{target.name}: host key of {target.host} does not match")
        return
    if target.known_hosts:
        known = paramiko.HostKeys(target.known_hosts)
        host = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
        entry = known.lookup(host)
        if not entry or entry.get(key.get_name()) != key:
            raise DeliveryError(f"{target.name}: {target.host} is not in known_hosts")
        return
    raise DeliveryError(f"{target.name}: no host_key or known_hosts: refusing to connect")


def _load_key(path: str):  # noqa: ANN202
    import paramiko

    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key_file(path)
        except paramiko.SSHException:
            continue
    raise DeliveryError(f"cannot read the private key {path}")


def _sftp_makedirs(sftp, path: str) -> None:  # noqa: ANN001
    parts, current = [p for p in path.split("/") if p], "/" if path.startswith("/") else ""
    for part in parts:
        current = posixpath.join(current, part) if current else part
        try:
            sftp.stat(current)
        except OSError:
            sftp.mkdir(current)


def _send_sftp(target: Target, folders: list[tuple[Path, str]]) -> int:
    import paramiko

    transport = paramiko.Transport((target.host, target.port))
    transport.banner_timeout = transport.auth_timeout = target.timeout
    sent = 0
    try:
        transport.start_client(timeout=target.timeout)
        _check_host_key(target, transport.get_remote_server_key())
        transport.auth_publickey(target.user, _load_key(target.key_file))
        sftp = paramiko.SFTPClient.from_transport(transport)
        sftp.get_channel().settimeout(target.timeout)
        for folder, sub in folders:
            remote = posixpath.join(target.remote_dir, sub) if sub else target.remote_dir
            _sftp_makedirs(sftp, remote)
            for path in _files_in_order(folder):
                final = posixpath.join(remote, path.name)
                temp = posixpath.join(remote, f".{path.name}.part")
                try:
                    sftp.put(str(path), temp, confirm=True)
                    sftp.posix_rename(temp, final)
                except Exception:
                    with contextlib.suppress(OSError):
                        sftp.remove(temp)
                    raise
                sent += 1
        sftp.close()
    finally:
        transport.close()
    return sent


# --- local folder ------------------------------------------------------------------------------


def _send_local(target: Target, folders: list[tuple[Path, str]]) -> int:
    sent = 0
    for folder, sub in folders:
        remote = Path(target.remote_dir) / sub
        remote.mkdir(parents=True, exist_ok=True)
        for path in _files_in_order(folder):
            temp = remote / f".{path.name}.part"
            try:
                shutil.copyfile(path, temp)
                os.chmod(temp, 0o640)
                os.replace(temp, remote / path.name)
            except Exception:
                temp.unlink(missing_ok=True)
                raise
            sent += 1
    return sent


SENDERS = {"sftp": _send_sftp, "local": _send_local}


def deliver(home: Home, run_date: date, published: list[Path], sleep=time.sleep) -> list[dict]:  # noqa: ANN001
    """Send the run's published folders to every configured target; return one report each."""
    targets, retries, wait = load_targets(home)
    reports = []
    for target in targets:
        folders = _selected(target, home.exports, published)
        report = {"target": target.name, "protocol": target.protocol, "attempts": 0, "files": 0}
        if not folders:
            reports.append({**report, "status": "nothing to send"})
            continue
        error = ""
        pause = wait
        for attempt in range(1, retries + 1):
            report["attempts"] = attempt
            try:
                report["files"] = SENDERS[target.protocol](target, folders)
                error = ""
                break
            except Exception as exc:  # noqa: BLE001 (any failure is retried, then reported)
                error = f"{type(exc).__name__}: {exc}"
                log.warning("delivery to %s, attempt %d failed: %s", target.name, attempt, error)
                if attempt < retries:
                    sleep(pause)
                    pause *= 2
        if error:
            log.error("delivery to %s failed after %d attempts: %s", target.name, retries, error)
            reports.append({**report, "status": "failed", "error": error})
        else:
            reports.append({**report, "status": "delivered"})
    if reports:
        path = home.root / "logs" / f"delivery_{run_date.isoformat()}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(reports, indent=2) + "\n", encoding="utf-8")
    return reports
