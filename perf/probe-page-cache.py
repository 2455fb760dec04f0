#!/usr/bin/env python3
"""Kernel facts the event-loop engine design (docs/design/event-loop-engine.md) rests on, measured
on this machine's kernel and file system. Nothing here is part of the test suite.

  flock /tmp/zc-heavy.lock python3 perf/probe-page-cache.py [DIR]

DIR (default: a new folder under /var/tmp) must be on the file system to probe; the script writes
one 64 MiB file there, evicts it from the page cache with posix_fadvise(POSIX_FADV_DONTNEED) and
deletes it at the end. It prints, for a file range that is cold (not cached) and hot (cached):

  1. whether cachestat(2) (Linux 6.5+, syscall 451), preadv2(RWF_NOWAIT) of 1 byte and mincore(2)
     on a fresh mmap tell the two apart, and what each probe costs;
  2. how long single sendfile(2) calls into a non-blocking AF_UNIX socket take on cold and hot
     ranges (O_NONBLOCK on the socket does not make the disk read non-blocking);
  3. whether splice(2) file->pipe with SPLICE_F_NONBLOCK returns EAGAIN on cold pages or blocks;
  4. whether an eventfd registered with EPOLLIN|EPOLLET reports a new event for every write even
     when nobody reads the counter (the wake-up nginx's ngx_epoll_notify relies on);
  5. how a worker thread can bring a cold range into the page cache without copying it to user
     memory: sendfile(2) into /dev/null (returns once read) versus readahead(2) (documented to
     start the read and return, though it may block while it reads; see readahead(2) BUGS).
"""
import ctypes
import ctypes.util
import errno
import mmap
import os
import select
import socket
import sys
import tempfile
import threading
import time

SIZE = 64 * 1024 * 1024
CHUNK = 1024 * 1024
NR_CACHESTAT = 451  # same number on every architecture (uapi asm-generic/unistd.h)
PAGE = mmap.PAGESIZE

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


