"""Encrypted S3 objects on aiobotocore: :mod:`busta.s3`'s transfers, awaited.

The same signatures (plus ``config=``: the ``AioConfig`` of a client made when none is given),
``ExtraArgs`` (:class:`~busta.s3.UploadExtraArgs`, :class:`~busta.s3.DownloadExtraArgs`, checked
before any request), ``Callback`` (called on the loop thread), errors (:class:`~busta.errors.S3Error`,
mapped as busta.s3 maps them), results and ranged-download decisions as :mod:`busta.s3`, whose code
runs them: in a worker thread, each S3 request an aiobotocore coroutine on the event loop, the frame
work in the engine's threads, never on the loop. ``client`` is an aiobotocore S3 client the caller
owns; without one, a client is made and closed before the call returns. Keyrings and materials
managers may be sync (called in a worker thread) or async (:class:`~busta.aio.AsyncKeyring`, awaited).

Cancelling a call (or ``asyncio.timeout``) leaves nothing behind: an upload's multipart upload is
aborted, a download's temporary file removed, before CancelledError propagates.
Needs ``pip install "busta[async]"``. See docs/async.md.
"""

from ..s3 import DownloadExtraArgs, S3Error, UploadExtraArgs, UploadResult
from ._s3 import upload_file, upload_fileobj
from ._s3_download import AsyncObject, download_file, download_fileobj, get_range, open_object, read_header

__all__ = [
    "AsyncObject",
    "DownloadExtraArgs",
    "S3Error",
    "UploadExtraArgs",
    "UploadResult",
    "download_file",
    "download_fileobj",
    "get_range",
    "open_object",
    "read_header",
    "upload_file",
    "upload_fileobj",
]
