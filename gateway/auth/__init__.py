"""User accounts: signup, login, JWT access tokens, rotating refresh tokens and the route guard."""
