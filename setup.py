# SPDX-License-Identifier: Apache-2.0
"""Build script for exosip2.

The eXosip2 5.3 C API that the binding wraps comes from one of two places:

* by default, ``core/`` of this repository, built once as the shared library
  ``exosip2/libexosip2core.so`` and found by every extension module through an
  ``$ORIGIN`` rpath (so there is exactly one copy of it per process);
* with ``EXOSIP2_SYSTEM=1``, an installed libeXosip2 (pkg-config ``eXosip2`` when it knows it,
  otherwise the libraries eXosip2 5.3 links with); no core/ is built;
* with ``EXOSIP2_PREFIX=DIR`` (implies ``EXOSIP2_SYSTEM=1``), the libeXosip2 installed under DIR
  (DIR/include, DIR/lib, found at run time through an rpath): eXosip2 5.3 installs no pkg-config
  file, so this is the way to build against ``./configure --prefix=DIR && make install``.

Environment switches (all default off):

``EXOSIP2_SYSTEM=1``       link against an installed libeXosip2.
``EXOSIP2_PREFIX=DIR``     link against the libeXosip2 installed under DIR (implies EXOSIP2_SYSTEM).
``EXOSIP2_COUNT_LIVE=1``   count live native wrappers (``exosip2._debug``).
``EXOSIP2_ANNOTATE=1``     write Cython's HTML annotation next to each .pyx.
``EXOSIP2_TRACE=1``        build with ``CYTHON_TRACE`` (line tracing / coverage).
``EXOSIP2_WERROR=1``       turn every C warning into an error.
``EXOSIP2_SANITIZE=address`` build core/ and the modules with a sanitizer.
``EXOSIP2_OSIP_INCLUDE=DIR`` take the oSIP2 headers from DIR only (instead of pkg-config and the
                           compiler's default search path).

Building needs the GNU oSIP2 headers (Debian/Ubuntu: libosip2-dev); without them the build stops
before compiling anything, with one line saying which package to install.
"""

import glob
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
CORE_NAME = "exosip2core"
CORE_SONAME = "lib%s.so" % CORE_NAME


def env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "yes", "true", "on")


def pkg_config(package, fallback_libs):
    """Return (cflags, libs) for *package*, or the fallback when pkg-config cannot tell."""
    try:
        cflags = subprocess.check_output(["pkg-config", "--cflags", package], text=True)
        libs = subprocess.check_output(["pkg-config", "--libs", package], text=True)
        return shlex.split(cflags), shlex.split(libs)
    except (OSError, subprocess.CalledProcessError):
        return [], list(fallback_libs)


