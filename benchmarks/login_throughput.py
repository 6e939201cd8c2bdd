"""Logins per second through the sample app under gunicorn: OIDC and SAML, memory and Redis.

One run, every figure and ratio printed. The sample app (``example_app``) is served by
gunicorn with one sync worker, against a local fake OpenID provider (``tests/oidc/
fake_op.py``, its own process) and a test SAML IdP (``tests/saml/idp.py``, whose key signs
in the load generator). The load generator is another process on loopback; it prepares each
login untimed (login start, and the OP's authorization redirect or the IdP's signed
response, each for a unique login), then times the step that signs the browser in: the
OIDC callback (with its back-channel token request) or the SAML ACS POST. A sample of the
new sessions is then checked with ``GET /me``.

Rows: OIDC and SAML x memory and Redis x distinct users and one user (a shared crew
account). Baselines measured in the same run:
  - the in-process floor: what any correct relying party must do per login, with no HTTP
    and no store (SAML: base64 + lxml parse + python-xmlsec verify of the response;
    OIDC: joserfc verify of the RS256 ID token);
  - peers under the same gunicorn and generator: Authlib's Flask client (OIDC), and
    pysaml2's SP (SAML), the latter only where the ``xmlsec1`` binary it needs is installed.
The generator's and the worker's CPU use (in cores) show whether the generator starved the
server: the worker near 1.0 means the server was the bottleneck.

On a machine with two CPUs or more, the gunicorn worker under test gets a CPU of its own and
everything else (this script, the generator, Redis, the OP, the gunicorn masters) shares
another, where the generator runs at a lower priority (nice 10) than Redis and the OP: in
production Redis, the OP and the browsers are other hosts, and on a small box an unpinned
run mostly measures the scheduler (Redis and the generator preempting the worker).
``--no-pin`` runs unpinned.

    .venv/bin/python benchmarks/login_throughput.py [--n 1000] [--peer-n 200] [--quick]

Exits 1 when a login or a /me check failed (``--quick`` runs in the test suite).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.oidc.fake_op, tests.saml.idp

SAML_TIMEOUT = 30.0


# -- small HTTP client: one connection per request, as gunicorn's sync worker closes them --


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")

    def cookies(self) -> dict[str, str]:
        found = {}
        for key, value in self.headers:
            if key.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                found[name.strip()] = rest.split(";", 1)[0]
        return found


def request(
    method: str,
    url: str,
    *,
    cookies: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Answer:
    parts = urlsplit(url)
    headers = {"Host": parts.netloc, "Connection": "close"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = b""
    if form is not None:
        body = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Content-Length"] = str(len(body))
    target = parts.path + ("?" + parts.query if parts.query else "")
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=SAML_TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # One write, as a browser sends a small form. http.client writes the headers and
        # the body apart; between the two this thread must win the GIL back from the
        # generator's other threads (up to a 5 ms switch interval), while the server,
        # already reading the request, sits idle: that measured the generator, not rpkit.
        sock.sendall((head + "\r\n").encode("latin-1") + body)
        response = http.client.HTTPResponse(sock, method=method)
        try:
            response.begin()
            return Answer(response.status, response.getheaders(), response.read())
        finally:
            response.close()


def _absolute(base: str, location: str) -> str:
    return location if location.startswith("http") else base + location


# -- the load generator (a process of its own) --------------------------------------------


def _user(spec: dict[str, Any], i: int) -> str:
    return "crew-shared" if spec["users"] == "one" else f"crew-{spec['tag']}-{i}"


def _prepare_oidc(spec: dict[str, Any], i: int) -> tuple[str, dict[str, str], str]:
    base = spec["base_url"]
    start = request("GET", base + spec["login_path"])
    assert start.status == 302, (start.status, start.body[:200])
    cookies = start.cookies()
    # The user picks who signs in at the OP (login_hint): unique or the shared account.
    user = _user(spec, i)
    authorize = request("GET", start.header("Location") + "&" + urlencode({"login_hint": user}))
    assert authorize.status == 302, (authorize.status, authorize.body[:200])
    return _absolute(base, authorize.header("Location")), cookies, user


def _prepare_saml(spec: dict[str, Any], i: int, idp: Any) -> tuple[str, dict[str, str], str]:
    from tests.saml.idp import ResponseSpec, TestIdp, q

    base = spec["base_url"]
    start = request("GET", base + spec["login_path"])
    assert start.status == 302, (start.status, start.body[:200])
    query = parse_qs(urlsplit(start.header("Location")).query)
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15)
    found = re.search(rb'\sID="([^"]+)"', xml)
    assert found is not None, xml[:300]
    request_id = found.group(1).decode()
    user = _user(spec, i)
    now = datetime.now(UTC).replace(microsecond=0)
    root = idp.build_response(
        ResponseSpec(
            in_response_to=request_id,
            scd_in_response_to=request_id,
            issue_instant=now,
            destination=spec["acs_url"],
            recipient=spec["acs_url"],
            audience=spec["sp_entity_id"],
            response_issuer=idp.entity_id,
            assertion_issuer=idp.entity_id,
            name_id=user,
            session_index=f"_s{spec['tag']}{i}",
            not_before=now - timedelta(seconds=30),
            not_on_or_after=now + timedelta(minutes=10),
            scd_not_on_or_after=now + timedelta(minutes=10),
        )
    )
    # Unique IDs across generator processes (the test IdP counts from 1 in each).
    root.set("ID", "_" + secrets.token_hex(16))
    root.find(q("saml", "Assertion")).set("ID", "_" + secrets.token_hex(16))
    idp.sign(root)
    form = {"SAMLResponse": TestIdp.encode(root), "RelayState": query["RelayState"][0]}
    return json.dumps(form), start.cookies(), user


def _load_idp(spec: dict[str, Any]) -> Any:
    from rpkit.saml import _xmlsec
    from tests.saml.idp import TestIdp

    idp = TestIdp.__new__(TestIdp)  # the run's IdP key, not a fresh one
    idp.entity_id = spec["idp_entity_id"]
    idp.key_pem = Path(spec["idp_key_file"]).read_bytes()
    idp.cert_pem = Path(spec["idp_cert_file"]).read_bytes()
    idp.signing_key = _xmlsec.SigningKey(idp.key_pem, idp.cert_pem)
    return idp


def run_generator(spec: dict[str, Any]) -> dict[str, Any]:
    """Prepare ``n`` logins, then time signing them in with ``concurrency`` threads."""
    n, protocol = int(spec["n"]), spec["protocol"]
    idp = _load_idp(spec) if protocol == "saml" else None
    prepared = [
        _prepare_oidc(spec, i) if protocol == "oidc" else _prepare_saml(spec, i, idp)
        for i in range(n)
    ]
    sessions: list[tuple[dict[str, str], str] | None] = [None] * n
    failures: list[str] = []
    cursor = iter(range(n))
    lock = threading.Lock()

    def finish(i: int) -> None:
        target, cookies, user = prepared[i]
        if protocol == "oidc":
            answer = request("GET", target, cookies=cookies)
        else:
            answer = request("POST", spec["acs_url"], cookies=cookies, form=json.loads(target))
        if answer.status != 303:
            failures.append(f"{answer.status} {answer.body[:120]!r}")
            return
        sessions[i] = ({**cookies, **answer.cookies()}, user)

    def worker() -> None:
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            finish(i)

    threads = [threading.Thread(target=worker) for _ in range(int(spec["concurrency"]))]
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    worker_before = _cpu_seconds(int(spec["worker_pid"]))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    worker_cpu = _cpu_seconds(int(spec["worker_pid"])) - worker_before
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = used.ru_utime - cpu.ru_utime + used.ru_stime - cpu.ru_stime
    # A sample of the new sessions must be signed in as the user who logged in.
    checked = ok = 0
    for i in range(0, n, max(1, n // int(spec["sample"]))):
        entry = sessions[i]
        if entry is None:
            continue
        checked += 1
        me = request("GET", spec["base_url"] + "/me", cookies=entry[0])
        if me.status == 200 and json.loads(me.body).get("subject") == entry[1]:
            ok += 1
    return {
        "logins": n - len(failures),
        "seconds": seconds,
        "generator_cpu_seconds": cpu_seconds,
        "worker_cpu_seconds": worker_cpu,
        "checked": checked,
        "me_ok": ok,
        "failures": failures[:3],
    }


# -- the fake OP (a process of its own) ----------------------------------------------------


def run_op(ready_file: Path) -> None:
    from tests.oidc.fake_op import CLIENT_ID, CLIENT_SECRET, FakeOP

    op = FakeOP(sub_for=lambda q: q.get("login_hint") or "crew-1001").start()
    ready_file.write_text(
        json.dumps({"issuer": op.issuer, "id": CLIENT_ID, "secret": CLIENT_SECRET})
    )
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


# -- orchestration -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline, delay = time.monotonic() + timeout, 0.02
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RPKIT_", "PEER_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "benchmarks" / "peers")])
    env.update(extra)
    return env


@contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextmanager
def gunicorn(app: str, env: dict[str, str], port: int, log: Path) -> Iterator[Callable[[], int]]:
    """Start ``app`` with one sync worker; yield a call that waits for it, returns its pid.

    Servers start together and are waited for later: their imports overlap.
    """
    argv = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--workers=1",
        "--worker-class=sync",
        f"--bind=127.0.0.1:{port}",
        "--backlog=2048",
        "--log-level=warning",
        app,
    ]
    with _process(argv, env, log) as master:

        def ready() -> bool:
            if master.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log}")
            return request("GET", f"http://127.0.0.1:{port}/me").status == 401

        def worker_pid() -> int:
            _wait(ready, f"gunicorn {app}", timeout=120)
            path = Path(f"/proc/{master.pid}/task/{master.pid}/children")
            pid = int(path.read_text().split()[0])
            if PINNING is not None:
                os.sched_setaffinity(pid, PINNING[0])  # the server under test: a CPU of its own
            return pid

        yield worker_pid


def _cpus() -> tuple[set[int], set[int]] | None:
    """(the worker's CPU, everyone else's), or None where pinning is off or impossible."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return {cpus[-1]}, {cpus[0]}


