"""Bulk encryption, decryption and key rotation of many objects, as Dask tasks.

Needs ``pip install "busta[bulk]"`` (dask.distributed and boto3)::

    from busta import bulk
    from busta.keyconfig import KmsKey

    report = bulk.run("encrypt", "s3://lake/raw/", "s3://lake/encrypted/", keyring=KmsKey(ARN))
    print(report.summary()); assert report.ok

One task per object runs on a ``distributed.Client`` (a LocalCluster by
default). Keyrings travel as secret-free :mod:`busta.keyconfig`
descriptions and are rebuilt on each worker. A rerun skips what is done; a
destination is written whole or not at all. ``rewrap`` rotates data keys of
unsigned messages by rewriting only the header (server-side copies of the body
in S3) and re-encrypts signed ones. See docs/bulk.md.
"""

from .job import BulkReport, InsecureClusterWarning, Progress, local_client, run
from .places import S3Settings
from .tasks import JobSpec, ObjectResult, Operation, process_object

__all__ = [
    "BulkReport",
    "InsecureClusterWarning",
    "JobSpec",
    "ObjectResult",
    "Operation",
    "Progress",
    "S3Settings",
    "local_client",
    "process_object",
    "run",
]
