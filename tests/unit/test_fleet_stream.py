"""Shipping and reading back with a real nats-server (Debian's, on a 127.0.0.1 port), no probe: a spool
of real capture files goes out through the Shipper and `sysmon -r nats://...` prints what `sysmon -r
FILES` prints, host name aside; a retry is stored once; retention keeps what is not acknowledged."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sysmon.capture.reader import open_source
from sysmon.daemon import retention
from sysmon.fleet.config import StreamConfig
from sysmon.fleet.shipper import Shipper
from sysmon.fleet.spool import Checkpoint
from tests.nats_cluster import Cluster, free_port

GOLDEN = Path(__file__).parent.parent / "golden" / "captures"
FILES = ["sysmon-20260101T000000-1-1.smc0", "sysmon-20260101T000000-1-1.smc1"]  # another daemon's (pid 1)
FMT = "%evt.num %evt.hostname %proc.name %evt.type %fd.name"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("nats"), 1)
    c.start()
    yield c
    c.stop()


def spool(tmp: Path) -> Path:
    d = tmp / "captures"
    d.mkdir()
    for name, golden in zip(FILES, ("v1.smc", "chisels.smc")):
        shutil.copy(GOLDEN / golden, d / name)
    return d


def ship(cfg: StreamConfig, directory: Path) -> Shipper:
    shipper = Shipper(cfg, str(directory))
    shipper.start()
    deadline = time.monotonic() + 30
    while not (shipper.ckpt.file == FILES[-1] and shipper.ckpt.done):
        assert time.monotonic() < deadline, shipper.status()
        time.sleep(0.05)
    shipper.stop()
    return shipper


def sysmon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sysmon", *args], capture_output=True, text=True, timeout=60)


def test_replay_from_the_stream_is_replay_from_the_files(broker: Cluster, tmp_path: Path) -> None:
    d = spool(tmp_path)
    cfg = StreamConfig(servers=tuple(broker.urls), stream="T", host="h1")
    shipper = ship(cfg, d)
    st = shipper.status()
    assert st["lag_bytes"] == 0 and st["unshipped_files"] == 0 and st["last_error"] is None
    assert st["shipped_events"] > 0 and st["duplicates"] == 0
    files = sysmon("-r", str(d / "sysmon-*"), "-p", FMT)
    stream = sysmon("-r", f"{broker.urls[0]}/T", "--host", "h1", "-p", FMT)
    assert files.returncode == 0 and stream.returncode == 0, stream.stderr
    assert stream.stderr == ""
    assert len(files.stdout.splitlines()) > 50
    expected = [line.split(" ", 2) for line in files.stdout.splitlines()]
    got = [line.split(" ", 2) for line in stream.stdout.splitlines()]
    assert [(n, rest) for n, _, rest in got] == [(n, rest) for n, _, rest in expected]
    assert {host for _, host, _ in got} == {"h1"}  # evt.hostname: the name the host ships as
    headers = {open_source(str(d / n)).header["hostname"] for n in FILES}  # type: ignore[union-attr]
    assert {host for _, host, _ in expected} == headers  # from files: the capture header's host name
    filtered = sysmon("-r", f"{broker.urls[0]}/T", "--host", "h1", "-j", "-p", FMT, "evt.type=openat")
    assert filtered.returncode == 0 and filtered.stdout.count("\n") == sum(
        "openat" in line for line in files.stdout.splitlines())
    local = tmp_path / "h1.smc"  # a capture of one host's stream (-w), which replays on its own
    written = sysmon("-r", f"{broker.urls[0]}/T", "--host", "h1", "-w", str(local), "evt.type=openat")
    again = sysmon("-r", str(local), "-p", "%evt.num %proc.name %evt.type %fd.name")
    assert written.returncode == 0 and again.returncode == 0, written.stderr + again.stderr
    assert again.stdout.splitlines() == [f"{n} {rest}" for n, _, rest in got if " openat " in f" {rest} "]


def test_a_retry_is_stored_once(broker: Cluster, tmp_path: Path) -> None:
    d = spool(tmp_path)
    cfg = StreamConfig(servers=tuple(broker.urls), stream="T", host="h2")
    first = ship(cfg, d)
    Path(Checkpoint.path(str(d), "T")).unlink()  # as if the daemon died before saving its checkpoint
    again = ship(cfg, d)
    assert again.messages == first.messages and again.duplicates == first.messages
    out = sysmon("-r", f"{broker.urls[0]}/T", "--host", "h2", "-q", "-v")
    assert out.returncode == 0 and "twice" not in out.stderr


def test_retention_keeps_what_is_not_acknowledged(tmp_path: Path) -> None:
    d = spool(tmp_path)
    cfg = StreamConfig(servers=(f"nats://127.0.0.1:{free_port()}",), stream="T", host="h3")  # nobody there
    shipper = Shipper(cfg, str(d))
    shipper.start()
    deadline = time.monotonic() + 30
    while shipper.last_error is None and time.monotonic() < deadline:  # its first attempt failed
        time.sleep(0.1)
    shipper.sync(frozenset(), 0)
    keep = shipper.unshipped()
    assert keep == {str(d / n) for n in FILES}
    usage = retention.enforce(d, max_bytes=1, max_age_s=None, keep=keep, now_s=time.time())
    assert usage.deleted == [] and usage.files == 2
    shipper.check_cap(usage.bytes, 1)
    st = shipper.status()
    shipper.stop()
    assert st["over_cap"] and "not shipped yet are kept" in st["over_cap"]
    assert not st["connected"] and st["last_error"] == "cannot connect: Connection refused"
    assert st["unshipped_files"] == 2 and st["lag_bytes"] == sum((d / n).stat().st_size for n in FILES)


def test_stream_errors_are_messages(broker: Cluster) -> None:
    nope = sysmon("-r", f"{broker.urls[0]}/NOPE")
    assert nope.returncode == 1 and nope.stderr.startswith(f"sysmon: {broker.urls[0]} has no stream NOPE")
    gone = sysmon("-r", f"nats://127.0.0.1:{free_port()}/S")
    assert gone.returncode == 1 and "cannot connect to nats://127.0.0.1:" in gone.stderr
    mixed = sysmon("-r", f"{broker.urls[0]}/S", "-r", "x.smc")
    assert mixed.returncode == 1 and "either capture files or one nats:// stream" in mixed.stderr
    assert "Traceback" not in nope.stderr + gone.stderr + mixed.stderr


def _tls_files(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 (openssl)."""
    ca_key, ca, key, csr, cert = (tmp / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = tmp / "san.ext"
    ext.write_text("subjectAltName = IP:127.0.0.1\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "1",
            "-subj", "/CN=sysmon test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out",
            str(cert), "-days", "1", "-extfile", str(ext))
    return ca, cert, key


def test_nkey_over_tls(tmp_path: Path) -> None:
    import nkeys

    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    ca, cert, key = _tls_files(tmp_path)
    broker = Cluster(tmp_path / "nats", 1, auth=f'tls {{ cert_file: "{cert}", key_file: "{key}" }}\n'
                                                 f'authorization {{ users: [ {{ nkey: {public} }} ] }}\n')
    broker.nodes[0].start()
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(seed)
    os.chmod(seed_file, 0o600)
    port = broker.nodes[0].port
    toml = tmp_path / "reader.toml"
    toml.write_text(f'[stream]\nservers = ["tls://127.0.0.1:{port}"]\nname = "TLS"\nhost = "h4"\n'
                    f'nkey = "{seed_file}"\ntls_ca = "{ca}"\n')
    try:
        from sysmon.daemon.config import load

        cfg = load(toml).stream
        assert cfg is not None
        d = spool(tmp_path)
        deadline = time.monotonic() + 30
        while True:  # the server is up once the shipper gets through
            shipper = Shipper(cfg, str(d))
            shipper.start()
            time.sleep(1)
            if shipper.connected or time.monotonic() > deadline:
                break
            shipper.stop()
        shipper.stop()
        ship(cfg, d)
        url = f"nats://127.0.0.1:{port}/TLS"
        ok = sysmon("-r", url, "--stream-config", str(toml), "-p", FMT, "evt.type=openat")
        assert ok.returncode == 0 and ok.stdout.count(" h4 ") > 0, ok.stderr
        refused = sysmon("-r", url, "-p", FMT)  # neither the CA nor the key
        assert refused.returncode == 1 and "cannot connect" in refused.stderr and "Traceback" not in refused.stderr
        os.chmod(seed_file, 0o640)
        loose = sysmon("-r", url, "--stream-config", str(toml))
        assert loose.returncode == 1 and "chmod 600" in loose.stderr, loose.stderr
    finally:
        broker.stop()
