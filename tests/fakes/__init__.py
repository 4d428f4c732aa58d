"""Stand-ins for outside services that tests cannot reach: a fake Binance exchange.

Import from the modules (``tests.fakes.binance_exchange``); importing them here would
make ``python -m tests.fakes.binance_exchange`` load its module twice.
"""
