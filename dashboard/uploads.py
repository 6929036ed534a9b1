"""A request body that stops being read into files past a size limit.

Django streams uploaded files to memory or a temporary file with no bound of its own
(DATA_UPLOAD_MAX_MEMORY_SIZE counts only the other fields), so a check of `file.size` in a
view comes after the whole file is on disk. This handler goes first in the chain and stops
the upload as soon as the body or the bytes received pass the limit; the view then sees no
file and `request.upload_too_large` set, and answers with the size error.
"""
from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

# Room for the form's other fields and the multipart boundaries around the file.
FORM_OVERHEAD_BYTES = 64 * 1024


class BoundedUploadHandler(FileUploadHandler):
    """Refuses (stops reading) uploads larger than `limit` bytes."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.limit + FORM_OVERHEAD_BYTES:
            self._stop(content_length)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self._stop(start + len(raw_data))
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler in the chain builds the file

    def _stop(self, seen: int) -> None:
        self.request.upload_too_large = seen
        # Read and drop the rest of the body (no reset), so the browser gets the page with
        # its error rather than a broken connection.
        raise StopUpload(connection_reset=False)
