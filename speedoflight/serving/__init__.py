"""Talking to a running server: collect the verifier's log-probabilities over its OpenAI-compatible API.

:mod:`.http` holds the client (retries, one-line errors), :mod:`.probe` what a server says about itself, and
:mod:`.collect` the collection that ``speedoflight collect`` runs. httpx is imported only here, lazily.
"""
