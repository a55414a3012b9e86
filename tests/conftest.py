"""The root of the test tree. Its one job: being a conftest in tests/.

pytest imports each conftest.py in its default "prepend" mode, which puts the conftest's
directory first on ``sys.path``; that is how each suite's helper modules (gateway_data.py,
clients_support.py ...) import by basename. This file does the same for tests/ itself, so the
helpers shared by several suites (tls_certs.py) import the same way from any of them, also when
only one suite is run.
"""
