"""One-row LightGBM predictions through the C API's single-row fast path.

``Booster.predict`` parses its parameters and builds a predictor on every call, which costs
more than predicting one row. LightGBM's ``LGBM_BoosterPredictForMatSingleRowFast`` prepares
that once. Same library, same model, same trees: the same numbers as ``Booster.predict``
(``tests/serving/test_single_row.py`` checks it).
"""

from __future__ import annotations

import ctypes

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB

_PREDICT_NORMAL = 0
_DTYPE_FLOAT64 = 1


def _check(code: int) -> None:
    if code != 0:
        raise ValueError(f"LightGBM: {_LIB.LGBM_GetLastError().decode()}")


class SingleRowPredictor:
    """Predict one row at a time with a prepared LightGBM fast config (one thread).

    Not for concurrent use: the service calls it from its event loop only.
    """

    def __init__(self, booster: lgb.Booster) -> None:
        self._booster = booster  # the config points into it: keep it alive
        self.num_features = booster.num_feature()
        self._config = ctypes.c_void_p()
        self._out = np.zeros(booster.num_model_per_iteration(), dtype="float64")
        self._out_len = ctypes.c_int64()
        _check(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_PREDICT_NORMAL),
                ctypes.c_int(0),
                # As Booster.predict: the best iteration when the model has one, else all.
                ctypes.c_int(booster.best_iteration),
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(self.num_features),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(self._config),
            )
        )

    def predict(self, row: np.ndarray) -> np.ndarray:
        """Raw model output for one row of ``num_features`` float64 values (shape (1,))."""
        values = np.ascontiguousarray(row, dtype="float64").reshape(-1)
        if values.shape != (self.num_features,):
            raise ValueError(f"expected {self.num_features} features, got {values.shape}")
        _check(
            _LIB.LGBM_BoosterPredictForMatSingleRowFast(
                self._config,
                values.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(self._out_len),
                self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            )
        )
        return self._out[: self._out_len.value].copy()

    def __del__(self) -> None:
        """Free the fast config."""
        if self._config.value:
            _LIB.LGBM_FastConfigFree(self._config)
