"""``fs gui``: serve the web application that starts, watches and steers training.

The server binds 127.0.0.1 unless ``--host`` says otherwise, and always has a token (generated when
not given) that the printed address carries. Trainers it starts run as their own processes, so
stopping the server (Ctrl-C) never stops or harms training.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
import webbrowser
from pathlib import Path
from typing import Any

from fs_core.errors import FsUserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "gui",
        help="serve the browser GUI: start, watch and steer training",
        description="Serve a web page that lists the models under --root, shows their training "
        "live and starts, stops and resumes it. Works over SSH port forwarding "
        "(ssh -L 8765:127.0.0.1:8765 HOST); needs no internet.",
    )
    parser.add_argument(
        "--root",
        default=".",
        metavar="DIR",
        help="the folder holding the model folders (default: the current folder)",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default 127.0.0.1, this machine only); any "
        "other address requires the token on every request",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--token",
        default=None,
        help="the access token (default: a new random one, printed in the address)",
    )
    parser.add_argument(
        "--no-browser", dest="no_browser", action="store_true", help="do not open a browser"
    )
    parser.set_defaults(func=run)
    return parser


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; a port in use or a bad address is a user error."""
    if not 0 <= port <= 65535:
        raise FsUserError(f"--port must be from 0 to 65535, got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise FsUserError(f"--host {host}: {error.strerror or error}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise FsUserError(
                f"port {port} on {host} is already in use (another fs gui?); "
                "choose another with --port"
            ) from None
        raise FsUserError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.set_inheritable(False)
    return sock


def url_for(host: str, port: int, token: str) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("localhost" if host == "::" else host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={token}"


def browser_usable() -> bool:
    """A graphical browser can open here: macOS, Windows, or a Linux/BSD session with a display."""
    if sys.platform in ("darwin", "win32"):
        return True
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def run(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415 (web server: fs --help starts without it)

    from fs_core.gui.app import create_app  # noqa: PLC0415 (web server: fs --help starts without it)
    from fs_core.gui.security import is_loopback, new_token  # noqa: PLC0415 (web server: fs --help starts without it)

    root = Path(args.root)
    if not root.is_dir():
        raise FsUserError("--root must be an existing folder", root)
    token = args.token if args.token is not None else new_token()
    if not token.strip() or any(c.isspace() for c in token):
        raise FsUserError("--token must be non-empty text without spaces")
    app = create_app(root, token, require_token_for_reads=not is_loopback(args.host))
    sock = bind(args.host, args.port)
    url = url_for(args.host, sock.getsockname()[1], token)
    print(f"fs gui: serving the models in {root.resolve()} at {url}", flush=True)
    print("Press Ctrl-C to stop the server (training it started goes on).", flush=True)
    if not args.no_browser and browser_usable():
        webbrowser.open(url)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down on Ctrl-C, then raises it again for callers
        pass
    finally:
        sock.close()
    print("fs gui: stopped", flush=True)
    return 0
