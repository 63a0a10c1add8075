# SPDX-License-Identifier: Apache-2.0
"""The command line: ``python -m exosip2 …``."""

import argparse
import sys


def cmd_version(args):
    from exosip2 import version

    print("exosip2 %s" % version.__version__)
    print("eXosip2 API %s (%s)" % (version.get_library_version(), version.get_library_kind()))
    print("oSIP2 %s" % version.get_osip_version())
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m exosip2", description="exosip2 command line")
    parser.add_argument("--version", action="store_true", help="print package, eXosip2 API and oSIP2 versions")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("version", help="print package, eXosip2 API and oSIP2 versions").set_defaults(func=cmd_version)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        return cmd_version(args)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
