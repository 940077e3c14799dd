"""The shared choice (dataset, model) that lives in the URL so a copied link opens the same view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st

from compression import data, fmt, models

DEFAULTS = {"dataset": "digits", "model": "lenet5"}


@dataclass(frozen=True)
class Choice:
    dataset: str
    model: str


def _pick(key: str, allowed: list[str]) -> str:
    """URL first, then this tab's memory, then the default; a bad URL value gets a warning."""
    value = st.query_params.get(key) or st.session_state.get(f"_keep_{key}") or DEFAULTS[key]
    if value not in allowed:
        _link_warning(
            key,
            f"Unknown {key} '{fmt.quote(value)}' in the link; showing '{DEFAULTS[key]}' instead.",
        )
        value = DEFAULTS[key]
    return value


def _link_warning(key: str, message: str, corrected: str | None = None) -> None:
    """The URL rule: a bad value is named once and corrected in the link (so it is not named again)."""
    st.warning(message)
    if corrected is None:
        del st.query_params[key]
    else:
        st.query_params[key] = corrected


# Parameters that name something of one model (a layer, a job, uploaded weights): a new model drops them.
MODEL_PARAMS = ("layer", "lb", "exclude", "weights", "job", "qat_job")
SHARED_PARAMS = ("dataset", "model", "weights", "present")


def write_url(values: Mapping[str, str | None], *, resync: bool = False) -> None:
    """Set these URL parameters (None drops one) in ONE change of the link.

    Every change Streamlit makes to the query string is a message to the browser and, until
    `one_history_entry_per_page` replaces it, its own history entry (a dozen Backs for a dozen). `resync` sends the
    link even when nothing changed (the browser adds no entry for an equal one): after a quick Back, a late
    message of the page left behind can put its parameters into the browser's address bar."""
    now = st.query_params.to_dict()
    new = {k: v for k, v in now.items() if k not in values or values[k] is not None}
    new.update({k: v for k, v in values.items() if v is not None})
    if new != now or resync:
        st.query_params.from_dict(new)


# Streamlit writes each change of the query string as a new browser history entry (pushState), so every
# slider move was one more Back press before Back left a lab. Its own URL-bound widgets replace the entry
# instead; this script does the same for ours (Streamlit has no Python switch for it): a change that keeps
# the page's path replaces the current entry, a move to another page still adds one, and so does a move from
# one lesson step to another (browser Back then goes back a step, like the Lessons page's Back button; on
# Back, Streamlit reruns the page with that entry's query string). When either URL has no lesson the entry is
# replaced: opening or resuming a lesson from the list (Back from a resumed lesson must not land on the bare
# list, which would resume it again), and the lab link's query string, which Streamlit writes under the
# Lessons path for a moment before it moves to the lab's.
_ONE_ENTRY_PER_PAGE = """<script>
if (!window.__oneEntryPerPage) {
  window.__oneEntryPerPage = true;
  const push = history.pushState.bind(history);
  const steps = ["lesson", "step"];
  history.pushState = (state, title, url) => {
    const to = url == null ? null : new URL(url, location.href);
    const here = new URL(location.href);
    const moved = !to || to.pathname !== here.pathname || (here.searchParams.has("lesson")
        && to.searchParams.has("lesson") && steps.some((k) => to.searchParams.get(k) !== here.searchParams.get(k)));
    if (moved) {
      push(state, title, url);
    } else {
      history.replaceState(state, title, url);
    }
  };
}
</script>"""


def one_history_entry_per_page() -> None:
    """Browser Back leaves a page in one press: its own URL changes replace its history entry."""
    st.sidebar.html(_ONE_ENTRY_PER_PAGE, unsafe_allow_javascript=True)  # the main column would get a gap


