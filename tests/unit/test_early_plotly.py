"""ui.early_plotly: the middleware edits the head of a chart-first page's HTML and nothing else."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message
from streamlit import file_util

from ui.early_plotly import CHART_FIRST, EarlyPlotly, head_tags, page_of, plotly_chunk

PAGE = "<html><head><title>t</title></head><body></body></html>"
CHUNK = "PlotlyChart.abc123.js"


def _static(tmp_path: Path, *chunks: str) -> Path:
    js = tmp_path / "static" / "js"
    js.mkdir(parents=True)
    for name in chunks:
        (js / name).write_text("export default 1")
    return tmp_path


def _inner(seen: list[dict[str, str]]) -> Starlette:
    """A real Starlette app: the page as HTML (in two pieces on /streamed), text, a 404; it records request headers."""

    async def page(request: Request) -> Response:
        seen.append(dict(request.headers))
        name = request.path_params["name"]
        if name == "text":
            return PlainTextResponse(PAGE)
        if name == "missing":
            return HTMLResponse(PAGE, status_code=404)
        if name == "streamed":

            async def pieces():  # type: ignore[no-untyped-def]
                yield PAGE[:20].encode()
                yield PAGE[20:].encode()

            return StreamingResponse(pieces(), media_type="text/html")
        return HTMLResponse(PAGE)

    return Starlette(routes=[Route("/{name:path}", page)])


def _get(app: EarlyPlotly, path: str) -> tuple[int, dict[str, str], bytes]:
    scope = {
        "type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(b"host", b"x"), (b"accept-encoding", b"gzip")], "scheme": "http", "server": ("x", 80),
        "client": ("y", 1), "http_version": "1.1", "root_path": "",
    }  # fmt: skip
    sent: list[Message] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> Message:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # no disconnect: a streamed response stops listening when it is done
        raise AssertionError

    async def send(message: Message) -> None:
        sent.append(message)

    with ThreadPoolExecutor(1) as pool:  # its own event loop: another test may have left one running here
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    start = sent[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize("path", ["/prune", "/lab/quantize/", "/streamed"])
def test_a_chart_first_page_gets_the_import_once_with_its_length(tmp_path: Path, path: str) -> None:
    seen: list[dict[str, str]] = []
    app = EarlyPlotly(_inner(seen), pages=CHART_FIRST | {"streamed"}, static_dir=_static(tmp_path, CHUNK))
    status, headers, body = _get(app, path)
    assert status == 200
    assert body == PAGE.encode().replace(b"</head>", head_tags(CHUNK) + b"</head>")
    assert body.count(b"import(") == 1
    assert int(headers["content-length"]) == len(body)
    assert "accept-encoding" not in seen[0]  # asked for uncompressed, so the head is editable


@pytest.mark.parametrize("path", ["/model", "/", "/static/js/PlotlyChart.abc123.js", "/text", "/missing"])
def test_other_pages_and_responses_pass_unchanged(tmp_path: Path, path: str) -> None:
    seen: list[dict[str, str]] = []
    pages = CHART_FIRST | {"text", "missing"}
    _, headers, body = _get(EarlyPlotly(_inner(seen), pages=pages, static_dir=_static(tmp_path, CHUNK)), path)
    assert body == PAGE.encode()
    assert int(headers["content-length"]) == len(body)


def test_without_exactly_one_plotly_chunk_nothing_is_edited(tmp_path: Path) -> None:
    assert plotly_chunk(_static(tmp_path / "none")) is None
    assert plotly_chunk(_static(tmp_path / "two", CHUNK, "PlotlyChart.def.js")) is None
    seen: list[dict[str, str]] = []
    _, _, body = _get(EarlyPlotly(_inner(seen), static_dir=_static(tmp_path / "empty")), "/prune")
    assert body == PAGE.encode()
    assert seen[0]["accept-encoding"] == "gzip"


def test_this_streamlit_ships_one_plotly_chunk() -> None:
    """If a Streamlit upgrade renames the chunk, the app still works but loses the early start: say so here."""
    chunk = plotly_chunk(Path(file_util.get_static_dir()))
    assert chunk is not None
    assert (Path(file_util.get_static_dir()) / "static" / "js" / chunk).stat().st_size > 1_000_000


def test_page_of_takes_the_last_segment() -> None:
    assert [page_of(p) for p in ["/prune", "/base/prune/", "/", "/static/js/a.js"]] == [
        "prune",
        "prune",
        "",
        "a.js",
    ]
