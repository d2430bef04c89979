"""A study page on the Dask dashboard, served by the scheduler itself.

Two halves, joined by the study's own client connection:

* Driver side, :class:`Publisher`: every journal record of the study (from its
  :class:`~hpo_kit.ui.feed.Feed`) is batched and sent to the scheduler on the client's
  stream to it (an ``hpo-kit-records`` message, which the scheduler hands over with the
  id of the client it came from) every ``interval`` seconds, off the study's loop thread,
  with a heartbeat while nothing happens. The study's last records
  (``study_end``) are sent at once, from the thread that writes them, *before* the study
  closes its client; with an embedded cluster, whose scheduler closes with the study, the
  close then waits (at most ``linger`` seconds) until a page that is open has shown the
  end. (The workers' own report events already reach the scheduler under
  ``hpo-kit-<runner id>``, but trial ends, flags and controls happen on the driver, so
  the page reads the journal records, the one complete story.)
* Scheduler side, :class:`StudyBoard`: a ``SchedulerPlugin`` that keeps each study's
  records, which adds routes to the scheduler's HTTP server (the
  one that serves the dashboard): ``/hpo-kit/`` (the studies), ``/hpo-kit/<study>`` (the
  page: header, figures, trial table) and ``/hpo-kit/<study>/data.json`` (what the page
  polls), and which puts *hpo_kit studies* in the dashboard's **More...** menu.

Records are accepted only from the client that registered the study: the first client
to send a study's name owns its page; another client using that name is refused (and
the scheduler logs it), so a client of the same scheduler cannot add records to, or
fake, a study's page (before, any client could, with ``client.log_event``). This guards
against mix-ups and injection through Dask's public API; it is no defence against a
hostile client, which Dask lets run any code on the scheduler (``run_on_scheduler``):
secure the scheduler itself for that (TLS, ``Security``).

An owner's records are input too: checked and bounded per study (:mod:`hpo_kit.ui.records`),
refusals logged and sent as :data:`REFUSED` events; each study is rendered on its own.

The page draws with the same functions as the notebook (:mod:`hpo_kit.ui.page`). The
scheduler needs hpo_kit importable (the same environment as the driver).
"""
from __future__ import annotations

import html
import json
import logging
import threading
import time
import urllib.parse
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from .controls import ENDED
from .feed import Feed
from .importance import ImportanceCache
from .page import ROUTE, index_page, page_data, render_page, strict  # noqa: F401 - re-exported
from .records import MAX_BYTES, MAX_RECORDS, StudyRecords

STREAM_OP = "hpo-kit-records"  # the op of the study's messages on its client's stream to the scheduler
REFUSED = "hpo-kit-refused"  # the scheduler's event topic for refused records
PLUGIN_NAME = "hpo-kit-board"
MENU_ENTRY = {"url": "hpo-kit/", "name": "hpo_kit studies"}
WATCHED_S = 3.0  # a page that polled this recently is open
logger = logging.getLogger(__name__)


class RefusedStudy(PermissionError):
    """The study's name is registered on this scheduler by another client."""


def page_url(client: Any, study_name: str) -> str:
    """The study's page on the dashboard of ``client``'s scheduler."""
    link = client.dashboard_link or ""
    base = link[: -len("/status")] if link.endswith("/status") else link.rstrip("/")
    return f"{base}{ROUTE}/{urllib.parse.quote(study_name)}"


def add_to_menu(scheduler: Any) -> bool:
    """Put :data:`MENU_ENTRY` in the Dask dashboard's *More...* list (the individual pages); True if there."""
    try:
        from distributed.dashboard.scheduler import template_variables
    except ImportError:  # no bokeh dashboard on this scheduler
        return False
    plots = template_variables(scheduler)["plots"]  # memoized: the list the dashboard pages render
    if MENU_ENTRY not in plots:
        plots.append(dict(MENU_ENTRY))
        plots.sort(key=lambda d: d["name"].lower())
    return True


