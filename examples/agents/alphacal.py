#!/usr/bin/env python3
"""AlphaCal, Horizon's demo agent.

Reads its parameters from the JSON file named by HORIZON_PARAMS_FILE, "calibrates"
for a few seconds (parameter `seconds`, default 3), and writes a result file next
to its parameters. Exits 2 if parameter `fail` is true, to show a failing job.
"""
import json
import math
import os
import sys
import time

job_id = os.environ["HORIZON_JOB_ID"]
dataset = os.environ["HORIZON_DATASET_ID"]
params_path = os.environ["HORIZON_PARAMS_FILE"]
with open(params_path) as f:
    params = json.load(f)

seconds = float(params.get("seconds", 3))
alpha = float(params.get("alpha", 0.5))
print(f"AlphaCal: job {job_id}, dataset {dataset}, alpha={alpha}, {seconds}s", flush=True)

deadline = time.monotonic() + seconds
steps, acc = 0, 0.0
while time.monotonic() < deadline:
    for i in range(20000):
        acc += math.sin(alpha * i) ** 2
    steps += 1
    if steps % 50 == 0:
        print(f"step {steps}", flush=True)

if params.get("fail"):
    print("AlphaCal: calibration diverged", file=sys.stderr, flush=True)
    sys.exit(2)

result = {"job_id": job_id, "dataset_id": dataset, "alpha": alpha, "score": acc / max(steps, 1)}
out = os.path.join(os.path.dirname(params_path), "result.json")
with open(out, "w") as f:
    json.dump(result, f)
print(f"AlphaCal: wrote {out}", flush=True)
