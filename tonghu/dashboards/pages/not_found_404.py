"""Shown for any path no page claims."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html


def layout(**_query: Any) -> html.Div:
    return html.Div([html.H2("Page not found", className="h4"), dcc.Link("Back to the start page", href="/")],
                    className="page")


dash.register_page(__name__, path="/404", name="Not found", layout=layout, roles=(), nav=False)
