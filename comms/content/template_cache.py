"""Compiled templates kept between runs, in a folder only the user can write.

Compiling a template (parse, generate Python, `compile()`) costs more than rendering it a few
times, and every `comms plan` or `campaigns validate` is a new process with a new environment,
so without this each run would compile every template of the folder again. The cache is a
jinja2 BytecodeCache: jinja2 asks it for a template's code before compiling it, and hands it the
code after.

What is kept is Python code that the sandbox runs, so:

- the folder is private: made 0700, and used only when it is a directory owned by the user that
  no one else may write (anyone who can write it could put code into every template);
  otherwise the cache is off and everything works as without it. It is opened once and used
  through that descriptor, so a folder swapped in after the check is never read;
- an entry is used only for the environment it was compiled for: its name and its header carry
  a fingerprint of everything that shapes the generated code (the environment's class and its
  intercepted operators, the syntax and whitespace options, autoescape, finalize, extensions,
  which filters and tests exist and how they are called, jinja2's policies, the versions of
  Python, jinja2 and the libraries whose filters jinja2 may run while compiling constants, and
  the source of the modules those filters are in);
- an entry is used only for the exact source it was compiled from (jinja2's checksum of the
  template text), so an edited template is compiled again and its entry replaced;
- a torn, truncated or foreign entry (its own digest does not match, the format or Python
  changed) is ignored and written again; writes go to a temporary file first and are moved
  into place with os.replace, so a reader in another process or thread sees the old entry or
  the new one, never half of one;
- a cache that cannot be written (a read-only or full disk) never stops a run: the template is
  compiled, and the run goes on.

The folder is $COMMS_TEMPLATE_CACHE if set (`off` or empty: no cache), else
$XDG_CACHE_HOME/comms/templates, else ~/.cache/comms/templates. Deleting it is always safe.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import inspect
import marshal
import os
import secrets
import stat
import sys
import weakref
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2
from jinja2.bccache import Bucket

ENV_VAR = "COMMS_TEMPLATE_CACHE"
OFF = ("", "off", "0", "no", "none", "false")
FORMAT = b"comms-template-cache 1"
SUFFIX = ".code"
MAX_ENTRY = 16 * 1024 * 1024  # far beyond any compiled template; a bigger file is not ours

# the libraries whose functions may run while jinja2 compiles (constant folding of filters)
_LIBRARIES = ("jinja2", "markupsafe", "babel")


def default_folder() -> Path | None:
    """The cache folder this process should use, or None when the cache is off."""
    override = os.environ.get(ENV_VAR)
    if override is not None:
        if override.strip().lower() in OFF:
            return None
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):  # the XDG spec: a relative value is ignored
        return Path(xdg) / "comms" / "templates"
    try:
        return Path.home() / ".cache" / "comms" / "templates"
    except (RuntimeError, KeyError):  # no home folder known
        return None


def open_private_folder(folder: Path) -> int | None:
    """A descriptor of `folder` (made 0700 if missing) when only this user can write it."""
    getuid = getattr(os, "getuid", None)
    if getuid is None or not {os.open, os.rename, os.unlink} <= os.supports_dir_fd:
        return None  # no owners to check, or no way to pin the folder: no cache
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != getuid()
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        os.close(fd)
        return None
    return fd


def fingerprint(env: jinja2.Environment) -> str:
    """A digest of everything about `env` that changes the code jinja2 generates for it."""
    cls = type(env)
    parts: list[object] = [
        FORMAT,
        sys.version,
        sys.implementation.cache_tag,
        importlib.util.MAGIC_NUMBER,
        [f"{k.__module__}.{k.__qualname__}" for k in cls.__mro__],
        sorted(getattr(env, "intercepted_binops", ())),
        sorted(getattr(env, "intercepted_unops", ())),
        env.sandboxed,
        env.block_start_string,
        env.block_end_string,
        env.variable_start_string,
        env.variable_end_string,
        env.comment_start_string,
        env.comment_end_string,
        env.line_statement_prefix,
        env.line_comment_prefix,
        env.trim_blocks,
        env.lstrip_blocks,
        env.newline_sequence,
        env.keep_trailing_newline,
        env.optimized,
        env.is_async,
        _describe(env.autoescape),
        _describe(env.finalize),
        _describe(env.code_generator_class),
        sorted(f"{k}={_describe(type(v))}" for k, v in env.extensions.items()),
        # filters given constants run while compiling, with the policies (truncate.leeway ...)
        sorted((k, _describe(v) if callable(v) else repr(v)) for k, v in env.policies.items()),
        _callables(env.filters),
        _callables(env.tests),
        [(name, _version(name)) for name in _LIBRARIES],
        _version("comms"),
        _sources(env),
    ]
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()


class TemplateCache(jinja2.BytecodeCache):
    """jinja2's bytecode of one environment, one file per template in a private folder."""

    def __init__(self, fd: int, fingerprint: str) -> None:
        self._fd = fd
        self._fingerprint = fingerprint.encode("ascii")
        self._writable = True
        self._closer = weakref.finalize(self, os.close, fd)

    @classmethod
    def for_environment(cls, env: jinja2.Environment, folder: Path | None) -> TemplateCache | None:
        """The cache in `folder` for `env`, or None when the folder is not safe to use."""
        if folder is None:
            return None
        fd = open_private_folder(folder)
        if fd is None:
            return None
        return cls(fd, fingerprint(env))

    def close(self) -> None:
        self._closer()

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        key = hashlib.sha256(self._fingerprint)
        key.update(b"\0" + name.encode("utf-8", "surrogateescape"))
        key.update(b"\0" + (filename or "").encode("utf-8", "surrogateescape"))
        return key.hexdigest()

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._read(bucket.key + SUFFIX, bucket.checksum)
        if code is not None:
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is None or not self._writable:
            return
        try:
            payload = marshal.dumps(bucket.code)
        except ValueError:
            return
        header = b"\n".join(
            (
                FORMAT,
                self._fingerprint,
                bucket.checksum.encode("ascii"),
                hashlib.sha256(payload).hexdigest().encode("ascii"),
                b"",
            )
        )
        if not self._write(bucket.key + SUFFIX, header + payload):
            self._writable = False  # a read-only or full disk: stop trying for this run

    def clear(self) -> None:
        for name in os.listdir(self._fd):
            if name.endswith(SUFFIX) or name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=self._fd)

    # --- the files ------------------------------------------------------------------------

    def _read(self, name: str, checksum: str) -> CodeType | None:
        """The code in entry `name` if it is whole and for this environment and source."""
        try:
            fd = os.open(name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0), dir_fd=self._fd)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY:
                return None
            if info.st_uid != os.getuid():
                return None
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read(MAX_ENTRY + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        lines = data.split(b"\n", 4)
        if len(lines) != 5:
            return None
        form, print_, source_sum, digest, payload = lines
        if (
            form != FORMAT
            or print_ != self._fingerprint
            or source_sum != checksum.encode("ascii")
            or digest != hashlib.sha256(payload).hexdigest().encode("ascii")
        ):
            return None
        try:
            code = marshal.loads(payload)
        except (EOFError, ValueError, TypeError):
            return None
        return code if isinstance(code, CodeType) else None

    def _write(self, name: str, data: bytes) -> bool:
        """Put `data` in place as entry `name` at once; False when it cannot be written."""
        temp = f".{name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(
                temp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                0o600,
                dir_fd=self._fd,
            )
        except OSError:
            return False
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(temp, name, src_dir_fd=self._fd, dst_dir_fd=self._fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=self._fd)
            return False
        return True