PINNING: tuple[set[int], set[int]] | None = None
GENERATOR_NICE = 10


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Generator:
    """The load generator: one process for the whole run, a row's spec per line on stdin."""

    def __init__(self, log: Path) -> None:
        self._log = open(log, "wb")
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--role=generator"],
            env=_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        if PINNING is not None:
            # Redis and the provider are part of what is measured and share the generator's
            # CPU: the generator yields to them (nice 10), so a Redis reply or a token answer
            # does not wait behind the next browser's request being built, as it would not
            # on hosts of their own. Raising one's own nice value needs no privilege.
            os.setpriority(os.PRIO_PROCESS, self._process.pid, GENERATOR_NICE)

    def drive(self, spec: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(spec).encode() + b"\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the load generator died; see {self._log.name}")
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._log.close()


def serve_generator() -> None:
    for line in sys.stdin:
        sys.stdout.write(json.dumps(run_generator(json.loads(line))) + "\n")
        sys.stdout.flush()


# -- in-process floors ---------------------------------------------------------------------


class Floor:
    """An in-process floor, measured in slices between the rows (wall and CPU time)."""

    def __init__(self, fn: Callable[[int], object], n: int) -> None:
        self._fn, self._n, self._next = fn, n, 1
        fn(0)  # warm up
        self.count, self.seconds, self.cpu_seconds = 0, 0.0, 0.0

    def measure(self, count: int) -> None:
        count = min(count, self._n - self._next + 1)
        cpu, started = time.process_time(), time.perf_counter()
        for i in range(self._next, self._next + count):
            self._fn(i)
        self.seconds += time.perf_counter() - started
        self.cpu_seconds += time.process_time() - cpu
        self._next += count
        self.count += count

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_seconds / self.count


