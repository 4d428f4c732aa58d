"""The NATS boundary: one connection, its messages, JetStream streams, consumers and buckets.

Services import only this package for NATS; nats-py's errors become ``BusError`` (and its
subclasses ``BusTimeout``, ``NoResponders``, ``KeyConflict``) in ``_errors``, nowhere else.
"""

from petrosa_core.bus._connection import (
    DEFAULT_RECONNECT_WAIT,
    Bus,
    Handler,
    connect,
    login_and_tls,
)
from petrosa_core.bus._jetstream import (
    Storage,
    bind_pull_consumer,
    ensure_kv,
    ensure_pull_consumer,
    ensure_stream,
    open_kv,
)
from petrosa_core.bus._kv import BucketStatus, Entry, KeyValue
from petrosa_core.bus._messages import (
    ConsumerState,
    Message,
    PullConsumer,
    PulledMessage,
    StoredMessage,
    Subscription,
)
from petrosa_core.bus._workqueue import ensure_work_queue

__all__ = [
    "DEFAULT_RECONNECT_WAIT",
    "BucketStatus",
    "Bus",
    "ConsumerState",
    "Entry",
    "Handler",
    "KeyValue",
    "Message",
    "PullConsumer",
    "PulledMessage",
    "Storage",
    "StoredMessage",
    "Subscription",
    "bind_pull_consumer",
    "connect",
    "ensure_kv",
    "ensure_pull_consumer",
    "ensure_stream",
    "ensure_work_queue",
    "login_and_tls",
    "open_kv",
]
