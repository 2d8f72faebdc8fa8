"""The HTTP API: the app factory and its routers."""

from service.api.app import create_app

__all__ = ["create_app"]
