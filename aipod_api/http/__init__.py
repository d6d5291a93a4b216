"""The HTTP edge: everything that knows about Flask and the request.

Domain services, schemas and the `core` modules they use are framework-free (a test
imports them in a fresh interpreter and finds no Flask); this package adapts them to
Flask: the request scope and its transaction (`context`), the error handlers
(`errors`), the request's language (`i18n`).
"""
