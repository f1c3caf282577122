"""The HTTP layer's one-write responses (``limits._HeadWithBody``): a held response head is never lost or
reordered — not for HEAD (no body), pipelined requests, ``Connection: close``, nor ``100 Continue`` — checked
on the wire against a real stack, and on the writes a transport receives."""

from __future__ import annotations

import socket

import pytest

from simulator.stack.limits import _HeadWithBody
from simulator.stack.process import running_stack


class _Recorder:
    """A transport that records what would go to the socket."""

    def __init__(self):
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"


def test_head_and_small_body_leave_in_one_write():
    t = _Recorder()
    w = _HeadWithBody(t)
    w.write(HEAD)
    assert t.writes == []
    w.write(b"hello")
    assert t.writes == [HEAD + b"hello"]
    w.flush()  # nothing held any more
    assert t.writes == [HEAD + b"hello"]


def test_a_large_first_chunk_is_not_copied_into_the_head():
    t = _Recorder()
    w = _HeadWithBody(t)
    w.write(HEAD)
    chunk = b"x" * (256 * 1024)
    w.write(chunk)
    assert t.writes == [HEAD, chunk]


def test_continue_is_sent_at_once_and_close_flushes_a_held_head():
    t = _Recorder()
    w = _HeadWithBody(t)
    w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert t.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    w.write(HEAD)
    w.close()
    assert t.writes[1:] == [HEAD] and t.closed
    assert w.is_closing()  # other attributes are the socket transport's


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("http")) as urls:
        yield urls


def _exchange(urls, raw: bytes) -> bytes:
    host, port = urls.base.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(raw)
        data = b""
        while chunk := s.recv(65536):  # the server closes after the Connection: close request
            data += chunk
    return data


def test_pipelined_head_and_get_responses_all_arrive_in_order(stack):
    raw = (b"HEAD /platform/metadata HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /platform/api/me HTTP/1.1\r\nHost: x\r\n\r\n"
           b"HEAD /idp/metadata HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /platform/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = _exchange(stack, raw)
    statuses = [data[i:i + 12] for i in range(len(data)) if data.startswith(b"HTTP/1.1 ", i)]
    assert statuses == [b"HTTP/1.1 200", b"HTTP/1.1 401", b"HTTP/1.1 200", b"HTTP/1.1 200"]
    assert data.endswith(b"</md:EntityDescriptor>\n")  # the last response's whole body


def test_a_body_sent_after_100_continue_is_answered(stack):
    host, port = stack.base.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /platform/acs HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 15\r\n"
                  b"Connection: close\r\n\r\n")
        first = s.recv(65536)  # the server asks for the body before any response (RFC 9110 §10.1.1)
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), first
        s.sendall(b"SAMLResponse=x")
        s.sendall(b"y")
        data = first
        while chunk := s.recv(65536):
            data += chunk
    assert b"HTTP/1.1 400" in data and b"x-examday-reject: malformed" in data.lower()
