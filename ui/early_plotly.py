"""Start Plotly's JavaScript with the page on the links whose first screen is a Plotly chart.

Streamlit's browser code fetches an element's JavaScript only once the element arrives over the websocket,
so a lab's first chart waited for the page's main bundle, the connection, the script's first frames, and only
then for Plotly's 4.7 MB chunk to load and evaluate (~0.8 s of one core here: the largest single step of a lab's
first chart in a Chrome trace). On those pages this middleware adds one module import of that chunk to the head
of Streamlit's index.html, so the browser loads and evaluates it while the websocket connects and the script
runs (paired, new browser contexts: first chart 2.56 -> 2.28 s; bench/results/first_chart.md). Streamlit has no
setting for the page head; st.App's middleware is its public hook for the HTTP layer. Not on the other pages: the
evaluation holds the browser's main thread, and the Model page's numbers, drawn without Plotly, would wait for it
(paired: +0.7 s).
"""

from __future__ import annotations

from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# the pages whose default first screen draws a Plotly chart (tests/app/test_early_plotly.py checks this list);
# Compare's is the front once the store holds a run (with none, its "no runs yet" waits for Plotly too)
CHART_FIRST = frozenset({"prune", "quantize", "distill", "darts", "lowrank", "compare"})


def plotly_chunk(static_dir: Path) -> str | None:
    """The file name of Streamlit's Plotly element chunk, or None when this Streamlit build has not exactly one."""
    found = sorted((static_dir / "static" / "js").glob("PlotlyChart.*.js"))
    return found[0].name if len(found) == 1 else None


def head_tags(chunk: str) -> bytes:
    """Fetch, compile and evaluate the chunk as soon as the page starts (relative, like Streamlit's own tags)."""
    url = f"./static/js/{chunk}"
    return (
        f'<link rel="modulepreload" crossorigin href="{url}">'
        f'<script type="module">import("{url}").catch(() => {{}})</script>'
    ).encode()


def page_of(path: str) -> str:
    """The page a request path names: its last segment (Streamlit's page URLs are one segment deep)."""
    return path.rstrip("/").rsplit("/", 1)[-1]


class EarlyPlotly:
    """ASGI middleware: Streamlit's index.html, served for a page in `pages`, gets `head_tags` before </head>."""

    def __init__(
        self, app: ASGIApp, pages: frozenset[str] = CHART_FIRST, static_dir: Path | None = None
    ) -> None:
        from streamlit import file_util

        self.app = app
        self.pages = pages
        chunk = plotly_chunk(static_dir or Path(file_util.get_static_dir()))
        self.tags = head_tags(chunk) if chunk else b""  # another Streamlit build: serve its pages unchanged

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.tags
            or scope["type"] != "http"
            or scope["method"] != "GET"
            or page_of(scope["path"]) not in self.pages
        ):
            await self.app(scope, receive, send)
            return
        # ask for the page uncompressed, so its head can be edited (4 kB; the JavaScript stays compressed)
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]
        start: Message = {}
        body: list[bytes] = []

        async def edit(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            html = b"".join(body)
            out = list(start["headers"])
            html_type = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in out)
            if start["status"] == 200 and html_type and b"</head>" in html:
                html = html.replace(b"</head>", self.tags + b"</head>", 1)
                out = [(k, v) for k, v in out if k.lower() != b"content-length"]
                out.append((b"content-length", str(len(html)).encode()))
            await send({**start, "headers": out})
            await send({"type": "http.response.body", "body": html, "more_body": False})

        await self.app({**scope, "headers": headers}, receive, edit)
