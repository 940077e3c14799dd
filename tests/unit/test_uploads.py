"""Untrusted uploads, with real files written by the tests: good weights in, everything else refused."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save

from compression import models, uploads

DIGITS = (1, 8, 8)


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path / "cache"))


def _torch_bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _trained_like_state(seed: int = 1) -> dict[str, torch.Tensor]:
    """A lenet5/digits state dict with weights that differ from the zoo's seeded init."""
    torch.manual_seed(seed)
    return {k: torch.randn_like(v) for k, v in models.build("lenet5", DIGITS, 10).state_dict().items()}


def _assert_weights_equal(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    got = model.state_dict()
    assert got.keys() == state.keys()
    assert all(torch.equal(got[k], state[k]) for k in state)


def test_good_pt_state_dict_is_accepted_and_reloads() -> None:
    state = _trained_like_state()
    digest = uploads.accept("my-lenet.pt", _torch_bytes(state), "digits", "lenet5")
    assert len(digest) == 16
    assert (uploads.uploads_dir() / f"{digest}.safetensors").exists()
    _assert_weights_equal(uploads.load_stored(digest, "digits", "lenet5"), state)


def test_checkpoint_layouts_people_actually_save() -> None:
    state = _trained_like_state(2)
    wrapped = {"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}
    digest = uploads.accept("ddp-checkpoint.pth", _torch_bytes(wrapped), "digits", "lenet5")
    _assert_weights_equal(uploads.load_stored(digest, "digits", "lenet5"), state)


def test_good_safetensors_is_accepted() -> None:
    state = _trained_like_state(3)
    digest = uploads.accept("weights.safetensors", st_save(state), "digits", "lenet5")
    _assert_weights_equal(uploads.load_stored(digest, "digits", "lenet5"), state)


def test_mismatched_checkpoint_names_first_bad_key_and_shapes() -> None:
    fashion_state = models.build("lenet5", (1, 28, 28), 10).state_dict()  # other input size
    with pytest.raises(uploads.UploadError) as info:
        uploads.accept("fashion.pt", _torch_bytes(fashion_state), "digits", "lenet5")
    msg = str(info.value)
    assert "classifier.1.weight" in msg
    assert "(120, 400)" in msg and "(120, 64)" in msg
    assert not uploads.uploads_dir().exists() or not any(uploads.uploads_dir().iterdir())


def test_missing_and_unexpected_keys() -> None:
    state = _trained_like_state()
    del state["classifier.5.bias"]
    with pytest.raises(uploads.UploadError, match=r"Missing key 'classifier\.5\.bias'"):
        uploads.accept("partial.pt", _torch_bytes(state), "digits", "lenet5")
    other = models.build("lenet-300-100", DIGITS, 10).state_dict()
    with pytest.raises(uploads.UploadError, match=r"features\.0\.weight"):
        uploads.accept("mlp.pt", _torch_bytes(other), "digits", "lenet5")


class _RunsCode:
    """Unpickling this runs a shell command: the classic malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_runs_code_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = Path(f"/tmp/pwned-{uuid.uuid4().hex}")
    blob = _torch_bytes({"fc.weight": torch.zeros(2, 2), "payload": _RunsCode(marker)})
    with pytest.raises(uploads.UploadError, match="refused") as info:
        uploads.accept("innocent.pt", blob, "digits", "lenet5")
    assert "state_dict" in str(info.value)  # tells the user what to upload instead
    assert not marker.exists()
    # The payload is live: an unsafe loader really would have run it (so the test above can fail).
    probe = tmp_path / "probe-ran"
    torch.load(io.BytesIO(_torch_bytes(_RunsCode(probe))), weights_only=False)
    assert probe.exists()


def _checkpoint_prefix() -> bytes:
    return _torch_bytes(_trained_like_state())[:500]


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(_checkpoint_prefix, id="truncated-zip"),
        pytest.param(lambda: os.urandom(4096), id="random-bytes"),
        pytest.param(lambda: bytes(1000), id="zeros"),
        pytest.param(lambda: b"hello world" * 10, id="text"),
    ],
)
def test_corrupt_pt_gets_a_clear_error(blob: Callable[[], bytes]) -> None:
    with pytest.raises(uploads.UploadError, match="not a readable PyTorch file"):
        uploads.accept("broken.pt", blob(), "digits", "lenet5")


def test_corrupt_safetensors_gets_a_clear_error() -> None:
    with pytest.raises(uploads.UploadError, match="not a valid safetensors file"):
        uploads.accept("broken.safetensors", os.urandom(4096), "digits", "lenet5")
    half = st_save(_trained_like_state())
    with pytest.raises(uploads.UploadError, match="not a valid safetensors file"):
        uploads.accept("half.safetensors", half[: len(half) // 2], "digits", "lenet5")


def test_refusal_names_what_was_blocked_and_gives_no_unsafe_advice() -> None:
    blob = _torch_bytes({"payload": _RunsCode(Path(f"/tmp/pwned-{uuid.uuid4().hex}"))})
    with pytest.raises(uploads.UploadError) as info:
        uploads.accept("innocent.pt", blob, "digits", "lenet5")
    msg = str(info.value)
    assert "system" in msg
    assert "set to `False`" not in msg


def test_empty_file() -> None:
    with pytest.raises(uploads.UploadError, match="is empty"):
        uploads.accept("empty.pt", b"", "digits", "lenet5")


def test_oversized_blob() -> None:
    blob = bytes(uploads.MAX_BYTES + 1)
    with pytest.raises(
        uploads.UploadError, match=r"209,715,201 bytes, more than the limit of 209,715,200 bytes"
    ):
        uploads.accept("huge.pt", blob, "digits", "lenet5")


@pytest.mark.parametrize("name", ["model.onnx", "weights.pkl", "noext"])
def test_wrong_suffix(name: str) -> None:
    with pytest.raises(uploads.UploadError, match=r"expected a \.pt, \.pth or \.safetensors"):
        uploads.accept(name, _torch_bytes(_trained_like_state()), "digits", "lenet5")


def test_not_a_state_dict() -> None:
    with pytest.raises(uploads.UploadError, match="not a state_dict"):
        uploads.accept("list.pt", _torch_bytes([torch.zeros(3)]), "digits", "lenet5")


@pytest.mark.parametrize("digest", ["../../etc/passwd", "0123456789abcdef"])
def test_bad_or_unknown_upload_id(digest: str) -> None:
    with pytest.raises(uploads.UploadError):
        uploads.load_stored(digest, "digits", "lenet5")


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_growth(fn: Callable[[], object]) -> tuple[int, BaseException | None]:
    """Peak resident-memory growth while `fn` runs (sampled every millisecond), and what it raised."""
    import threading
    import time

    start, peak, done = _rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss() - start)
            time.sleep(0.001)

    t = threading.Thread(target=sample)
    t.start()
    try:
        fn()
        raised = None
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        raised = exc
    finally:
        done.set()
        t.join()
    return peak[0], raised


def test_deflate_bomb_is_refused_before_inflating() -> None:
    import zipfile

    state = _trained_like_state()
    state["bomb"] = torch.zeros(256 * 2**20, dtype=torch.uint8)  # 256 MB of zeros
    stored = _torch_bytes(state)
    del state
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(stored)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))  # re-zipped: 256 MB deflate to ~0.3 MB
    del stored
    blob = out.getvalue()
    assert len(blob) < 2 * 2**20
    growth, raised = _peak_growth(lambda: uploads.accept("bomb.pt", blob, "digits", "lenet5"))
    assert isinstance(raised, uploads.UploadError) and "refused before unpacking" in str(raised), raised
    assert growth < 100 * 2**20, f"memory grew {growth / 2**20:.0f} MB"
    assert not list(uploads.uploads_dir().glob("*")) if uploads.uploads_dir().exists() else True


@pytest.mark.parametrize(
    ("bad", "message"),
    [(float("nan"), "NaN or infinite"), (float("inf"), "NaN or infinite"), (1e38, "magnitude")],
)
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_non_finite_or_absurd_weights_are_refused(bad: float, message: str, suffix: str) -> None:
    state = _trained_like_state()
    state["classifier.1.weight"][0, 0] = bad
    blob = _torch_bytes(state) if suffix == ".pt" else st_save(state)
    with pytest.raises(uploads.UploadError, match=message) as exc:
        uploads.accept(f"w{suffix}", blob, "digits", "lenet5")
    assert "classifier.1.weight" in str(exc.value)
    assert not uploads.uploads_dir().exists() or not list(uploads.uploads_dir().iterdir())


@pytest.mark.parametrize(
    ("cast", "message"),
    [
        (
            lambda t: (t * 1e12).to(torch.int64),
            "int64 values",
        ),  # stored as float32 it read 1e12: a rerun loop
        (lambda t: t.to(torch.complex64), "complex64 values"),  # the imaginary part was dropped silently
        (lambda t: t > 0, "bool values"),
        (lambda t: t.double() * 1e300, "infinite"),  # finite as float64, infinite as stored (float32)
    ],
)
def test_values_the_architecture_cannot_hold_are_refused(
    cast: Callable[..., torch.Tensor], message: str
) -> None:
    state = _trained_like_state()
    state["classifier.1.weight"] = cast(state["classifier.1.weight"])
    with pytest.raises(uploads.UploadError, match=message) as exc:
        uploads.accept("w.pt", _torch_bytes(state), "digits", "lenet5")
    assert "classifier.1.weight" in str(exc.value)
    assert not uploads.uploads_dir().exists() or not list(uploads.uploads_dir().iterdir())


def test_a_dict_keyed_by_numbers_is_no_state_dict() -> None:
    with pytest.raises(uploads.UploadError, match="not a state_dict"):
        uploads.accept("keys.pt", _torch_bytes({1: torch.zeros(3)}), "digits", "lenet5")
