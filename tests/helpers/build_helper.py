# SPDX-License-Identifier: Apache-2.0
"""Compile message_helper.pyx into a directory (used by the test suite)."""

import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def build(out_dir):
    """Build the helper extension into out_dir; return out_dir."""
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    try:
        cflags = shlex.split(subprocess.check_output(["pkg-config", "--cflags", "libosip2"], text=True))
        libs = shlex.split(subprocess.check_output(["pkg-config", "--libs", "libosip2"], text=True))
    except (OSError, subprocess.CalledProcessError):
        cflags, libs = [], ["-losipparser2", "-losip2"]
    ext = Extension(
        "message_helper", [os.path.join(HERE, "message_helper.pyx")],
        extra_compile_args=cflags + ["-w"], extra_link_args=libs,
    )
    dist = Distribution({"ext_modules": cythonize(
        [ext], include_path=[ROOT], build_dir=os.path.join(out_dir, "c"), quiet=True,
        compiler_directives={"language_level": 3})})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib = out_dir
    cmd.build_temp = os.path.join(out_dir, "tmp")
    cmd.ensure_finalized()
    cmd.run()
    return out_dir


if __name__ == "__main__":
    print(build(sys.argv[1]))
