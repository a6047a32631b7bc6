"""A minimal QMP client for QEMU, the peer of the benchmarks and the guest tests."""

import json
import socket
import time


class QmpError(Exception):
    pass


class Qmp:
    """Commands and their answers on QEMU's QMP unix socket; events are skipped.

    CONNECT_TIMEOUT: how long to retry connecting while QEMU creates the socket.
    ERROR: the exception class raised for a failure (QmpError by default)."""

    def __init__(self, path, timeout=10.0, connect_timeout=0.0, error=QmpError):
        self.error = error
        deadline = time.monotonic() + connect_timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except OSError as e:
                self.sock.close()
                if time.monotonic() >= deadline:
                    raise error(f'cannot connect to QMP at {path}: {e}') from None
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b''
        self._read()  # greeting
        self.execute('qmp_capabilities')

    def _read(self):
        while b'\n' not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise self.error('QMP connection closed')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def execute(self, cmd, **args):
        """The command's `return` value; ERROR for an `error` answer."""
        msg = {'execute': cmd}
        if args:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            answer = self._read()
            if 'return' in answer:
                return answer['return']
            if 'error' in answer:
                raise self.error(f"QMP {cmd}: {answer['error'].get('desc', answer['error'])}")
            # an asynchronous event: skip it

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
