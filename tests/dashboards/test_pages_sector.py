"""Sector pages on the test plant: electronics (FPY, Paretos, reflow conformance), petrochemical (mass balance, ISA-18.2
alarm KPIs, lab Cpk), equipment (tool life, reliability), and the page picking the sector of the user's company."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.dashboards.test_pages_plant import CDU, PagesWorld, text_of, user_of
from tonghu.dashboards.views import common, timerange
from tonghu.dashboards.views import electronics as elec_view
from tonghu.dashboards.views import equipment as equip_view
from tonghu.dashboards.views import petro as petro_view
from tonghu.platform.kpi.electronics import electronics
from tonghu.platform.kpi.petro import petrochemical
from tonghu.platform.kpi.scope import Scope

# The test plant's fixtures (pages, as_user) live with the plant overview's tests.
pytest_plugins = ["tests.dashboards.test_pages_plant"]
RANGE = ("24h", None, None, None, None)


def _request(pages: PagesWorld, level: str, id_: int, company: int) -> Any:
    from tonghu.dashboards.pages import _analytics as an

    rng = timerange.TimeRange(pages.start, pages.end, "test range", False, "UTC")
    return an.Request(Scope(level, id_), rng, company)  # type: ignore[arg-type]


def test_reflow_conformance_counts_samples_inside_each_window(dash_app: Any, db: Any, pages: PagesWorld) -> None:
    from tonghu.dashboards.pages import sector

    items = {c.label.rsplit(" · ", 1)[-1]: c for c in sector.reflow_conformance(
        db, Scope("line", pages.a_l1), pages.start, pages.end)}
    peak, tal = items["peak_temp"], items["time_above_liquidus"]
    assert (peak.n, peak.below, peak.within, peak.above) == (20, 1, 18, 1) and (peak.lo, peak.hi) == (235, 250)
    assert (tal.n, tal.below, tal.within, tal.above) == (20, 0, 19, 1)
    assert elec_view.overall([peak, tal]) == pytest.approx(37 / 40)
    fig = elec_view.reflow_figure([peak, tal])
    assert [t.name for t in fig.data] == ["below window", "within window", "above window"]
    assert list(fig.data[1].x) == [pytest.approx(90.0), pytest.approx(95.0)]


def test_conformance_includes_the_limits_and_handles_one_sided_windows() -> None:
    c = elec_view.conformance("x", np.array([1.0, 2.0, 3.0, 4.0]), 2.0, None)
    assert (c.below, c.within, c.above, c.share) == (1, 3, 0, 0.75)
    assert elec_view.conformance("y", np.array([]), 1.0, 2.0).share is None


def test_electronics_page_content(db: Any, pages: PagesWorld) -> None:
    pack = electronics(db, Scope("line", pages.a_l1), pages.start, pages.end)
    text = text_of(elec_view.content(pack, []))
    assert pack["fpy"] == pytest.approx(380 / 400) and "95.0 %" in text
    assert "No reflow peak temperature" not in text  # the figure carries it, the text has the table
    feeder = [g for g in elec_view.content(pack, []).children[1].children if g.children.id == "sector-feeder-graph"]
    bars = feeder[0].children.figure.data[0]
    assert list(bars.x) == ["F01", "F02"] and list(bars.y) == [10, 4]
    assert "No line balance" in text_of(elec_view.balance_table({}))


def test_petrochemical_page_content(dash_app: Any, db: Any, pages: PagesWorld) -> None:
    """Feed 1000 t, products 300 + 600 t, flare 5 t: yields 30 % and 60 %, closure (905 − 1000) / 1000 = −9.5 %.
    TI-101 is annunciated three times within a minute: one chattering alarm, over the ISA-18.2 target of zero."""
    from tonghu.dashboards.pages import sector

    req = _request(pages, "site", pages.p_site, pages.p_company)
    pack = petrochemical(db, req.scope, pages.start, pages.end, now=pages.end)
    consoles = sector.alarm_consoles(db, req)
    labs = sector.lab_reports(db, req)
    assert [c.name for c in consoles] == [CDU] and consoles[0].kpis.chattering == ("TI-101",)
    assert sum(consoles[0].counts) == 5 and len(consoles[0].counts) == 4  # hourly periods of the 4 hours
    table = text_of(petro_view.alarm_table(consoles))
    assert "Chattering alarms" in table and "over target" in table and "very likely acceptable" in table
    assert [name for name, _ in labs] == [f"{CDU} · lab_kero_flash"] and labs[0][1].capability.cpk is not None
    text = text_of(petro_view.content(pack, consoles, labs, pages.start, "UTC"))
    assert "30.0 %" in text and "60.0 %" in text and "-9.50 %" in text
    balance = petro_view.mass_balance_figure(pack)
    assert [t.name for t in balance.data] == ["feed", "diesel", "naphtha", "flare", "unaccounted"]
    assert balance.data[-1].x[0] == pytest.approx(95.0)  # 1000 − 900 − 5 t went nowhere the meters saw
    surplus = petro_view.mass_balance_figure({**pack, "flare_t": 150.0})
    assert surplus.data[-1].name == "surplus" and surplus.data[-1].x[0] == pytest.approx(50.0)
    rate = petro_view.alarm_rate_figure(consoles, pages.start, "UTC")
    assert sorted(s.y0 for s in rate.layout.shapes) == [6, 12]  # 1 and 2 per 10 minutes, per hour
    assert "No alarm journal" in text_of(petro_view.alarm_table([]))


def test_equipment_page_content(dash_app: Any, db: Any, pages: PagesWorld) -> None:
    from tonghu.dashboards.pages import sector

    req = _request(pages, "site", pages.b_site, pages.b_company)
    body = sector.equipment_content(db, req, pages.end)
    text = text_of(body)
    assert "Spindle utilisation" in text and "MTBF" in text
    graphs = {g.id: g.figure for g in _graphs(body)}
    tools = graphs["sector-tool-graph"]
    assert list(tools.data[0].x) == [95] and list(tools.data[0].marker.color) == [common.colour("unplanned_down")]
    assert list(tools.data[1].x) == [95]
    reliability = graphs["sector-reliability-graph"]
    assert reliability.data[0].y[0] == pytest.approx(3.5) and reliability.data[0].x[0] == pytest.approx(30)
    assert common.is_empty_figure(equip_view.tool_figure([], {}))


def _graphs(component: Any) -> list[Any]:
    from dash import dcc

    if isinstance(component, dcc.Graph):
        return [component]
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        return [g for c in children for g in _graphs(c)]
    return _graphs(children) if children is not None else []


@pytest.mark.parametrize(("user", "title", "graph"), [
    ("pm_a", "Electronics", "sector-reflow-graph"), ("pm_p", "Petrochemical", "sector-alarm-graph"),
    ("pm_b", "Equipment", "sector-tool-graph")])
def test_the_page_follows_the_sector_of_the_users_company(dash_app: Any, db: Any, pages: PagesWorld, as_user: Any,
                                                          user: str, title: str, graph: str) -> None:
    from tonghu.dashboards.pages import sector

    u = user_of(db, pages.users[user])
    with as_user(u):
        notice, heading, body, updated = sector.refresh(1, {"level": "company", "id": u.company_id}, *RANGE)
    assert notice is None and heading.startswith(title) and "Last 24 hours" in updated
    assert graph in {g.id for g in _graphs(body)}


def test_admin_picks_a_company_first(dash_app: Any, db: Any, pages: PagesWorld, as_user: Any) -> None:
    from tonghu.dashboards.pages import sector

    with as_user(user_of(db, pages.users["admin"])):
        _, heading, body, _ = sector.refresh(1, None, *RANGE)
        _, heading_p, _, _ = sector.refresh(1, {"level": "site", "id": pages.p_site}, *RANGE)
    assert heading == "Sector KPIs" and "Pick a company" in text_of(body)
    assert heading_p.startswith("Petrochemical")