def saml_floor(n: int) -> Floor:
    """base64 + lxml parse + python-xmlsec verify: what any SAML SP does per login."""
    import xmlsec
    from lxml import etree

    from tests.saml.idp import ResponseSpec, TestIdp

    idp = TestIdp()
    responses = []
    for _ in range(n + 1):
        root = idp.build_response(ResponseSpec(issue_instant=datetime.now(UTC)))
        idp.sign(root)
        responses.append(TestIdp.encode(root))
    key = xmlsec.Key.from_memory(idp.cert_pem, xmlsec.constants.KeyDataFormatCertPem, None)

    def verify(i: int) -> None:
        root = etree.fromstring(base64.b64decode(responses[i]))
        ctx = xmlsec.SignatureContext()
        ctx.register_id(root, "ID")
        ctx.key = key
        ctx.verify(root.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))

    return Floor(verify, n)


def oidc_floor(n: int) -> Floor:
    """joserfc verify of an RS256 ID token and its claims JSON: what any OIDC RP does."""
    from joserfc import jws
    from joserfc.jwk import RSAKey

    from tests.oidc.fake_op import sign_jwt

    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, auto_kid=False)
    now = int(time.time())
    tokens = [
        sign_jwt({"iss": "x", "sub": f"crew-{i}", "aud": "c", "iat": now, "exp": now + 300}, key)
        for i in range(n + 1)
    ]
    public = RSAKey.import_key(key.as_dict(private=False))

    def verify(i: int) -> None:
        json.loads(jws.deserialize_compact(tokens[i], public).payload)

    return Floor(verify, n)


