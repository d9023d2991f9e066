wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs": {"amount": 182.5, "distance_km": 12.25, "merchant_risk": 0.31, "account_age_days": 420}}'
