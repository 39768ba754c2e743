"""TLS against a real TLS peer on loopback: certificates made here with the openssl
command line, a server from Python's ssl module, libcurl (OpenSSL) as the client.

verify=True | False | "ca.pem" | a CA directory, SSL_CERT_FILE / SSL_CERT_DIR, client
certificates, and a certificate failure that says so and is never retried.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from conftest import KEY, create
from hostile import RawServer, read_request

import kimi

REPLY = {"id": "c", "object": "chat.completion", "model": "kimi-k2.6",
         "choices": [{"index": 0, "message": {"role": "assistant", "content": "over tls"}, "finish_reason": "stop"}]}

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 signed by it, a client certificate, and
    a second CA that signed nothing here."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=kimi test CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn in (("server", "127.0.0.1"), ("client", "kimi client")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=d)
        extra = ["-extfile", "san.ext"] if name == "server" else []
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *extra, cwd=d)
    (d / "client-combined.pem").write_text((d / "client.pem").read_text() + (d / "client.key").read_text())
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other CA",
             "-keyout", "other.key", "-out", "other.pem", cwd=d)
    cadir = d / "cadir"
    cadir.mkdir()
    shutil.copy(d / "ca.pem", cadir / "ca.pem")
    _openssl("rehash", str(cadir), cwd=d)
    return d


def tls_server(pki: Path, require_client_cert: bool = False) -> tuple[RawServer, list[int]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki / "ca.pem")
    served: list[int] = []

    def handler(conn) -> None:
        while read_request(conn)[0]:
            served.append(1)
            body = json.dumps(REPLY).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))

    return RawServer(handler, tls=context), served


def tls_client(srv: RawServer, **options) -> kimi.Kimi:
    options.setdefault("max_retries", 0)
    return kimi.Kimi(api_key=KEY, base_url=srv.base_url, **options)


def test_an_unknown_issuer_is_a_certificate_error_never_retried(pki, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    srv, served = tls_server(pki)
    with srv:
        with pytest.raises(kimi.CertificateError) as info:
            create(tls_client(srv, max_retries=3))
        assert srv.connections == 1  # not retried
    assert "certificate" in str(info.value)
    assert isinstance(info.value, kimi.APIConnectionError)
    assert served == []


def test_a_wrong_ca_bundle_is_a_certificate_error(pki):
    srv, _ = tls_server(pki)
    with srv, pytest.raises(kimi.CertificateError):
        create(tls_client(srv, verify=str(pki / "other.pem")))


@pytest.mark.parametrize("verify", ["ca.pem", "cadir"])
def test_verify_accepts_a_ca_file_or_directory(pki, verify):
    srv, served = tls_server(pki)
    with srv:
        reply = create(tls_client(srv, verify=str(pki / verify)))
    assert reply.choices[0].message.content == "over tls"
    assert served == [1]


def test_verify_false_skips_the_check(pki):
    srv, _ = tls_server(pki)
    with srv:
        assert create(tls_client(srv, verify=False)).choices[0].message.content == "over tls"


def test_ssl_cert_file_and_dir_are_honoured_when_verify_is_true(pki, monkeypatch):
    srv, _ = tls_server(pki)
    with srv:
        monkeypatch.setenv("SSL_CERT_FILE", str(pki / "ca.pem"))
        assert create(tls_client(srv)).choices[0].message.content == "over tls"
        monkeypatch.delenv("SSL_CERT_FILE")
        monkeypatch.setenv("SSL_CERT_DIR", str(pki / "cadir"))
        assert create(tls_client(srv)).choices[0].message.content == "over tls"


@pytest.mark.parametrize("cert", [("client.pem", "client.key"), "client-combined.pem"])
def test_a_client_certificate_is_presented(pki, cert):
    srv, served = tls_server(pki, require_client_cert=True)
    files = tuple(str(pki / c) for c in cert) if isinstance(cert, tuple) else str(pki / cert)
    with srv:
        reply = create(tls_client(srv, verify=str(pki / "ca.pem"), cert=files))
    assert reply.choices[0].message.content == "over tls"
    assert served == [1]


def test_without_the_client_certificate_the_server_refuses(pki):
    srv, served = tls_server(pki, require_client_cert=True)
    with srv, pytest.raises(kimi.APIConnectionError):
        create(tls_client(srv, verify=str(pki / "ca.pem")))
    assert served == []


def test_tls_settings_are_checked_when_the_client_is_built(pki, tmp_path):
    with pytest.raises(ValueError, match="no such CA bundle"):
        kimi.Kimi(api_key=KEY, verify=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="no such file"):
        kimi.Kimi(api_key=KEY, cert=str(tmp_path / "missing.pem"))
    with pytest.raises(TypeError):
        kimi.Kimi(api_key=KEY, verify=1)
    with pytest.raises(TypeError):
        kimi.Kimi(api_key=KEY, cert=("a", "b", "c"))


def test_tls_settings_survive_pickling_and_with_options(pki):
    import pickle

    client = kimi.Kimi(api_key=KEY, verify=str(pki / "ca.pem"), cert=(str(pki / "client.pem"), str(pki / "client.key")))
    clone = pickle.loads(pickle.dumps(client))
    assert (clone.verify, clone.cert) == (client.verify, client.cert)
    assert client.with_options(verify=False).verify is False
