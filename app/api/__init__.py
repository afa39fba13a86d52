"""JSON API routers: parse, call one service, return."""
