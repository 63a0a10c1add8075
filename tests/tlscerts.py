# SPDX-License-Identifier: Apache-2.0
"""Throwaway certificate authorities and certificates for the TLS tests, made with the `openssl` command."""

import os
import subprocess


def _run(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=30)


class CA:
    """A self-signed root (P-256 keys: quick to make) that signs leaf certificates in *folder*."""

    def __init__(self, folder, name):
        self.folder = str(folder)
        self.name = name
        self.cert = os.path.join(self.folder, name + ".pem")
        self.key = os.path.join(self.folder, name + ".key")
        os.makedirs(self.folder, exist_ok=True)
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", "/CN=%s test root" % name,
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=self.folder)

    def issue(self, name, san="IP:127.0.0.1,DNS:localhost", password=None):
        """A leaf certificate for *san*; returns (cert_path, key_path). With *password* the key is encrypted."""
        key = os.path.join(self.folder, name + ".key")
        csr = os.path.join(self.folder, name + ".csr")
        cert = os.path.join(self.folder, name + ".pem")
        ext = os.path.join(self.folder, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n" % san)
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", csr, "-subj", "/CN=%s" % name, cwd=self.folder)
        _run("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial", "-out", cert,
             "-days", "2", "-extfile", ext, cwd=self.folder)
        if password is not None:
            enc = os.path.join(self.folder, name + ".enc.key")
            _run("pkey", "-in", key, "-out", enc, "-aes256", "-passout", "pass:" + password, cwd=self.folder)
            key = enc
        return cert, key


def public_key_der(cert, out):
    """The DER public key of *cert* written to *out* (what eXosip2's public_key_pinned holds)."""
    pem = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], check=True,
                         capture_output=True, timeout=30).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem, check=True,
                         capture_output=True, timeout=30).stdout
    with open(out, "wb") as f:
        f.write(der)
    return out
