"""busta's decryption fuzzer: ``python -m fuzzing`` (coverage-guided, atheris / libFuzzer).

The contract it checks on every input: decryption either returns a plaintext that
was encrypted into the seed corpus or raises an :class:`busta.errors.BustaError`
that is not a :class:`~busta.errors.UsageError` (damaged input is not misuse of
the API); nothing else is raised, nothing hangs (libFuzzer's ``-timeout``), and no
input makes decryption allocate more than a few MiB (tracemalloc, per input).
Both the one-shot :func:`busta.decrypt` and a streaming decrypting reader with
small reads run on each input and must agree; a failing reader may have released
only a prefix of a seed plaintext.

``fuzzing.seeds`` makes the seed corpus, ``fuzzing.target`` is the libFuzzer
target (run in a child process, because libFuzzer ends its process when it is done).
"""

from __future__ import annotations

import struct

#: The file the target shares with ``python -m fuzzing``: executions, largest per-input allocation peak in bytes,
#: KMS clients the inputs caused (beyond the target's warm-up).
COUNTER = struct.Struct("<QQQ")
