"""Lessons: guided steps that open the labs at the right settings and check, live, what the learner sees."""

from __future__ import annotations

import streamlit as st

from compression import fmt, lessons
from ui import present, state

state.keep_only("lesson", "step")
present.toggle()  # a lecturer starts the lecture here: the projector switch, as on every lab
UPLOADED = "_lessons_uploaded"  # this tab's own lessons: {id: Lesson}
AT = "_lesson_at"  # (lesson, step) this tab is at: back from a lab through the sidebar resumes there


@st.cache_resource(show_spinner=False)
def shipped() -> dict[str, lessons.Lesson]:
    return {lesson.id: lesson for lesson in lessons.load_dir()}


@st.cache_data(show_spinner=False, max_entries=256)
def check_values(name: str, params: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """A step's live numbers, computed by the engine once per check and parameters (shared by all visitors)."""
    return lessons.CHECKS[name].run(dict(params))


def library() -> dict[str, lessons.Lesson]:
    return {**shipped(), **st.session_state.get(UPLOADED, {})}


def open_lesson(lesson_id: str | None, step: int = 1) -> None:
    """Go to a lesson's step (None: the list); the tab remembers it, so the Lessons link resumes there."""
    if lesson_id is None:
        st.session_state.pop(AT, None)
        for key in ("lesson", "step"):
            if key in st.query_params:
                del st.query_params[key]
    else:
        st.session_state[AT] = (lesson_id, step)
        st.query_params.update({"lesson": lesson_id, "step": str(step)})
    st.session_state[SCROLL] = st.session_state.get(SCROLL, 0) + 1  # the new step starts at its title


SCROLL = "_lesson_scroll"
# Next and Back also sit at the bottom of a step: pressed there, the next step's title was above a projector's screen
_TO_TOP = """<script data-n="{n}">
document.querySelector('[data-testid="stMain"]')?.scrollTo({{top: 0}});
</script>"""


def upload_panel() -> None:
    with st.expander("Load your own lesson", expanded=False):
        st.caption(
            "A lesson is a Markdown file with a YAML (or JSON) header between `---` lines: the steps, each with "
            "a lab, its URL parameters, the chart to look at, a formula and an optional live check; then one "
            "`## ` section of text per step. Download a shipped lesson below as a template. At most "
            f"{fmt.bytes_(lessons.MAX_BYTES)}. It stays in this browser tab only."
        )
        up = st.file_uploader("Lesson file (.md)", type=["md"], max_upload_size=1, key="lesson_upload")
        if up is not None:
            try:
                lesson = lessons.parse(up.getvalue(), fallback_id="my-lesson")
            except lessons.LessonError as exc:
                st.error(f"This lesson was not loaded: {fmt.md(exc)}")
            else:
                key = f"my-{lesson.id}"[:64]
                mine = st.session_state.setdefault(UPLOADED, {})
                if mine.get(key) != lesson:
                    mine[key] = lesson
                st.success(f"Loaded **{fmt.md(lesson.title)}** ({len(lesson.steps)} steps).")
                st.button("Start it", key="lesson_upload_go", on_click=open_lesson, args=(key,))
        for lesson in shipped().values():
            path = lessons.LESSON_DIR / f"{lesson.id}.md"
            if path.is_file():
                st.download_button(
                    f"{lesson.title} (.md)",
                    data=path.read_bytes(),
                    file_name=path.name,
                    mime="text/markdown",
                    key=f"lesson_dl_{lesson.id}",
                    on_click="ignore",
                )
                break  # one template is enough


def lesson_list(lib: dict[str, lessons.Lesson]) -> None:
    st.markdown(
        "Each lesson walks through a lab step by step: a short explanation, the formula, a link that opens the "
        "lab with the right settings, the one chart to look at, and numbers computed live for what you see."
    )
    cols = st.columns(2)
    for i, (key, lesson) in enumerate(sorted(lib.items(), key=lambda kv: (kv[1].order, kv[1].title))):
        with cols[i % 2].container(border=True):
            st.markdown(f"**{fmt.md(lesson.title)}**")
            st.caption(f"{lesson.summary} · {len(lesson.steps)} steps · about {lesson.minutes} min")
            st.button("Start", key=f"lesson_start_{key}", on_click=open_lesson, args=(key,))
    upload_panel()


def show_check(step: lessons.Step) -> None:
    if step.check is None:
        return
    spec = lessons.CHECKS[step.check]
    try:
        with st.spinner(f"Checking live: {spec.note}..."):
            values = check_values(step.check, tuple(sorted(step.check_params.items())))
    except Exception as exc:  # noqa: BLE001 - a loaded lesson's odd settings must not take the page down
        st.warning(f"The live check could not run: {fmt.md(exc)}")
        return
    with st.container(border=True):
        st.markdown("**Checked live**: " + (lessons.say(step, values) if step.say else spec.note))
        shown = [k for k in spec.fields if k in values and len(values[k]) <= 28]  # long ones: in the sentence
        cols = st.columns(max(1, min(4, len(shown))))
        for i, k in enumerate(shown[:8]):
            cols[i % len(cols)].metric(spec.fields[k], values[k])
        st.caption(f"Computed now by the engine: it {spec.note}.")


def show_step(lesson: lessons.Lesson, key: str, n: int) -> None:
    step = lesson.steps[n - 1]
    total = len(lesson.steps)
    st.progress(n / total, text=f"Step {n} of {total}")
    nav(key, n, total, "top")
    st.subheader(f"{n}. {step.title}")
    if step.body:
        st.markdown(step.body)
    if step.formula:
        st.latex(step.formula)
    link = step.link()
    if link is not None:
        page, params = link
        if st.query_params.get("present") == "1":  # a lecture on a projector stays in presenter mode
            params = {**params, "present": "1"}
        lab = lessons.LABS[step.lab or ""]
        with st.container(border=True):
            st.page_link(page, label=f"Open the {lab.title} at this step", icon=":material/open_in_new:",
                         query_params=params)  # fmt: skip
            if step.chart_title:
                st.markdown(f"Look at the chart **{fmt.md(step.chart_title)}**.")
            st.caption("Settings:")
            st.code(step.url(), language=None, wrap_lines=True)
    show_check(step)
    if st.session_state.get(SCROLL):
        st.sidebar.html(_TO_TOP.format(n=st.session_state[SCROLL]), unsafe_allow_javascript=True)
    nav(key, n, total, "bottom")


def nav(key: str, n: int, total: int, where: str) -> None:
    """Back and Next (Finish on the last step); drawn above the step too: on a 1280x720 projector the bottom
    ones are a scroll away."""
    back, _, nxt = st.columns([1, 3, 1])
    back.button("Back", key=f"lesson_back_{where}", disabled=n <= 1, on_click=open_lesson, args=(key, n - 1),
                icon=":material/arrow_back:", width="stretch")  # fmt: skip
    if n < total:
        nxt.button("Next", key=f"lesson_next_{where}", type="primary", on_click=open_lesson, args=(key, n + 1),
                   icon=":material/arrow_forward:", width="stretch")  # fmt: skip
    else:
        nxt.button("Finish", key=f"lesson_done_{where}", type="primary", on_click=open_lesson, args=(None,),
                   width="stretch")  # fmt: skip


st.title("Lessons")
try:
    lib = library()
except lessons.LessonError as exc:  # a shipped lesson that does not parse is a bug: say which
    st.error(f"A shipped lesson could not be read: {fmt.md(exc)}")
    st.stop()
key = st.query_params.get("lesson")
if key is None and AT in st.session_state:  # back from a lab: resume the lesson where it was
    key, resume = st.session_state[AT]
    st.query_params.update({"lesson": key, "step": str(resume)})
if key is not None and key not in lib:
    st.warning(
        f"No lesson '{fmt.md(key)}' here"
        + (" (a lesson you loaded lives only in the tab that loaded it)." if key.startswith("my-") else ".")
    )
    open_lesson(None)
    key = None
if key is None:
    lesson_list(lib)
    st.stop()

lesson = lib[key]
n = state.url_int("step", 1, 1, len(lesson.steps))
st.session_state[AT] = (key, n)
st.caption(f"**{fmt.md(lesson.title)}** · {len(lesson.steps)} steps · about {lesson.minutes} min")
st.button("All lessons", key="lesson_all", on_click=open_lesson, args=(None,), icon=":material/list:")
if n == 1 and lesson.intro:
    st.markdown(lesson.intro)
show_step(lesson, key, n)
