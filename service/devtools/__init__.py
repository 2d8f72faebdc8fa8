"""Development and test tooling shipped with the service; nothing here is on the request path."""
