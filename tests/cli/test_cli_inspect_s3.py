"""``busta inspect s3://bucket/key`` through the real console script: only the header crosses the
network (ranged GETs, counted by a proxy in front of moto's server), and a header that claims to
be huge is refused after the first 4 KiB."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

import busta
from busta.keyrings import MultiKeyring, RawAesKeyring

from ..support.cli_run import run_busta
from ..support.counting_proxy import CountingProxy
from ..support.moto_server import ACCESS_KEY, DEFAULT_REGION, SECRET_KEY, MotoServer

BUCKET = "busta-inspect"
BIG = 20 << 20
#: Whatever HTTP adds to the header bytes (request and response headers, a HEAD, at most two GETs).
HTTP_OVERHEAD = 8 << 10


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with MotoServer() as running:
        running.with_bucket(BUCKET)
        yield running


@pytest.fixture
def home(tmp_path: Path) -> Path:
    assert run_busta(["keygen"], tmp_path).returncode == 0
    return tmp_path


def keyring(name: str) -> RawAesKeyring:
    return RawAesKeyring("inspect-test", name, bytes(32))


def inspect(home: Path, proxy: CountingProxy, uri: str, *extra: str) -> tuple[int, bytes, bytes]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
    }
    done = run_busta(["inspect", uri, "--aws-endpoint-url", proxy.endpoint, *extra], home, env=env)
    return done.returncode, done.stdout, done.stderr


def test_inspect_of_a_20_mib_object_transfers_only_its_header(home: Path, server: MotoServer) -> None:
    message = busta.encrypt(os.urandom(BIG), keyring=keyring("k"), encryption_context={"team": "a"})
    server.client("s3").put_object(Bucket=BUCKET, Key="big.enc", Body=message)
    (home / "big.enc").write_bytes(message)
    local = run_busta(["inspect", "--json", "big.enc"], home)
    with CountingProxy(server.endpoint) as proxy:
        status, out, err = inspect(home, proxy, f"s3://{BUCKET}/big.enc", "--json")
    assert status == 0, err
    assert json.loads(out) == json.loads(local.stdout)
    assert json.loads(out)["encryption_context"]["team"] == "a"
    assert [line.split()[0] for line in proxy.requests] == ["HEAD", "GET"]
    assert proxy.ranges == ["bytes=0-4095"]
    assert proxy.downstream < 4096 + HTTP_OVERHEAD, proxy.downstream


def test_a_header_longer_than_the_first_range_takes_one_more_range(home: Path, server: MotoServer) -> None:
    many = MultiKeyring(generator=keyring("g"), children=[keyring(f"child-{i:03}") for i in range(150)])
    message = busta.encrypt(os.urandom(BIG), keyring=many)
    header = busta.format.parse_header(message)
    assert header is not None and header.length > 4096 * 2
    server.client("s3").put_object(Bucket=BUCKET, Key="many.enc", Body=message)
    with CountingProxy(server.endpoint) as proxy:
        status, out, err = inspect(home, proxy, f"s3://{BUCKET}/many.enc")
    assert status == 0, err
    assert out.count(b"inspect-test") == 151
    assert len(proxy.ranges) <= 3 and proxy.ranges[0] == "bytes=0-4095"
    assert proxy.downstream < 2 * header.length + HTTP_OVERHEAD, (proxy.downstream, header.length)


def hostile_object() -> bytes:
    """A v2 header that says it holds 65,535 data keys, each 3 x 65,535 bytes long (about 12.9 GB), and
    goes on saying so for 20 MiB: only reading that far would show where it ends."""
    start = b"\x02" + struct.pack(">H", 0x0478) + bytes(32) + struct.pack(">H", 0) + struct.pack(">H", 0xFFFF)
    field = struct.pack(">H", 0xFFFF) + b"x" * 0xFFFF
    edk = field * 3
    return (start + edk * (BIG // len(edk) + 1))[:BIG]


@pytest.mark.parametrize("limit", [1 << 20, 4 << 20], ids=["default-limit", "4-MiB-limit"])
def test_a_header_claiming_a_huge_length_costs_at_most_the_header_limit(
    home: Path, server: MotoServer, limit: int
) -> None:
    server.client("s3").put_object(Bucket=BUCKET, Key="hostile.enc", Body=hostile_object())
    with CountingProxy(server.endpoint) as proxy:
        status, _, err = inspect(home, proxy, f"s3://{BUCKET}/hostile.enc", "--max-header-bytes", str(limit))
    assert status == 1
    assert (
        err.decode().startswith(f"busta: error: s3://{BUCKET}/hostile.enc: header size is") and err.count(b"\n") == 1
    ), err
    assert f"above the limit of {limit}".encode() in err
    assert proxy.ranges[0] == "bytes=0-4095" and len(proxy.ranges) <= 8, proxy.ranges  # doubling: few GETs
    assert proxy.downstream < limit + HTTP_OVERHEAD, proxy.downstream  # never the 20 MiB object


def test_an_armored_object_is_decoded_from_its_first_ranges(home: Path, server: MotoServer) -> None:
    (home / "plain.bin").write_bytes(os.urandom(BIG // 4))
    assert run_busta(["encrypt", "-a", "plain.bin", "-o", "plain.asc"], home).returncode == 0
    server.client("s3").put_object(Bucket=BUCKET, Key="plain.asc", Body=(home / "plain.asc").read_bytes())
    with CountingProxy(server.endpoint) as proxy:
        status, out, err = inspect(home, proxy, f"s3://{BUCKET}/plain.asc")
    assert status == 0, err
    assert b"0x0578" in out
    assert proxy.downstream < 4096 + HTTP_OVERHEAD


def test_a_missing_object_is_one_line_naming_it(home: Path, server: MotoServer) -> None:
    with CountingProxy(server.endpoint) as proxy:
        status, _, err = inspect(home, proxy, f"s3://{BUCKET}/nothing-here")
    assert status == 1
    assert err.count(b"\n") == 1 and b"nothing-here" in err


def test_objects_shorter_than_the_first_range_are_read_whole_or_refused_as_truncated(
    home: Path, server: MotoServer
) -> None:
    message = busta.encrypt(b"tiny", keyring=keyring("k"))
    assert len(message) < 4096
    s3 = server.client("s3")
    s3.put_object(Bucket=BUCKET, Key="tiny.enc", Body=message)
    s3.put_object(Bucket=BUCKET, Key="cut.enc", Body=message[:60])
    with CountingProxy(server.endpoint) as proxy:
        status, out, err = inspect(home, proxy, f"s3://{BUCKET}/tiny.enc")
        assert status == 0, err
        assert b"0x0578" in out
        status, _, err = inspect(home, proxy, f"s3://{BUCKET}/cut.enc")
    assert status == 1
    assert b"inside the message header" in err and err.count(b"\n") == 1
    assert proxy.ranges == [f"bytes=0-{len(message) - 1}", "bytes=0-59"]
