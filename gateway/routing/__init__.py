"""Model catalog, request complexity classifier, cost arithmetic and the model router.

Everything here is pure and synchronous: no I/O happens on the request path (the catalog and the
classifier configuration are loaded once, at start-up).
"""
