"""Regenerate data/sample/news_sentiment.csv.gz: SYNTHETIC news-sentiment events (not real news).

Events per bundled stock, 2018-01-01 to 2022-12-28, Poisson arrivals (more on weekdays), published
at random times of day (nights and weekends too). The score reacts to the 5-session return known
before the day (never a later one) plus noise, clipped to [-1, 1] by tanh: real-shaped, no
forward-looking signal. Run from the repository root: python data/sample/make_news_sentiment.py
"""

import numpy as np, pandas as pd
rng = np.random.default_rng(20240601)
wide = pd.read_csv("data/sample/sp500_20_daily_close.csv.gz", parse_dates=["Date"]).set_index("Date")
ret5 = np.log(wide).diff(5)
days = pd.date_range("2018-01-01", "2022-12-28", freq="D")
rows = []
for name in wide.columns:
    r5 = ret5[name].reindex(days, method="ffill").shift(1)  # the return known before that day
    counts = rng.poisson(np.where(days.day_of_week < 5, 0.35, 0.12))
    for day, n, past in zip(days, counts, r5.to_numpy()):
        for _ in range(n):
            at = day + pd.Timedelta(seconds=int(rng.integers(0, 86400)))
            score = np.tanh(8.0 * (0.0 if np.isnan(past) else past) + rng.normal(0.0, 0.5))
            rows.append((at.strftime("%Y-%m-%dT%H:%M:%SZ"), name, round(float(score), 3)))
frame = pd.DataFrame(rows, columns=["published_at", "instrument", "sentiment"]).sort_values(["published_at", "instrument"])
frame["headline"] = [f"{i}: synthetic headline {k}" for k, i in enumerate(frame["instrument"])]
frame["source"] = "synthetic-wire"
frame.to_csv("data/sample/news_sentiment.csv.gz", index=False, compression={"method": "gzip", "mtime": 0})
print(len(frame))
