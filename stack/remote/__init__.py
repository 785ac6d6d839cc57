"""A stack the app did not start: checking a remote profile's endpoints, and the Stack tab's backend for it.

The profile itself (where each service is, the secrets in the keyring) is :mod:`backend.remote_stack`;
here is what talks to those services: :mod:`stack.remote.check` ("Test connection"),
:mod:`stack.remote.s3` (a signed request to the warehouse bucket) and :mod:`stack.remote.cli`
(``tickerwire stack profile | test | create-topics``).
"""
