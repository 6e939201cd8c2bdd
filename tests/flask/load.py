"""Many virtual browsers signing in at once on two app processes that share one Redis.

Each browser has its own cookie jar, picks a crew member, a protocol (OIDC or SAML) and a
process to start on and another (or the same) to finish on, and asks to come back to a
path that only it uses. A login is *lost* when it does not end signed in, and *crossed*
when the browser comes back to another browser's path or ``/me`` shows another user.
Every answer of the apps is recorded; a 5xx other than 503 with the friendly page is a
failure wherever it happens.

Used by ``tests/flask/test_load_redis.py`` (small) and ``benchmarks/redis_load.py`` (about
200 concurrent logins).
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import requests

from rpkit.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

from .helpers import SP_CERT, SP_KEY, forms, free_port, sandbox_for
from .processes import RedisProcess, clean_env, example_app_process, redis_process

# The sandbox crew who may sign in (seed.json): lena.holm is inactive and
# piotr.kowalski's contract has ended, so the sandbox refuses both.
CREW = (
    "ingrid.larsen@nordic-aurora.example",
    "tomas.berg@nordic-aurora.example",
    "maria.santos@polar-voyager.example",
    "jonas.dela.cruz@polar-voyager.example",
    "erik.nilsen@nordic-aurora.example",
    "ana.reyes@skagerrak-star.example",
)
# The friendly page's title, whatever the app's error template adds around it.
FRIENDLY_503 = re.compile(
    r'data-testid="error-title"[^>]*>\s*Sign-in is unavailable for a moment\s*<'
)
TIMEOUT = 60


def _to(url: str, base_url: str) -> str:
    """``url`` on the process at ``base_url`` (the load balancer sent it there)."""
    parts, base = urlsplit(url), urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


@dataclass
class Outcome:
    """How one browser's login ended: ``ok``, ``refused`` (a 503), ``lost`` or ``crossed``."""

    kind: str
    detail: str = ""