class StudyBoard(SchedulerPlugin):
    """Scheduler plugin: keeps published studies' records and serves their pages.

    Registered once per scheduler by :class:`Publisher` (idempotent: the first one's caps hold).

    Parameters
    ----------
    max_records, max_bytes
        Caps on each study's records (see :mod:`hpo_kit.ui.records`).
    """

    idempotent = True
    name = PLUGIN_NAME

    def __init__(self, max_records: int = MAX_RECORDS, max_bytes: int = MAX_BYTES) -> None:
        self.max_records, self.max_bytes = max_records, max_bytes
        self.studies: dict[str, list[dict[str, Any]]] = {}  # study -> its intake's records (the same list)
        self.intake: dict[str, StudyRecords] = {}  # study -> its checked, bounded records
        self.heard: dict[str, float] = {}  # study -> when the scheduler last heard from it
        self.polled: dict[str, float] = {}  # study -> when a page last polled it
        self.shown_end: dict[str, bool] = {}  # study -> a page was served its study_end
        self.owners: dict[str, str] = {}  # study -> id of the client that registered it (first wins)
        self.refused: dict[str, set[str]] = {}  # study -> ids of other clients that tried it
        self.scheduler: Any = None
        self._importance: dict[str, ImportanceCache] = {}
        self._served: dict[str, Any] = {}  # study -> the importance result its pages last got

    def start(self, scheduler: Any) -> None:
        from tornado import web

        board = self
        self.scheduler = scheduler

        class Base(web.RequestHandler):
            def set_default_headers(self) -> None:
                self.set_header("Cache-Control", "no-store")

            def records(self, name: str) -> list[dict[str, Any]]:
                name = urllib.parse.unquote(name)
                if name not in board.studies:
                    raise web.HTTPError(404, f"no study {name!r} published here")
                return board.studies[name]

            def alone(self, name: str, make: Any) -> None:
                """Write ``make(name, records)``; a study that cannot be drawn answers an error for itself only."""
                records, name = self.records(name), urllib.parse.unquote(name)  # 404 first
                try:
                    self.write(make(name, records))
                except Exception as exc:  # noqa: BLE001 - one study's records must not break the dashboard
                    logger.exception("hpo_kit: study %r cannot be shown", name)
                    self.set_status(500)
                    self.write(f"hpo_kit: study {html.escape(repr(name))} cannot be shown "
                               f"({html.escape(type(exc).__name__)}); the other studies are unaffected")

        class Index(Base):
            def get(self) -> None:
                self.write(index_page(board.studies, notes={n: i.notice() for n, i in board.intake.items()}))

        class Page(Base):
            def get(self, name: str) -> None:
                self.alone(name, render_page)

        class Data(Base):
            def get(self, name: str) -> None:
                self.set_header("Content-Type", "application/json")
                self.alone(name, lambda n, records: json.dumps(board.data(n, records, self.get_argument("n", None))))

        ImportanceCache()  # its imports, now, on this thread (see ImportanceCache.__init__)
        scheduler.stream_handlers[STREAM_OP] = self._on_stream
        scheduler.http_application.add_handlers(r".*", [
            (rf"{ROUTE}/?", Index), (rf"{ROUTE}/([^/]+)/data.json", Data), (rf"{ROUTE}/([^/]+)/?", Page)])
        add_to_menu(scheduler)

    def data(self, name: str, records: list[dict[str, Any]], seen: str | None = None) -> dict[str, Any]:
        """``data.json``: the page's data, or ``{"unchanged": true, ...}`` when the page has them all."""
        now = time.time()
        self.polled[name] = now
        silent = now - self.heard.get(name, now)
        ended = bool(records) and any(r.get("event") == "study_end" for r in records[-3:])
        if ended:
            self.shown_end[name] = True
        cache = self._importance.setdefault(name, ImportanceCache())
        importance = cache.get(records)
        if seen is not None and seen == str(len(records)) and self._served.get(name) is importance:
            return strict({"unchanged": True, "ended": ended, "silent_s": silent,
                           "disconnected": not ended and silent > 10.0})
        self._served[name] = importance
        return page_data(records, importance=importance, silent_s=silent,
                         notice=self.intake[name].notice_html() if name in self.intake else "")

    def watch_state(self, name: str) -> dict[str, bool]:
        """Is a page open on ``name`` (polled in the last :data:`WATCHED_S`), and has it been shown the end?"""
        return {"watched": time.time() - self.polled.get(name, 0.0) < WATCHED_S,
                "shown_end": self.shown_end.get(name, False)}

    def receive(self, study: str, client: str, records: str | None = None, alive: float | None = None) -> bool:
        """Take a message of ``client`` for ``study``; False (logged once, and as a :data:`REFUSED` event)
        if another client owns the study.

        The first client to send a study's name registers it; once that client has disconnected,
        the next one takes the name over and its page starts afresh (a study resumed in a new
        kernel publishes its whole journal again). ``records`` is a JSON list of
        journal records; a message without is a heartbeat (or the registration).
        """
        owner = self.owners.get(study)
        if owner is None or (owner != client and not self._connected(owner)):
            if owner is not None:  # its owner left: a new run of the name (a resume, a new kernel) starts afresh
                for kept in (self.studies, self.intake, self.heard, self.shown_end, self._served):
                    kept.pop(study, None)
            owner = self.owners[study] = client
        if owner != client:
            if client not in self.refused.setdefault(study, set()):
                self.refused[study].add(client)
                logger.warning("hpo_kit: refused records for study %r from client %s: the study is registered "
                               "by client %s (first registration wins; give the study another name)",
                               study, client, owner)
                if self.scheduler is not None:  # also in the scheduler's event log: client.get_events(REFUSED)
                    self.scheduler.log_event(REFUSED, {"study": study, "client": client, "owner": owner})
            return False
        self.heard[study] = time.time()
        intake = self.intake.setdefault(study, StudyRecords(self.max_records, self.max_bytes))
        self.studies[study] = intake.records
        self.shown_end.setdefault(study, False)
        accepted, refused, why = intake.take(records) if records else (0, 0, "")
        if refused and intake.first_refusal(client):  # once per client and kind; the page counts the rest
            logger.warning("hpo_kit: refused %d record(s) of study %r from client %s: %s", refused, study, client, why)
            if self.scheduler is not None:  # client.get_events(REFUSED)
                self.scheduler.log_event(REFUSED, dict(study=study, client=client, refused=refused, problem=why))
        return accepted > 0 or not refused

    def _connected(self, client: str) -> bool:
        return self.scheduler is None or client in getattr(self.scheduler, "clients", {client: None})

    def _on_stream(self, client: str | None = None, study: Any = None, **msg: Any) -> None:
        """The scheduler's handler of :data:`STREAM_OP` messages; never raises (that would close the stream)."""
        try:
            if isinstance(client, str) and isinstance(study, str):
                self.receive(study, client, msg.get("records"), msg.get("alive"))
        except Exception:  # noqa: BLE001 - a bad message must not cut a client off the scheduler
            logger.exception("hpo_kit: a bad %s message from client %s", STREAM_OP, client)


