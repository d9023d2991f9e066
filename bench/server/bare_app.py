"""The reference: bare FastAPI + uvicorn serving the same model, with no logging at all."""

from __future__ import annotations

import os
from typing import Any

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel
from threadpoolctl import threadpool_limits

threadpool_limits(1)
MODEL = joblib.load(os.environ["BENCH_MODEL"])
FEATURES = list(MODEL.feature_names_in_)
app = FastAPI()


class Request(BaseModel):
    inputs: dict[str, float]


@app.post("/v1/models/fraud/predict")
async def predict(request: Request) -> dict[str, Any]:
    x = np.array([[request.inputs[f] for f in FEATURES]])
    score = float(MODEL.predict_proba(x)[0, 1])
    return {"label": int(score >= 0.5), "score": score}
