"""The tornado application: pages, the JSON/SSE API, login and the role check.

Pages are server-rendered skeletons (autoescaped templates); ``console.js``
fills them from one server-sent-events stream per browser tab. Every
mutation is a POST to ``/api/<node>/<action>`` guarded by tornado's
``xsrf_cookies`` and by :meth:`ActionHandler.post`'s role check, which runs
on every request whatever the page showed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tornado.web
from circus.client import ClientError
from circus.web._actions import ActionError, build
from circus.web._audit import Audit
from circus.web._auth import Authenticator, Role, Session
from circus.web._hub import Hub, sse_frame
from circus.web._node import Node
from tornado.iostream import StreamClosedError

logger = logging.getLogger("circus.web")

HERE = Path(__file__).parent
SESSION_COOKIE = "circushttpd_session"
_LOCAL = Session("local", Role.ADMIN, float("inf"))
_KEEPALIVE = 15.0


@dataclass
class Console:
    """Everything the handlers share."""

    nodes: dict[str, Node]
    hub: Hub
    auth: Authenticator
    audit: Audit
    tls: bool = False
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class BaseHandler(tornado.web.RequestHandler):
    """Who is asking, security headers, and the login wall."""

    console: Console

    def initialize(self, console: Console) -> None:
        self.console = console

    def set_default_headers(self) -> None:
        # Everything is served from here: no inline script, no third-party origin.
        self.set_header("Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                        "form-action 'self'; base-uri 'none'")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "no-referrer")

    def _bearer(self) -> Session | None:
        header = self.request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return self.console.auth.token(header[7:].strip())
        return None

    def get_current_user(self) -> Session | None:
        auth = self.console.auth
        if not auth.enabled:
            return _LOCAL
        bearer = self._bearer()
        if bearer is not None:
            return bearer
        raw = self.get_signed_cookie(SESSION_COOKIE)
        return auth.session(raw.decode() if raw else None)

    def check_xsrf_cookie(self) -> None:
        # A bearer token is not ambient authority (no browser sends it on its
        # own), so API scripts need no XSRF token; cookie sessions always do.
        if self._bearer() is None:
            super().check_xsrf_cookie()

    @property
    def session(self) -> Session:
        """The current user (``prepare`` guarantees one on protected handlers)."""
        user = self.current_user
        assert isinstance(user, Session)
        return user

    def render_page(self, template: str, **kwargs: Any) -> None:
        """Render a page with what every page shows."""
        self.render(template, user=self.session, auth_enabled=self.console.auth.enabled,
                    nodes=self.console.nodes, version=self.console.version, **kwargs)


class Protected(BaseHandler):
    """A handler for logged-in users only."""

    def prepare(self) -> None:
        if self.current_user is None:
            if self.request.method == "GET" and not self.request.path.startswith("/api/"):
                self.redirect("/login")
                return
            raise tornado.web.HTTPError(401)


class LoginHandler(BaseHandler):
    """The login form; throttled per client address."""

    def get(self) -> None:
        if not self.console.auth.enabled:
            self.redirect("/")
            return
        self.render("login.html", error="", version=self.console.version)

    def post(self) -> None:
        auth = self.console.auth
        client = self.request.remote_ip or "?"
        if not auth.enabled:
            self.redirect("/")
            return
        if auth.throttled(client):
            self.set_status(429)
            self.render("login.html", error="Too many failed logins: wait a minute.",
                        version=self.console.version)
            return
        name = self.get_body_argument("username", "")
        sid = auth.login(client, name, self.get_body_argument("password", ""))
        if sid is None:
            self.console.audit.record(name or "?", "-", "login", "", {"client": client},
                                      "refused")
            self.set_status(403)
            self.render("login.html", error="Wrong user name or password.",
                        version=self.console.version)
            return
        self.set_signed_cookie(SESSION_COOKIE, sid, expires_days=None, httponly=True,
                               secure=self.console.tls, samesite="Strict")
        session = auth.session(sid)
        assert session is not None
        self.console.audit.record(session.user, session.role.value, "login", "",
                                  {"client": client}, "ok")
        self.redirect("/")


class LogoutHandler(Protected):
    """Ends the session (POST, so no link can log anyone out)."""

    def post(self) -> None:
        raw = self.get_signed_cookie(SESSION_COOKIE)
        self.console.auth.logout(raw.decode() if raw else None)
        self.clear_cookie(SESSION_COOKIE)
        self.redirect("/login")


class NodesPage(Protected):
    """Every circusd, its state, and a link to each."""

    def get(self) -> None:
        self.render_page("nodes.html", page="nodes")


class WatchersPage(Protected):
    """The watchers of every circusd (or of one), with bulk actions."""

    def get(self, node_id: str | None = None) -> None:
        if node_id is not None and node_id not in self.console.nodes:
            raise tornado.web.HTTPError(404)
        self.render_page("watchers.html", page="watchers", only=node_id)


class WatcherPage(Protected):
    """One watcher: its processes, options and output."""

    async def get(self, node_id: str, name: str) -> None:
        node = self.console.nodes.get(node_id)
        if node is None:
            raise tornado.web.HTTPError(404)
        try:
            # A page must not hang for the actions' long timeout on a dead circusd.
            reply = await asyncio.wait_for(node.call("options", name=name), node.timeout)
            options = reply.get("options", {})
        except asyncio.TimeoutError:
            self.set_status(504)
            self.render_page("error.html", page="watcher",
                             message=f"{node.spec.endpoint} did not answer within "
                                     f"{node.timeout:g} s")
            return
        except ClientError as exc:
            self.set_status(404)
            self.render_page("error.html", page="watcher", message=f"{name}: {exc}")
            return
        self.render_page("watcher.html", page="watcher", node=node, name=name,
                         options=sorted(options.items()))


class SocketsPage(Protected):
    """The circus sockets of every circusd, with their hits."""

    def get(self) -> None:
        self.render_page("sockets.html", page="sockets")


class AddWatcherPage(Protected):
    """The add-watcher form."""

    def get(self, node_id: str) -> None:
        if node_id not in self.console.nodes:
            raise tornado.web.HTTPError(404)
        self.render_page("add.html", page="add", node=self.console.nodes[node_id])


class StateHandler(Protected):
    """``GET /api/state``: every node's snapshot, as JSON."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"role": self.session.role.value, "user": self.session.user,
                               "nodes": [n.snapshot() for n in self.console.nodes.values()]}))


