#!/usr/bin/env python3
# Copied unchanged from ../shared/bench/lib/idle_conns.py (the shared anchor harness).
"""Open N keep-alive connections to URL (http:// or https://), send one GET on
each and read its response, then hold every connection open and idle.

Prints "READY ok=N failed=M" on stdout once every connection is answered or
has failed, then holds until SIGTERM or HOLD seconds have passed. Bounded:
the whole setup phase gives up after SETUP_TIMEOUT seconds.

Usage: idle_conns.py URL N [HOLD_SECONDS]     (stdlib only)
"""
import selectors
import signal
import socket
import ssl
import sys
import time
import urllib.parse

IN_FLIGHT = 200          # connections being set up at once (keeps the SYN backlog sane)
SETUP_TIMEOUT = 120.0


class Conn:
    """One client connection: connect -> [TLS handshake] -> send -> read -> idle."""

    def __init__(self, sel, addr, request, tls_ctx, host):
        self.sel, self.request, self.tls_ctx, self.host = sel, request, tls_ctx, host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(addr)
        self.state, self.buf, self.sent = "connect", b"", 0
        sel.register(self.sock, selectors.EVENT_WRITE, self)

    def _want(self, events):
        self.sel.modify(self.sock, events, self)

    def step(self):
        """Advance the state machine; return 'ok', 'failed' or None (not done)."""
        try:
            if self.state == "connect":
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    return self._fail()
                if self.tls_ctx:
                    self.sel.unregister(self.sock)
                    self.sock = self.tls_ctx.wrap_socket(
                        self.sock, server_hostname=self.host, do_handshake_on_connect=False)
                    self.sel.register(self.sock, selectors.EVENT_WRITE, self)
                    self.state = "handshake"
                else:
                    self.state = "send"
            if self.state == "handshake":
                self.sock.do_handshake()
                self.state = "send"
            if self.state == "send":
                self.sent += self.sock.send(self.request[self.sent:])
                if self.sent < len(self.request):
                    return None
                self.state = "read"
                self._want(selectors.EVENT_READ)
                return None
            if self.state == "read":
                chunk = self.sock.recv(65536)
                if not chunk:
                    return self._fail()
                self.buf += chunk
                return self._check_response()
        except ssl.SSLWantReadError:
            self._want(selectors.EVENT_READ)
        except ssl.SSLWantWriteError:
            self._want(selectors.EVENT_WRITE)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return self._fail()
        return None

    def _check_response(self):
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        length = 0
        for line in self.buf[:head_end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buf) < head_end + 4 + length:
            return None
        ok = self.buf.startswith(b"HTTP/1.1 200")
        self.sel.unregister(self.sock)       # idle from now on; keep the socket open
        self.state, self.buf = "idle", b""
        return "ok" if ok else "failed"

    def _fail(self):
        self.sel.unregister(self.sock)
        self.sock.close()
        self.state = "failed"
        return "failed"


def main():
    url, n = sys.argv[1], int(sys.argv[2])
    hold = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    u = urllib.parse.urlsplit(url)
    host, port = u.hostname, u.port or (443 if u.scheme == "https" else 80)
    request = (f"GET {u.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               "User-Agent: weir-bench-idle\r\n\r\n").encode()
    tls_ctx = None
    if u.scheme == "https":
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls_ctx.check_hostname = False
        tls_ctx.verify_mode = ssl.CERT_NONE       # self-signed bench certificate
        tls_ctx.minimum_version = ssl.TLSVersion.TLSv1_3

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sel = selectors.DefaultSelector()
    conns, ok, failed, started, active = [], 0, 0, 0, 0
    deadline = time.monotonic() + SETUP_TIMEOUT
    while (ok + failed < n) and time.monotonic() < deadline:
        while started < n and active < IN_FLIGHT:
            conns.append(Conn(sel, (host, port), request, tls_ctx, host))
            started += 1
            active += 1
        for key, _ in sel.select(timeout=1.0):
            result = key.data.step()
            if result:
                active -= 1
                ok += result == "ok"
                failed += result == "failed"
    failed = n - ok                               # count what timed out as failed
    print(f"READY ok={ok} failed={failed}", flush=True)
    end = time.monotonic() + hold
    while time.monotonic() < end:
        time.sleep(0.5)


if __name__ == "__main__":
    main()
