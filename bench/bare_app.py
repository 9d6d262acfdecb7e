"""The intake's anchor: a FastAPI endpoint that reads the body and answers 202 with a
fixed receipt, served by uvicorn exactly as services.common.runtime.serve serves the
services (one process, no access log, no logging config).

    python -m bench.bare_app --port 26101
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

RECEIPT = {"submission_id": "bare", "unit_id": "province:quang-ninh", "period": 2079,
           "revision": 1, "on_time": True, "received_at": "2079-06-02T02:00:00Z"}


def create_app() -> FastAPI:
    app = FastAPI(title="bare endpoint")

    @app.post("/v1/submissions", status_code=202)
    async def submit(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse(RECEIPT, status_code=202)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from services.common.runtime import KEEP_ALIVE_SECONDS

    uvicorn.run("bench.bare_app:create_app", factory=True, host="127.0.0.1", port=args.port,
                log_config=None, access_log=False, timeout_graceful_shutdown=10,
                timeout_keep_alive=KEEP_ALIVE_SECONDS)


if __name__ == "__main__":
    main()