def _owner(name: str, dask_scheduler: Any = None) -> str | None:
    board = dask_scheduler.plugins.get(PLUGIN_NAME)
    owner = board.owners.get(name) if board is not None else None
    return owner if owner is not None and board._connected(owner) else None  # a gone owner's name is free


def _watch_state(name: str, dask_scheduler: Any = None) -> dict[str, bool]:
    board = dask_scheduler.plugins.get(PLUGIN_NAME)
    return board.watch_state(name) if board is not None else {"watched": False, "shown_end": False}


class Publisher:
    """Sends a study's journal records to the scheduler's :class:`StudyBoard`.

    Parameters
    ----------
    study
        A started :class:`~hpo_kit.Study` (it needs ``study.client``).
    feed
        The study's feed (one is made if not given).
    interval
        Seconds between batches (a heartbeat is sent every ``heartbeat`` seconds without one).
    linger
        With an embedded cluster: seconds the study's close may wait for an open page to
        show the end (0: never wait).

    Raises
    ------
    RefusedStudy
        Another client of the scheduler registered a study of this name first.
    """

    def __init__(self, study: Any, feed: Feed | None = None, interval: float = 0.5, heartbeat: float = 2.0,
                 linger: float = 4.0) -> None:
        if study.client is None:
            raise RuntimeError("publish: the study has no client yet; call study.start() first")
        self.study, self.client, self.interval, self.heartbeat = study, study.client, interval, heartbeat
        self.linger = linger if study.cluster is None else 0.0
        self.url = page_url(self.client, study.name)
        self.client.register_plugin(StudyBoard(), name=PLUGIN_NAME)
        self._register()
        self.feed = feed or Feed(study)
        self._lock = threading.Lock()
        self._send = threading.Lock()  # one batch at a time, in order
        self._pending: list[dict[str, Any]] = []
        self._sent_at = time.monotonic()
        self._stop = threading.Event()
        self.ended = False
        self._add(self.feed.subscribe(self._add))
        self.flush()  # the page exists once this returns
        self._thread = threading.Thread(target=self._run, name=f"hpo-kit-publish-{study.name}", daemon=True)
        self._thread.start()

    def _add(self, records: list[dict[str, Any]]) -> None:
        with self._lock:
            self._pending.extend(records)
        if any(r.get("event") == "study_end" for r in records) and not self.ended:
            # Called by the thread that journals the end, before the study closes its client.
            self.ended = True
            try:
                self.flush()
                self._wait_for_page()
            except Exception:  # noqa: BLE001 - the cluster may be gone already; never delay the close for it
                pass

    def _post(self, **payload: Any) -> None:
        # On the client's own stream, so that the scheduler knows which client sent it.
        self.client._send_to_scheduler({"op": STREAM_OP, "study": self.study.name, **payload})

    def _register(self, timeout: float = 30.0) -> None:
        """Claim the study's name on the scheduler; :class:`RefusedStudy` if another client holds it."""
        self._post()
        deadline = time.monotonic() + timeout
        while (owner := self.client.run_on_scheduler(_owner, self.study.name)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"publish: the scheduler did not register study {self.study.name!r}")
            time.sleep(0.02)  # the stream and this call travel apart: wait until the claim has arrived
        if owner != self.client.id:
            raise RefusedStudy(f"publish: study {self.study.name!r} is already shown on this scheduler's "
                               f"dashboard by another client ({owner}); its page accepts records only from "
                               "that client. Give this study another name.")

    def flush(self) -> int:
        """Send what is pending now; returns the number of records sent."""
        with self._send:
            with self._lock:
                batch, self._pending = self._pending, []
            if batch:
                slim = [{k: v for k, v in r.items() if k != "traceback"} for r in batch]
                self._post(records=json.dumps(slim, default=str))
                self._sent_at = time.monotonic()
            elif time.monotonic() - self._sent_at >= self.heartbeat:
                self._post(alive=time.time())
                self._sent_at = time.monotonic()
        return len(batch)

    def _wait_for_page(self) -> None:
        """Embedded cluster: keep the scheduler up until an open page has shown the end (at most ``linger`` s)."""
        deadline = time.monotonic() + self.linger
        while time.monotonic() < deadline:
            state = self.client.run_on_scheduler(_watch_state, self.study.name)
            if not state["watched"] or state["shown_end"]:
                return
            time.sleep(0.2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the cluster went away (the study closed it): stop quietly
                return
            if self.study.state in ENDED and not self._pending:
                return

    def close(self) -> None:
        """Stop publishing (what was sent stays on the page)."""
        self._stop.set()
        self._thread.join(timeout=2)


def publish(study: Any, feed: Feed | None = None) -> Publisher:
    """Show ``study`` on its scheduler's dashboard; returns the publisher (``.url`` is the page)."""
    return Publisher(study, feed)