# -- the run -------------------------------------------------------------------------------


@dataclass
class Row:
    protocol: str
    label: str
    spec: dict[str, Any]
    n: int
    result: dict[str, Any] | None = None  # summed over the rounds; None: skipped

    def add(self, result: dict[str, Any]) -> None:
        if self.result is None:
            self.result = dict(result)
            return
        for key in ("logins", "seconds", "checked", "me_ok", "generator_cpu_seconds"):
            self.result[key] += result[key]
        self.result["worker_cpu_seconds"] += result["worker_cpu_seconds"]
        self.result["failures"] += result["failures"]

    @property
    def rate(self) -> float:
        assert self.result is not None
        return float(self.result["logins"] / self.result["seconds"])


def run(args: argparse.Namespace, floors: dict[str, Floor]) -> list[Row]:
    """Start the OP, Redis and every server, then drive the rows round-robin.

    Rows take turns in ``--rounds`` rounds, so a burst of load from elsewhere on the
    machine lands on every row alike instead of skewing one of them.
    """
    from tests.flask.processes import redis_server
    from tests.saml.idp import TestIdp, make_key_pair

    tmp = Path(tempfile.mkdtemp(prefix="rpkit-throughput-"))
    idp = TestIdp("https://idp.bench.test/auth")
    (tmp / "idp.key").write_bytes(idp.key_pem)
    (tmp / "idp.crt").write_bytes(idp.cert_pem)
    # Metadata valid from now, whatever the date (never a pinned validUntil).
    (tmp / "idp.xml").write_bytes(idp.metadata(valid_until=datetime.now(UTC) + timedelta(days=2)))
    sp_key, sp_cert = make_key_pair("throughput SP (throwaway)")
    (tmp / "sp.key").write_bytes(sp_key)
    (tmp / "sp.crt").write_bytes(sp_cert)
    common = {
        "idp_entity_id": idp.entity_id,
        "idp_key_file": str(tmp / "idp.key"),
        "idp_cert_file": str(tmp / "idp.crt"),
        "concurrency": args.concurrency,
    }
    rows: list[Row] = []
    op_ready = tmp / "op.json"
    op_argv = [sys.executable, __file__, "--role=op", f"--spec={op_ready}"]
    with ExitStack() as stack:
        stack.enter_context(_process(op_argv, _env(), tmp / "op.log"))
        redis_url = stack.enter_context(redis_server())
        _wait(lambda: op_ready.exists() and bool(op_ready.read_text()), "the fake OP")
        op = json.loads(op_ready.read_text())
        for store in ("memory", "redis"):
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            env = _env(
                RPKIT_BASE_URL=base,
                RPKIT_SANDBOX="off",
                RPKIT_SECRET_KEY="throughput-benchmark-throwaway",
                RPKIT_OIDC_ISSUER=op["issuer"],
                RPKIT_OIDC_CLIENT_ID=op["id"],
                RPKIT_OIDC_CLIENT_SECRET=op["secret"],
                RPKIT_SAML_IDP_METADATA_FILE=str(tmp / "idp.xml"),
                RPKIT_SAML_SP_KEY_FILE=str(tmp / "sp.key"),
                RPKIT_SAML_SP_CERT_FILE=str(tmp / "sp.crt"),
                **({"RPKIT_REDIS_URL": redis_url} if store == "redis" else {}),
            )
            app = "example_app:create_app()"
            pid = stack.enter_context(gunicorn(app, env, port, tmp / f"app-{store}.log"))
            for protocol in ("oidc", "saml"):
                for users in ("distinct", "one"):
                    spec = {
                        **common,
                        "protocol": protocol,
                        "users": users,
                        "worker_pid": pid,
                        "base_url": base,
                        "login_path": f"/auth/login/{protocol}",
                        "acs_url": base + "/auth/saml/acs",
                        "sp_entity_id": base + "/auth/saml/metadata",
                    }
                    label = f"rpkit  {store:<6} {users} user{'s' if users != 'one' else ''}"
                    rows.append(Row(protocol, label, spec, args.n))
        rows += _peers(args, op, tmp, common, stack)
        tags = iter(range(10**6))
        for row in rows:
            if callable(row.spec.get("worker_pid")):
                row.spec["worker_pid"] = row.spec["worker_pid"]()
        generator = Generator(tmp / "generator.log")
        stack.callback(generator.close)
        for round_ in range(args.rounds):
            for row in rows:
                if row.n == 0:
                    continue
                share = row.n // args.rounds + (1 if round_ < row.n % args.rounds else 0)
                if share:
                    spec = {**row.spec, "n": share, "tag": next(tags), "sample": args.sample}
                    row.add(generator.drive(spec))
            for floor in floors.values():
                floor.measure(args.floor_n // args.rounds)
    if all(r.result is None or r.result["logins"] == r.n for r in rows):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"(failed logins: the servers' logs are kept in {tmp})")
    return rows


