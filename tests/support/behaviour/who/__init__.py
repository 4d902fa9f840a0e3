"""The "Who is calling" recipes of the docs, one module per host, for
tests/behaviour/test_who_is_calling.py.

Each module is its recipe as the docs give it (docs/guide/serving.md for plain ASGI, Starlette
and FastAPI; frameworks.md for WSGI and Flask; frameworks-asgi.md for Channels and Quart; its
``DOC`` names the page and a line of the snippet, and tests/test_who_is_calling_docs.py checks
that every line of the snippet is in the module): a bearer token names the user, the run greets
them by name, and a request without a known token is refused with a 401 and a JSON body before
any run starts.  The one addition is :func:`~.common.noted` around each run, which records on
the server's side that a run started.
"""