async def _announce(node: Node, user: str, action: str, props: dict[str, Any]) -> None:
    """Put the action on the node's own event channel (``watcher.<name>.action``).

    circusd's ``publish_action`` (ours) carries it; a node-wide action is
    published for the watcher name ``*``. Upstream's circusd has no such
    command: there the audit log and the browsers' audit list stand alone.
    """
    name = props.get("name")
    try:
        await node.call("publish_action", name=name if isinstance(name, str) else "*",
                        source=f"circushttpd:{user}", action=action, reason="web console")
    except ClientError as exc:
        logger.debug("action not published on %s: %s", node.id, exc)


class ActionHandler(Protected):
    """``POST /api/<node>/<action>``: one circusd command, for admins only."""

    async def post(self, node_id: str, action: str) -> None:
        session = self.session
        fields = self._fields()
        target = {k: v for k, v in fields.items() if k != "_xsrf"}
        node = self.console.nodes.get(node_id)
        if node is None:
            raise tornado.web.HTTPError(404)
        audit = self.console.audit
        if session.role is not Role.ADMIN:
            audit.record(session.user, session.role.value, action, node_id, target, "denied")
            self._reply(403, {"status": "error", "reason": "read-only user"})
            return
        try:
            command, props = build(action, fields)
        except ActionError as exc:
            audit.record(session.user, session.role.value, action, node_id, target,
                         f"invalid: {exc}")
            self._reply(400, {"status": "error", "reason": str(exc)})
            return
        try:
            reply = await node.call(command, **props)
        except ClientError as exc:
            audit.record(session.user, session.role.value, action, node_id, target,
                         f"error: {exc}")
            self._reply(502, {"status": "error", "reason": str(exc)})
            return
        audit.record(session.user, session.role.value, action, node_id, target, "ok")
        await _announce(node, session.user, action, props)
        self._reply(200, reply)

    def _fields(self) -> dict[str, str]:
        if self.request.headers.get("Content-Type", "").startswith("application/json"):
            try:
                data = json.loads(self.request.body or b"{}")
            except ValueError:
                raise tornado.web.HTTPError(400, "invalid JSON body") from None
            if not isinstance(data, dict):
                raise tornado.web.HTTPError(400, "expected a JSON object")
            return {str(k): str(v) for k, v in data.items()}
        return {k: self.get_body_argument(k) for k in self.request.body_arguments}

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(body))


