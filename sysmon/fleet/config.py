"""The `[stream]` section of sysmon.toml: where and how a daemon ships, and how readers connect.

Secrets (credentials, NKey seed, password, token, TLS key) are only ever read from files, and those
files must not be readable by group or others (0600 or stricter), as ssh does with its keys.
"""
from __future__ import annotations

import os
import re
import socket
import ssl
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_STREAM = "SYSMON"
HOST_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # one subject token: no dots, no wildcards
STREAM_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class StreamConfigError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class StreamConfig:
    servers: tuple[str, ...] = ()
    stream: str = DEFAULT_STREAM
    host: str = ""  # the name this daemon publishes as (subject sysmon.<host>.events); default: the host name
    credentials: str | None = None  # a .creds file (user JWT and NKey seed)
    nkey: str | None = None  # a file holding an NKey seed
    user: str | None = None
    password_file: str | None = None
    token_file: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    replicas: int = 1  # stream replicas, when the daemon creates the stream
    max_age_s: float | None = 7 * 86400.0  # stream limits (the broker deletes the oldest messages)
    max_bytes: int | None = None
    duplicate_window_s: float = 600.0  # a retry within this window is dropped by the broker
    batch_bytes: int = 512 << 10  # file bytes per message (whole frames; a larger frame goes alone)

    @property
    def host_name(self) -> str:
        return self.host or _default_host()


def _default_host() -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0])
    return name[:64] or "localhost"


def _servers(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(s, str) and s for s in items):
        raise ValueError(f"expected a server URL or a list of them, got {value!r}")
    for url in items:
        if not re.fullmatch(r"(nats|tls)://[^/\s]+", url):
            raise ValueError(f"{url!r} is not a server URL (nats://HOST:PORT or tls://HOST:PORT)")
    return tuple(items)


def _name(pattern: re.Pattern[str], what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what} (letters, digits, - and _)")
        return value
    return check


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"expected an absolute path, got {value!r}")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _replicas(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ValueError(f"expected 1 to 5, got {value!r}")
    return value


def parse_stream(items: Mapping[str, Any], size: Callable[[Any], int],
                 duration: Callable[[Any], float]) -> StreamConfig:
    """`items`: the keys under [stream] (without the prefix). Raises StreamConfigError naming the key.
    `size` and `duration` are the configuration file's own parsers (100M, 7d)."""
    keys: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "servers": ("servers", _servers), "name": ("stream", _name(STREAM_NAME, "stream name")),
        "host": ("host", _name(HOST_NAME, "host name")), "credentials": ("credentials", _path),
        "nkey": ("nkey", _path), "user": ("user", _string), "password_file": ("password_file", _path),
        "token_file": ("token_file", _path), "tls_ca": ("tls_ca", _path), "tls_cert": ("tls_cert", _path),
        "tls_key": ("tls_key", _path), "replicas": ("replicas", _replicas), "max_age": ("max_age_s", duration),
        "max_bytes": ("max_bytes", size), "duplicate_window": ("duplicate_window_s", duration),
        "batch_bytes": ("batch_bytes", size),
    }
    values: dict[str, Any] = {}
    for key, value in items.items():
        if key not in keys:
            raise StreamConfigError(key, f"unknown key (known: {', '.join(keys)})")
        attr, convert = keys[key]
        try:
            values[attr] = convert(value)
        except ValueError as e:
            raise StreamConfigError(key, str(e)) from None
        if attr in ("max_age_s", "max_bytes") and not values[attr]:
            values[attr] = None
    cfg = StreamConfig(**values)
    if not cfg.servers:
        raise StreamConfigError("servers", "[stream] needs servers = [\"nats://HOST:PORT\", ...]")
    if not 4096 <= cfg.batch_bytes <= 64 << 20:
        raise StreamConfigError("batch_bytes", "must be between 4K and 64M")
    if (cfg.tls_cert is None) != (cfg.tls_key is None):
        raise StreamConfigError("tls_key" if cfg.tls_key is None else "tls_cert", "tls_cert and tls_key go together")
    if cfg.password_file and not cfg.user:
        raise StreamConfigError("user", "password_file needs user")
    if sum(x is not None for x in (cfg.credentials, cfg.nkey, cfg.password_file, cfg.token_file)) > 1:
        raise StreamConfigError("credentials", "use one of credentials, nkey, user + password_file, token_file")
    for key, attr in (("credentials", "credentials"), ("nkey", "nkey"), ("password_file", "password_file"),
                      ("token_file", "token_file"), ("tls_key", "tls_key")):
        path = getattr(cfg, attr)
        if path is not None:
            try:
                check_secret_file(path)
            except ValueError as e:
                raise StreamConfigError(key, str(e)) from None
    return cfg


def check_secret_file(path: str) -> None:
    """A secret must sit in a regular file that only its owner can read."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path} is not a regular file")
    if st.st_mode & 0o077:
        raise ValueError(f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}): "
                         f"chmod 600 {path}")


def _secret(path: str) -> str:
    check_secret_file(path)  # again: the file may have changed since the configuration was read
    with open(path) as f:
        return f.read().strip()


def connect_options(cfg: StreamConfig) -> dict[str, Any]:
    """Keyword arguments for nats.connect: servers, credentials and TLS from the configuration."""
    opts: dict[str, Any] = {"servers": list(cfg.servers)}
    if cfg.credentials:
        check_secret_file(cfg.credentials)
        opts["user_credentials"] = cfg.credentials
    if cfg.nkey:
        opts["nkeys_seed_str"] = _secret(cfg.nkey)
    if cfg.user:
        opts["user"] = cfg.user
        opts["password"] = _secret(cfg.password_file) if cfg.password_file else ""
    if cfg.token_file:
        opts["token"] = _secret(cfg.token_file)
    if cfg.tls_ca or cfg.tls_cert or any(s.startswith("tls://") for s in cfg.servers):
        ctx = ssl.create_default_context(cafile=cfg.tls_ca)
        if cfg.tls_cert and cfg.tls_key:
            check_secret_file(cfg.tls_key)
            ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        opts["tls"] = ctx
    return opts
