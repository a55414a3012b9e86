"""Transports: what carries S3 requests to ``Handler.handle`` and responses back.

* ``pachs3.transports.asgi`` - ``make_asgi_app(handler)``, an ASGI app (needs only anyio).
* ``pachs3.transports.threaded`` - ``ThreadedServer``, that app on uvicorn in a background thread
  (extra ``server``).
* ``pachs3.transports.boto`` - ``attach(client, handler)`` / ``make_client(handler)``, an
  in-process boto3 endpoint with no socket (extra ``boto``).

Import the submodule you need; importing this package pulls in no optional dependency.
"""

from pachs3.transports.base import Handler

__all__ = ["Handler"]
