"""``make run``: start the local stack, make sure a demo account exists, serve the gateway.

The gateway hosts the usage loader in-process (chdb allows one ClickHouse engine per process).
Ctrl-C stops the gateway, then every service this program started; data stays in ``.data/``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

DEMO_EMAIL = "demo@switchyard.dev"
DEMO_PASSWORD = "switchyard-demo"
DEMO_KEY_NAME = "demo (make run)"
SIMULATOR_KEYS = {
    "OPENAI_API_KEY": "sim-openai-key",
    "ANTHROPIC_API_KEY": "sim-anthropic-key",
    "GOOGLE_API_KEY": "sim-google-key",
}


async def ensure_demo_account(database_url: str) -> str:
    """Create the demo user if missing and return a fresh gateway key for it.

    The previous run's demo key is revoked (its value was only ever printed), so keys do not pile up.
    """
    from gateway.auth.users import create_user, get_user_by_email
    from gateway.db import create_pool
    from gateway.keys.gateway_store import create_gateway_key, list_gateway_keys, revoke_gateway_key

    pool = await create_pool(database_url)
    try:
        user = await get_user_by_email(pool, DEMO_EMAIL)
        if user is None:
            user = await create_user(pool, DEMO_EMAIL, DEMO_PASSWORD)
        for old in await list_gateway_keys(pool, user["id"]):
            if old["name"] == DEMO_KEY_NAME and old["is_active"]:
                await revoke_gateway_key(pool, user["id"], uuid.UUID(old["id"]))
        key = await create_gateway_key(pool, user["id"], DEMO_KEY_NAME)
    finally:
        await pool.close()
    return key["key"]


def banner(base_url: str, key: str) -> str:
    return f"""
==============================================================================
 Switchyard is running at {base_url}

 Demo account   email: {DEMO_EMAIL}   password: {DEMO_PASSWORD}
 Gateway key    {key}

 Try it (pip install openai):

   from openai import OpenAI
   client = OpenAI(base_url="{base_url}/v1", api_key="{key}")
   reply = client.chat.completions.create(
       model="auto", messages=[{{"role": "user", "content": "Say hello in French"}}])
   print(reply.choices[0].message.content)
   print(reply.model_extra["gateway_metadata"])

 Dashboard numbers: POST {base_url}/api/auth/login, then
   GET {base_url}/api/analytics/overview with the returned token.
 Ctrl-C stops everything (data stays in .data/).
==============================================================================
"""


def main() -> None:
    from infra.stack import LocalStack, StackError, StackPorts

    data_dir = Path(os.environ.get("SWITCHYARD_DATA_DIR", ".data")).resolve()
    stack = LocalStack(data_dir, StackPorts(), database_url=os.environ.get("DATABASE_URL"))
    try:
        endpoints = stack.start()
    except StackError as error:
        print(f"\nCannot start the local stack: {error}", file=sys.stderr)
        stack.stop()
        sys.exit(1)
    try:
        os.environ.update(endpoints.as_env())
        for name, value in SIMULATOR_KEYS.items():
            os.environ.setdefault(name, value)
        os.environ.setdefault("SWITCHYARD_DATA_DIR", str(data_dir))

        from gateway.__main__ import serve
        from gateway.logs import configure_logging
        from gateway.settings import Settings

        configure_logging()
        settings = Settings.from_env()
        key = asyncio.run(ensure_demo_account(settings.database_url))
        print(banner(f"http://{settings.host}:{settings.port}", key), flush=True)
        serve(settings)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping the local stack...", file=sys.stderr, flush=True)
        stack.stop()


if __name__ == "__main__":
    main()
