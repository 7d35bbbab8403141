"""Local stand-ins for LLM providers that speak each provider's real wire format.

`openai_sim`, `anthropic_sim` and `gemini_sim` each expose `create_app(config) -> Starlette`.
"""

from .common import DEFAULT_VALID_KEYS, FAULTS, SimulatorConfig

__all__ = ["DEFAULT_VALID_KEYS", "FAULTS", "SimulatorConfig"]
