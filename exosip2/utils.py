# SPDX-License-Identifier: Apache-2.0
"""Small helpers shared by the package: text conversion and a logger mixin."""

import logging

__all__ = ["to_bytes", "to_str", "to_unicode", "LoggerMixin"]


def to_bytes(s, encoding="utf-8"):
    """Return *s* encoded to bytes if it is a str; any other object is returned unchanged."""
    if isinstance(s, str):
        return s.encode(encoding)
    return s


def to_str(s, encoding="utf-8"):
    """Return *s* decoded to str if it is bytes (or bytearray); any other object is returned unchanged."""
    if isinstance(s, (bytes, bytearray)):
        return bytes(s).decode(encoding)
    return s


to_unicode = to_str


class LoggerMixin:
    """Gives a class a :attr:`logger` named ``module.ClassName``."""

    @classmethod
    def _get_logger(cls):
        name = "%s.%s" % (cls.__module__, cls.__qualname__)
        logger = cls.__dict__.get("_LoggerMixin__logger")
        if logger is None or logger.name != name:
            logger = logging.getLogger(name)
            try:
                setattr(cls, "_LoggerMixin__logger", logger)
            except TypeError:  # extension types do not take new attributes
                pass
        return logger

    @property
    def logger(self):
        """The :class:`logging.Logger` of this class, named ``module.ClassName``."""
        return type(self)._get_logger()
