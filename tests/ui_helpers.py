"""Talking to the UI's server in tests (starlette's TestClient): a JSON post, and waiting for a
job to end. (This module holds no tests itself.)"""

import json
import time


def post(client, path, body, headers=None, **kwargs):
    """POST `body` as JSON; `headers` are added to the content type (an Origin, a Host, ...)."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    return client.post(path, content=json.dumps(body), headers=headers, **kwargs)


def wait_done(client, job_id, timeout=60):
    """The job's state once it has ended (complete, interrupted, failed or cancelled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/jobs/{job_id}").json()
        if state["status"] in ("complete", "interrupted", "failed", "cancelled"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {state['status']}")
