# SPDX-License-Identifier: Apache-2.0
"""Type stub for exosip2.options."""

import enum
from typing import Any, NamedTuple, Tuple, Type, Union

__all__ = ["Option", "CORE_OPTION_BASE", "Statistics", "option_type", "is_core_option"]

CORE_OPTION_BASE: int

class Option(enum.IntEnum):
    UDP_KEEP_ALIVE = 1
    AUTO_MASQUERADE_CONTACT = 2
    UDP_LEARN_PORT = 2
    USE_RPORT = 7
    SET_DSCP = 15
    SET_HEADER_USER_AGENT = 17
    ENABLE_AUTOANSWERBYE = 19
    ENABLE_IPV6 = 20
    SET_SESSIONTIMERS_FORCE = 32
    ADD_DNS_CACHE = 9
    DELETE_DNS_CACHE = 10
    DNS_CAPABILITIES = 14
    ENABLE_DNS_CACHE = 18
    SET_TLS_VERIFY_CERTIFICATE = 500
    SET_TLS_CERTIFICATES_INFO = 501
    ENABLE_REUSE_TCP_PORT = 21
    ENABLE_OUTBOUND = 24
    SET_OC_LOCAL_ADDRESS = 25
    SET_OC_PORT_RANGE = 26
    REMOVE_PREROUTESET = 27
    SET_SIP_INSTANCE = 28
    SET_MAX_MESSAGE_TO_READ = 29
    SET_DEFAULT_CONTACT_DISPLAYNAME = 31
    FORCE_CONNECTIONREUSE = 33
    SET_CONTACT_DIALOG_EXTRA_PARAMS = 34
    KEEP_ALIVE_OPTIONS_METHOD = 1000
    GET_STATISTICS = 2000
    MAX_TCP_CONNECTIONS = 65537
    MAX_TCP_CONNECTIONS_PER_SOURCE = 65538
    TCP_MESSAGE_TIMEOUT_MS = 65539
    TCP_IDLE_TIMEOUT_MS = 65540
    MAX_HEADERS = 65546
    MAX_PARAMS = 65547
    MAX_HEADER_VALUES = 65548
    MAX_TRANSACTIONS = 65556
    MAX_TRANSACTIONS_PER_SOURCE = 65557
    MAX_CALLS = 65558
    CALL_IDLE_TIMEOUT = 65559
    MAX_QUEUED_EVENTS = 65560
    MAX_AUTOMATIC_RETRIES = 65566
    MAX_MIN_EXPIRES = 65567
    MIN_REGISTER_EXPIRES = 65568
    MIN_SESSION_EXPIRES = 65581
    DNS_SERVER = 65586
    DNS_TIMEOUT_MS = 65587
    INVITE_ANSWER_TIMEOUT_MS = 65576
    INVITE_ANSWER_TIMEOUT_STATUS = 65577
    MAX_FORKED_DIALOGS = 65578
    KEEP_FORKED_DIALOGS = 65579

def option_type(option: int) -> Union[Type[int], Type[str], Type[Tuple[Any, Any]]]: ...
def is_core_option(option: int) -> bool: ...

class Statistics(NamedTuple):
    allocated_transactions: int
    average_transactions: float
    allocated_registrations: int
    average_registrations: float
    allocated_calls: int
    average_calls: float
    allocated_publications: int
    average_publications: float
    allocated_subscriptions: int
    average_subscriptions: float
    allocated_insubscriptions: int
    average_insubscriptions: float
    reserved1: Tuple[int, ...]
