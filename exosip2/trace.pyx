# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""Tracing: every SIP message a :class:`~exosip2.context.Context` sends and receives.

Switch it on with :meth:`Context.trace(True) <exosip2.context.Context.trace>` (log records) or
:meth:`Context.trace_pcap(path) <exosip2.context.Context.trace_pcap>` (a pcap file). The core
copies each message, with its direction, transport, local and remote addresses and time, into a
bounded queue; nothing is called from the core's thread. Python takes the messages out of that
queue in the thread of the event loop (:meth:`Context.start <exosip2.context.Context.start>`)
after each event and each idle wait, and whenever :meth:`Context.trace_drain
<exosip2.context.Context.trace_drain>` is called.

Log records go to the logger ``exosip2.sip`` at ``DEBUG``: the message ``"sent UDP
127.0.0.1:5060 -> 127.0.0.1:5070 (412 bytes)"`` followed by the message text; the record carries
the :class:`SipTrace` as its ``sip_trace`` attribute, for handlers that format their own.

When the queue is full (10000 messages or 16 MiB of text by default) new messages are not
queued but counted: :meth:`Context.trace_dropped <exosip2.context.Context.trace_dropped>`.
With tracing off the core pays one test per message.
"""

cimport cython
from exosip2.context cimport Context
from exosip2.includes.eX_capture cimport (
    EXOSIP2_HAVE_CORE_CAPTURE, eXosip_core_capture, eXosip_core_capture_dropped, eXosip_core_capture_next,
    eXosip_core_captured, eXosip_core_captured_free,
)
from exosip2.includes.eX_setup cimport eXosip_t

import logging
import socket
import struct
import threading
import time
import weakref

from exosip2.error import OsipError

__all__ = ["SipTrace", "PcapWriter", "DEFAULT_MAX_MESSAGES", "DEFAULT_MAX_BYTES", "format_ladder"]

#: Messages the queue holds at most before it counts new ones as dropped.
DEFAULT_MAX_MESSAGES = 10000
#: Bytes of message text the queue holds at most.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024

sip_logger = logging.getLogger("exosip2.sip")

cdef extern from "<netinet/in.h>":
    const int IPPROTO_TCP

cdef int _SENT = 0  # EXOSIP_CORE_CAPTURE_SENT


@cython.final
cdef class SipTrace:
    """One SIP message as it was sent or received (read-only).

    :ivar direction: ``"sent"`` or ``"received"``.
    :ivar transport: ``"UDP"`` or ``"TCP"``.
    :ivar local: (address, port) of this end.
    :ivar remote: (address, port) of the peer.
    :ivar time: when it happened, seconds since the epoch (float).
    :ivar data: the message as bytes on the wire.
    """
    cdef readonly str direction
    cdef readonly str transport
    cdef readonly tuple local
    cdef readonly tuple remote
    cdef readonly double time
    cdef readonly bytes data

    def __init__(self, direction, transport, local, remote, time, data):
        if direction not in ("sent", "received"):
            raise ValueError("SipTrace: direction must be 'sent' or 'received', not %r" % (direction,))
        if transport not in ("UDP", "TCP"):
            raise ValueError("SipTrace: transport must be 'UDP' or 'TCP', not %r" % (transport,))
        self.direction = direction
        self.transport = transport
        self.local = (str(local[0]), int(local[1]))
        self.remote = (str(remote[0]), int(remote[1]))
        self.time = float(time)
        self.data = bytes(data)

    @property
    def text(self):
        """The message as text (UTF-8; undecodable bytes replaced)."""
        return self.data.decode("utf-8", "replace")

    @property
    def first_line(self):
        """The request or status line."""
        return self.data.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace")

    def header(self, name):
        """The value of the first header *name* (case-insensitive, compact forms not mapped), or None."""
        want = name.lower().encode("ascii") + b":"
        head = self.data.split(b"\r\n\r\n", 1)[0]
        for line in head.split(b"\r\n")[1:]:
            if line.lower().replace(b" ", b"").replace(b"\t", b"").startswith(want):
                return line.partition(b":")[2].strip().decode("utf-8", "replace")
        return None

    def __repr__(self):
        return "<SipTrace %s %s %s:%d %s %s:%d %r>" % (
            self.direction, self.transport, self.local[0], self.local[1],
            "->" if self.direction == "sent" else "<-", self.remote[0], self.remote[1], self.first_line)


def format_ladder(SipTrace t, double start=0.0):
    """One line of a SIP ladder for *t*: milliseconds since *start* (a time.time() value; 0: the
    wall-clock time), an arrow (``-->`` sent, ``<--`` received), transport, peer and first line."""
    arrow = "-->" if t.direction == "sent" else "<--"
    if start:
        when = "%10.2f ms" % ((t.time - start) * 1000.0)
    else:
        when = time.strftime("%H:%M:%S", time.localtime(t.time)) + ".%03d" % int((t.time % 1) * 1000)
    return "%s  %s %s %s:%d  %s" % (when, arrow, t.transport, t.remote[0], t.remote[1], t.first_line)


# ---- pcap ------------------------------------------------------------------------------

_LINKTYPE_RAW = 101  # each record is a bare IPv4 or IPv6 packet
_MAX_UDP_PAYLOAD_V4 = 65535 - 20 - 8
_MAX_UDP_PAYLOAD_V6 = 65535 - 8


def _ip_checksum(bytes data):
    if len(data) % 2:
        data += b"\0"
    cdef unsigned long s = 0
    cdef Py_ssize_t i
    cdef const unsigned char[:] v = data
    for i in range(0, len(data), 2):
        s += (v[i] << 8) | v[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def _packed(str ip):
    """(family, packed address) of ip; IPv4 as 4 bytes."""
    try:
        return socket.AF_INET, socket.inet_pton(socket.AF_INET, ip)
    except OSError:
        pass
    try:
        return socket.AF_INET6, socket.inet_pton(socket.AF_INET6, ip)
    except OSError:
        return socket.AF_INET, b"\0\0\0\0"


class PcapWriter:
    """Writes :class:`SipTrace` records to a pcap file (link type RAW: bare IP packets).

    UDP messages become IPv4 or IPv6 + UDP packets with their real addresses and ports. TCP
    messages are written the same way, as synthetic UDP packets (one per SIP message, with the
    connection's addresses and ports): SIP tools then show them without reassembling a stream.
    A message longer than one IP packet holds (65507 bytes over IPv4) is cut to fit and counted
    in its ``truncated`` attribute (``written`` counts the packets written).
    """

    def __init__(self, path):
        self.path = path
        self.truncated = 0
        self.written = 0
        self._ident = 0
        self._lock = threading.Lock()
        self._file = open(path, "wb")
        # magic, version 2.4, GMT offset, accuracy, snaplen, link type
        self._file.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, _LINKTYPE_RAW))
        self._file.flush()

    @property
    def closed(self):
        """True once :meth:`close` ran."""
        return self._file is None

    def write(self, SipTrace t):
        """Append one message as one packet."""
        if t.direction == "sent":
            src, dst = t.local, t.remote
        else:
            src, dst = t.remote, t.local
        fs, a = _packed(src[0])
        fd, b = _packed(dst[0])
        if fs != fd:  # one end written as IPv6: show the IPv4 one as mapped
            if fs == socket.AF_INET:
                a = b"\0" * 10 + b"\xff\xff" + a
            else:
                b = b"\0" * 10 + b"\xff\xff" + b
            fs = socket.AF_INET6
        payload = t.data
        limit = _MAX_UDP_PAYLOAD_V4 if fs == socket.AF_INET else _MAX_UDP_PAYLOAD_V6
        if len(payload) > limit:
            payload = payload[:limit]
            self.truncated += 1
        ulen = 8 + len(payload)
        if fs == socket.AF_INET:
            pseudo = a + b + struct.pack("!BBH", 0, 17, ulen)
        else:
            pseudo = a + b + struct.pack("!IxxxB", ulen, 17)
        udp0 = struct.pack("!HHHH", src[1], dst[1], ulen, 0)
        csum = _ip_checksum(pseudo + udp0 + payload) or 0xFFFF
        udp = struct.pack("!HHHH", src[1], dst[1], ulen, csum)
        self._ident = (self._ident + 1) & 0xFFFF
        if fs == socket.AF_INET:
            ip0 = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, self._ident, 0x4000, 64, 17, 0, a, b)
            ip = ip0[:10] + struct.pack("!H", _ip_checksum(ip0)) + ip0[12:]
        else:
            ip = struct.pack("!IHBB16s16s", 6 << 28, ulen, 17, 64, a, b)
        frame = ip + udp + payload
        sec = int(t.time)
        usec = int(round((t.time - sec) * 1e6))
        if usec >= 1000000:
            sec, usec = sec + 1, usec - 1000000
        with self._lock:
            if self._file is None:
                raise ValueError("PcapWriter: %s is closed" % self.path)
            self._file.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
            self.written += 1

    def flush(self):
        """Push what was written to the file."""
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self):
        """Flush and close the file (idempotent)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


# ---- per-context state -----------------------------------------------------------------

class _State:
    __slots__ = ("log", "pcap", "lock", "__weakref__")

    def __init__(self):
        self.log = False
        self.pcap = None
        self.lock = threading.RLock()


_states = weakref.WeakKeyDictionary()


cdef object _state(Context ctx, bint create):
    st = _states.get(ctx)
    if st is None and create:
        st = _State()
        _states[ctx] = st
    return st


cdef int _apply(Context ctx, st) except -1:
    """Switch the core's capture on when something consumes it, off otherwise."""
    cdef eXosip_t *p
    cdef int rc, on = 1 if (st.log or st.pcap is not None) else 0
    cdef int max_messages = DEFAULT_MAX_MESSAGES if on else 0
    cdef size_t max_bytes = DEFAULT_MAX_BYTES
    if not EXOSIP2_HAVE_CORE_CAPTURE:
        raise OsipError("tracing needs exosip2's own core: the installed libeXosip2 has no message capture")
    p = ctx._enter()
    try:
        with nogil:  # it takes the context lock, which another thread may hold while it waits for the GIL
            rc = eXosip_core_capture(p, max_messages, max_bytes)
    finally:
        ctx._leave()
    if rc < 0:
        raise OsipError("eXosip_core_capture failed (%d)" % rc)
    return 0


def set_logging(Context ctx, on):
    """Log every message of *ctx* on ``exosip2.sip`` (see :meth:`exosip2.context.Context.trace`)."""
    st = _state(ctx, True)
    with st.lock:
        if not on:
            drain(ctx)
        st.log = bool(on)
        _apply(ctx, st)


def set_pcap(Context ctx, path):
    """Write every message of *ctx* to the pcap file *path*; None stops (see
    :meth:`exosip2.context.Context.trace_pcap`)."""
    st = _state(ctx, True)
    with st.lock:
        drain(ctx)
        old = st.pcap
        st.pcap = None
        if old is not None:
            old.close()
        if path is not None:
            try:
                st.pcap = PcapWriter(path)
            except OSError as exc:
                _apply(ctx, st)
                raise OSError(exc.errno, "trace_pcap: cannot write %s: %s" % (path, exc.strerror)) from None
        _apply(ctx, st)


def drain(Context ctx, bint collect=True):
    """Take every queued message of *ctx* out of the core, log them and write them to the pcap file.

    :param collect: False when only the log and the pcap file want the messages (the event
        loop): with the logger filtering ``DEBUG`` out and no pcap file, the messages are then
        discarded without building objects.
    :returns: the messages as a list of :class:`SipTrace`, oldest first (empty when tracing is off,
        the context is closed, or nothing collected them).
    """
    cdef eXosip_t *p
    cdef eXosip_core_captured *m
    cdef list out = []
    cdef SipTrace t
    cdef bint log, build
    st = _state(ctx, False)
    if ctx._ptr == NULL or not EXOSIP2_HAVE_CORE_CAPTURE:
        return out
    if st is None:
        st = _State()
    with st.lock:
        log = st.log and sip_logger.isEnabledFor(logging.DEBUG)
        pcap = st.pcap
        build = collect or log or pcap is not None
        p = ctx._enter()
        try:
            while True:
                m = eXosip_core_capture_next(p)
                if m == NULL:
                    break
                if build:
                    t = SipTrace.__new__(SipTrace)
                    t.direction = "sent" if m.direction == _SENT else "received"
                    t.transport = "TCP" if m.transport == IPPROTO_TCP else "UDP"
                    t.local = (m.local_ip.decode("ascii", "replace"), m.local_port)
                    t.remote = (m.remote_ip.decode("ascii", "replace"), m.remote_port)
                    t.time = m.time_us / 1e6
                    t.data = m.text[:m.length]
                    out.append(t)
                eXosip_core_captured_free(m)
        finally:
            ctx._leave()
        if not out:
            return out
        if log:
            for t in out:
                sip_logger.debug("%s %s %s:%d %s %s:%d (%d bytes)\n%s", t.direction, t.transport, t.local[0],
                                 t.local[1], "->" if t.direction == "sent" else "<-", t.remote[0], t.remote[1],
                                 len(t.data), t.text, extra={"sip_trace": t})
        if pcap is not None:
            for t in out:
                pcap.write(t)
            pcap.flush()
    return out if collect else []


def dropped(Context ctx):
    """Messages of *ctx* the full queue could not take since tracing was switched on."""
    cdef eXosip_t *p
    cdef unsigned long n
    if ctx._ptr == NULL:
        return 0
    p = ctx._enter()
    n = eXosip_core_capture_dropped(p)
    ctx._leave()
    return n


def is_tracing(Context ctx):
    """(logging on, pcap path or None) for *ctx*."""
    st = _state(ctx, False)
    if st is None:
        return (False, None)
    return (st.log, st.pcap.path if st.pcap is not None else None)


def forget(Context ctx):
    """Close the pcap file of *ctx*, if any (the context is closing)."""
    st = _states.pop(ctx, None)
    if st is not None and st.pcap is not None:
        st.pcap.close()
