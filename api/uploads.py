"""A multipart/form-data body received as it streams: file parts are written to a private
temporary folder, the few small text fields are kept. The body is never held whole in memory
(at most WRITE_BATCH bytes of it), and the body limit (api.limits) stops it at its size.

Read inside the endpoint, after its dependencies: a caller without a valid token or role is
refused before a byte of its upload is read, unlike FastAPI's own form parameters.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from api.problems import Problem, field_error

TEXT_LIMIT = 256 * 1024  # a text field: a JSON mapping is a few KiB
WRITE_BATCH = 1 << 20  # file bytes gathered before one write, made off the event loop


@dataclass
class SavedFile:
    path: Path
    filename: str | None  # as the client named it
    size: int = 0


@dataclass
class Upload:
    folder: Path
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, SavedFile] = field(default_factory=dict)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def invalid(name: str, msg: str) -> Problem:
    return Problem(422, "validation", f"{name}: {msg}", errors=[field_error(["body", name], msg)])


class _Parts:
    """python-multipart's callbacks: which part is being read, and where its bytes go."""

    def __init__(self, upload: Upload, file_parts: Collection[str], text_parts: Collection[str]):
        self.upload = upload
        self.file_parts = file_parts
        self.text_parts = text_parts
        self.pending: list[tuple[SavedFile, bytes]] = []
        self.pending_bytes = 0
        self.open: dict[Path, BinaryIO] = {}
        self.ended = False
        self._reset()

    def _reset(self) -> None:
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.disposition = b""
        self.name: str | None = None
        self.file: SavedFile | None = None
        self.text = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._reset,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self.header_name).lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_name, self.header_value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        if b"name" not in options:
            raise Problem(
                400,
                "malformed-form",
                "a part of the form has no name (Content-Disposition: form-data; name=...)",
            )
        name = options[b"name"].decode("utf-8", "replace")
        expected = (*self.file_parts, *self.text_parts)
        if name not in expected:
            raise invalid(name, f"is not a part of this form (parts: {', '.join(expected)})")
        if name in self.upload.files or name in self.upload.fields:
            raise invalid(name, "was sent twice")
        self.name = name
        if name in self.file_parts:  # by name: `-F file=<x.csv` (no file name) is a file too
            filename = options.get(b"filename")
            self.file = SavedFile(
                self.upload.folder / name, filename.decode("utf-8", "replace") if filename else None
            )
            self.upload.files[name] = self.file

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.file is not None:
            self.pending.append((self.file, data[start:end]))
            self.pending_bytes += end - start
            self.file.size += end - start
            return
        self.text += data[start:end]
        if len(self.text) > TEXT_LIMIT:
            raise invalid(self.name or "", f"is over {TEXT_LIMIT:,} bytes")

    def on_part_end(self) -> None:
        if self.file is None and self.name is not None:
            try:
                self.upload.fields[self.name] = self.text.decode("utf-8")
            except UnicodeDecodeError:
                raise invalid(self.name, "is not UTF-8 text") from None

    def on_end(self) -> None:
        self.ended = True

    def flush(self) -> None:
        """Write what has arrived of the files (blocking I/O: called in a worker thread)."""
        for saved, data in self.pending:
            handle = self.open.get(saved.path)
            if handle is None:
                handle = self.open[saved.path] = saved.path.open("wb")
            handle.write(data)
        self.pending.clear()
        self.pending_bytes = 0

    def close(self) -> None:
        for handle in self.open.values():
            handle.close()
        self.open.clear()
        # A file part with no bytes at all still exists, empty.
        for saved in self.upload.files.values():
            saved.path.touch()


async def receive_form(
    request: Request,
    *,
    file_parts: Collection[str],
    text_parts: Collection[str],
    directory: str | None = None,
) -> Upload:
    """The request's form, its files saved in a new folder (`Upload.discard` removes it).

    Refusals name the part: 415 not multipart, 400 malformed, 422 an unknown, repeated,
    over-long or non-UTF-8 part; 413 (from the body limit) past the size allowed.
    """
    kind, options = parse_options_header(request.headers.get("content-type"))
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise Problem(
            415,
            "unsupported-media-type",
            "send the form as multipart/form-data (e.g. curl -F file=@doses.xlsx ...)",
        )
    upload = Upload(Path(tempfile.mkdtemp(prefix="doseledger-upload-", dir=directory)))
    parts = _Parts(upload, file_parts, text_parts)
    try:
        parser = MultipartParser(options[b"boundary"], parts.callbacks())  # type: ignore[arg-type]  # its callbacks are typed narrower than it calls them
        async for chunk in request.stream():
            parser.write(chunk)
            if parts.pending_bytes >= WRITE_BATCH:
                await run_in_threadpool(parts.flush)
        parser.finalize()
        await run_in_threadpool(parts.flush)
        if not parts.ended:
            raise Problem(400, "malformed-form", "the body ended before the form's closing boundary")
    except FormParserError as e:
        parts.close()
        upload.discard()
        raise Problem(400, "malformed-form", f"the body is not valid multipart/form-data: {e}") from None
    except BaseException:  # a refusal, the body limit, the client gone: nothing stays on disk
        parts.close()
        upload.discard()
        raise
    parts.close()
    return upload
