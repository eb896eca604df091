"""Debian kernel images for the VM matrix: downloaded with a private apt configuration (the system's
sources are never touched), unpacked with `dpkg-deb -x` into a cache, and given a BTF type tree
generated on the host (bpftool on a slow emulated guest takes minutes)."""
from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.vm.vmlinux import btf_of_image

CACHE = Path(os.environ.get("SYSMON_VM_CACHE", "/var/cache/sysmon/vm"))
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# matrix name -> Debian suite whose default kernel it is
SUITES = {"5.10": "bullseye", "6.1": "bookworm", "6.12": "trixie"}


@dataclass(frozen=True)
class Kernel:
    name: str          # "6.1"
    release: str       # "6.1.0-41-amd64" (uname -r in the guest)
    root: Path         # the unpacked package: boot/vmlinuz-RELEASE, lib/modules/RELEASE
    btf_cache: Path    # a SYSMON_BTF_CACHE holding this kernel's type tree

    @property
    def image(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.release}"


def debian_mirror() -> str:
    """The Debian archive the system already uses (SYSMON_DEBIAN_MIRROR overrides)."""
    if os.environ.get("SYSMON_DEBIAN_MIRROR"):
        return os.environ["SYSMON_DEBIAN_MIRROR"].rstrip("/")
    files = ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.sources")),
             *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]
    for name in files:
        try:
            text = Path(name).read_text()
        except OSError:
            continue
        for uri in re.findall(r"^(?:URIs:|deb(?:\s+\[[^]]*\])?)\s+(\S+)", text, re.M):
            if uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    raise SystemExit("kernels: no Debian archive in the apt sources; set SYSMON_DEBIAN_MIRROR")


def _apt(suite: str) -> list[str]:
    """apt options for a private configuration that names only SUITE."""
    base = CACHE / "apt" / suite
    (base / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (base / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    sources = base / "sources.list"
    sources.write_text(f"deb [signed-by={KEYRING}] {debian_mirror()} {suite} main\n")
    return ["-o", f"Dir::Etc::sourcelist={sources}", "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State::Lists={base / 'lists'}", "-o", f"Dir::Cache::Archives={base / 'archives'}",
            "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=", "-o", "APT::Get::List-Cleanup=0", "-o", "APT::Sandbox::User=root"]


def _run(cmd: list[str], **kw: object) -> str:
    return subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE, **kw).stdout  # type: ignore[call-overload]


def _package(suite: str) -> str:
    """The versioned image package that the suite's linux-image-amd64 points at."""
    opts = _apt(suite)
    lists = CACHE / "apt" / suite / "lists"
    if not any(lists.glob("*_Packages*")):
        _run(["apt-get", "-qq", *opts, "update"])
    deps = _run(["apt-cache", *opts, "depends", "linux-image-amd64"])
    found = re.findall(r"Depends: (linux-image-[0-9][^\s]*-amd64)\b", deps)
    if not found:
        raise SystemExit(f"kernels: no linux-image-*-amd64 in {suite}:\n{deps}")
    return found[0]


def _unpack(suite: str, package: str) -> Path:
    release = package.removeprefix("linux-image-")
    root = CACHE / "kernels" / release
    if (root / "boot" / f"vmlinuz-{release}").exists():
        return root
    opts = _apt(suite)
    work = CACHE / "apt" / suite / "archives"
    _run(["apt-get", "-qq", *opts, "download", package], cwd=work)
    deb = sorted(work.glob(f"{package}_*.deb"))[-1]
    tmp = root.with_name(root.name + ".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["rm", "-rf", str(tmp)], check=True)
    _run(["dpkg-deb", "-x", str(deb), str(tmp)])
    os.replace(tmp, root)
    deb.unlink()
    return root


def _btf_tree(root: Path, release: str) -> Path:
    """A SYSMON_BTF_CACHE with the kernel's type tree, keyed as the guest's sysmon will key it."""
    from sysmon.probe import btf

    cache = root / "sysmon-btf"
    raw = root / "btf.raw"
    if not raw.exists():
        raw.write_bytes(btf_of_image((root / "boot" / f"vmlinuz-{release}").read_bytes()))
    tree = btf.ensure_tree(cache, raw, release=release)
    for old in cache.iterdir():  # trees of an older TREE_FORMAT: the matrix copies the cache into each guest
        if old != tree:
            shutil.rmtree(old, ignore_errors=True)
    return cache


def btf_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(name: str) -> Kernel:
    suite = SUITES[name]
    package = _package(suite)
    root = _unpack(suite, package)
    release = package.removeprefix("linux-image-")
    return Kernel(name, release, root, _btf_tree(root, release))


if __name__ == "__main__":
    import sys

    for arg in sys.argv[1:] or list(SUITES):
        k = fetch(arg)
        print(k.name, k.release, k.image, k.btf_cache)
