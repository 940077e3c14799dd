"""The sidebar every page shares: dataset and model pickers, and the active baseline model."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from torch import nn

from compression import data, fmt, jobs, models, train, uploads
from ui import present, state


@dataclass(frozen=True)
class Context:
    """What a page works on: the choice, its data and its (trained or uploaded) baseline."""

    choice: state.Choice
    ds: data.Dataset
    model: nn.Module  # never mutate: shared by every session
    config: train.TrainConfig
    source: str  # "shipped baseline", "cached baseline", "uploaded weights <hash>"
    weights_hash: str


@st.cache_resource(show_spinner=False)
def job_manager() -> jobs.JobManager:
    return jobs.JobManager()


@st.cache_resource(show_spinner="Loading dataset...")
def load_dataset(name: str) -> data.Dataset:
    return data.load(name)


@st.cache_resource(show_spinner=False)
def _load_model(filename: str, dataset: str, model: str) -> tuple[nn.Module, str]:
    loaded = train.load_baseline(train.default_config(dataset, model))
    assert loaded is not None, filename
    return loaded, train.weights_hash(loaded)


@st.cache_resource(show_spinner=False)
def _load_upload(digest: str, dataset: str, model: str) -> tuple[nn.Module, str]:
    return uploads.load_stored(digest, dataset, model), digest


def _dataset_label(name: str) -> str:
    spec = data.DATASETS[name]
    return spec.title if data.available(name) else f"{spec.title} - not on this machine"


def pickers() -> state.Choice:
    """Draw the dataset and model pickers (URL-backed) and return the choice."""
    choice = state.current()
    with st.sidebar:
        st.markdown("### Compression Lab")
        ds_names = list(data.DATASETS)
        dataset = st.selectbox(
            "Dataset",
            ds_names,
            index=ds_names.index(choice.dataset),
            format_func=_dataset_label,
            key="sb_dataset",
        )
        model_names = list(models.MODELS)
        model = st.selectbox(
            "Model",
            model_names,
            index=model_names.index(choice.model),
            format_func=lambda n: models.MODELS[n].title,
            key="sb_model",
            help="The architecture; its trained baseline is loaded (or trained once) below.",
        )
    choice = state.Choice(dataset=dataset, model=model)
    state.remember(choice)
    present.toggle()
    return choice


def render() -> Context:
    """Draw the shared sidebar and return the page's context; stops the page when not ready."""
    choice = pickers()
    try:
        ds = load_dataset(choice.dataset)
    except data.DatasetUnavailable as exc:
        st.error(fmt.md(exc))
        st.stop()
    cfg = train.default_config(choice.dataset, choice.model)

    digest = st.query_params.get("weights")
    if digest:
        try:
            model_obj, whash = _load_upload(digest, choice.dataset, choice.model)
        except uploads.UploadError as exc:
            st.warning(f"The uploaded weights in this link can't be used: {fmt.md(exc, 4 * fmt.QUOTE_CHARS)}")
            del st.query_params["weights"]
        else:
            with st.sidebar:
                st.caption(f"Using uploaded weights `{digest}`.")
                if st.button("Back to the trained baseline"):
                    del st.query_params["weights"]
                    st.rerun()
            return Context(choice, ds, model_obj, cfg, f"uploaded weights {digest}", whash)

    path = train.baseline_path(cfg)
    if path is None:
        _train_panel(cfg)
        st.stop()
    model_obj, whash = _load_model(path.name, choice.dataset, choice.model)
    source = "shipped baseline" if path.parent == train.ASSETS else "cached baseline"
    with st.sidebar:
        st.caption(f"{source}: {cfg.epochs} epochs, {cfg.optimizer}, lr {cfg.lr:g}, seed {cfg.seed}")
    return Context(choice, ds, model_obj, cfg, source, whash)


def _train_panel(cfg: train.TrainConfig) -> None:
    """No baseline on disk yet: offer to train one as a background job with progress."""
    manager = job_manager()
    job_id = f"train-{cfg.filename()}"
    st.info(
        f"No trained **{models.MODELS[cfg.model].title}** baseline for **{cfg.dataset}** yet. "
        f"Training takes {cfg.epochs} epochs ({cfg.optimizer}, lr {cfg.lr:g}) and is cached on disk, "
        "so it happens once per machine."
    )
    job = manager.get(job_id)
    if (job is None or job.state in ("cancelled", "failed")) and st.button(
        "Train baseline" if job is None else "Train again", type="primary"
    ):

        def work(progress: train.Progress, stop: train.StopFlag) -> str:
            model = train.train_baseline(cfg, progress, stop)
            return str(train.save_baseline(model, cfg))

        manager.submit(f"Train {cfg.model} on {cfg.dataset}", work, key=job_id)
    if manager.get(job_id) is not None:
        job_progress(job_id)


def page_job(param: str, prefix: str, own_key: str) -> jobs.Job | None:
    """The one job rule of every page: the job named in the URL when it is this page's kind (its id starts
    with `prefix`), else this configuration's own job (`own_key`), so a plain link finds a running job too.
    A foreign or unknown id in the URL gets a message and is dropped from the link."""
    manager = job_manager()
    job_id = st.query_params.get(param)
    if job_id and not job_id.startswith(prefix):
        st.warning(f"'{param}={fmt.quote(job_id)}' in the link is not a job of this page; ignoring it.")
        del st.query_params[param]
        job_id = None
    elif job_id and manager.get(job_id) is None:
        st.caption("The job in this link is no longer on this server (restarted?); start it again.")
        del st.query_params[param]
        job_id = None
    job = manager.get(job_id or own_key)
    if job is not None:
        st.query_params[param] = job.id
    return job


@st.fragment(run_every=1.0)
def job_progress(job_id: str) -> None:
    """Poll a job: progress bar, cancel button, and a full rerun when it finishes."""
    manager = job_manager()
    job = manager.get(job_id)
    if job is None:
        return
    title = fmt.md(job.title)  # titles and messages quote names (a study's) and errors: shown as typed
    if job.active:
        st.session_state[f"_running_{job_id}"] = True  # this tab watched it run
        st.progress(job.progress, text=f"{title}: {fmt.md(job.message or 'starting')}")
        if st.button("Cancel", key=f"cancel-{job_id}"):
            manager.cancel(job_id)
    elif job.state == "done":
        st.success(f"{title}: done.")
        if st.session_state.pop(f"_running_{job_id}", False):  # finished while polled: redraw the page once
            st.rerun(scope="app")
    elif job.state == "cancelled":
        st.warning(f"{title}: cancelled. Nothing was saved.")
    else:
        st.error(f"{title} failed: {fmt.md(job.error)}")
