#!/usr/bin/env python3
"""Agent used by Horizon's end-to-end tests. Mode is argv[1]:

ok     work for params.seconds (default 0.3) and exit 0
fail   write a message to stderr and exit params.exit_code (default 3)
sleep  sleep params.seconds (default 60), ignoring nothing; then, with
       params.fail, exit 3 (one failing point of a sweep)
echo   copy what it was given (argv, env, parameters file) to echo.json and exit 0
peek   print what it can see (cwd, environment, uid, whether argv[2] opens) as JSON
orphan start `sleep 300` in the background, print its pid, exit 0 at once
hog    allocate params.mb megabytes (a MemoryError under a memory limit), touch
       them and hold them params.hold seconds
chatty print "line 1".."line N" (params.lines) to stdout, params.interval apart
flaky  fail with params.exit_code (default 75) the first time (no file at
       params.marker yet: it makes it), then succeed; every time with params.always;
       with params.slow_first, sleep that long the first time instead of failing

Every run appends a line to $HORIZON_TEST_RUNS_DIR/<job id>, so tests can
count how many times a job's program really ran.
"""
import json
import os
import sys
import time

mode = sys.argv[1]
job_id = os.environ["HORIZON_JOB_ID"]
params_file = os.environ["HORIZON_PARAMS_FILE"]
runs_dir = os.environ.get("HORIZON_TEST_RUNS_DIR")
if runs_dir:
    try:
        with open(os.path.join(runs_dir, job_id), "a") as f:
            f.write(f"{os.getpid()}\n")
    except OSError:
        pass  # run as another user that cannot write there
with open(params_file, "rb") as f:
    raw = f.read()
params = json.loads(raw)

if mode == "ok":
    deadline = time.monotonic() + float(params.get("seconds", 0.3))
    x = 0
    while time.monotonic() < deadline:
        x += 1
    print(f"done after {x} iterations", flush=True)
elif mode == "fail":
    print("something went wrong in the calibration", file=sys.stderr, flush=True)
    sys.exit(int(params.get("exit_code", 3)))
elif mode == "flaky":
    marker = params["marker"]
    first = not os.path.exists(marker)
    open(marker, "a").close()
    if first and params.get("slow_first"):
        # (the scheduler ends it meanwhile: a node failure, say)
        time.sleep(float(params["slow_first"]))
    elif params.get("always") or first:
        print(f"transient trouble (attempt {os.environ.get('HORIZON_ATTEMPT')})", file=sys.stderr, flush=True)
        sys.exit(int(params.get("exit_code", 75)))
    print(f"fine this time (attempt {os.environ.get('HORIZON_ATTEMPT')})", flush=True)
elif mode == "sleep":
    time.sleep(float(params.get("seconds", 60)))
    if params.get("fail"):
        print("this point fails", file=sys.stderr, flush=True)
        sys.exit(3)
elif mode == "echo":
    out = {
        "argv": sys.argv,
        "dataset_id": os.environ["HORIZON_DATASET_ID"],
        "params_raw": raw.decode(),
    }
    with open(os.path.join(os.path.dirname(params_file), "echo.json"), "w") as f:
        json.dump(out, f)
elif mode == "peek":
    try:
        with open(sys.argv[2], "rb") as f:
            f.read(16)
        db = "opened"
    except OSError as e:
        db = f"denied: {e}"
    print(json.dumps({"cwd": os.getcwd(), "env": sorted(os.environ), "uid": os.getuid(), "db": db}), flush=True)
elif mode == "orphan":
    import subprocess
    child = subprocess.Popen(["sleep", "300"])
    print(child.pid, flush=True)
elif mode == "chatty":
    for i in range(1, int(params.get("lines", 5)) + 1):
        print(f"line {i}", flush=True)
        time.sleep(float(params.get("interval", 0.2)))
    print("chatty done", file=sys.stderr, flush=True)
elif mode == "hog":
    block = bytearray(int(params.get("mb", 100)) * 1024 * 1024)
    # resident, and held a while (a scheduler that samples memory sees it)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(float(params.get("hold", 0)))
    print(f"allocated {len(block) // (1024 * 1024)} MB", flush=True)
else:
    sys.exit(f"unknown mode {mode}")