FOCUS = "focus"  # a link's chart to bring on screen once (a lesson step's named chart, often below the fold)
# Polls for the chart (it arrives after this script, maybe in a closed tab opened by the link's view=) until
# Plotly has drawn it, then centres it unless it is already wholly on screen; gives up after 20 s.
_FOCUS = """<script data-key="{key}">
(() => {{
  const started = Date.now();
  const timer = setInterval(() => {{
    const chart = document.querySelector('.st-key-{key} .js-plotly-plot');
    if (chart) {{
      clearInterval(timer);
      const box = chart.getBoundingClientRect();
      if (box.top < 0 || box.bottom > window.innerHeight) chart.scrollIntoView({{block: 'center'}});
    }} else if (Date.now() - started > 20000) clearInterval(timer);
  }}, 200);
}})();
</script>"""


def focus_chart() -> None:
    """`?focus=<chart key>`: scroll that chart into view once, then drop the parameter (reruns stay put).
    Only the labs' named charts (compression.lessons) are accepted: the key goes into a CSS selector."""
    if FOCUS not in st.query_params:
        return
    from compression import lessons

    charts = sorted({key for lab in lessons.LABS.values() for key in lab.charts})
    key = url_choice(FOCUS, "", charts)
    if key:
        st.sidebar.html(_FOCUS.format(key=key), unsafe_allow_javascript=True)
        del st.query_params[FOCUS]


RUN = "_run"  # full script runs of this session (fragment reruns not counted)


def count_run() -> None:
    """Number this session's full runs: a widget drawn in the run before is still alive (its state kept)."""
    st.session_state[RUN] = st.session_state.get(RUN, 0) + 1


def keep_only(*keys: str) -> None:
    """Drop the parameters of other pages from the URL (browser Back can carry them over)."""
    write_url(
        {key: None for key in st.query_params if key not in keys and key not in SHARED_PARAMS}, resync=True
    )


def current() -> Choice:
    return Choice(
        dataset=_pick("dataset", list(data.DATASETS)),
        model=_pick("model", list(models.MODELS)),
    )


def remember(choice: Choice) -> None:
    """Write the choice to the URL and to plain session keys (widget state dies with the page)."""
    changed = any(
        st.query_params.get(key) not in (None, value)
        for key, value in (("dataset", choice.dataset), ("model", choice.model))
    )
    # switched in the sidebar: what named parts of the old model no longer applies
    values: dict[str, str | None] = dict.fromkeys(MODEL_PARAMS) if changed else {}
    for key, value in (("dataset", choice.dataset), ("model", choice.model)):
        st.session_state[f"_keep_{key}"] = value
        values[key] = value
    write_url(values)


def seed(key: str, value: object) -> None:
    """Seed a widget's state from the URL once per tab; afterwards the widget owns its value."""
    if key not in st.session_state:
        st.session_state[key] = value


def url_int(key: str, default: int, lo: int, hi: int) -> int:
    """An integer from the URL, clamped to [lo, hi]; absurd values get a warning, not a crash."""
    raw = st.query_params.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        _link_warning(key, f"Ignoring '{key}={fmt.quote(raw)}' in the link: not a whole number.")
        return default
    if not lo <= value <= hi:
        value = max(lo, min(hi, value))
        _link_warning(
            key,
            f"'{key}={fmt.quote(raw)}' in the link is outside {lo}..{hi}; clamped.",
            str(value),
        )
    return value


def url_float(key: str, default: float, lo: float, hi: float) -> float:
    """A float from the URL, clamped to [lo, hi]; absurd values get a warning, not a crash."""
    raw = st.query_params.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        _link_warning(key, f"Ignoring '{key}={fmt.quote(raw)}' in the link: not a number.")
        return default
    if not lo <= value <= hi or value != value:
        value = max(lo, min(hi, default if value != value else value))
        _link_warning(
            key,
            f"'{key}={fmt.quote(raw)}' in the link is outside {lo}..{hi}; clamped.",
            str(value),
        )
    return value


def url_choice(key: str, default: str, allowed: list[str]) -> str:
    raw = st.query_params.get(key)
    if raw is None:
        return default
    if raw not in allowed:
        _link_warning(
            key,
            f"Ignoring '{key}={fmt.quote(raw)}' in the link; expected one of {', '.join(allowed)}.",
        )
        return default
    return raw