@dataclass
class Browser:
    index: int
    user: str
    protocol: str
    start: str
    finish: str
    apps: tuple[str, ...]
    http: requests.Session = field(default_factory=requests.Session)
    statuses: Counter[int] = field(default_factory=Counter)
    bad_5xx: list[str] = field(default_factory=list)

    @property
    def next_path(self) -> str:
        return f"/profile?browser={self.index}"

    def _app(self, method: str, url: str, **kwargs: object) -> requests.Response:
        answer = self.http.request(
            method,
            url,
            allow_redirects=False,
            timeout=TIMEOUT,
            **kwargs,  # type: ignore[arg-type]
        )
        self.statuses[answer.status_code] += 1
        if answer.status_code >= 500 and not self.store_down(answer):
            self.bad_5xx.append(f"{method} {urlsplit(url).path}: {answer.status_code}")
        return answer

    @staticmethod
    def store_down(answer: requests.Response) -> bool:
        """The app's answer for "the session store is down": 503 and the friendly page."""
        if answer.status_code != 503:
            return False
        if answer.headers.get("Content-Type", "").startswith("application/json"):
            return bool(answer.json().get("error") == "store_unavailable")
        return FRIENDLY_503.search(answer.text) is not None

    def login(self, *, on_started: Callable[[], None] = lambda: None) -> Outcome:
        """Sign in once; never raises for an app's answer, only records it."""
        start = self._app(
            "GET", f"{self.start}/auth/login/{self.protocol}?next={quote(self.next_path)}"
        )
        if self.store_down(start):
            return Outcome("refused", "login start")
        if start.status_code != 302:
            return Outcome("lost", f"login start answered {start.status_code}")
        on_started()
        page = self.http.get(start.headers["Location"], allow_redirects=False, timeout=TIMEOUT)
        if page.status_code != 200 or not forms(page.text):
            return Outcome("lost", f"sandbox login page answered {page.status_code}")
        form = forms(page.text)[0]
        picked = self.http.post(
            urljoin(page.url, form["action"]),
            data={**form["fields"], "card": self.user},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if self.protocol == "oidc":
            if picked.status_code not in (302, 303):
                return Outcome("lost", f"sandbox answered {picked.status_code}")
            done = self._app("GET", _to(picked.headers["Location"], self.finish))
        else:
            acs = forms(picked.text) if picked.status_code == 200 else []
            if not acs:
                return Outcome("lost", f"sandbox answered {picked.status_code} without a form")
            done = self._app("POST", _to(acs[0]["action"], self.finish), data=acs[0]["fields"])
        if self.store_down(done):
            return Outcome("refused", "callback" if self.protocol == "oidc" else "ACS")
        if done.status_code != 303:
            return Outcome("lost", f"callback/ACS answered {done.status_code}")
        if done.headers["Location"] != self.next_path:
            return Outcome("crossed", f"came back to {done.headers['Location']}")
        return self.check_me()

    def check_me(self) -> Outcome:
        """``/me`` on every process must show this browser's own user."""
        for base in self.apps:
            me = self._app("GET", f"{base}/me", headers={"Accept": "application/json"})
            if self.store_down(me):
                return Outcome("refused", "/me")
            if me.status_code != 200:
                return Outcome("lost", f"/me on {base} answered {me.status_code}")
            body = me.json()
            if body.get("email") != self.user or body.get("protocol") != self.protocol:
                return Outcome("crossed", f"/me shows {body.get('email')} ({body.get('protocol')})")
        return Outcome("ok")


@dataclass
class Phase:
    name: str
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    bad_5xx: list[str] = field(default_factory=list)
    details: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, browser: Browser, outcome: Outcome) -> None:
        self.outcomes[outcome.kind] += 1
        if outcome.kind != "ok":
            self.details[f"{outcome.kind}: {outcome.detail}"] += 1
        self.statuses.update(browser.statuses)
        self.bad_5xx += browser.bad_5xx
        browser.statuses, browser.bad_5xx = Counter(), []

    @property
    def five_xx(self) -> dict[int, int]:
        return {s: n for s, n in sorted(self.statuses.items()) if s >= 500}

    def line(self) -> str:
        outcomes = ", ".join(f"{k}={v}" for k, v in sorted(self.outcomes.items()))
        statuses = " ".join(f"{s}:{n}" for s, n in sorted(self.statuses.items()))
        return f"{self.name}: {outcomes}; app answers {statuses}; {self.seconds:.1f} s"


@dataclass
class Cluster:
    apps: tuple[str, str]
    redis: RedisProcess


@contextmanager
def two_apps_on_redis(directory: Path) -> Iterator[Cluster]:
    """Redis (persistent), the sandbox, and two sample-app processes sharing both."""
    a, b = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    with ExitStack() as stack:
        redis = stack.enter_context(redis_process(persist=True))
        sandbox = stack.enter_context(sandbox_for(directory / "sandbox", [a, b]))
        common = {
            "RPKIT_REDIS_URL": redis.url,
            "RPKIT_SECRET_KEY": "shared-secret-for-both-processes",
            "RPKIT_OIDC_ISSUER": sandbox.issuer,
            "RPKIT_OIDC_CLIENT_ID": DEMO_CLIENT_ID,
            "RPKIT_OIDC_CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "RPKIT_SAML_IDP_METADATA_URL": sandbox.urls["saml_metadata"],
            # One SP behind a load balancer: both processes share its identity (A's URLs).
            "RPKIT_SAML_SP_ENTITY_ID": f"{a}/auth/saml/metadata",
            "RPKIT_SAML_ACS_URL": f"{a}/auth/saml/acs",
            "RPKIT_SAML_LOGOUT_URL": f"{a}/auth/saml/slo",
            "RPKIT_SAML_SP_KEY_FILE": str(SP_KEY),
            "RPKIT_SAML_SP_CERT_FILE": str(SP_CERT),
            # The sandbox shares this process's CPU with every virtual browser: give its
            # token endpoint time under load, so that slowness is not counted as an outage.
            "RPKIT_HTTP_TIMEOUT": "60",
        }
        for base in (a, b):
            stack.enter_context(
                example_app_process(base, clean_env(RPKIT_BASE_URL=base, **common), directory)
            )
        yield Cluster((a, b), redis)


