"""Cross-tenant replay against `tonghu dashboards serve`: `/_dash-update-component` POSTs built from the
server's own callback list, sent with a company-A session but company-B ids (and with no session at all), must
answer nothing and leave an audit row."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dashboards.conftest import LiveServer, World, audit_rows, last_audit_id, login

SCOPE_STORE = {"picker": "fleet", "type": "scope"}


def _deps(session: Any, base: str) -> list[dict[str, Any]]:
    r = session.get(f"{base}/_dash-dependencies", timeout=10)
    assert r.status_code == 200
    return r.json()


def _callback(deps: list[dict[str, Any]], output_part: str) -> dict[str, Any]:
    return next(d for d in deps if output_part in d["output"])


def _concrete(ident: str, values: dict[str, Any] | None) -> Any:
    """A pattern-matching id (JSON with MATCH) with the wildcard keys filled in, as the browser would send it."""
    return json.loads(ident) | (values or {}) if ident.startswith("{") else ident


def _outputs(dep: dict[str, Any], concrete: dict[str, Any] | None = None) -> Any:
    """The `outputs` field as the browser sends it: a list for multi-output callbacks, else one object."""
    outs = []
    for part in dep["output"].strip(".").split("..."):
        ident, prop = part.rsplit(".", 1)
        outs.append({"id": _concrete(ident, concrete), "property": prop})
    return outs if dep["output"].startswith("..") else outs[0]


def _body(dep: dict[str, Any], inputs: list[Any], state: list[Any] = (), concrete: dict[str, Any] | None = None,
          ) -> dict[str, Any]:
    return {"output": dep["output"], "outputs": _outputs(dep, concrete),
            "inputs": [{"id": _concrete(i["id"], concrete), "property": i["property"], "value": v}
                       for i, v in zip(dep["inputs"], inputs, strict=True)],
            "state": [{"id": _concrete(s["id"], concrete), "property": s["property"], "value": v}
                      for s, v in zip(dep["state"], state, strict=True)],
            "changedPropIds": [f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"]}


@pytest.fixture(scope="module")
def sessions(live_server: LiveServer, world: World) -> dict[str, Any]:
    return {key: login(live_server.url, world.users[key]) for key in ("eng_a", "pm_b", "analyst")}


def _leaks(text: str, world: World) -> list[str]:
    return [s for s in (world.b.company, world.b.site, world.b.edge, world.secret_reason) if s in text]


def test_cross_tenant_replays_get_nothing_and_are_audited(live_server: LiveServer, world: World,
                                                          sessions: dict[str, Any], db: Any) -> None:
    base, eng = live_server.url, sessions["eng_a"]
    deps = _deps(eng, base)
    refresh = _callback(deps, "fleet-summary.children")
    export = _callback(deps, "fleet-dead-csv.data")
    site_options = _callback(deps, '"type":"scope-site"}.options')
    picked = _callback(deps, '"type":"scope"}.data')
    post = f"{base}/_dash-update-component"
    fleet = {"picker": "fleet"}

    # The same request for A's own site answers with A's data: the replays below can tell a refusal apart.
    own = eng.post(post, json=_body(refresh, [1, {"level": "site", "id": world.a.site_id}]), timeout=30)
    assert own.status_code == 200 and world.a.edge in own.text and not _leaks(own.text, world)
    b_view = sessions["pm_b"].post(post, json=_body(refresh, [1, None]), timeout=30)
    assert b_view.status_code == 200 and world.secret_reason in b_view.text  # B's secret is visible to B

    replays = [
        ("refresh B site", _body(refresh, [1, {"level": "site", "id": world.b.site_id}])),
        ("refresh B company", _body(refresh, [1, {"level": "company", "id": world.b.company_id}])),
        ("refresh B asset", _body(refresh, [1, {"level": "asset", "id": world.b_asset_id}])),
        ("refresh B line", _body(refresh, [1, {"level": "line", "id": world.b_line_id}])),
        ("export B site", _body(export, [1], [{"level": "site", "id": world.b.site_id}])),
        ("list B sites", _body(site_options, [world.b.company_id], [None], fleet)),
        ("pick B company", _body(picked, [world.b.company_id, None, None, None], concrete=fleet)),
        ("pick B asset", _body(picked, [world.a.company_id, world.a.site_id, world.a_line_id, world.b_asset_id],
                               concrete=fleet)),
    ]
    for label, body in replays:
        before = last_audit_id(db)
        r = eng.post(post, json=body, timeout=30)
        assert r.status_code == 204 and r.content == b"", (label, r.status_code, r.text[:300])
        rows = audit_rows(db, world.users["eng_a"], "denied", before)
        assert len(rows) == 1 and rows[0]["reason"] == "other_company", (label, rows)

    analyst = sessions["analyst"].post(post, json=_body(refresh, [1, None]), timeout=30)
    assert analyst.status_code == 204 and not analyst.content


def test_no_session_gets_nothing_and_is_audited(live_server: LiveServer, world: World, sessions: dict[str, Any],
                                                db: Any) -> None:
    import requests

    refresh = _callback(_deps(sessions["eng_a"], live_server.url), "fleet-summary.children")
    before = last_audit_id(db)
    r = requests.post(f"{live_server.url}/_dash-update-component",
                      json=_body(refresh, [1, {"level": "site", "id": world.b.site_id}]), timeout=30)
    assert r.status_code == 401 and r.content == b""
    rows = audit_rows(db, "anonymous", "denied", before)
    assert rows and rows[-1]["reason"] == "no_session" and "fleet-summary" in rows[-1]["output"]
    assert requests.get(f"{live_server.url}/_dash-dependencies", timeout=10).status_code == 401
