#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# cibuildwheel before-all: OpenSSL 3 for core/'s TLS transport (core/src/tls.c needs >= 3.0:
# SSL_get0_peer_certificate, SSL_OP_IGNORE_UNEXPECTED_EOF).
#
# - musllinux_1_2 (Alpine): the distribution's openssl-dev is OpenSSL 3; installed with apk.
# - manylinux2014 (CentOS 7) ships OpenSSL 1.0.2 only: the pinned OpenSSL 3.5 LTS release (supported
#   until April 2030) is built from its tarball, checksum checked, and installed under /usr/local
#   (libraries in /usr/local/lib, where PKG_CONFIG_PATH and LD_LIBRARY_PATH of [tool.cibuildwheel]
#   point, so setup.py's pkg-config finds it before the system's 1.0.2 and auditwheel grafts it).
#   OPENSSLDIR is OpenSSL's default /usr/local/ssl, which no distribution fills: the bundled library
#   reads no foreign openssl.cnf; the trust store is the program's root_ca or SSL_CERT_FILE/SSL_CERT_DIR
#   (docs/install.rst).
#
# The sha256 is the one CPython's macOS installer build and other projects pin for this tarball.
set -eu

OPENSSL_VERSION=3.5.4
OPENSSL_SHA256=967311f84955316969bdb1d8d4b983718ef42338639c621ec4c34fddef355e99
OPENSSL_URL="https://github.com/openssl/openssl/releases/download/openssl-${OPENSSL_VERSION}/openssl-${OPENSSL_VERSION}.tar.gz"
PREFIX=/usr/local
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

at_least_3() {
    v=$(pkg-config --modversion openssl 2>/dev/null) || return 1
    case "$v" in
        [3-9].*) echo "build-openssl: OpenSSL $v found"; return 0 ;;
        *) return 1 ;;
    esac
}

if command -v apk >/dev/null 2>&1; then
    apk add --no-cache openssl-dev pkgconf >/dev/null
    at_least_3 || { echo "build-openssl: the image's openssl-dev is not OpenSSL 3" >&2; exit 1; }
    exit 0
fi

if [ "$(pkg-config --modversion openssl 2>/dev/null)" = "$OPENSSL_VERSION" ]; then
    echo "build-openssl: OpenSSL $OPENSSL_VERSION already installed"
    exit 0
fi

# OpenSSL 3's Configure needs these perl modules, which CentOS 7's perl splits into packages.
if command -v yum >/dev/null 2>&1; then
    yum install -y -q perl-IPC-Cmd perl-Data-Dumper perl-Time-Piece perl-Digest-SHA pkgconfig >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
tarball="openssl-${OPENSSL_VERSION}.tar.gz"
if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 5 --retry-delay 5 -o "$tarball" "$OPENSSL_URL"
else
    wget -q -O "$tarball" "$OPENSSL_URL"
fi
echo "$OPENSSL_SHA256  $tarball" | sha256sum -c -

tar -xzf "$tarball"
cd "openssl-${OPENSSL_VERSION}"
# shared libraries only (auditwheel grafts libssl.so.3/libcrypto.so.3), lib/ not lib64/, no tests.
./config --prefix="$PREFIX" --libdir=lib shared no-tests >/dev/null
make -j"$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)" >/dev/null
make install_sw >/dev/null
rm -f "$PREFIX"/lib/libssl.a "$PREFIX"/lib/libcrypto.a
command -v ldconfig >/dev/null 2>&1 && ldconfig 2>/dev/null || true

[ "$(pkg-config --modversion openssl)" = "$OPENSSL_VERSION" ]
echo "build-openssl: installed OpenSSL $OPENSSL_VERSION under $PREFIX"
