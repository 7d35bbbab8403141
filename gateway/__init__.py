"""Switchyard: an OpenAI-compatible LLM gateway."""
