"""The dead-letter stream: every frame the ingestor could not store, kept with its reason.

Dead letters are JetStream messages on their own stream (own retention), so they survive
when nobody listens, can be listed, and can be replayed onto the subject they came from
once the cause is fixed: ``petrosa deadletters list`` and ``petrosa deadletters replay``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import TextIO

import msgspec

from petrosa_core.bus import Bus, Storage, connect, ensure_stream
from petrosa_core.errors import BusError, ConfigError
from petrosa_core.runtime import without_credentials
from petrosa_core.settings import load_settings
from petrosa_ingestor.settings import IngestorSettings

REASON = "Petrosa-Error-Reason"
DETAIL = "Petrosa-Error-Detail"
ORIGINAL_SUBJECT = "Petrosa-Original-Subject"
# A header line must stay far below the server's 4 KiB control line.
MAX_DETAIL = 512
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class DeadLetter(msgspec.Struct, frozen=True):
    """One stored dead letter: its stream sequence, when, why, and the frame itself."""

    seq: int
    time: datetime | None
    reason: str
    detail: str
    original_subject: str
    data: bytes


class DeadLetters:
    """Puts, lists, replays and deletes dead letters on one JetStream stream."""

    def __init__(self, bus: Bus, subject: str, stream: str) -> None:
        self.bus = bus
        self.subject = subject
        self.stream = stream

    async def ensure(self, *, max_age: float, max_bytes: int, storage: Storage = "file") -> None:
        """Create or update the stream; limits keep a flood of bad frames bounded."""
        await ensure_stream(
            self.bus,
            self.stream,
            [self.subject],
            storage=storage,
            max_age=max_age or None,
            max_bytes=max_bytes if max_bytes > 0 else None,
        )

    async def put(self, data: bytes, original_subject: str, reason: str, detail: str) -> None:
        """Persist one frame; returns once the stream has stored it (raises ``BusError``)."""
        headers = {
            REASON: _header_text(reason),
            DETAIL: _header_text(detail[:MAX_DETAIL])[:MAX_DETAIL],
            ORIGINAL_SUBJECT: _header_text(original_subject),
        }
        await self.bus.publish_to_stream(self.subject, data, stream=self.stream, headers=headers)

    async def entries(self, *, reason: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters, optionally only those of one reason."""
        found: list[DeadLetter] = []
        seq = 1
        while len(found) < limit:
            letter = await self._next(seq)
            if letter is None:
                break
            seq = letter.seq + 1
            if reason is None or letter.reason == reason:
                found.append(letter)
        return found

    async def replay(self, letter: DeadLetter, *, keep: bool = False) -> None:
        """Publish the frame again where it came from, then delete it here unless ``keep``."""
        await self.bus.publish_to_stream(letter.original_subject, letter.data)
        if not keep:
            await self.bus.delete_stream_message(self.stream, letter.seq)

    async def _next(self, seq: int) -> DeadLetter | None:
        stored = await self.bus.stream_message(self.stream, seq, subject=self.subject)
        if stored is None:
            return None
        headers = stored.headers
        return DeadLetter(
            seq=stored.seq,
            time=stored.time,
            reason=headers.get(REASON, ""),
            detail=headers.get(DETAIL, ""),
            original_subject=headers.get(ORIGINAL_SUBJECT, ""),
            data=stored.data,
        )


def _header_text(text: str) -> str:
    """Header values are one line of printable ASCII; anything else is escaped."""
    return text.encode("ascii", "backslashreplace").decode().replace("\r", " ").replace("\n", " ")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="petrosa deadletters",
        description="List or replay the frames the ingestor could not store.",
    )
    parser.add_argument("action", choices=["list", "replay"])
    parser.add_argument("--reason", help="only dead letters of this reason (e.g. bad_symbol)")
    parser.add_argument("--limit", type=int, default=100, help="at most this many")
    parser.add_argument("--json", action="store_true", help="list as JSON lines")
    parser.add_argument(
        "--keep", action="store_true", help="replay without deleting from the dead-letter stream"
    )
    return parser


def deadletters_command(argv: list[str], out: TextIO = sys.stdout) -> int:
    """``petrosa deadletters list|replay``; configured like the ingestor (``NATS_URL``, ...)."""
    args = build_parser().parse_args(argv)
    if args.limit < 1:
        sys.stderr.write("petrosa deadletters: --limit must be at least 1\n")
        return EXIT_USAGE
    try:
        settings = load_settings(IngestorSettings)
        return asyncio.run(_run(args, settings, out))
    except ConfigError as exc:
        sys.stderr.write(f"petrosa deadletters: {exc}\n")
        return EXIT_USAGE
    except BusError as exc:
        where = without_credentials(settings.nats_url)
        sys.stderr.write(f"petrosa deadletters: NATS {where}: {exc}\n")
        return EXIT_FAILED


async def _run(args: argparse.Namespace, settings: IngestorSettings, out: TextIO) -> int:
    async with await connect(settings.nats_url, name="petrosa-deadletters") as bus:
        letters = DeadLetters(bus, settings.deadletter_subject, settings.deadletter_stream_name)
        found = await letters.entries(reason=args.reason, limit=args.limit)
        if args.action == "list":
            for line in _listing(found, as_json=args.json):
                out.write(f"{line}\n")
            return EXIT_OK
        for letter in found:
            await letters.replay(letter, keep=args.keep)
        out.write(f"replayed {len(found)} dead letter(s)\n")
        return EXIT_OK


def _listing(letters: list[DeadLetter], *, as_json: bool) -> Iterator[str]:
    for letter in letters:
        when = letter.time.isoformat() if letter.time else ""
        if as_json:
            yield json.dumps(
                {
                    "seq": letter.seq,
                    "time_iso": when,
                    "reason": letter.reason,
                    "detail": letter.detail,
                    "original_subject": letter.original_subject,
                    "bytes": len(letter.data),
                    "data": letter.data[:200].decode("utf-8", "replace"),
                }
            )
        else:
            yield (
                f"{letter.seq}\t{when}\t{letter.reason}\t{len(letter.data)} B\t"
                f"{letter.original_subject}\t{letter.detail[:120]}"
            )
