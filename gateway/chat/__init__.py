"""The OpenAI-compatible chat endpoint: validate, classify, route, call upstream, answer, record."""