class Crowd:
    """Virtual browsers with reproducible choices (``seed``)."""

    def __init__(self, apps: tuple[str, str], seed: int = 0) -> None:
        self.apps = apps
        self.rng = random.Random(seed)
        self.count = 0

    def browsers(self, n: int) -> list[Browser]:
        made = []
        for _ in range(n):
            self.count += 1
            made.append(
                Browser(
                    index=self.count,
                    user=self.rng.choice(CREW),
                    protocol=self.rng.choice(("oidc", "saml")),
                    start=self.rng.choice(self.apps),
                    finish=self.rng.choice(self.apps),
                    apps=self.apps,
                )
            )
        return made


def run_logins(
    name: str,
    browsers: list[Browser],
    *,
    concurrency: int,
    on_started: Callable[[], None] = lambda: None,
) -> Phase:
    """Every browser signs in once, ``concurrency`` at a time."""
    phase = Phase(name)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        outcomes = list(pool.map(lambda b: b.login(on_started=on_started), browsers))
    phase.seconds = time.perf_counter() - started
    for browser, outcome in zip(browsers, outcomes, strict=True):
        phase.add(browser, outcome)
    return phase


def recheck(name: str, browsers: list[Browser], *, concurrency: int) -> Phase:
    """``/me`` of browsers signed in earlier: still their own users."""
    phase = Phase(name)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        outcomes = list(pool.map(Browser.check_me, browsers))
    phase.seconds = time.perf_counter() - started
    for browser, outcome in zip(browsers, outcomes, strict=True):
        phase.add(browser, outcome)
    return phase


@dataclass
class LoadReport:
    phases: list[Phase]
    recovery_seconds: float

    def phase(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)


def load_and_outage(
    cluster: Cluster, *, logins: int, concurrency: int, outage_logins: int, seed: int = 0
) -> LoadReport:
    """Steady logins, Redis stopped in the middle of a wave, logins during the outage,
    Redis restarted on the same port, then logins again and the earlier sessions rechecked.
    """
    crowd = Crowd(cluster.apps, seed)
    steady_browsers = crowd.browsers(logins)
    steady = run_logins("steady", steady_browsers, concurrency=concurrency)

    # A wave whose logins are under way when Redis stops: once a third of them have
    # been sent to the IdP, the server goes away.
    wave = crowd.browsers(outage_logins)
    stop_after = max(1, outage_logins // 3)
    started = threading.Semaphore(0)
    stopper = threading.Thread(
        target=lambda: (
            [started.acquire(timeout=TIMEOUT) for _ in range(stop_after)],
            cluster.redis.stop(),
        )
    )
    stopper.start()
    mid = run_logins(
        "redis stops mid-wave", wave, concurrency=concurrency, on_started=started.release
    )
    stopper.join()
    down = run_logins("redis down", crowd.browsers(outage_logins), concurrency=concurrency)

    cluster.redis.start()
    began = time.perf_counter()
    probe = crowd.browsers(1)[0]
    while probe.login().kind != "ok":
        probe = crowd.browsers(1)[0]
        if time.perf_counter() - began > TIMEOUT:
            raise AssertionError("no login succeeded within a minute of Redis returning")
    recovery = time.perf_counter() - began
    back = run_logins("redis back", crowd.browsers(outage_logins), concurrency=concurrency)
    kept = recheck("steady sessions after restart", steady_browsers, concurrency=concurrency)
    for browser in steady_browsers + wave:
        browser.http.close()
    return LoadReport([steady, mid, down, back, kept], recovery)