class EventsHandler(Protected):
    """``GET /api/events``: this tab's server-sent-events stream.

    Events: ``node`` (a circusd's snapshot), ``stats`` (one tick of
    circusd-stats per circusd), ``output`` (lines of the followed watcher,
    ``?tail=<node>/<watcher>``), ``audit``, ``hello`` (who you are).
    """

    async def get(self) -> None:
        console = self.console
        tail = None
        wanted = self.get_query_argument("tail", "")
        if wanted:
            node_id, _, watcher = wanted.partition("/")
            if node_id not in console.nodes or not watcher:
                raise tornado.web.HTTPError(400, "tail must be <node>/<watcher>")
            tail = (node_id, watcher)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # nginx: do not buffer the stream
        # circusd's own last lines first (they go back before this console
        # started); joining the hub right after, with no await in between,
        # loses and doubles no line (Node.backlog).
        fetched = None
        if tail is not None:
            fetched = await console.nodes[tail[0]].fetch_output(tail[1])
        listener = console.hub.join(tail)
        try:
            self.write(b"retry: 2000\n\n")
            self.write(sse_frame("hello", {"user": self.session.user,
                                           "role": self.session.role.value}))
            for node in console.nodes.values():
                self.write(sse_frame("node", node.snapshot()))
            if tail is not None:
                node = console.nodes[tail[0]]
                self.write(sse_frame("output", {"node": tail[0],
                                                "lines": node.backlog(tail[1], fetched)}))
            await self.flush()
            while True:
                frame = await _next_frame(listener.queue)
                self.write(frame)
                while not listener.queue.empty():  # one write for a burst
                    self.write(listener.queue.get_nowait())
                await self.flush()
        except StreamClosedError:
            pass
        finally:
            console.hub.leave(listener)


async def _next_frame(queue: asyncio.Queue[bytes]) -> bytes:
    """The next queued frame, or a keepalive after ``_KEEPALIVE`` seconds.

    Not ``asyncio.wait_for``, which before Python 3.12 can swallow the
    cancellation of a stream being closed at shutdown.
    """
    getter = asyncio.ensure_future(queue.get())
    try:
        done, _ = await asyncio.wait({getter}, timeout=_KEEPALIVE)
    finally:
        if not getter.done():
            getter.cancel()
    return getter.result() if getter in done else b": keepalive\n\n"


def make_app(console: Console, cookie_secret: bytes | None = None) -> tornado.web.Application:
    """The console's tornado application."""
    node = r"(n\d+)"
    routes: list[Any] = [
        (r"/login", LoginHandler),
        (r"/logout", LogoutHandler),
        (r"/", NodesPage),
        (r"/watchers", WatchersPage),
        (rf"/node/{node}", WatchersPage),
        (rf"/node/{node}/watcher/(.+)", WatcherPage),
        (rf"/node/{node}/add", AddWatcherPage),
        (r"/sockets", SocketsPage),
        (r"/api/state", StateHandler),
        (r"/api/events", EventsHandler),
        (rf"/api/{node}/([a-z]+)", ActionHandler),
    ]
    return tornado.web.Application(
        [(pattern, handler, {"console": console}) for pattern, handler in routes],
        template_path=str(HERE / "templates"),
        static_path=str(HERE / "static"),
        cookie_secret=cookie_secret or secrets.token_bytes(32),
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "secure": console.tls, "samesite": "Strict"},
        login_url="/login",
        autoescape="xhtml_escape",
        compress_response=False,
    )
