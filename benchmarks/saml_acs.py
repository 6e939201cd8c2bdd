"""ACS validation cost: rpkit (all checks) vs the in-process floor vs pysaml2 + xmlsec1.

One run, ratios printed. The floor is what any correct SP must at least do: base64-decode,
parse with lxml, and verify the signature with python-xmlsec. pysaml2's default backend
spawns the ``xmlsec1`` binary; when it is absent that baseline is skipped, with the reason.

    .venv/bin/python benchmarks/saml_acs.py [--n 300] [--quick]

Its fixtures are built for today's clock (the IdP metadata is valid from now on).
"""

from __future__ import annotations

import argparse
import base64
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import xmlsec  # noqa: E402
from lxml import etree  # noqa: E402

from rpkit.saml import (  # noqa: E402
    PendingRequest,
    SamlConfig,
    ServiceProvider,
    load_idp_metadata,
)
from tests.saml.idp import ResponseSpec, TestIdp, make_key_pair  # noqa: E402

ACS = "https://app.test/auth/saml/acs"
SP = "https://app.test/saml"


def _time(fn: Callable[[int], object], n: int) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - start)
    return samples


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--pysaml2-n", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="tiny counts (the test suite)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.pysaml2_n = 5, 1

    tmp = Path(tempfile.mkdtemp(prefix="rpkit-bench-"))
    idp = TestIdp("https://idp.test/auth")
    sp_key, sp_cert = make_key_pair("bench SP")
    (tmp / "sp.key").write_bytes(sp_key)
    (tmp / "sp.crt").write_bytes(sp_cert)
    (tmp / "idp.key").write_bytes(idp.key_pem)
    (tmp / "idp.crt").write_bytes(idp.cert_pem)
    now = datetime.now(UTC).replace(microsecond=0)
    spec = ResponseSpec(
        issue_instant=now,
        destination=ACS,
        recipient=ACS,
        audience=SP,
        in_response_to="_bench",
        scd_in_response_to="_bench",
        not_before=now - timedelta(seconds=30),
        not_on_or_after=now + timedelta(minutes=10),
        scd_not_on_or_after=now + timedelta(minutes=10),
    )
    # Distinct assertion IDs, so the replay cache sees each response once.
    responses = []
    for _ in range(max(args.n, args.pysaml2_n)):
        root = idp.build_response(spec)
        idp.sign(root)
        responses.append(TestIdp.encode(root))
    size = len(base64.b64decode(responses[0]))

    config = SamlConfig(
        sp_entity_id=SP,
        acs_url=ACS,
        sp_key_file=str(tmp / "sp.key"),
        sp_cert_file=str(tmp / "sp.crt"),
        idp_entity_id=idp.entity_id,
        idp_metadata_url="https://idp.test/md",
    )
    fresh = idp.metadata(valid_until=now + timedelta(days=2))
    metadata = load_idp_metadata(fresh, entity_id=idp.entity_id, now=now)
    sp = ServiceProvider(config, metadata=metadata, clock=lambda: now)
    pending = PendingRequest(
        request_id="_bench", relay_state="r" * 43, browser_hash="0" * 64, created_at=now
    )
    key = xmlsec.Key.from_memory(idp.cert_pem, xmlsec.constants.KeyDataFormatCertPem, None)

    def floor(i: int) -> None:
        root = etree.fromstring(base64.b64decode(responses[i]))
        sig = root.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
        ctx = xmlsec.SignatureContext()
        ctx.register_id(root, "ID")
        ctx.key = key
        ctx.verify(sig)

    def rpkit(i: int) -> None:
        sp.process_response(responses[i], pending.relay_state, expected=pending, now=now)

    # Warm up both paths (imports, key caches), then measure interleaved-free single runs.
    floor(0)
    ServiceProvider(config, metadata=metadata).process_response(
        responses[0], pending.relay_state, expected=pending, now=now
    )
    floor_ms = _ms(_time(floor, args.n))
    rpkit_ms = _ms(_time(rpkit, args.n))

    print(f"SAML response: {size} bytes, RSA-2048, signed Response; medians of {args.n} runs")
    print(f"  floor  (base64 + lxml parse + python-xmlsec verify): {floor_ms:8.3f} ms")
    print(f"  rpkit  (gate + verify + every profile check + replay): {rpkit_ms:8.3f} ms")
    ratio = rpkit_ms / floor_ms
    verdict = "meets" if ratio <= 2.0 else "MISSES"
    print(f"  rpkit / floor   = {ratio:6.2f}x  ({verdict} the <= 2x target)")

    binary = shutil.which("xmlsec1")
    if binary is None:
        print(
            "  pysaml2 + xmlsec1: SKIPPED - the xmlsec1 binary is not installed "
            "(Debian: apt-get install xmlsec1); rpkit never needs it"
        )
        return
    pysaml2_ms = _pysaml2(tmp, idp, config, responses, args.pysaml2_n, binary)
    print(f"  pysaml2 (xmlsec1 binary, {args.pysaml2_n} runs):            {pysaml2_ms:8.3f} ms")
    print(
        f"  pysaml2 / rpkit = {pysaml2_ms / rpkit_ms:6.1f}x   pysaml2 / floor = "
        f"{pysaml2_ms / floor_ms:6.1f}x"
    )


def _pysaml2(
    tmp: Path,
    idp: TestIdp,
    config: SamlConfig,
    responses: list[str],
    n: int,
    binary: str,
) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from saml2 import BINDING_HTTP_POST
        from saml2.client import Saml2Client
        from saml2.config import SPConfig

        valid_until = datetime.now(UTC) + timedelta(days=2)
        (tmp / "idp.xml").write_bytes(idp.metadata(valid_until=valid_until))
        conf: dict[str, Any] = {
            "entityid": config.sp_entity_id,
            "xmlsec_binary": binary,
            "key_file": str(tmp / "sp.key"),
            "cert_file": str(tmp / "sp.crt"),
            "metadata": {"local": [str(tmp / "idp.xml")]},
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(ACS, BINDING_HTTP_POST)]},
                    "want_response_signed": True,
                    "want_assertions_signed": False,
                    "allow_unsolicited": False,
                }
            },
        }
        sp_config = SPConfig()
        sp_config.load(conf)
        client = Saml2Client(config=sp_config)

        def run(i: int) -> None:
            result = client.parse_authn_request_response(
                responses[i], BINDING_HTTP_POST, outstanding={"_bench": "/"}
            )
            if result is None:
                raise RuntimeError("pysaml2 rejected the benchmark response")

        run(0)
        return _ms(_time(lambda i: run(i + 1), n))


if __name__ == "__main__":
    main()
