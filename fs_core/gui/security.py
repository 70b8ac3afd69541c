"""Who may ask the GUI server for what, and which paths a request may name.

The server can start processes and read face images, so every state-changing request carries the
token (header ``X-FS-Token``) and, when a browser sends an ``Origin``, comes from the page itself; a
server bound beyond loopback also wants the token on every read. A server bound to loopback answers
only requests addressed to a loopback name, so a web page that rebinds its own host name to
127.0.0.1 cannot read models either. Paths the page sends are names under the root, resolved and
checked to stay inside it.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from fs_core.errors import FsUserError

TOKEN_HEADER = "x-fs-token"
#: what the page itself needs before it can read its token from the URL
PUBLIC_PATHS = ("/", "/index.html", "/favicon.ico")
PUBLIC_PREFIX = "/static/"
SAFE_METHODS = ("GET", "HEAD")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) means this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The host of a ``Host`` header, without its port."""
    text = host_header.strip()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), token.encode())


class SecurityMiddleware:
    """Refuses (403, ``{"error": ...}``) what the security rules forbid, before any route runs."""

    def __init__(self, app: ASGIApp, token: str, require_token_for_reads: bool) -> None:
        self.app = app
        self.token = token
        self.require_token_for_reads = require_token_for_reads

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http":
            reason = self.refusal(Request(scope))
            if reason is not None:
                await JSONResponse({"error": reason}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, request: Request) -> str | None:
        """Why ``request`` is refused, or None when it may go on."""
        host = request.headers.get("host", "")
        if not self.require_token_for_reads and not is_loopback(_host_name(host)):
            return (
                f"refused: this server answers only at 127.0.0.1 or localhost, not at "
                f"'{host}' (start fs gui with --host to serve other names)"
            )
        if request.method not in SAFE_METHODS:
            if not token_matches(request.headers.get(TOKEN_HEADER), self.token):
                return "refused: the request lacks the right X-FS-Token header"
            origin = request.headers.get("origin")
            if origin is not None and origin != f"{request.url.scheme}://{host}":
                return f"refused: a request from another origin ({origin})"
            return None
        path = request.url.path
        if (
            self.require_token_for_reads
            and path not in PUBLIC_PATHS
            and not path.startswith(PUBLIC_PREFIX)
        ):
            given = request.headers.get(TOKEN_HEADER) or request.query_params.get("token")
            if not token_matches(given, self.token):
                return "refused: open the address fs gui printed (it carries the token)"
        return None


def _check_component(name: str, what: str) -> None:
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
    ):
        raise FsUserError(f"{what} must be one folder name under the root, got {name!r}")


def model_path(root: Path, name: str, what: str = "model folder") -> Path:
    """The folder of model ``name``: one folder name directly under ``root``, staying inside it.
    ``what`` names it in a refusal (the form says ``model_dir``, which the page shows by label)."""
    _check_component(name, "a model name")
    path = root / name
    resolved = path.resolve()
    base = root.resolve()
    if resolved.parent != base:
        if path.is_symlink():
            raise FsUserError(_link_refusal(base, name, path, f"{what} '{name}'"))
        raise FsUserError(f"{what} '{name}' leads outside the root folder")
    return path


def new_model_name(name: Any) -> str:
    """A name for a model folder the GUI may create: printable, not hidden, not flag-like."""
    if not isinstance(name, str):
        raise FsUserError("model_dir must be a folder name (text)")
    _check_component(name, "model_dir")
    if len(name) > 100 or not name.isprintable() or name[0] in ".- " or name[-1] == " ":
        raise FsUserError(
            f"model_dir {name!r} is not a usable folder name (letters, digits, "
            "'_', '-', '.', spaces; not starting with '.', '-' or a space; "
            "at most 100 characters)"
        )
    return name


def path_inside(root: Path, text: Any, what: str) -> Path:
    """The absolute, resolved path of ``text`` (relative to ``root``, or absolute), which must stay
    inside ``root``; ``..`` components are refused outright, symbolic links are followed."""
    if not isinstance(text, str) or not text.strip():
        raise FsUserError(f"{what} must be a folder inside the root (text)")
    if "\0" in text:
        raise FsUserError(f"{what} holds a NUL character")
    path = Path(text.strip())
    if ".." in path.parts:
        raise FsUserError(f"{what} must not contain '..': {text}")
    base = root.resolve()
    resolved = (base / path).resolve()
    if not _inside(base, resolved):
        link = first_link(base, path)
        if link is not None:
            raise FsUserError(_link_refusal(base, text.strip(), link, f"{what} {text.strip()}"))
        raise FsUserError(f"{what} is outside the root folder {base}: {text}")
    return resolved


def _inside(base: Path, path: Path) -> bool:
    return path == base or base in path.parents


def first_link(base: Path, relative: Path) -> Path | None:
    """The first symbolic link met walking ``relative`` down from ``base``, or None.

    A path that resolves outside the root either names an absolute place or passes through a link;
    the link is what a user needs to hear about, since the path they typed looks inside."""
    if relative.is_absolute():
        return None
    current = base
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def _link_refusal(base: Path, text: str, link: Path, subject: str) -> str:
    """One line saying that ``subject`` (typed as ``text``) passes through the symbolic link
    ``link``, where the link leads, and how to serve both places: a wider ``--root``."""
    target = link.resolve()
    shown = link.relative_to(base).as_posix()
    if shown == Path(text).as_posix().rstrip("/"):
        where = f"is a symbolic link to {target}"
    else:
        where = f"is inside {shown}, a symbolic link to {target}"
    if _inside(base, target):
        return (
            f"{subject} {where}, which is not directly under the root folder {base} "
            "(a model folder must be)"
        )
    common = Path(os.path.commonpath([base, target]))
    hint = f" (here: fs gui --root {common})" if common != Path(common.anchor) else ""
    return (
        f"{subject} {where}, outside the root folder {base}; start fs gui with --root set to "
        f"a folder that holds both{hint}"
    )


def file_under(folder: Path, relpath: str, suffixes: tuple[str, ...]) -> Path:
    """An existing file ``relpath`` under ``folder`` with one of ``suffixes``; else FsUserError."""
    parts = Path(relpath).parts
    if not relpath or ".." in parts or Path(relpath).is_absolute() or "\0" in relpath:
        raise FsUserError(f"not a file name under {folder.name}/: {relpath!r}")
    path = (folder / relpath).resolve()
    if folder.resolve() not in path.parents or path.suffix.lower() not in suffixes:
        raise FsUserError(f"not a preview file: {relpath!r}")
    return path