def _peers(
    args: argparse.Namespace,
    op: dict[str, str],
    tmp: Path,
    common: dict[str, Any],
    stack: ExitStack,
) -> list[Row]:
    rows = []
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(
        PEER_BASE_URL=base,
        PEER_SECRET_KEY="throughput-benchmark-throwaway",
        PEER_OIDC_ISSUER=op["issuer"],
        PEER_OIDC_CLIENT_ID=op["id"],
        PEER_OIDC_CLIENT_SECRET=op["secret"],
    )
    pid = stack.enter_context(gunicorn("peer_apps:authlib_app()", env, port, tmp / "authlib.log"))
    spec = {
        **common,
        "protocol": "oidc",
        "users": "distinct",
        "worker_pid": pid,
        "base_url": base,
        "login_path": "/login",
    }
    rows.append(Row("oidc", "peer   Authlib Flask client", spec, args.peer_n))
    xmlsec1 = shutil.which("xmlsec1")
    if xmlsec1 is None:
        label = "peer   pysaml2 SP: SKIPPED, the xmlsec1 binary it needs is not installed"
        rows.append(Row("saml", label, {}, 0))
        return rows
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(
        PEER_BASE_URL=base,
        PEER_SECRET_KEY="throughput-benchmark-throwaway",
        PEER_XMLSEC1=xmlsec1,
        PEER_SP_KEY_FILE=str(tmp / "sp.key"),
        PEER_SP_CERT_FILE=str(tmp / "sp.crt"),
        PEER_IDP_METADATA_FILE=str(tmp / "idp.xml"),
    )
    pid = stack.enter_context(gunicorn("peer_apps:pysaml2_app()", env, port, tmp / "pysaml2.log"))
    spec = {
        **common,
        "protocol": "saml",
        "users": "distinct",
        "worker_pid": pid,
        "base_url": base,
        "login_path": "/login",
        "acs_url": base + "/acs",
        "sp_entity_id": base + "/metadata",
    }
    rows.append(Row("saml", "peer   pysaml2 SP (xmlsec1 binary)", spec, args.pysaml2_n))
    return rows