class CachestatRange(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class Cachestat(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")]


def cachestat(fd, off, length):
    rng, st = CachestatRange(off, length), Cachestat()
    if libc.syscall(NR_CACHESTAT, fd, ctypes.byref(rng), ctypes.byref(st), 0) != 0:
        return None, errno.errorcode.get(ctypes.get_errno(), "?")
    return st.nr_cache, None


def nowait_probe(fd, off):
    buf = bytearray(1)
    try:
        return os.preadv(fd, [buf], off, os.RWF_NOWAIT)
    except BlockingIOError:
        return "EAGAIN"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def mincore_probe(fd, off, length):
    start = off - off % PAGE
    length += off - start
    addr = libc.mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, fd, start)
    if addr in (None, ctypes.c_void_p(-1).value):
        return None
    try:
        vec = ctypes.create_string_buffer((length + PAGE - 1) // PAGE)
        if libc.mincore(addr, length, vec) != 0:
            return None
        return sum(b & 1 for b in vec.raw)
    finally:
        libc.munmap(addr, length)


def timed(fn, n):
    t = time.perf_counter_ns()
    for _ in range(n):
        r = fn()
    return r, (time.perf_counter_ns() - t) / n / 1000.0


def evict(fd):
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def sendfile_calls(fd, off, total):
    """sendfile `total` bytes from `off` into a non-blocking socket drained by another thread; per-call times."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.setblocking(False)
    stop = threading.Event()

    def drain():
        while not stop.is_set():
            try:
                if not b.recv(1 << 20):
                    return
            except OSError:
                return

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    times, eagain = [], 0
    sent = 0
    while sent < total:
        t0 = time.perf_counter_ns()
        try:
            n = os.sendfile(a.fileno(), fd, off + sent, min(CHUNK, total - sent))
        except BlockingIOError:
            eagain += 1
            select.select([], [a], [], 1.0)
            continue
        times.append((time.perf_counter_ns() - t0) / 1000.0)
        sent += n
    stop.set()
    a.close()
    b.close()
    t.join(2)
    return times, eagain


def splice_probe(fd, off):
    r, w = os.pipe()
    try:
        t0 = time.perf_counter_ns()
        try:
            n = os.splice(fd, w, CHUNK, offset_src=off, flags=os.SPLICE_F_NONBLOCK)
        except BlockingIOError:
            n = "EAGAIN"
        return n, (time.perf_counter_ns() - t0) / 1000.0
    finally:
        os.close(r)
        os.close(w)


def eventfd_edges():
    efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    ep = select.epoll()
    try:
        ep.register(efd, select.EPOLLIN | select.EPOLLET)
        seen = []
        for _ in range(3):
            os.eventfd_write(efd, 1)  # never read: the counter only grows
            seen.append(len(ep.poll(0.5)))
        seen.append(len(ep.poll(0)))  # no write: must be 0
        return seen
    finally:
        ep.close()
        os.close(efd)


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp"
    d = tempfile.mkdtemp(prefix="zc-probe.", dir=base)
    path = os.path.join(d, "cold.bin")
    print(f"kernel {os.uname().release}; file {path} ({SIZE >> 20} MiB)")
    with open(path, "wb") as f:
        for _ in range(SIZE // CHUNK):
            f.write(os.urandom(CHUNK))
    fd = os.open(path, os.O_RDONLY)
    try:
        evict(fd)
        probe = (8 << 20, CHUNK)  # a 1 MiB range in the middle, cold
        cached, err = cachestat(fd, *probe)
        print(f"\n1. probes on a cold 1 MiB range (offset 8 MiB) after POSIX_FADV_DONTNEED")
        print(f"   cachestat nr_cache = {cached if err is None else err}")
        print(f"   mincore(fresh mmap) resident pages = {mincore_probe(fd, *probe)} of {CHUNK // PAGE}")
        print(f"   cachestat nr_cache after the mincore probe = {cachestat(fd, *probe)[0]}")
        print(f"   preadv2(1 byte, RWF_NOWAIT) = {nowait_probe(fd, probe[0])}")
        time.sleep(0.05)
        print(f"   cachestat nr_cache 50 ms after the preadv2 probe = {cachestat(fd, *probe)[0]} "
              f"(pages the NOWAIT read started reading in the background)")
        print(f"   preadv2(1 byte, RWF_NOWAIT) again = {nowait_probe(fd, probe[0])}")
        evict(fd)
        # Per-call cost on the cold range (none of these probes brings pages in).
        _, c_cs = timed(lambda: cachestat(fd, *probe), 2000)
        _, c_nw = timed(lambda: nowait_probe(fd, probe[0]), 2000)
        _, c_mc = timed(lambda: mincore_probe(fd, *probe), 2000)
        print(f"   cost per probe: cachestat {c_cs:.2f} us, preadv2 NOWAIT {c_nw:.2f} us, mmap+mincore+munmap {c_mc:.2f} us")
        still, _ = cachestat(fd, *probe)
        print(f"   cachestat nr_cache after 6,000 probes = {still}")

        print(f"\n2. sendfile(2) into a non-blocking AF_UNIX socket, 16 MiB from offset 16 MiB, 1 MiB per call")
        cold, eagain = sendfile_calls(fd, 16 << 20, 16 << 20)
        hot, eagain_hot = sendfile_calls(fd, 16 << 20, 16 << 20)
        for name, ts, ea in (("cold", cold, eagain), ("hot", hot, eagain_hot)):
            ts_sorted = sorted(ts)
            print(f"   {name}: {len(ts)} calls, median {ts_sorted[len(ts) // 2]:.0f} us, max {ts_sorted[-1]:.0f} us, "
                  f"sum {sum(ts) / 1000:.1f} ms, EAGAIN {ea}")
        after, _ = cachestat(fd, 16 << 20, 16 << 20)
        print(f"   cachestat nr_cache of that range afterwards = {after} of {(16 << 20) // PAGE} pages")

        print(f"\n3. splice(2) file->pipe with SPLICE_F_NONBLOCK, 1 MiB")
        evict(fd)
        n, us = splice_probe(fd, 40 << 20)
        print(f"   cold: returned {n} in {us:.0f} us")
        n, us = splice_probe(fd, 40 << 20)
        print(f"   hot:  returned {n} in {us:.0f} us")

        print(f"\n4. eventfd with EPOLLIN|EPOLLET, three writes, counter never read")
        print(f"   events per write: {eventfd_edges()[:3]}, then with no write: {eventfd_edges()[3]}")

        print(f"\n5. warming a cold 8 MiB range (offset 48 MiB) from a worker")
        libc.readahead.argtypes = [ctypes.c_int, ctypes.c_long, ctypes.c_size_t]
        evict(fd)
        null = os.open("/dev/null", os.O_WRONLY)
        try:
            t0 = time.perf_counter_ns()
            n, off = 0, 48 << 20
            while n < (8 << 20):
                k = os.sendfile(null, fd, off + n, (8 << 20) - n)
                if k <= 0:
                    break
                n += k
            us = (time.perf_counter_ns() - t0) / 1000.0
            print(f"   sendfile -> /dev/null: {n} bytes in {us:.0f} us; cachestat right after = "
                  f"{cachestat(fd, 48 << 20, 8 << 20)[0]} of {(8 << 20) // PAGE} pages")
        finally:
            os.close(null)
        evict(fd)
        t0 = time.perf_counter_ns()
        rc = libc.readahead(fd, 48 << 20, 8 << 20)
        us = (time.perf_counter_ns() - t0) / 1000.0
        print(f"   readahead(2): returned {rc} in {us:.0f} us; cachestat right after = "
              f"{cachestat(fd, 48 << 20, 8 << 20)[0]}, 100 ms later = ", end="")
        time.sleep(0.1)
        print(f"{cachestat(fd, 48 << 20, 8 << 20)[0]} of {(8 << 20) // PAGE} pages")
    finally:
        os.close(fd)
        os.unlink(path)
        os.rmdir(d)


if __name__ == "__main__":
    main()
