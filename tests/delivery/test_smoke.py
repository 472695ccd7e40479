"""`pipelines smoke` against a real `pipelines serve`: a real request, the digest checked."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pipelines.cli import main
from pipelines.config import load_params
from pipelines.delivery.smoke import SmokeFailed, check_answer, latest_bars, smoke
from tests.conftest import REPO_ROOT
from tests.serving.conftest import INSTRUMENTS, ServiceProcess, load_long, train, write_env

SHA = "ab" * 32


def test_latest_bars_come_from_the_configured_source() -> None:
    params = load_params(REPO_ROOT / "params.yaml")  # embedded default: the bundled sample
    bars = latest_bars(params.model_copy(), "KO", 300)
    assert len(bars) == 300 and bars[-1]["timestamp"].startswith("2022-12-28")
    assert all(set(b) == {"timestamp", "close"} for b in bars)
    with pytest.raises(SmokeFailed, match="no bars for NOPE"):
        latest_bars(params, "NOPE", 10)


def test_a_broken_upload_beside_good_files_does_not_fail_the_smoke_test(tmp_path: Path) -> None:
    # The failed night's corrupt upload stays in the landing bucket until someone removes it:
    # ingest refuses it and pages; deploys must still find the good bars beside it.
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "a_good.csv").write_text(
        "timestamp,instrument,close\n2024-01-02,KO,60.1\n2024-01-03,KO,60.4\n"
    )
    (incoming / "b_broken.csv.gz").write_bytes(b"\x1f\x8b\x08truncated")
    params = load_params(REPO_ROOT / "params.yaml")
    data = params.data.model_copy(
        update={
            "source": "file",
            "file": params.data.file.model_copy(update={"path": str(incoming / "*.csv*")}),
        }
    )
    params = params.model_copy(update={"data": data})
    bars = latest_bars(params, "KO", 10)
    assert [b["close"] for b in bars] == [60.1, 60.4]
    (incoming / "a_good.csv").unlink()
    with pytest.raises(SmokeFailed, match=r"no bars at all \(1 unreadable: .*b_broken.csv.gz"):
        latest_bars(params, "KO", 10)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"error": "body: expected a JSON object with instrument and bars"}, "HTTP 400"),
        (200, {"model_sha256": "cd" * 32, "model_version": "1"}, "is not the manifest's"),
        (200, {"model_sha256": SHA, "model_version": "2"}, "model_version '2'"),
        (
            200,
            {"model_sha256": SHA, "model_version": "1", "status": "warming_up", "position": 0},
            "expected status ok",
        ),
    ],
)
def test_answers_that_fail_the_smoke_test(status: int, body: dict, message: str) -> None:
    with pytest.raises(SmokeFailed, match=message):
        check_answer(httpx.Response(status, json=body), "1", SHA, "POST /v1/signal")


@pytest.mark.slow
def test_smoke_against_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = load_long(INSTRUMENTS, "2016-01-01", "2018-12-31")
    good = train(bars, tmp_path / "good.json", "7")
    other = train(bars, tmp_path / "other.json", "7", invert=True)
    manifest, settings = write_env(tmp_path / "env", good)
    service = ServiceProcess(manifest, settings, tmp_path / "serve.log")
    try:
        service.wait_ready()
        params = load_params(REPO_ROOT / "params.yaml")
        monkeypatch.chdir(REPO_ROOT)  # the sample source's path is repository-relative
        result = smoke(params, service.url, manifest, settings)
        assert (result.instrument, result.bars, result.sha256) == ("KO", 300, good.sha256)
        assert result.position in (-1.0, 0.0, 1.0)

        # The manifest of another bundle: the running service does not serve it. (Another
        # instrument: the service already holds KO's latest bars and would answer 409.)
        wrong, other_settings = write_env(tmp_path / "wrong", other, instruments=["PEP"])
        argv = ["smoke", "--url", service.url, "--manifest", str(wrong)]
        code = main([*argv, "--settings", str(other_settings)])
        err = capsys.readouterr().err
        assert code == 2 and f"is not the manifest's {other.sha256}" in err
        assert err.count("\n") == 1
    finally:
        service.stop()
