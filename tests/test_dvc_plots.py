"""``dvc plots show`` renders offline: the page carries Vega inline, and the equity plot renders.

DVC's own page template loads vega, vega-lite and vega-embed from a CDN, so without network the
plots are blank. ``.dvc/config`` points ``plots.html_template`` at ``.dvc/plots/offline.html``,
which inlines the three libraries; node renders the page's spec to SVG with them, no network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require_tool

RENDER = REPO_ROOT / "tests" / "fixtures" / "vega" / "render.js"


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plots")
    dvc = shutil.which("dvc", path=str(Path(os.sys.executable).parent)) or "dvc"
    subprocess.run(
        [dvc, "plots", "show", "models/plots/equity.csv", "-o", str(out)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    return out / "index.html"


def test_the_plots_page_loads_no_remote_script(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert "cdn.jsdelivr.net" not in html
    libraries = re.findall(r'data-library="([^"]+)"', html)
    assert [name.split("@")[0] for name in libraries] == ["vega", "vega-lite", "vega-embed"]
    assert "vegaEmbed('#" in html
    assert '"date (UTC)"' in html and '"equity (growth of 1, after costs, log scale)"' in html


def test_the_equity_plot_renders_offline_with_the_inlined_libraries(page: Path) -> None:
    node = require_tool("node")
    done = subprocess.run(
        [node, str(RENDER), str(page)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    svg = done.stdout
    assert svg.startswith("<svg") and "Equity of the model" in svg
    assert svg.count("date (UTC)") >= 1 and "equity (growth of 1, after costs, log scale)" in svg
    # The line itself: a path with many points.
    assert max(len(d) for d in re.findall(r' d="([^"]+)"', svg)) > 500
