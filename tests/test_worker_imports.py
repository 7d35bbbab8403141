"""What a serving worker loads: nothing it never uses on its own account (memory per worker)."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys

import pytest


def test_serving_worker_skips_httpx_command_line_client() -> None:
    code = (
        "import sys, gateway.__main__, httpx, gateway.app\n"
        "print(sys.modules.get('httpx._main', 'absent') is None, 'rich' in sys.modules,"
        " 'pygments' in sys.modules, callable(httpx.AsyncClient))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False", "False", "True"]


def test_serving_worker_start_leaves_analytics_and_tls_stacks_unloaded() -> None:
    """Imports, the tokenizer and plain-HTTP provider clients, as a worker starts: no clickhouse-connect
    (analytics only), no HTTP/2 stack and no TLS context, no Python copy of the tokenizer's ranks."""
    code = (
        "import sys, gateway.__main__, gateway.app\n"
        "from gateway.clickhouse import ClickHouse\n"
        "from gateway.providers import create_adapters\n"
        "from gateway.providers.http_adapter import tls_context\n"
        "from gateway.routing.tokens import get_encoder, warm_up\n"
        "from gateway.settings import ProviderConfig\n"
        "warm_up()\n"
        "ClickHouse('http://127.0.0.1:1', 'switchyard')\n"
        "configs = {n: ProviderConfig(n, f'http://127.0.0.1:1/{n}', 'k')"
        " for n in ('openai', 'anthropic', 'google')}\n"
        "adapters = create_adapters(configs, connect_timeout=1, idle_timeout=1)\n"
        "print(len(adapters), 'clickhouse_connect' in sys.modules, 'h2' in sys.modules,"
        " tls_context.cache_info().currsize, hasattr(get_encoder(), '_mergeable_ranks'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["3", "False", "False", "0", "False"]


def test_trimmed_tokenizer_encodes_exactly_as_tiktoken() -> None:
    """Dropping the Python ranks must not change a single token id (the Rust CoreBPE does the work)."""
    import tiktoken

    from gateway.routing.tokens import ENCODING, get_encoder

    trimmed = get_encoder()
    stock = tiktoken.get_encoding(ENCODING)
    assert trimmed is not stock and not hasattr(trimmed, "_mergeable_ranks")
    assert trimmed.n_vocab == stock.n_vocab == 100_277
    rng = random.Random(9)
    alphabet = "abcXYZ019 \n\t'.,;:!?()[]{}<>-_=+*/\\\"éüßçñ中文字日本語한국어😀🚀\u200b\u00a0"
    texts = ["", "hello world", "<|endoftext|> is plain text here", "Ünïcödé  and   spaces\r\n\tend  "]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 200))) for _ in range(400)]
    for text in texts:
        ids = trimmed.encode_ordinary(text)
        assert ids == stock.encode_ordinary(text), repr(text)
        assert trimmed.decode(ids) == stock.decode(ids)
    assert trimmed.encode("<|endoftext|>", allowed_special="all") == [100257]


def test_trimmed_tokenizer_refuses_to_pickle_rather_than_lose_its_ranks() -> None:
    from gateway.routing.tokens import get_encoder

    with pytest.raises(AttributeError):
        pickle.dumps(get_encoder())
