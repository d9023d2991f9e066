-- One row in the V2 inference protocol, asking MLServer's scikit-learn runtime for
-- predict_proba (the same answer the other servers give).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [182.5, 12.25, 0.31, 420]}], "outputs": [{"name": "predict_proba"}]}'
