"""An edge's tag list merges into the registry: what it leaves empty keeps the platform's annotations."""

from __future__ import annotations

from tests.conftest import make_tenant
from tonghu.common.uplink import TagMeta
from tonghu.platform import registry


def test_edge_metadata_does_not_wipe_platform_annotations(db) -> None:
    t = make_tenant(db, "electronics")
    key = "smt/l1/line/count_total"
    registry.upsert_tags(db, t.site_id, [TagMeta(key, "int", "count", "count_total", "boards",
                                                 {"line_output": True, "kind": "smt_line"})])
    # An edge restart declares the same tag knowing only its type and a new attribute.
    registry.upsert_tags(db, t.site_id, [TagMeta(key, "int", attrs={"source": "sparkplug"})])
    row = db.execute("SELECT unit, role, description, attrs FROM tags WHERE site_id = %s AND key = %s",
                     (t.site_id, key)).fetchone()
    assert row == ("count", "count_total", "boards", {"line_output": True, "kind": "smt_line", "source": "sparkplug"})
    # What the edge does say wins.
    registry.upsert_tags(db, t.site_id, [TagMeta(key, "int", "pcs", "count_good", attrs={"kind": "x"})])
    row = db.execute("SELECT unit, role, attrs ->> 'kind' FROM tags WHERE site_id = %s AND key = %s",
                     (t.site_id, key)).fetchone()
    assert row == ("pcs", "count_good", "x")
