"""Prediction accuracy and paper orders of the live service (its own collectors, one registry).

* **Prediction accuracy**: each prediction's side (P(up) above or below 0.5; a regression's
  sign) is kept with the close of the bar it was made on; when the instrument's bar
  ``label_horizon`` bars later arrives, the realised return over the horizon (the model's own
  label) scores it. ``strategy_predictions_scored_total`` counts scored predictions (a flat side
  or a flat move is not scored) and ``strategy_prediction_hits_total`` those whose side had the
  move's sign, per instrument: the rolling hit rate is their ratio of increases. One prediction
  per bar is kept (a retried request replaces it).
* **Paper orders**: a change of the target position is a paper order for the difference:
  ``strategy_paper_orders_total`` by side and ``strategy_paper_order_quantity_total``. The
  paper returns the service exports assume each order is filled at the close of the bar it
  was decided on; there is no exchange, hence no fill or rejection to count.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter

from pipelines.monitoring import metric_names as names
from pipelines.serving.state import InstrumentState


@dataclass
class _Book:
    """One instrument's bar count, last bar seen and predictions awaiting their horizon."""

    seen: int = 0
    last: object = None
    pending: deque[tuple[int, object, float, float]] = field(default_factory=deque)


class SignalTracking:
    """Scores predictions against realised returns and counts paper orders."""

    def __init__(
        self,
        registry: CollectorRegistry,
        version: str,
        instruments: Sequence[str],
        horizon: int,
        centre: float,
    ) -> None:
        self.version, self.horizon, self.centre = version, max(1, horizon), centre
        spec = names.PREDICTIONS_SCORED
        self.scored = Counter(spec.name, spec.help, spec.labels, registry=registry)
        spec = names.PREDICTION_HITS
        self.hits = Counter(spec.name, spec.help, spec.labels, registry=registry)
        spec = names.PAPER_ORDERS
        self.orders = Counter(spec.name, spec.help, spec.labels, registry=registry)
        spec = names.PAPER_ORDER_QUANTITY
        self.quantity = Counter(spec.name, spec.help, spec.labels, registry=registry)
        self.books = {name: _Book() for name in instruments}
        # Each instrument's series, created at zero and kept: labels() costs a lookup per call.
        self._scored = {name: self.scored.labels(version, name) for name in instruments}
        self._hits = {name: self.hits.labels(version, name) for name in instruments}
        self._quantity = {name: self.quantity.labels(version, name) for name in instruments}
        self._orders = {
            (name, side): self.orders.labels(version, name, side)
            for name in instruments
            for side in ("buy", "sell")
        }

    def bars(self, instrument: str, state: InstrumentState) -> None:
        """Count the bars new since the last call and score predictions whose horizon passed."""
        book = self.books[instrument]
        fresh = []
        for bar in reversed(state.bars):
            if book.last is not None and bar.timestamp <= book.last:  # type: ignore[operator]
                break
            fresh.append(bar)
        for bar in reversed(fresh):
            book.seen += 1
            book.last = bar.timestamp
            while book.pending and book.seen - book.pending[0][0] >= self.horizon:
                _, _, close, side = book.pending.popleft()
                move = math.log(bar.close) - math.log(close)
                if side != 0 and move != 0:
                    self._scored[instrument].inc()
                    if (move > 0) == (side > 0):
                        self._hits[instrument].inc()

    def prediction(self, instrument: str, state: InstrumentState, value: float | None) -> None:
        """Keep the side of a prediction made on the instrument's latest bar."""
        if value is None or not math.isfinite(value) or not state.bars:
            return
        book, bar = self.books[instrument], state.bars[-1]
        side = float(math.copysign(1.0, value - self.centre)) if value != self.centre else 0.0
        if book.pending and book.pending[-1][1] == bar.timestamp:
            book.pending.pop()  # a retried request on the same bar
        book.pending.append((book.seen, bar.timestamp, bar.close, side))

    def position(self, instrument: str, before: float, after: float) -> None:
        """Count a paper order when the target position changes."""
        if after == before:
            return
        side = "buy" if after > before else "sell"
        self._orders[(instrument, side)].inc()
        self._quantity[instrument].inc(abs(after - before))
