"""Requests sent byte for byte over a socket, for what requests and
http.client refuse to send (a bad request line, a lower-case method, a
duplicate header) or for reading a response exactly as it came."""
import socket
import urllib.parse


def raw(base_url, data):
    """Sends data as it is; returns (status, headers with lower-case names, body)."""
    u = urllib.parse.urlsplit(base_url)
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    s.sendall(data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, body
