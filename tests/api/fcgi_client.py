"""A minimal FastCGI client: talks to a worker's socket directly, without
nginx, so tests can send what nginx never would (a lying CONTENT_LENGTH, a
missing REQUEST_URI) and drive a single worker under valgrind."""
import socket
import struct

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7
RESPONDER = 1


def _record(rtype, content, req_id=1):
    out = b""
    for i in range(0, max(len(content), 1), 65535):
        chunk = content[i:i + 65535]
        pad = (8 - len(chunk) % 8) % 8
        out += struct.pack("!BBHHBx", 1, rtype, req_id, len(chunk), pad) + chunk + b"\0" * pad
        if not content:
            break
    return out


def _length(n):
    return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)


def _params(env):
    body = b""
    for k, v in env.items():
        k, v = k.encode(), v.encode() if isinstance(v, str) else v
        body += _length(len(k)) + _length(len(v)) + k + v
    return body


def request(sock_path, env, body=b"", timeout=30):
    """Sends one request; returns (status, headers dict, body bytes)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        msg = _record(BEGIN_REQUEST, struct.pack("!HB5x", RESPONDER, 0))
        if env:
            msg += _record(PARAMS, _params(env))
        msg += _record(PARAMS, b"")
        if body:
            msg += _record(STDIN, body)
        msg += _record(STDIN, b"")
        s.sendall(msg)
        out = b""
        buf = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            buf += data
            while len(buf) >= 8:
                _, rtype, _, clen, pad = struct.unpack("!BBHHBx", buf[:8])
                if len(buf) < 8 + clen + pad:
                    break
                content = buf[8:8 + clen]
                buf = buf[8 + clen + pad:]
                if rtype == STDOUT:
                    out += content
                elif rtype == END_REQUEST:
                    return _parse(out)
        return _parse(out)
    finally:
        s.close()


def _parse(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = {}
    status = 200
    for line in head.decode("latin-1").split("\r\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip()] = v.strip()
    if "Status" in headers:
        status = int(headers["Status"].split()[0])
    return status, headers, body


def env_for(method, uri, body=b"", content_type=None, headers=None):
    env = {"REQUEST_METHOD": method, "REQUEST_URI": uri, "QUERY_STRING": uri.partition("?")[2],
           "CONTENT_LENGTH": str(len(body)) if body else "", "REMOTE_ADDR": "127.0.0.1",
           "REQUEST_ID": "0123456789abcdef0123456789abcdef", "SERVER_PROTOCOL": "HTTP/1.1"}
    if content_type:
        env["CONTENT_TYPE"] = content_type
    for k, v in (headers or {}).items():
        env["HTTP_" + k.upper().replace("-", "_")] = v
    return env
