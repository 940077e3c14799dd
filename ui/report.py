"""The Compare page's take-away block: the review report (HTML, PDF), the chosen runs only (CSV, JSON), the link."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from compression import fmt, report, runs
from compression.runs import exchange


def export_buttons(store: runs.RunStore, ids: tuple[int, ...], what: str, stem: str, key: str) -> None:
    """CSV and JSON (importable) downloads of these runs, built when clicked; no local paths in either."""
    c1, c2 = st.columns(2)
    c1.download_button(
        f"{what} (CSV)",
        data=lambda: exchange.csv_frame(store.frame(ids=list(ids))).to_csv(index=False),
        file_name=f"{stem}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        on_click="ignore",
    )
    c2.download_button(
        f"{what} (JSON, importable)",
        data=lambda: runs.export_json(store, ids),
        file_name=f"{stem}.json",
        mime="application/json",
        key=f"{key}_json",
        on_click="ignore",
    )


def view_url() -> str:
    """The exact view: this page's address with every parameter it shows (filters, axes, chosen runs)."""
    base = (st.context.url or "").split("?", 1)[0]
    query = urlencode(st.query_params.to_dict())
    return f"{base}?{query}" if query else base


def panel(
    store: runs.RunStore,
    shown: pd.DataFrame,
    chosen: list[int],
    *,
    tags: list[str],
    cost: str,
    acc: str,
    sym: str,
    logx: bool,
) -> None:
    """Report of the chosen runs (or, with none chosen, of the shown runs of the tag filter), exports, link."""
    ids = list(chosen) or ([int(i) for i in shown["id"]][: report.MAX_RUNS] if tags else [])
    st.markdown("**Review report**: the front with the chosen runs marked, their numbers against their own "
                "baselines, recipes, notes, per-layer charts and why measured and promised differ; one file "
                "that opens offline.")  # fmt: skip
    if not ids:
        st.caption("Choose runs on the chart (or filter by a tag) to make a report of them.")
    else:
        what = (
            f"the {len(ids)} chosen run(s)"
            if chosen
            else f"the {len(ids)} shown run(s) of tag {fmt.md(', '.join(tags))}"
        )
        st.caption(f"The report covers {what}.")
        url = view_url()

        def page() -> str:
            return report.build_html(
                store.frame(ids=ids, with_layers=True), shown, cost=cost, accuracy=acc, symbol_by=sym,
                log_x=logx, view_url=url, baselines=store.frame(technique=["baseline"]),
            )  # fmt: skip

        r1, r2 = st.columns(2)
        r1.download_button(
            "Download report (HTML)",
            data=page,
            file_name="review-report.html",
            mime="text/html",
            key="cmp_report_html",
            on_click="ignore",
            icon=":material/description:",
        )
        pdf_key = hashlib.sha256(f"{ids}|{cost}|{acc}|{sym}|{logx}|{store.version()}".encode()).hexdigest()[
            :16
        ]
        ready = st.session_state.get("_cmp_report_pdf")
        if ready is not None and ready[0] == pdf_key:
            r2.download_button(
                "Download report (PDF)",
                data=ready[1],
                file_name="review-report.pdf",
                mime="application/pdf",
                key="cmp_report_pdf_dl",
                on_click="ignore",
                icon=":material/picture_as_pdf:",
            )
        elif r2.button("Make the report as PDF", key="cmp_report_pdf", icon=":material/picture_as_pdf:"):
            try:
                with st.spinner("Printing the report with headless Chromium..."):
                    st.session_state["_cmp_report_pdf"] = (pdf_key, report.to_pdf(page()))
            except report.ReportError as exc:
                st.error(f"No PDF: {fmt.md(exc)}")
            else:
                st.rerun()
    if chosen:
        export_buttons(
            store, tuple(chosen), f"Export chosen runs only ({len(chosen)})", "chosen-runs", "cmp_dl_chosen"
        )
    st.markdown(
        "**Link to this view** (filters, axes and chosen runs; copy it with the button on the right):"
    )
    st.code(view_url(), language=None)
