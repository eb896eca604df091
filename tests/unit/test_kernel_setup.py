"""Kernel feature detection and the type tree's compatibility defines (no BPF needed)."""
from __future__ import annotations

import platform
from pathlib import Path

import pytest

from sysmon.errors import SetupError
from sysmon.probe import btf, kernel
from sysmon.probe.helper_ids import HELPER_NAMES


def test_helper_ids_are_the_kernel_enum_order():
    assert HELPER_NAMES[0] == "unspec"
    assert HELPER_NAMES.index("ringbuf_output") == 130
    assert HELPER_NAMES.index("cgrp_storage_get") == 210
    assert len(set(HELPER_NAMES)) == len(HELPER_NAMES) == 212


def test_a_6_1_type_tree_gets_the_helpers_bcc_names_and_6_1_lacks():
    vmlinux_61 = "".join(f"\tBPF_FUNC_{n} = {i},\n" for i, n in enumerate(HELPER_NAMES[:210])).encode()
    present = btf.kernel_helpers(b"enum bpf_func_id {\n" + vmlinux_61 + b"};\n")
    assert "cgrp_storage_get" not in present and "task_storage_get" in present
    assert btf.helper_compat(present) == ("#define BPF_FUNC_cgrp_storage_get 210\n"
                                          "#define BPF_FUNC_cgrp_storage_delete 211\n")


def test_a_kernel_without_btf_or_headers_is_refused_naming_the_package(tmp_path):
    with pytest.raises(SetupError) as err:
        kernel.detect(vmlinux_btf=tmp_path / "none", modules=tmp_path, kheaders=tmp_path / "kheaders.tar.xz")
    assert "no kernel types" in str(err.value)
    assert any(f"linux-headers-{platform.release()}" in hint for hint in err.value.hints)


def test_without_btf_the_headers_are_used_and_features_follow_the_version(tmp_path, monkeypatch):
    (tmp_path / platform.release() / "build").mkdir(parents=True)
    monkeypatch.setattr(platform, "release", lambda: "5.10.0-32-amd64")
    (tmp_path / "5.10.0-32-amd64" / "build").mkdir(parents=True)
    setup = kernel.detect(vmlinux_btf=tmp_path / "none", modules=tmp_path, kheaders=tmp_path / "none.xz")
    assert setup.types == "headers" and setup.tree is None
    assert setup.features == {"ringbuf"}
    assert setup.enter_store == "lru-hash"
    assert "-DHAVE_TASK_STORAGE" not in setup.cflags()
    assert any("headers" in note for note in setup.fallbacks)


def test_features_can_be_switched_off_to_run_an_older_kernels_code(monkeypatch):
    monkeypatch.setenv(kernel.FEATURES_OFF_ENV, "task_storage, ringbuf")
    setup = kernel.detect()
    assert not setup.has("ringbuf") and not setup.has("task_storage")
    assert setup.enter_store == "lru-hash"
    assert len(setup.fallbacks) >= 2


def test_runs_of_word_padding_are_split_in_structs_but_not_in_packed_ones_or_unions():
    src = ("struct socket {\n\tshort int type;\n\tconst struct proto_ops *ops;\n\tlong: 64;\n\tlong: 64;\n\tlong: 64;\n"
           "\tstruct socket_wq wq;\n};\n"
           "struct a {\n\tint x;\n\tunion {\n\t\tlong y;\n\t\tstruct {\n\t\t\tlong z;\n\t\t\tlong: 64;\n\t\t\tlong: 64;\n"
           "\t\t};\n\t};\n\tlong: 64;\n\tlong q;\n\tlong: 64;\n};\n"
           "struct p {\n\tchar c;\n\tlong: 64;\n\tlong: 64;\n} __attribute__((packed));\n"
           "union u {\n\tlong: 64;\n\tlong: 64;\n};\n")
    out = btf.split_padding_runs(src)
    assert out.count("long: 0;") == 3
    assert "\tconst struct proto_ops *ops;\n\tlong: 64;\n\tlong: 0;\n\tlong: 64;\n\tlong: 0;\n\tlong: 64;\n" in out
    assert "\t\t\tlong z;\n\t\t\tlong: 64;\n\t\t\tlong: 0;\n\t\t\tlong: 64;\n\t\t};" in out  # nested, own indent
    assert "struct p {\n\tchar c;\n\tlong: 64;\n\tlong: 64;\n} __attribute__((packed));" in out
    assert "union u {\n\tlong: 64;\n\tlong: 64;\n};" in out


def test_enums_get_the_size_btf_gives_them():
    h = "enum rw_hint {\n\tWRITE_LIFE_NOT_SET = 0,\n\tWRITE_LIFE_NONE = 1,\n};\n\nenum plain {\n\tA = 0,\n};\n"
    raw = ("[1048] ENUM 'rw_hint' encoding=UNSIGNED size=1 vlen=2\n\t'WRITE_LIFE_NOT_SET' val=0\n"
           "[1049] ENUM 'plain' encoding=UNSIGNED size=4 vlen=1\n[1050] ENUM64 'wide' encoding=UNSIGNED size=8 vlen=3\n")
    out = btf.sized_enums(h, raw)
    assert "\tWRITE_LIFE_NONE = 1,\n} __attribute__((mode(QI)));\n\nenum plain {\n\tA = 0,\n};\n" in out
