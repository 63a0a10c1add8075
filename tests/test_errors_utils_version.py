# SPDX-License-Identifier: Apache-2.0
"""exosip2.error, exosip2.utils, exosip2.version and exosip2.initialize()."""

import logging

import pytest

import exosip2
from exosip2 import error, utils, version

CODES = {
    -1: (error.OsipUndefinedError, None),
    -2: (error.OsipBadParameter, ValueError),
    -3: (error.OsipWrongState, None),
    -4: (error.OsipNoMem, MemoryError),
    -5: (error.OsipSyntaxError, ValueError),
    -6: (error.OsipNotFound, LookupError),
    -7: (error.OsipApiNotInitialized, None),
    -10: (error.OsipNoNetwork, OSError),
    -11: (error.OsipPortBusy, OSError),
    -12: (error.OsipUnknownHost, OSError),
    -30: (error.OsipDiskFull, OSError),
    -31: (error.OsipNoRights, PermissionError),
    -32: (error.OsipFileNotExists, FileNotFoundError),
    -50: (error.OsipTimeout, TimeoutError),
    -51: (error.OsipTooMuchCall, None),
    -52: (error.OsipWrongFormat, ValueError),
    -53: (error.OsipNoCommonCodec, None),
}


@pytest.mark.parametrize("code", sorted(CODES))
def test_each_code_raises_its_class(code):
    cls, builtin = CODES[code]
    with pytest.raises(cls) as info:
        error.raise_if_osip_error(code)
    assert info.value.code == code
    assert isinstance(info.value, error.OsipError)
    assert isinstance(info.value, RuntimeError)
    if builtin is not None:
        assert isinstance(info.value, builtin)
    assert error.error_class(code) is cls


def test_success_and_positive_codes_pass_through():
    assert error.raise_if_osip_error(0) == 0
    assert error.raise_if_osip_error(17) == 17


def test_unknown_code_and_custom_message():
    with pytest.raises(error.OsipUnknownError) as info:
        error.raise_if_osip_error(-999, "boom")
    assert str(info.value) == "boom"
    assert info.value.code == -999


def test_raise_if_osip_error_rejects_non_int():
    with pytest.raises(TypeError):
        error.raise_if_osip_error("-1")


def test_malloc_error_is_an_osip_error():
    assert issubclass(error.MallocError, error.OsipError)
    assert issubclass(error.MallocError, MemoryError)


def test_utils_conversions():
    assert utils.to_bytes("é") == "é".encode()
    assert utils.to_bytes(b"x") == b"x"
    assert utils.to_bytes(5) == 5
    assert utils.to_str(b"\xc3\xa9") == "é"
    assert utils.to_str("x") == "x"
    assert utils.to_str(None) is None
    assert utils.to_unicode(b"abc") == "abc"
    assert utils.to_bytes("é", "latin-1") == b"\xe9"


def test_logger_mixin_names_logger_after_module_and_class():
    class Thing(utils.LoggerMixin):
        pass

    logger = Thing().logger
    assert isinstance(logger, logging.Logger)
    assert logger.name == "%s.%s" % (__name__, Thing.__qualname__)


@pytest.mark.core_only  # the library kind and its version string
def test_versions():
    assert version.get_library_version() == "5.3.0"
    assert version.get_osip_version().startswith("5.")
    assert version.get_library_kind() == "core"
    assert exosip2.__version__ == version.__version__
    assert exosip2.__version__.count(".") == 2


def test_initialize_is_idempotent_and_checks_path_type():
    exosip2.initialize()
    exosip2.initialize(None)
    exosip2.initialize("/ignored/libeXosip2.so")
    with pytest.raises(TypeError):
        exosip2.initialize(42)
