"""Authentication (login, API tokens) and authorisation (roles, unit scope)."""