def pkg_version(package, default):
    try:
        return subprocess.check_output(["pkg-config", "--modversion", package], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return default


PREFIX = os.environ.get("EXOSIP2_PREFIX", "").strip()
SYSTEM = env_flag("EXOSIP2_SYSTEM") or bool(PREFIX)
# What libeXosip2 5.3 itself links with (its own libeXosip2.la): oSIP2, OpenSSL for TLS, the resolver.
EXOSIP_53_LIBS = ["-leXosip2", "-losip2", "-losipparser2", "-lssl", "-lcrypto", "-lresolv"]


def system_exosip_flags():
    """(cflags, libs) of the installed libeXosip2: under EXOSIP2_PREFIX, else pkg-config, else the
    libraries eXosip2 5.3 needs from the default search paths."""
    if PREFIX:
        inc, lib = os.path.join(PREFIX, "include"), os.path.join(PREFIX, "lib")
        return ["-I" + inc], ["-L" + lib, "-Wl,-rpath," + lib] + EXOSIP_53_LIBS
    return pkg_config("eXosip2", EXOSIP_53_LIBS)
SANITIZE = os.environ.get("EXOSIP2_SANITIZE", "").strip()
OSIP_INCLUDE = os.environ.get("EXOSIP2_OSIP_INCLUDE", "").strip()
OSIP_CFLAGS, OSIP_LIBS = pkg_config("libosip2", ["-losipparser2", "-losip2"])
# core/'s TLS transport (core/src/tls.c): OpenSSL 3 (Debian/Ubuntu: libssl-dev)
SSL_CFLAGS, SSL_LIBS = pkg_config("openssl", ["-lssl", "-lcrypto"])
if OSIP_INCLUDE:
    OSIP_CFLAGS = ["-I" + OSIP_INCLUDE] + [f for f in OSIP_CFLAGS if not f.startswith("-I")]
OSIP_HEADERS = ("osip2/osip.h", "osipparser2/osip_parser.h")
MISSING_OSIP = ("exosip2: the GNU oSIP2 headers (osip2/osip.h) were not found: install libosip2-dev "
                "(Debian/Ubuntu; libosip2-devel on Fedora/RHEL, libosip2-dev on Alpine) or set "
                "EXOSIP2_OSIP_INCLUDE to the directory that holds them")


def osip_headers_found():
    """True when the oSIP2 headers can be included: from EXOSIP2_OSIP_INCLUDE alone when it is set,
    otherwise by asking the C compiler (with pkg-config's flags) to preprocess them."""
    if OSIP_INCLUDE:
        return all(os.path.isfile(os.path.join(OSIP_INCLUDE, h)) for h in OSIP_HEADERS)
    cc = shlex.split(os.environ.get("CC", "cc"))
    source = "".join("#include <%s>\n" % h for h in OSIP_HEADERS)
    try:
        proc = subprocess.run(cc + OSIP_CFLAGS + ["-E", "-x", "c", "-o", os.devnull, "-"], input=source,
                              text=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0

OPENSSL_INCLUDE = os.environ.get("EXOSIP2_OPENSSL_INCLUDE", "").strip()
if OPENSSL_INCLUDE:
    SSL_CFLAGS = ["-I" + OPENSSL_INCLUDE] + [f for f in SSL_CFLAGS if not f.startswith("-I")]
MISSING_OPENSSL = ("exosip2: the OpenSSL 3 headers (openssl/ssl.h, version 3.0 or newer) were not found: install "
                   "libssl-dev (Debian/Ubuntu; openssl-devel on Fedora/RHEL, openssl-dev on Alpine) or set "
                   "EXOSIP2_OPENSSL_INCLUDE to the directory that holds them")


def openssl_headers_found():
    """True when OpenSSL 3's headers can be included (core/src/tls.c needs 3.0 or newer): from
    EXOSIP2_OPENSSL_INCLUDE alone when it is set, otherwise as the C compiler finds them."""
    if OPENSSL_INCLUDE and not os.path.isfile(os.path.join(OPENSSL_INCLUDE, "openssl", "ssl.h")):
        return False
    cc = shlex.split(os.environ.get("CC", "cc"))
    source = ("#include <openssl/ssl.h>\n#if OPENSSL_VERSION_NUMBER < 0x30000000L\n"
              "#error OpenSSL older than 3.0\n#endif\n")
    try:
        proc = subprocess.run(cc + SSL_CFLAGS + ["-E", "-x", "c", "-o", os.devnull, "-"], input=source,
                              text=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


OSIP_VERSION = pkg_version("libosip2", "unknown")

WARN_FLAGS = ["-Wall", "-Wextra"]
if env_flag("EXOSIP2_WERROR"):
    WARN_FLAGS.append("-Werror")
SAN_FLAGS = ["-fsanitize=%s" % SANITIZE, "-fno-omit-frame-pointer"] if SANITIZE else []

CORE_CFLAGS = (
    ["-std=gnu11", "-O2", "-g", "-fPIC", "-fvisibility=hidden", "-pthread"]
    + WARN_FLAGS + SAN_FLAGS + OSIP_CFLAGS + SSL_CFLAGS
    + ["-DEXOSIP2_CORE_BUILD", "-DENABLE_TRACE"]
)

DEFINE_MACROS = [
    ("EXOSIP2_OSIP_VERSION", '"%s"' % OSIP_VERSION),
    ("EXOSIP2_COUNT_LIVE", "1" if env_flag("EXOSIP2_COUNT_LIVE") else "0"),
    ("EXOSIP2_SYSTEM_LIBRARY", "1" if SYSTEM else "0"),
]
TRACE = env_flag("EXOSIP2_TRACE")
if TRACE:
    DEFINE_MACROS += [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]


class BuildExt(build_ext):
    """build_ext that first builds core/ once as a shared library inside the package."""

    def package_dir(self):
        if self.inplace:
            return os.path.join(HERE, "exosip2")
        return os.path.join(os.path.abspath(self.build_lib), "exosip2")

    def build_core(self, out_dir):
        sources = sorted(glob.glob(os.path.join(HERE, "core", "src", "*.c")))
        target = os.path.join(out_dir, CORE_SONAME)
        deps = sources + glob.glob(os.path.join(HERE, "core", "src", "*.h")) + glob.glob(
            os.path.join(HERE, "core", "include", "eXosip2", "*.h"))
        if (not self.force and os.path.exists(target)
                and os.path.getmtime(target) >= max(os.path.getmtime(p) for p in deps)):
            return
        obj_dir = os.path.join(os.path.abspath(self.build_temp), "core")
        os.makedirs(obj_dir, exist_ok=True)
        os.makedirs(out_dir, exist_ok=True)
        include = ["-I" + os.path.join(HERE, "core", "include"), "-I" + os.path.join(HERE, "core", "src")]
        cc = shlex.split(os.environ.get("CC", "cc"))

        def compile_one(src):
            obj = os.path.join(obj_dir, os.path.basename(src)[:-2] + ".o")
            cmd = cc + CORE_CFLAGS + include + ["-c", src, "-o", obj]
            print(" ".join(cmd))
            subprocess.check_call(cmd)
            return obj

        jobs = max(1, int(self.parallel or os.cpu_count() or 1))
        with ThreadPoolExecutor(jobs) as pool:
            objects = list(pool.map(compile_one, sources))
        cmd = (cc + ["-shared", "-pthread", "-Wl,-soname," + CORE_SONAME, "-Wl,--no-undefined", "-o", target]
               + SAN_FLAGS + objects + OSIP_LIBS + SSL_LIBS)
        print(" ".join(cmd))
        subprocess.check_call(cmd)

    def run(self):
        if not osip_headers_found():
            sys.exit(MISSING_OSIP)
        if not SYSTEM and not openssl_headers_found():
            sys.exit(MISSING_OPENSSL)
        if not SYSTEM:
            out_dir = self.package_dir()
            self.build_core(out_dir)
            for ext in self.extensions:
                ext.library_dirs.append(out_dir)
                ext.libraries.insert(0, CORE_NAME)
                ext.runtime_library_dirs.append("$ORIGIN")
        super().run()


def extensions():
    from Cython.Build import cythonize

    if SYSTEM:
        ex_cflags, ex_libs = system_exosip_flags()
        include_dirs = []
    else:
        ex_cflags, ex_libs = [], []
        include_dirs = [os.path.join("core", "include")]
    exts = []
    for pyx in sorted(glob.glob(os.path.join("exosip2", "*.pyx"))):
        name = "exosip2." + os.path.basename(pyx)[:-4]
        exts.append(Extension(
            name, [pyx],
            include_dirs=include_dirs + [os.path.join("exosip2", "includes")],
            define_macros=list(DEFINE_MACROS),
            extra_compile_args=WARN_FLAGS + SAN_FLAGS + ex_cflags + OSIP_CFLAGS
            + ["-Wno-unused-function", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
            extra_link_args=SAN_FLAGS + ex_libs + OSIP_LIBS,
        ))
    directives = {
        "language_level": 3,
        "binding": True,
        "embedsignature": True,
        "warn.unused": True,
        "warn.unused_arg": False,
        "warn.maybe_uninitialized": True,
    }
    if TRACE:
        directives.update(linetrace=True)
    return cythonize(
        exts,
        compiler_directives=directives,
        annotate=env_flag("EXOSIP2_ANNOTATE"),
        nthreads=0,
        force="--force" in sys.argv,
    )


setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt},
)
