#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# cibuildwheel before-all: build GNU oSIP2 from its release tarball inside the manylinux2014
# (CentOS 7) or musllinux_1_2 (Alpine) container, which have no package for it, and install it
# under /usr/local, where pkg-config (PKG_CONFIG_PATH) and auditwheel (LD_LIBRARY_PATH) find it.
#
# The version and the checksum are pinned. The sha256 is the one Debian 12 records for
# libosip2_5.3.0.orig.tar.gz (source package libosip2 5.3.0-2.1), which Debian takes unmodified
# from ftp.gnu.org together with its upstream signature; confirm it on the first hosted run.
set -eu

OSIP_VERSION=5.3.0
OSIP_SHA256=f4725916c22cf514969efb15c3c207233d64739383f7d42956038b78f6cae8c8
OSIP_URL="https://ftp.gnu.org/gnu/osip/libosip2-${OSIP_VERSION}.tar.gz"
PREFIX=/usr/local

if pkg-config --exact-version="$OSIP_VERSION" libosip2 2>/dev/null; then
    echo "build-osip2: oSIP2 $OSIP_VERSION already installed"
    exit 0
fi

# Tools: the manylinux images have gcc, make, curl and pkg-config; Alpine may lack some.
if command -v apk >/dev/null 2>&1; then
    apk add --no-cache curl make gcc musl-dev pkgconf >/dev/null
elif command -v yum >/dev/null 2>&1; then
    command -v pkg-config >/dev/null 2>&1 || yum install -y -q pkgconfig
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
tarball="libosip2-${OSIP_VERSION}.tar.gz"
if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 5 --retry-delay 5 -o "$tarball" "$OSIP_URL"
else
    wget -q -O "$tarball" "$OSIP_URL"
fi
echo "$OSIP_SHA256  $tarball" | sha256sum -c -

tar -xzf "$tarball"
cd "libosip2-${OSIP_VERSION}"
./configure --prefix="$PREFIX" --disable-static --enable-shared CFLAGS="-O2 -g0" >/dev/null
make -j"$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)" >/dev/null
make install >/dev/null
command -v ldconfig >/dev/null 2>&1 && ldconfig 2>/dev/null || true

PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" \
    pkg-config --exact-version="$OSIP_VERSION" libosip2
echo "build-osip2: installed oSIP2 $OSIP_VERSION under $PREFIX"
