"""The local stack's data files: an append-only journal of changes, fsync'd before the change
is acknowledged, and a snapshot that periodic compaction folds the journal into.

Both hold records, one JSON object a line behind its CRC-32 (`<8 hex> <json>\\n`). A record
is an *image* (an item as it now is, a message as sent, a setting), never an operation, so
replaying one twice changes nothing: a crash between a snapshot's rename and the removal of
the journals it covers costs nothing. Journals are numbered (`journal-000007.log`); a
snapshot names the first journal it does not hold, and the state is the snapshot followed by
every journal from that one on, in order.

A last journal line without its newline is a write that a crash cut short: it was never
acknowledged (acknowledgement waits for the fsync of the whole line), so it is dropped. Any
other unreadable line stops the start with a `DataError` naming the file and the way out."""

from __future__ import annotations

import fcntl
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SNAPSHOT = "snapshot.jsonl"
LOCK = "lock"
FORMAT = 1
_JOURNAL = re.compile(r"^journal-(\d{6,})\.log$")


class DataError(Exception):
    """A data file that cannot be read: the message says which and how to recover."""


def encode(record: dict[str, Any]) -> bytes:
    body = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def decode(line: bytes) -> dict[str, Any] | None:
    """The record of one line (without its newline), or None if it is damaged."""
    crc, _, body = line.partition(b" ")
    try:
        if len(crc) != 8 or int(crc, 16) != zlib.crc32(body):
            return None
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def journal_name(generation: int) -> str:
    return f"journal-{generation:06d}.log"


def recover_hint(data_dir: Path) -> str:
    return (
        f"Move {data_dir} aside to keep it for inspection (or delete it), or start empty with "
        "`make dev ARGS=--fresh` (which deletes this data)."
    )


def _damaged(path: Path, line_no: int, what: str) -> DataError:
    return DataError(
        f"The data file {path} is damaged ({what} at line {line_no}); Engram did not start. "
        + recover_hint(path.parent)
    )


def read_records(path: Path, last: bool = False) -> Iterator[dict[str, Any]]:
    """The records of a journal or snapshot file. `last`: the newest journal, whose final line
    may be a torn, unacknowledged write (dropped) rather than damage."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DataError(
            f"The data file {path} cannot be read ({exc.strerror}); Engram did not start. "
            f"Check its owner and permissions. {recover_hint(path.parent)}"
        ) from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith(b"\n"):
                if last:
                    return  # a torn, never acknowledged write
                raise _damaged(path, number, "an unfinished last line")
            record = decode(line[:-1])
            if record is None:
                raise _damaged(path, number, "a line that fails its checksum")
            yield record


@dataclass
class Loaded:
    """What the data directory held: the records in order, and the next journal number."""

    records: Iterable[dict[str, Any]]
    next_generation: int
    found: bool  # any data file at all (False: a first start)
    journal_bytes: int  # in the journals after the snapshot (0: the snapshot is all of it)


class DataDir:
    """The data directory: its lock (one stack per directory), its files, the open journal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: IO[bytes] | None = None
        self._journal: int | None = None  # the open journal's descriptor
        self.generation = 0
        self.journal_bytes = 0

    # --- opening ----------------------------------------------------------------------------

    def lock(self) -> None:
        """Takes the directory for this process; a second stack on it fails at once."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle = os.fdopen(os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o600), "a+b")
        except OSError as exc:
            raise DataError(
                f"The data directory {self.path} cannot be used ({exc.strerror}); "
                "set ENGRAM_DATA_DIR to a writable directory."
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise DataError(
                f"Another Engram is using the data directory {self.path}; stop it first, or "
                "set ENGRAM_DATA_DIR to another directory."
            ) from None
        self._lock = handle

    def erase(self) -> None:
        """--fresh: the snapshot and the journals go (other files in the directory stay)."""
        for path in self._data_files():
            path.unlink()
        self._sync_dir()

    def load(self) -> Loaded:
        journals = self._journals()
        snapshot = self.path / SNAPSHOT
        start = 0
        body: Iterator[dict[str, Any]] = iter(())
        if snapshot.exists():
            records = read_records(snapshot)
            header = next(records, None)
            if not header or header.get("format") != FORMAT or "journal" not in header:
                raise _damaged(snapshot, 1, "no snapshot header of this version")
            start = int(header["journal"])
            body = _counted(snapshot, records)
        kept = [(g, p) for g, p in journals if g >= start]
        newest = kept[-1][0] if kept else start

        def records_in_order() -> Iterator[dict[str, Any]]:
            yield from body
            for generation, path in kept:
                yield from read_records(path, last=generation == newest)

        found = bool(journals) or snapshot.exists()
        size = sum(path.stat().st_size for _, path in kept)
        return Loaded(records_in_order(), max(newest, start) + 1, found, size)

    # --- writing ----------------------------------------------------------------------------

    def open_journal(self, generation: int) -> None:
        """Appends go to journal `generation` (a new file) from now on."""
        path = self.path / journal_name(generation)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._sync_dir()  # the new file's name is durable before anything is written to it
        old, self._journal = self._journal, fd
        self.generation, self.journal_bytes = generation, 0
        if old is not None:
            os.fdatasync(old)  # what was appended before the switch is on disk too
            os.close(old)

    def append(self, records: list[dict[str, Any]], sync: bool = True) -> None:
        """One write of whole lines: from then on a crash of this process cannot lose them
        (they are in the kernel); with `sync` they are on disk when this returns."""
        self.write(b"".join(encode(r) for r in records))
        if sync:
            self.sync()

    def write(self, data: bytes) -> None:
        """Appends encoded lines in one write (see `append`), without syncing."""
        if self._journal is None:
            raise RuntimeError("no journal is open")
        os.write(self._journal, data)
        self.journal_bytes += len(data)

    def sync(self) -> None:
        """Everything appended so far is on disk when this returns."""
        if self._journal is not None:
            os.fdatasync(self._journal)

    def write_snapshot(self, first_journal: int, records: Iterable[dict[str, Any]]) -> None:
        """Writes the snapshot of everything before journal `first_journal` (atomically: a
        temporary file, fsync, rename), then removes the journals it covers."""
        temporary = self.path / (SNAPSHOT + ".tmp")
        count = 0
        with os.fdopen(
            os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb"
        ) as out:
            out.write(encode({"format": FORMAT, "journal": first_journal}))
            for record in records:
                out.write(encode(record))
                count += 1
            out.write(encode({"end": count}))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path / SNAPSHOT)
        self._sync_dir()
        for generation, path in self._journals():
            if generation < first_journal:
                path.unlink()

    def close(self) -> None:
        if self._journal is not None:
            os.fdatasync(self._journal)
            os.close(self._journal)
            self._journal = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # --- helpers ----------------------------------------------------------------------------

    def _journals(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.path.iterdir():
            match = _JOURNAL.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def _data_files(self) -> list[Path]:
        files = [p for _, p in self._journals()]
        files += [p for p in (self.path / SNAPSHOT, self.path / (SNAPSHOT + ".tmp")) if p.exists()]
        return files

    def _sync_dir(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _counted(path: Path, records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The snapshot's records, checked against its trailer: a snapshot cut short is damage."""
    count = 0
    for record in records:
        if "end" in record and len(record) == 1:
            if record["end"] != count:
                raise _damaged(path, count + 2, f"{record['end']} records announced, {count} read")
            return
        count += 1
        yield record
    raise _damaged(path, count + 2, "no end record (the file was cut short)")