def report(rows: list[Row], floors: dict[str, Floor], args: argparse.Namespace) -> list[str]:
    """Print the table and the target ratios; return what failed or missed."""
    print(
        f"login_throughput: sample app under gunicorn (1 sync worker), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; "
        + (
            f"worker pinned to CPU {min(PINNING[0])}, the rest to CPU {min(PINNING[1])} "
            f"(generator at nice {GENERATOR_NICE}); "
            if PINNING is not None
            else "unpinned; "
        )
        + f"{args.n} unique logins per rpkit row in "
        f"{args.rounds} rounds, generator concurrency {args.concurrency}; timed step: "
        "OIDC callback / SAML ACS"
    )
    rates = {(r.protocol, r.label): r.rate for r in rows if r.result and r.result["logins"]}
    cpu_ms = {
        (r.protocol, r.label): 1000 * r.result["worker_cpu_seconds"] / r.result["logins"]
        for r in rows
        if r.result and r.result["logins"]
    }
    missed: list[str] = []
    for protocol, title in (("oidc", "OIDC callback"), ("saml", "SAML ACS")):
        floor = floors[protocol]
        peers = [r for r in rows if r.protocol == protocol and r.label.startswith("peer")]
        peer_rate = rates.get((protocol, peers[0].label)) if peers else None
        print(
            f"\n{title}: in-process floor {floor.rate:.0f} logins/s, "
            f"{floor.cpu_ms:.2f} ms CPU/login ({floor.count} runs)"
        )
        print(
            f"  {'':<34}{'logins/s':>9}{'floor/x':>9}{'x/peer':>8}"
            f"{'gen CPU':>9}{'worker CPU':>11}{'ms CPU/login':>13}{'/me ok':>9}"
        )
        for row in rows:
            if row.protocol != protocol:
                continue
            r = row.result
            if r is None:
                print(f"  {row.label}")
                continue
            if r["logins"] != row.n or r["failures"] or r["me_ok"] != r["checked"]:
                missed.append(f"{row.label}: failed logins or /me checks: {r['failures'][:2]}")
            if not r["logins"]:
                print(f"  {row.label:<34}   FAILED: {r['failures'][:2]}")
                continue
            versus_peer = f"{row.rate / peer_rate:7.2f}x" if peer_rate else f"{'-':>8}"
            print(
                f"  {row.label:<34}{row.rate:9.0f}{floor.rate / row.rate:8.1f}x{versus_peer}"
                f"{r['generator_cpu_seconds'] / r['seconds']:9.2f}"
                f"{r['worker_cpu_seconds'] / r['seconds']:11.2f}"
                f"{cpu_ms[(protocol, row.label)]:13.2f}"
                f"{r['me_ok']:>5}/{r['checked']:<3}"
            )

    def ratio(table: dict[tuple[str, str], float], protocol: str, a: str, b: str) -> float:
        # A row whose CPU time rounded to 0 (a --quick run of two logins) has no ratio.
        below = table.get((protocol, b), 0.0)
        return table.get((protocol, a), 0.0) / below if below else float("nan")

    one, distinct = "rpkit  redis  one user", "rpkit  redis  distinct users"
    memory = "rpkit  memory distinct users"
    floor_cost = floors["saml"].rate / rates[("saml", memory)] if ("saml", memory) in rates else 0
    targets = (
        (
            "OIDC Redis, one user / distinct users",
            ">= 0.8x",
            0.8,
            1,
            ratio(rates, "oidc", one, distinct),
            ratio(cpu_ms, "oidc", distinct, one),
        ),
        (
            "SAML ACS, Redis / memory             ",
            ">= 0.8x",
            0.8,
            1,
            ratio(rates, "saml", distinct, memory),
            ratio(cpu_ms, "saml", memory, distinct),
        ),
        (
            "SAML ACS memory, time vs the floor   ",
            "<= 5.5x",
            5.5,
            -1,
            floor_cost,
            cpu_ms.get(("saml", memory), 0.0) / floors["saml"].cpu_ms
            if floors["saml"].cpu_ms
            else float("nan"),
        ),
    )
    print("\nTargets (this run)                       logins/s   worker CPU/login")
    for text, goal, bound, sign, by_rate, by_cpu in targets:
        verdict = "meets" if sign * by_rate >= sign * bound else "MISSES"
        print(f"  {text} {by_rate:9.2f}x {by_cpu:12.2f}x   ({verdict} {goal} by logins/s)")
        if verdict == "MISSES":
            missed.append(text.strip())
    print(
        "  floor/x: a login's time in floors (in-process floor rate / this rate); x/peer: this "
        "rate / the peer's;\n  CPU in cores over the timed part (worker: the one gunicorn "
        "worker; near 1.0, the server was the bottleneck);\n  worker CPU/login: the same "
        "ratios from the worker's CPU time per login, which a busy machine distorts less"
    )
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="logins per rpkit row")
    parser.add_argument("--peer-n", type=int, default=200, help="logins for Authlib")
    parser.add_argument("--pysaml2-n", type=int, default=30, help="logins for pysaml2")
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--sample", type=int, default=20, help="sessions checked with /me")
    parser.add_argument("--rounds", type=int, default=5, help="rows take turns this often")
    parser.add_argument("--floor-n", type=int, default=300)
    parser.add_argument(
        "--quick", action="store_true", help="tiny counts: check that every row still runs"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not give the worker a CPU of its own"
    )
    parser.add_argument("--role", choices=["op", "generator"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "op":
        run_op(Path(args.spec))
        return 0
    if args.role == "generator":
        serve_generator()
        return 0
    if args.quick:
        args.n, args.peer_n, args.pysaml2_n, args.floor_n = 2, 1, 1, 5
        args.rounds, args.sample, args.concurrency = 1, 2, 1
    global PINNING
    PINNING = None if args.no_pin else _cpus()
    if PINNING is not None:
        os.sched_setaffinity(0, PINNING[1])  # inherited by every process started from here
    floors = {"oidc": oidc_floor(args.floor_n), "saml": saml_floor(args.floor_n)}
    rows = run(args, floors)
    missed = report(rows, floors, args)
    return 1 if any("failed" in m for m in missed) else 0


if __name__ == "__main__":
    sys.exit(main())
