"""Parse a bundle's LightGBM model in a throw-away child process before the service loads it.

Some corrupt model strings (a damaged tree section, a matching digest) make LightGBM throw a C++
exception inside an OpenMP region while parsing: the runtime calls ``std::terminate`` and the
whole process aborts, with no Python exception to catch and no line of ours in the log. The
child (``python -I -S``: no site-packages, only ``ctypes`` and ``json``, about 50 ms) loads the
LightGBM library the service uses and parses the model; if it dies, the service reports why and
stays up (not ready, then liveness fails) instead of aborting.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from pipelines.errors import PipelineError

_CHILD = """
import ctypes, json, sys
lib = ctypes.cdll.LoadLibrary(sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as fh:
    model = json.load(fh)["lightgbm_model"].encode()
handle, iterations = ctypes.c_void_p(), ctypes.c_int()
code = lib.LGBM_BoosterLoadModelFromString(
    ctypes.c_char_p(model), ctypes.byref(iterations), ctypes.byref(handle)
)
sys.exit(0 if code == 0 else 3)
"""


def _library() -> str:
    from lightgbm.basic import _LIB

    return str(_LIB._name)


def check_model_parses(bundle: Path, timeout: float = 120.0) -> None:
    """Raise when parsing the bundle's model kills the process that tries it.

    Other failures (not JSON, no model, a LightGBM error it reports) are left to
    :func:`pipelines.registry.bundle.load_bundle`, which names them in the same process.

    Raises:
        PipelineError: The child aborted or was killed (with LightGBM's last fatal message),
            or did not finish within ``timeout`` seconds.
    """
    try:
        proc = subprocess.run(  # noqa: S603 - our own interpreter and fixed code
            [sys.executable, "-I", "-S", "-c", _CHILD, _library(), str(bundle)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PipelineError(
            f"{bundle}: parsing the LightGBM model took over {timeout:g} s"
        ) from None
    if proc.returncode >= 0:
        return
    fatal = [line for line in proc.stderr.splitlines() if "[Fatal]" in line]
    cause = fatal[-1].split("[Fatal]", 1)[1].strip() if fatal else "no message"
    name = signal.Signals(-proc.returncode).name
    raise PipelineError(f"{bundle}: corrupt LightGBM model: parsing it aborts ({name}): {cause}")
