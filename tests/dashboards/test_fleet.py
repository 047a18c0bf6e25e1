"""Fleet queries (tenant-restricted SQL, status_detail interpretation) and the page's components."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.dashboards.conftest import World
from tonghu.dashboards.views import fleet as view
from tonghu.platform import fleet


def _by_id(edges: list[fleet.EdgeHealth]) -> dict[int, fleet.EdgeHealth]:
    return {e.edge_id: e for e in edges}


def test_edges_from_the_ingested_status(db: object, world: World) -> None:
    a_edges = _by_id(fleet.edges(db, world.a.company_id, None))  # type: ignore[arg-type]
    assert world.b.edge_id not in a_edges
    online = a_edges[world.a.edge_id]
    assert online.status == "online" and online.buffered_samples == 1200 and online.oldest_age_s == 42.5
    assert online.dropped == {"oldest": 3}  # zero counters are not news
    assert online.last_batch_at is not None  # the batch with the unknown tag was committed (and dead-lettered)
    sources = {s.name: s for s in online.sources}
    assert set(sources) == {"opcua-smt", "mqtt-aoi"}
    assert sources["opcua-smt"].connected and 1 <= sources["opcua-smt"].last_value_age_s < 120
    assert sources["mqtt-aoi"].connected is False and sources["mqtt-aoi"].last_value_age_s >= 400
    assert a_edges[world.a_edge2_id].status == "offline"
    silent = [e for e in a_edges.values() if e.edge.startswith("silent")]
    assert len(silent) == 1 and silent[0].status == "unknown" and silent[0].sources == ()
    site2 = fleet.edges(db, world.a.company_id, world.a_site2_id)  # type: ignore[arg-type]
    assert [e.edge_id for e in site2] == [world.a_edge2_id]


def test_dead_letters_stay_within_the_tenant(db: object, world: World) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    a_rows = fleet.dead_letters(db, world.a.company_id, None, since)  # type: ignore[arg-type]
    assert {r["company"] for r in a_rows} == {world.a.company}
    assert {r["reason"] for r in a_rows} == {"unknown_tag"} and len(a_rows) == 2
    assert all(world.secret_reason not in str(r) for r in a_rows)
    counts = fleet.dead_letter_counts(db, world.a.company_id, world.a.site_id, since)  # type: ignore[arg-type]
    assert counts == {"unknown_tag": 1}
    db.execute("INSERT INTO dead_letters (topic, reason, payload, payload_sha256) "  # type: ignore[attr-defined]
               "VALUES ('nobody/v1/x/y/z/data', 'unknown_edge', '\\x00', sha256(%s::bytea))",
               (world.secret_reason.encode(),))
    everything = fleet.dead_letters(db, None, None, since, limit=10_000)  # type: ignore[arg-type]
    assert any(r["edge"] is None and r["reason"] == "unknown_edge" for r in everything)  # admin only
    assert "unknown_edge" not in fleet.dead_letter_counts(db, world.a.company_id, None, since)  # type: ignore[arg-type]


def test_owner_and_tree(db: object, world: World) -> None:
    assert fleet.owner(db, "asset", world.b_asset_id) == (world.b.company_id, world.b.site_id)  # type: ignore[arg-type]
    assert fleet.owner(db, "company", world.a.company_id) == (world.a.company_id, None)  # type: ignore[arg-type]
    assert fleet.owner(db, "line", 2_000_000_000) is None  # type: ignore[arg-type]
    assert [i for i, _ in fleet.companies(db, world.a.company_id)] == [world.a.company_id]  # type: ignore[arg-type]
    assert {i for i, _ in fleet.sites(db, world.a.company_id, None)} == {world.a.site_id,  # type: ignore[arg-type]
                                                                          world.a_site2_id}
    assert (world.a_line_id, "SMT / Line 1") in fleet.lines(db, world.a.site_id)  # type: ignore[arg-type]
    assert world.b_line_id not in {i for i, _ in fleet.lines(db, world.a.site_id)}  # type: ignore[arg-type]


def test_malformed_status_detail_degrades_to_unknowns() -> None:
    now = datetime.now(UTC)
    row = {"edge_id": 1, "company": "c", "site": "s", "edge": "e", "enabled": True, "status": "online",
           "status_at": now - timedelta(minutes=10), "last_batch_at": None,
           "status_detail": {"buffered_bytes": "lots", "sources": {"x": "broken", "y": {"last_value_us": True}},
                             "dropped": ["not", "a", "map"], "buffer_max_bytes": 1000}}
    e = fleet.edge_health(row, now)
    assert e.status == "stale"  # "online" but silent for longer than three status intervals
    assert e.buffered_bytes is None and e.buffer_fill is None and e.dropped == {}
    assert [(s.name, s.connected, s.last_value_age_s) for s in e.sources] == [("x", None, None), ("y", None, None)]
    row["status_detail"] = {"buffered_bytes": 250, "buffer_max_bytes": 1000}
    assert fleet.edge_health(row, now).buffer_fill == 0.25


def _text(component: object) -> str:
    """All text in a Dash component tree."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    rows = getattr(component, "data", None)  # a DataTable: its rows are its text
    if isinstance(rows, list):
        return " ".join(str(v) for row in rows for v in row.values())
    children = getattr(component, "children", None)
    return _text(children) if children is not None else ""


def test_views_empty_states_and_formats() -> None:
    now = datetime.now(UTC)
    assert "No edge gateways are registered" in _text(view.edges_table([], now))
    assert "no edge is registered" in _text(view.sources_table([]))
    silent = fleet.EdgeHealth(1, "c", "s", "gw", True, "unknown", None, None, None, None, None, None)
    assert "never reported" in _text(view.edges_table([silent], now))
    offline = fleet.EdgeHealth(2, "c", "s", "gw2", True, "offline", now, None, 5, 4096, None, 1.0)
    table = view.edges_table([silent, offline], now).children[0]
    assert [r["edge"] for r in table.data] == ["gw2", "gw"]  # problems first
    assert table.data[0]["buffered"] == "5 samples · 4.0 KiB"
    assert "has not reached the platform broker" in _text(view.sources_table([silent]))
    assert "No dead letters" in _text(view.dead_letters_table([]))
    assert view.age_figure([silent]).layout.annotations[0].text == "No source has reported a value yet"
    fig = view.dead_letter_figure({"unknown_tag": 3, "bad_type": 1})
    assert list(fig.data[0].x) == ["unknown_tag", "bad_type"] and list(fig.data[0].y) == [3, 1]
    assert [view.fmt_age(s) for s in (None, 5, 600, 7200, 3 * 86400)] == ["–", "5 s", "10 min", "2.0 h", "3.0 d"]
    assert [view.fmt_bytes(n) for n in (None, 10, 2048, 3 << 30)] == ["–", "10 B", "2.0 KiB", "3.0 GiB"]
    summary = _text(view.summary([silent], {"bad_type": 4}))
    assert "Never reported 1" in summary and "Dead letters, 24 h 4" in summary and "Online 0" in summary


def test_csv_neutralises_spreadsheet_formulas() -> None:
    row = {"received_at": datetime(2026, 1, 2, tzinfo=UTC), "company": "c", "site": "s", "edge": "e",
           "reason": "bad_type", "detail": "=HYPERLINK(\"http://x\")", "seq": 7, "sample_count": 1,
           "payload_bytes": 10, "topic": "t"}
    text = view.dead_letters_csv([row])
    header, line = text.splitlines()
    assert header.split(",")[:3] == ["received_at", "company", "site"]
    assert "'=HYPERLINK" in line and line.startswith("2026-01-02T00:00:00+00:00")
