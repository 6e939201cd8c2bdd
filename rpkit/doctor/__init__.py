"""``rpkit doctor``: prove an integration before go-live and on every ship.

Reads the same ``RPKIT_*`` environment as the app and checks each configured part without
changing anything at the provider. The check ids (:data:`CHECK_IDS`) and the JSON shape
(:meth:`Report.as_dict`) are a public contract, documented in docs/doctor.md.

::

    from rpkit.doctor import run_doctor
    report = run_doctor({"RPKIT_OIDC_ISSUER": ..., ...}, only=("oidc",))
    report.ok, report.get("oidc.client_auth").status, report.render()

Owns: the ``rpkit doctor`` checks of a deployment.
Must not import: the sandbox or ``rpkit.testing``; it changes nothing at the provider (floor
5).
"""

from .report import CHECK_IDS, CheckResult, Report, Status
from .runner import GROUPS, run_doctor

__all__ = ["CHECK_IDS", "GROUPS", "CheckResult", "Report", "Status", "run_doctor"]