# --- the fingerprint's parts --------------------------------------------------------------


def _describe(value: Any) -> str:
    """A stable name for a setting: a function or class by where it is defined."""
    if isinstance(value, bool | str | int | float) or value is None:
        return repr(value)
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if module and qualname:
        return f"{module}.{qualname}"
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _callables(functions: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Each filter or test by name, what it is, and how jinja2 calls it (pass_context ...)."""
    return sorted(
        (name, _describe(func), repr(getattr(func, "jinja_pass_arg", None)))
        for name, func in functions.items()
    )


def _sources(env: jinja2.Environment) -> list[tuple[str, str]]:
    """A digest of the source of each module a filter or test comes from: jinja2 runs them on
    constants while compiling, so their results can be part of the code."""
    modules: set[str] = set()
    for func in (*env.filters.values(), *env.tests.values()):
        module = inspect.getmodule(func)
        for found in (module, *(inspect.getmodule(c) for c in _closure(func))):
            file = getattr(found, "__file__", None)
            if file:
                modules.add(file)
    return [(Path(file).name, _file_digest(file)) for file in sorted(modules)]


def _closure(func: Any) -> list[Any]:
    """The functions a wrapper closes over (a bounded filter around jinja2's own)."""
    cells = getattr(func, "__closure__", None) or ()
    found = []
    for cell in cells:
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if callable(value):
            found.append(value)
    return found


_digests: dict[tuple[str, int, int], str] = {}  # a process makes many renderers


def _file_digest(file: str) -> str:
    try:
        info = os.stat(file)
        key = (file, info.st_mtime_ns, info.st_size)
        digest = _digests.get(key)
        if digest is None:
            digest = _digests[key] = hashlib.sha256(Path(file).read_bytes()).hexdigest()
        return digest
    except OSError:
        return "?"


@functools.cache
def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"
