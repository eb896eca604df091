"""Container identity and metadata (sysmon/state/containers.py, runtime.py): cgroup paths and ids to
containers once each, Docker/Podman inspect answers as libsinsp reads them, the table's news for captures,
and capture files that carry containers in event order (C records) and in every file's snapshot."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sysmon.capture.format import Batch, PackedBatch, cgroup_ids, make_header
from sysmon.pipeline import container_news
from sysmon.capture.reader import open_source
from sysmon.capture.writer import CaptureWriter
from sysmon.events.decode import Decoder
from sysmon.events.record import RECORD_HEADER
from sysmon.events.model import ENTER
from sysmon.events.schema import Schema
from sysmon.state.containers import (
    ContainerInfo, ContainerTable, Mount, cgroup2_mount, container_of, parse_cgroups, split_image,
)
from sysmon.state.runtime import from_event, from_inspect
from sysmon.state.state import State, ThreadInfo
from tests.capture_scenario import record
from tests.factories import make_event

ID = "9ed51d4cf4a7131ac96c0e901e3283243054882610b2b11ac96ddf18b11db17b"

INSPECT = {  # the parts of a Docker 20.10 `GET /containers/ID/json` answer sysmon reads
    "Id": ID, "Name": "/web1", "Image": "sha256:73c3d04dda1e88becc4548967a0028cebd122468130e8d4788472f1ed389b1ba",
    "Config": {"Image": "local/busybox:test", "Labels": {"io.kubernetes.pod.name": "p1", "app": "web"},
               "Healthcheck": {"Test": ["CMD-SHELL", "wget -q localhost"]}},
    "HostConfig": {"Privileged": True},
    "Mounts": [{"Source": "/srv", "Destination": "/data", "Mode": "ro", "RW": False, "Propagation": "rprivate"}],
    "NetworkSettings": {"IPAddress": "", "Networks": {"bridge": {"IPAddress": "172.17.0.3"}}},
}


def test_inspect_answer_as_libsinsp_reads_it() -> None:
    c = from_inspect("docker", INSPECT)
    assert (c.id, c.full_id, c.name, c.image, c.image_repo, c.image_tag) == (
        ID[:12], ID, "web1", "local/busybox:test", "local/busybox", "test")
    assert c.image_id == "73c3d04dda1e88becc4548967a0028cebd122468130e8d4788472f1ed389b1ba"
    assert c.privileged is True and c.ip == "172.17.0.3" and c.complete
    assert c.mounts == (Mount("/srv", "/data", "ro", False, "rprivate"),)
    assert str(c.mounts[0]) == "/srv:/data:ro:false:rprivate"
    assert c.healthcheck == "/bin/sh -c wget -q localhost"
    assert from_inspect("docker", {**INSPECT, "Config": {"Image": "nginx"}}).image_tag == "latest"


@pytest.mark.parametrize(("image", "parts"), [
    ("nginx", ("nginx", "", "")),
    ("nginx:1.25", ("nginx", "1.25", "")),
    ("registry:5000/team/app:v2", ("registry:5000/team/app", "v2", "")),
    ("registry:5000/app", ("registry:5000/app", "", "")),
    ("app@sha256:abcd", ("app", "", "sha256:abcd")),
])
def test_image_names_split_into_repository_tag_digest(image: str, parts: tuple[str, str, str]) -> None:
    assert split_image(image) == parts


def test_cgroup_lists_and_the_v2_mount() -> None:
    assert parse_cgroups(b"cpuset=/docker/x\0cpu,cpuacct=/docker/x\0") == (("cpuset", "/docker/x"),
                                                                           ("cpu,cpuacct", "/docker/x"))
    assert container_of(f"/libpod_parent/libpod-{ID}") == ("podman", ID)  # podman's cgroupfs driver
    assert container_of(f"/system.slice/libpod-conmon-{ID}.scope") is None  # conmon is not the container


def test_cgroup2_mount_from_mountinfo(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text("30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
                    "35 25 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n")
    assert cgroup2_mount(str(info)) == "/sys/fs/cgroup/unified"
    info.write_text("30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n")
    assert cgroup2_mount(str(info)) is None


def test_cgroup_ids_resolve_by_the_tree_once_each(tmp_path: Path) -> None:
    (tmp_path / "docker" / ID).mkdir(parents=True)
    (tmp_path / "user.slice").mkdir()
    table = ContainerTable(str(tmp_path))
    asked: list[tuple[str, str]] = []
    table.connect(lambda runtime, full: asked.append((runtime, full)))
    ino = os.stat(tmp_path / "docker" / ID).st_ino
    assert table.of_cgroup_id(ino) == ID[:12]
    assert table.of_cgroup_id(os.stat(tmp_path / "user.slice").st_ino) == ""
    assert table.of_cgroup_id(os.stat(tmp_path).st_ino) == ""
    assert table.of_cgroup_id(999_999_999) is None  # not in the tree: looked for once, then known unknown
    assert 999_999_999 in table._scanned
    assert asked == [("docker", ID)]  # the runtime is asked once, however often the container is seen
    info = table.get(ID[:12])
    assert info is not None and (info.type, info.full_id, info.complete) == ("docker", ID, False)


def test_answers_arrive_through_the_inbox_and_never_downgrade() -> None:
    table = ContainerTable()
    deliver = table.connect(lambda runtime, full: None)
    table.observe("docker", ID)
    deliver(ContainerInfo(ID[:12], "docker", name="web1", complete=True))  # from another thread
    got = table.get(ID[:12])
    assert got is not None and got.name == "web1" and got.full_id == ID  # the full id is kept
    table.add(ContainerInfo(ID[:12], "docker"))  # a late bare sighting
    assert table.by_id[ID[:12]].name == "web1"


def test_delta_holds_news_once_and_full_holds_everything() -> None:
    table = ContainerTable()
    table.add(ContainerInfo("a" * 12, "docker", name="one", complete=True))
    table.set_cgroup_id(42, "a" * 12)
    delta = table.take_delta()
    assert [c.name for c in delta.containers] == ["one"] and delta.cgroup_ids == {42: "a" * 12}
    assert not table.take_delta()
    copy = ContainerTable()
    copy.apply_wire(table.full().to_wire())
    assert copy.by_id == table.by_id and copy.cgroup_ids == table.cgroup_ids


def test_info_survives_the_wire() -> None:
    info = from_inspect("docker", INSPECT)
    assert ContainerInfo.from_wire(info.to_wire()) == info


def test_state_places_events_by_cgroup_id_then_by_cgroups() -> None:
    state = State({10: ThreadInfo(10, 10, 1, "cat"), 20: ThreadInfo(20, 20, 1, "sh", cgroups=(("", "/"),))})
    state.containers.set_cgroup_id(7, ID[:12])
    state.containers.set_cgroup_id(8, "")
    evt = make_event("getpid", tid=10)
    assert state.container_id(evt) is None  # no cgroup id, cgroups unknown (a replay has no /proc)
    evt.cgroup_id = 7
    assert state.container_id(evt) == ID[:12]
    evt.cgroup_id = 8
    assert state.container_id(evt) == ""  # the host, by the cgroup id alone
    host = make_event("getpid", tid=20)
    host.cgroup_id = 8
    assert state.container_id(host) == ""


def test_cgroup_ids_of_batches_and_packed_batches() -> None:
    recs = [bytearray(record("getpid", ENTER)) for _ in range(3)]
    for rec, cgid in zip(recs, (5, 6, 5)):
        rec[RECORD_HEADER.size - 8 : RECORD_HEADER.size] = cgid.to_bytes(8, "little")
    data = [bytes(r) for r in recs]
    assert cgroup_ids(Batch(data)) == {5, 6}
    starts = [sum(map(len, data[:i])) for i in range(3)]
    assert cgroup_ids(PackedBatch(b"".join(data), starts, [len(d) for d in data])) == {5, 6}


def test_capture_carries_containers_in_event_order(tmp_path: Path) -> None:
    """A container learned between two batches is written before the second: the first batch's events
    replay without it (as live), the second's with it; the next file's snapshot holds it."""
    state = State({500: ThreadInfo(500, 500, 1, "nginx")})
    table = state.containers

    def header(seq: int) -> dict[str, object]:
        return make_header(wall_offset_ns=0, snaplen=80, filter_text="", compression=None, seq=seq)

    def batch(first: int) -> Batch:
        recs = [bytearray(record("getpid", ENTER, ts=first)) for _ in range(2)]
        for r in recs:
            r[RECORD_HEADER.size - 8 : RECORD_HEADER.size] = (77).to_bytes(8, "little")
        return Batch([bytes(r) for r in recs], first)

    writer = CaptureWriter(str(tmp_path / "c.smc"), header, lambda: state, containers=container_news(lambda: table))
    writer.add(batch(1))
    table.set_cgroup_id(77, ID[:12])
    table.add(ContainerInfo(ID[:12], "docker", ID, name="web1", complete=True))
    writer.add(batch(3))
    writer.close()
    src = open_source(str(tmp_path / "c.smc"))
    decoder = Decoder(Schema.default(), wall_offset_ns=0)
    seen = []
    for b in src.batches():  # type: ignore[union-attr]
        for evt in map(decoder.decode, b.records):
            cid = src.state.container_id(evt)
            seen.append(None if not cid else src.state.containers.get(cid).name)  # type: ignore[union-attr]
    assert seen == [None, None, "web1", "web1"]


def test_new_cgroups_are_noted_as_they_appear(tmp_path: Path) -> None:
    """A cgroup made and removed before its id is looked up is still resolved (inotify on the tree)."""
    table = ContainerTable()
    table.go_live(str(tmp_path))
    try:
        made = tmp_path / "docker" / ID
        made.mkdir(parents=True)
        ino = os.stat(made).st_ino
        deadline = time.monotonic() + 5
        while ino not in table._watch.paths and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.01)
        made.rmdir()
        assert table.of_cgroup_id(ino) == ID[:12]
    finally:
        table.stop()


def test_a_create_event_names_the_container_at_once() -> None:
    event = {"status": "create", "id": ID, "Type": "container", "Action": "create",
             "Actor": {"ID": ID, "Attributes": {"image": "local/busybox:test", "name": "k8s1",
                                                "io.kubernetes.pod.name": "p1"}}}
    c = from_event("docker", event)
    assert c is not None and (c.id, c.name, c.image, c.image_tag, c.complete) == (ID[:12], "k8s1",
                                                                                  "local/busybox:test", "test", False)
    assert c.labels == {"io.kubernetes.pod.name": "p1"}
    table = ContainerTable()
    table.add(c)
    table.add(from_inspect("docker", INSPECT))  # the inspect answer completes it
    assert table.by_id[ID[:12]].complete
